// env.c — the environment a benchmark result was measured in, as one JSON object
// written beside every result so two results can be told apart (or matched) later.
#define _GNU_SOURCE // gmtime_r
#include "bench/env.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"  // defines: IS_ASSERT, is_xmalloc
#include "base/buildinfo.h" // defines: is_build_commit
#include "base/fileio.h" // defines: is_read_file

// The build defines these (IS_C_FLAGS for bench/ sources only); the fallbacks let
// this file compile on its own.
#ifndef IS_VERSION
#define IS_VERSION "unknown"
#endif
#ifndef IS_BUILD_TYPE
#define IS_BUILD_TYPE "unknown"
#endif
#ifndef IS_C_FLAGS
#define IS_C_FLAGS ""
#endif

// clang defines __GNUC__ too, so it is asked first.
#if defined(__clang__)
#define ENV_COMPILER "clang " __VERSION__
#elif defined(__GNUC__)
#define ENV_COMPILER "gcc " __VERSION__
#else
#define ENV_COMPILER "unknown"
#endif

// cJSON returns NULL only when malloc fails: small bookkeeping, so abort like is_xmalloc.
static void env_add(cJSON *obj, const char *name, cJSON *item) {
    IS_ASSERT(item != NULL);
    cJSON_bool added = cJSON_AddItemToObject(obj, name, item);
    IS_ASSERT(added);
}

static void env_trim(char *s) {
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
}

// The value of the first line "key<spaces>:<spaces>value" of /proc/cpuinfo, or NULL.
static char *env_cpu_model(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return NULL;
    char line[512], *model = NULL;
    while (!model && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        env_trim(v);
        if (*v) model = is_xstrdup(v);
    }
    fclose(f);
    return model;
}

// "Linux 6.1.0-18-amd64 x86_64, Debian GNU/Linux 12 (bookworm)": uname, then the
// distribution's PRETTY_NAME when /etc/os-release has one.
static void env_os(char *buf, size_t len) {
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(buf, len, "%s %s %s", u.sysname, u.release, u.machine);
    else
        snprintf(buf, len, "unknown");
    FILE *f = fopen("/etc/os-release", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0) continue;
        char *v = line + 12;
        env_trim(v);
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = 0;
            v++;
        }
        if (*v) {
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, ", %s", v);
        }
        break;
    }
    fclose(f);
}

// MemTotal from /proc/meminfo in GiB, or -1.
static double env_mem_total_gib(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    double kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %lf kB", &kib) == 1) break;
    fclose(f);
    return kib < 0 ? -1 : kib / (1024.0 * 1024.0);
}

// Whether s can stand as one shell word unquoted. The empty string cannot: it
// would vanish from the command line.
static int env_shell_safe(const char *s) {
    if (!*s) return 0;
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 strchr("_./:=,+-", c) != NULL;
        if (!ok) return 0;
    }
    return 1;
}

// argv joined with spaces, each unsafe word in single quotes (a quote inside becomes
// '\''), so the string pastes back into a POSIX shell as the same argv.
static char *env_command(int argc, char **argv) {
    size_t cap = 1;
    for (int i = 0; i < argc; i++) cap += 4 * strlen(argv[i] ? argv[i] : "") + 3;
    char *cmd = is_xmalloc(cap), *p = cmd;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i] ? argv[i] : "";
        if (i > 0) *p++ = ' ';
        if (env_shell_safe(a)) {
            size_t n = strlen(a);
            memcpy(p, a, n);
            p += n;
            continue;
        }
        *p++ = '\'';
        for (; *a; a++) {
            if (*a == '\'') {
                memcpy(p, "'\\''", 4);
                p += 4;
            } else {
                *p++ = *a;
            }
        }
        *p++ = '\'';
    }
    *p = 0;
    return cmd;
}

