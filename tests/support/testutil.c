// testutil.c — see testutil.h.
#define _XOPEN_SOURCE 700
#include "support/testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void tu_mkdtemp(char *buf, size_t n) {
    snprintf(buf, n, "/tmp/inferscope-test-XXXXXX");
    cr_assert_not_null(mkdtemp(buf), "mkdtemp failed");
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rm_rf(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

void tu_write_file(const char *dir, const char *name, const void *data, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    if (len) *len = got;
    return buf;
}

static char *slurp_fd(int fd) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(fd, buf + n, cap - n - 1)) > 0) {
        n += (size_t)got;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    return buf;
}

tu_run tu_run_cli(const char *const *args) {
    int n = 0;
    while (args[n]) n++;
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    argv[0] = (char *)IS_TEST_BIN;
    for (int i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
    // stdout and stderr go to temporary files (no pipe deadlock on large output)
    char out_path[] = "/tmp/inferscope-out-XXXXXX", err_path[] = "/tmp/inferscope-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    cr_assert(out_fd >= 0 && err_fd >= 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    tu_run r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    lseek(out_fd, 0, SEEK_SET);
    lseek(err_fd, 0, SEEK_SET);
    r.out = slurp_fd(out_fd);
    r.err = slurp_fd(err_fd);
    close(out_fd);
    close(err_fd);
    unlink(out_path);
    unlink(err_path);
    free(argv);
    return r;
}

int tu_spawn_cli(const char *const *args, const char *err_path) {
    int n = 0;
    while (args[n]) n++;
    char **argv = calloc((size_t)n + 2, sizeof *argv);
    argv[0] = (char *)IS_TEST_BIN;
    for (int i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
    // the child starts as from a shell: every signal at its default and none
    // blocked (a test that sends SIGINT must not find it ignored by whoever ran
    // ctest); signals wait, blocked, until it has set that up
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int s = 1; s <= SIGRTMAX; s++) sigaction(s, &dfl, NULL); // SIGKILL, SIGSTOP: refused, harmless
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int devnull = open("/dev/null", O_RDWR);
        int err_fd = err_path ? open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : devnull;
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(err_fd < 0 ? devnull : err_fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    cr_assert(pid >= 0);
    free(argv);
    return pid;
}

void tu_run_free(tu_run *r) {
    free(r->out);
    free(r->err);
}

is_backend *tu_backend(void) {
    is_err err;
    is_backend *be = is_cpu_backend_create(2, &err);
    cr_assert_not_null(be, "cpu backend: %s", err.msg);
    return be;
}

is_model *tu_model(is_backend *be, const char *spec, is_dtype dtype, uint64_t seed) {
    is_err err;
    is_model *m;
    is_model_opts o = {.dtype = (int)dtype, .seed = seed};
    cr_assert_eq(is_model_load(spec, &o, be, &m, &err), 0, "load %s: %s", spec, err.msg);
    return m;
}

cJSON *tu_kernel_point(const char *tensor, const char *shape, int batch, const char *variant, const double *t, int n) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "kind", "kernel");
    cJSON *c = cJSON_AddObjectToObject(p, "config");
    cJSON_AddStringToObject(c, "op", "matmul");
    cJSON_AddStringToObject(c, "model", "preset:tiny");
    cJSON_AddStringToObject(c, "backend", "cpu");
    cJSON_AddStringToObject(c, "dtype", "BF16");
    cJSON_AddNumberToObject(c, "threads", 2);
    cJSON_AddStringToObject(c, "tensor", tensor);
    cJSON_AddStringToObject(c, "shape", shape);
    cJSON_AddNumberToObject(c, "batch", batch);
    cJSON_AddNumberToObject(c, "context", 0);
    cJSON_AddStringToObject(c, "variant", variant);
    cJSON_AddStringToObject(p, "status", "ok");
    cJSON_AddItemToObject(cJSON_AddObjectToObject(p, "samples"), "time_us", cJSON_CreateDoubleArray(t, n));
    return p;
}

void tu_need_gpu(const char *why) {
    const char *req = getenv("IS_REQUIRE_GPU");
    if (req && !strcmp(req, "1")) cr_assert_fail("IS_REQUIRE_GPU=1 and no GPU here: %s", why);
    cr_skip_test("%s", why);
}

int tu_count_entries(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s does not open", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}
