// testutil.h — helpers shared by the tests: temporary directories, running the
// inferscope binary, loading small models.
#ifndef IS_TESTUTIL_H
#define IS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "engine/inferscope.h"

// splitmix64: the tests' own seeded generator, independent of the engine's.
static inline uint64_t tu_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
// Uniform in [-1, 1).
static inline float tu_unif(uint64_t *s) {
    return (float)((double)(tu_next(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

// A new directory under /tmp (path written into buf).
void tu_mkdtemp(char *buf, size_t n);
// Removes a directory tree.
void tu_rm_rf(const char *path);
// Entries of dir but "." and ".." (asserts that it opens).
int tu_count_entries(const char *dir);
// Writes bytes to dir/name.
void tu_write_file(const char *dir, const char *name, const void *data, size_t len);
char *tu_read_file(const char *path, size_t *len); // malloc'd, NUL-terminated; NULL when missing

typedef struct tu_run {
    int status;     // exit status, or 128 + signal
    char *out;      // stdout, NUL-terminated
    char *err;      // stderr
} tu_run;

// Runs the inferscope binary with the given arguments (NULL-terminated).
tu_run tu_run_cli(const char *const *args);
void tu_run_free(tu_run *r);
// Starts it without waiting: every signal at its default, stdin and stdout
// /dev/null, stderr to err_path (truncated) or /dev/null when NULL. Returns the
// child's pid; reap it with waitpid.
int tu_spawn_cli(const char *const *args, const char *err_path);

// A test that needs a GPU (or CUPTI) and finds none: skipped with the reason,
// unless IS_REQUIRE_GPU=1 (the GPU scripts set it: on a GPU machine a skip would
// let a backend that failed to start pass as "skipped"), then failed.
void tu_need_gpu(const char *why);

// CPU backend with 2 threads; aborts the test on failure.
is_backend *tu_backend(void);
// Loads spec (preset or directory) in dtype with seed; asserts success.
is_model *tu_model(is_backend *be, const char *spec, is_dtype dtype, uint64_t seed);

// An ok kernel point (inferscope kernels) of op matmul on preset:tiny, cpu, BF16,
// 2 threads, context 0, with time_us samples t[0..n).
cJSON *tu_kernel_point(const char *tensor, const char *shape, int batch, const char *variant, const double *t, int n);

#endif