cJSON *is_env_capture(int argc, char **argv, int n_threads, const char *backend_name, const char *gpu_why) {
    cJSON *env = cJSON_CreateObject();
    IS_ASSERT(env != NULL);

    char *model = env_cpu_model();
    env_add(env, "cpu_model", cJSON_CreateString(model ? model : "unknown"));
    free(model);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    env_add(env, "cpu_online", cJSON_CreateNumber(online > 0 ? (double)online : 0));
    env_add(env, "threads", cJSON_CreateNumber(n_threads));

    char os[768];
    env_os(os, sizeof os);
    env_add(env, "os", cJSON_CreateString(os));
    env_add(env, "compiler", cJSON_CreateString(ENV_COMPILER));
    env_add(env, "c_flags", cJSON_CreateString(IS_C_FLAGS));
    env_add(env, "build_type", cJSON_CreateString(IS_BUILD_TYPE));
    env_add(env, "git_commit", cJSON_CreateString(is_build_commit));
    env_add(env, "inferscope_version", cJSON_CreateString(IS_VERSION));

    char *cmd = env_command(argc, argv);
    env_add(env, "command", cJSON_CreateString(cmd));
    free(cmd);
    cJSON *args = cJSON_CreateArray();
    IS_ASSERT(args != NULL);
    for (int i = 0; i < argc; i++) {
        cJSON *a = cJSON_CreateString(argv[i] ? argv[i] : "");
        IS_ASSERT(a != NULL);
        cJSON_bool added = cJSON_AddItemToArray(args, a);
        IS_ASSERT(added);
    }
    env_add(env, "argv", args);

    char date[32] = "unknown";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    env_add(env, "date", cJSON_CreateString(date));

    env_add(env, "backend", backend_name ? cJSON_CreateString(backend_name) : cJSON_CreateNull());
    // "gpu" is always present so readers need not test for the key; the CUDA
    // backend replaces the null with its fields when a device answered.
    env_add(env, "gpu", cJSON_CreateNull());
    if (gpu_why) env_add(env, "gpu_unavailable", cJSON_CreateString(gpu_why));

    double mem = env_mem_total_gib();
    env_add(env, "mem_total_gib", mem > 0 ? cJSON_CreateNumber(mem) : cJSON_CreateNull());
    return env;
}

static cJSON *env_version(int v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d", v / 1000, (v % 1000) / 10);
    return cJSON_CreateString(buf);
}

void is_env_set_gpu(cJSON *env, const is_device_info *di, bool graphs) {
    cJSON *g = cJSON_CreateObject();
    IS_ASSERT(g != NULL);
    char cc[16];
    snprintf(cc, sizeof cc, "%d.%d", di->cc_major, di->cc_minor);
    env_add(g, "name", cJSON_CreateString(di->name));
    env_add(g, "ordinal", cJSON_CreateNumber(di->ordinal));
    env_add(g, "compute_capability", cJSON_CreateString(cc));
    env_add(g, "sm_count", cJSON_CreateNumber(di->sm_count));
    env_add(g, "mem_total_gib", cJSON_CreateNumber(di->mem_total_bytes / 1073741824.0));
    env_add(g, "mem_free_gib", cJSON_CreateNumber(di->mem_free_bytes / 1073741824.0));
    env_add(g, "driver_version", env_version(di->driver_version));
    env_add(g, "runtime_version", env_version(di->runtime_version));
    env_add(g, "sm_clock_mhz", cJSON_CreateNumber(di->sm_clock_khz / 1000.0));
    env_add(g, "mem_clock_mhz", cJSON_CreateNumber(di->mem_clock_khz / 1000.0));
    env_add(g, "mem_bus_bits", cJSON_CreateNumber(di->mem_bus_bits));
    env_add(g, "l2_mib", cJSON_CreateNumber(di->l2_bytes / 1048576.0));
    env_add(g, "peak_gbs_attr", cJSON_CreateNumber(di->peak_gbs_attr));
    env_add(g, "graphs", cJSON_CreateBool(graphs));
    cJSON_ReplaceItemInObjectCaseSensitive(env, "gpu", g);
}

cJSON *is_env_capture_backend(int argc, char **argv, is_backend *be, const char *why_cuda) {
    cJSON *env = is_env_capture(argc, argv, be->n_threads, be->name, why_cuda && why_cuda[0] ? why_cuda : NULL);
    is_device_info di;
    is_err derr = {{0}};
    if (be->device_info && !be->device_info(be, &di, &derr)) is_env_set_gpu(env, &di, be->graphs);
    if (be->gemm_info) {
        is_gemm_info gi;
        memset(&gi, 0, sizeof gi);
        be->gemm_info(be, &gi);
        cJSON *g = cJSON_CreateObject();
        IS_ASSERT(g != NULL);
        env_add(g, "impl", cJSON_CreateString(gi.impl));
        env_add(g, "unit", cJSON_CreateString(gi.unit));
        env_add(g, "chosen_by", cJSON_CreateString(gi.chosen_by));
        if (gi.blas[0]) env_add(g, "blas", cJSON_CreateString(gi.blas));
        env_add(env, "gemm", g);
    }
    return env;
}

// ---- how busy the machine was ------------------------------------------------

// A /proc or /sys file's whole text (is_read_file reads to the end: these files
// report size 0), malloc'd; NULL when unreadable.
static char *env_slurp(const char *path) {
    char *t;
    size_t len;
    is_err err;
    return is_read_file(path, 16u << 20, &t, &len, &err) == 0 ? t : NULL;
}

int is_env_parse_loadavg(const char *text, double la[3]) {
    return text && sscanf(text, "%lf %lf %lf", &la[0], &la[1], &la[2]) == 3 ? 0 : -1;
}

int is_env_parse_stat(const char *text, unsigned long long *steal, unsigned long long *total, int *running) {
    if (!text) return -1;
    unsigned long long v[8];
    if (sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &v[6], &v[7]) != 8)
        return -1;
    *steal = v[7];
    *total = 0;
    for (int i = 0; i < 8; i++) *total += v[i];
    *running = -1;
    const char *r = strstr(text, "\nprocs_running ");
    if (r) *running = atoi(r + 15);
    return 0;
}

int is_env_parse_cpuinfo_mhz(const char *text, double *mhz) {
    if (!text) return -1;
    double sum = 0;
    int n = 0;
    for (const char *p = text; (p = strstr(p, "cpu MHz")) != NULL; p += 7) {
        if (p != text && p[-1] != '\n') continue;
        const char *colon = strchr(p, ':');
        double x;
        if (colon && sscanf(colon + 1, "%lf", &x) == 1 && x > 0) {
            sum += x;
            n++;
        }
    }
    if (n == 0) return -1;
    *mhz = sum / n;
    return 0;
}

// The mean clock of the online CPUs in MHz and where it was read; -1 when unreadable.
static double env_cpu_mhz(const char **source) {
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    double sum = 0;
    int n = 0;
    for (long c = 0; c < n_cpu && c < 4096; c++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/cpufreq/scaling_cur_freq", c);
        char *t = env_slurp(path);
        double khz;
        if (t && sscanf(t, "%lf", &khz) == 1 && khz > 0) {
            sum += khz / 1000;
            n++;
        }
        free(t);
    }
    if (n > 0) {
        *source = "cpufreq";
        return sum / n;
    }
    char *t = env_slurp("/proc/cpuinfo");
    double mhz;
    int rc = is_env_parse_cpuinfo_mhz(t, &mhz);
    free(t);
    *source = "cpuinfo";
    return rc ? -1 : mhz;
}

static double env_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Sets noise[name] (replacing it) to item.
static void noise_set(cJSON *noise, const char *name, cJSON *item) {
    cJSON_DeleteItemFromObjectCaseSensitive(noise, name);
    env_add(noise, name, item);
}

// The "_before" or "_after" fields (suffix) of load, runnable tasks and clock;
// fills the /proc/stat ticks when asked.
static void noise_sample(cJSON *noise, const char *suffix, unsigned long long *steal, unsigned long long *total,
                         bool *stat_ok) {
    char name[64];
    char *t = env_slurp("/proc/loadavg");
    double la[3];
    if (is_env_parse_loadavg(t, la) == 0) {
        snprintf(name, sizeof name, "loadavg_%s", suffix);
        noise_set(noise, name, cJSON_CreateDoubleArray(la, 3));
    }
    free(t);
    t = env_slurp("/proc/stat");
    int running;
    *stat_ok = is_env_parse_stat(t, steal, total, &running) == 0;
    free(t);
    if (*stat_ok && running >= 0) {
        snprintf(name, sizeof name, "running_%s", suffix);
        noise_set(noise, name, cJSON_CreateNumber(running));
    }
    const char *source;
    double mhz = env_cpu_mhz(&source);
    if (mhz > 0) {
        snprintf(name, sizeof name, "cpu_mhz_%s", suffix);
        noise_set(noise, name, cJSON_CreateNumber(round(mhz)));
        noise_set(noise, "cpu_mhz_source", cJSON_CreateString(source));
    }
}

void is_env_noise_begin(cJSON *env, is_env_noise_mark *mark) {
    cJSON_DeleteItemFromObjectCaseSensitive(env, "noise");
    cJSON *noise = cJSON_CreateObject();
    env_add(env, "noise", noise);
    mark->t0 = env_now();
    noise_sample(noise, "before", &mark->steal, &mark->total, &mark->stat_ok);
}

void is_env_noise_end(cJSON *env, const is_env_noise_mark *mark) {
    cJSON *noise = cJSON_GetObjectItemCaseSensitive(env, "noise");
    if (!noise) return;
    unsigned long long steal, total;
    bool ok;
    noise_sample(noise, "after", &steal, &total, &ok);
    noise_set(noise, "seconds", cJSON_CreateNumber(round((env_now() - mark->t0) * 1000) / 1000));
    if (ok && mark->stat_ok && total > mark->total && steal >= mark->steal)
        noise_set(noise, "steal_pct",
                  cJSON_CreateNumber(round(1e4 * (double)(steal - mark->steal) / (double)(total - mark->total)) / 100));
}
