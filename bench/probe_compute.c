// probe_compute.c — what the CPU's arithmetic units can do (is_probe_compute): for
// each unit the CPU has, a loop of independent multiply-adds on values that stay in
// registers, on one thread and on the thread team. These are the ceilings MFU is
// taken against: the hardware's rate, not the rate of any matmul of ours.
//
// Units, and how each loop keeps its unit busy (enough independent accumulators
// to cover the instruction's latency on every pipe that runs it):
//   f32_sse         6 mulps and 6 addps chains, 4 lanes (any x86-64: no FMA)
//   fma_f32_avx2    12 vfmadd231ps chains, 8 lanes
//   fma_f32_avx512  24 vfmadd231ps chains, 16 lanes
//   dot_bf16_avx512 24 vdpbf16ps chains, 16 lanes x 2 products
//   amx_bf16        4 tdpbf16ps tiles of 16 x 16 F32 over 2 x 2 input tiles (16 x 32 BF16)
// AMX tiles need the kernel's permission (arch_prctl ARCH_REQ_XCOMP_PERM): that
// loop runs in a child process, so a refusal, or a fault in a unit no test here
// could run, ends as a reason in the result instead of the run.
//
// Threads are pthreads started afresh for each measurement (so the AMX child,
// forked from a process with an OpenMP team, needs no OpenMP of its own); the team
// rate is the team's multiply-adds over the time of its slowest thread.
#define _GNU_SOURCE
#include "bench/probe.h"

#include <cpuid.h>
#include <errno.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COMPUTE_REPS 3             // best of
#define COMPUTE_TARGET_S 0.04      // seconds per measurement
#define COMPUTE_CHILD_TIMEOUT_S 20 // the AMX child, all of its measurements

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// ---- the loops: each runs iters iterations and returns a value that depends on them all ----

static float loop_sse(long iters) {
    __m128 m = _mm_set1_ps(0.99999994f), c = _mm_set1_ps(1e-7f), p[6], s[6];
    for (int i = 0; i < 6; i++) p[i] = s[i] = _mm_set1_ps(1.0f + (float)i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            p[i] = _mm_mul_ps(p[i], m);
            s[i] = _mm_add_ps(s[i], c);
        }
    }
    __m128 t = p[0];
    for (int i = 1; i < 6; i++) t = _mm_add_ps(t, _mm_add_ps(p[i], s[i]));
    return _mm_cvtss_f32(t);
}

__attribute__((target("avx2,fma"))) static float loop_avx2(long iters) {
    __m256 m = _mm256_set1_ps(0.99999994f), c = _mm256_set1_ps(1e-7f), a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(1.0f + (float)i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    }
    __m256 t = a[0];
    for (int i = 1; i < 12; i++) t = _mm256_add_ps(t, a[i]);
    return _mm256_cvtss_f32(t);
}

__attribute__((target("avx512f"))) static float loop_avx512(long iters) {
    __m512 m = _mm512_set1_ps(0.99999994f), c = _mm512_set1_ps(1e-7f), a[24];
    for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps(1.0f + (float)i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    }
    __m512 t = a[0];
    for (int i = 1; i < 24; i++) t = _mm512_add_ps(t, a[i]);
    return _mm512_reduce_add_ps(t);
}

__attribute__((target("avx512f,avx512bf16"))) static float loop_bf16(long iters) {
    // small operands: 2 x 2 x 1e-3 added per iteration stays far from overflow
    __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
    __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(3e-3f), _mm512_set1_ps(1e-3f));
    __m512 a[24];
    for (int i = 0; i < 24; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    }
    __m512 t = a[0];
    for (int i = 1; i < 24; i++) t = _mm512_add_ps(t, a[i]);
    return _mm512_reduce_add_ps(t);
}

// AMX: the tile configuration of palette 1 (64 bytes), as the ISA reference lays it out.
typedef struct amx_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

__attribute__((target("amx-tile,amx-bf16"))) static float loop_amx(long iters) {
    amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { // tiles 0-3: 16 x 16 F32 sums; 4-7: 16 rows of 32 BF16 (64 bytes)
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    static __thread uint16_t in[16 * 32] __attribute__((aligned(64)));
    static __thread float out[16 * 16] __attribute__((aligned(64)));
    for (int i = 0; i < 16 * 32; i++) in[i] = 0x3a83; // BF16 1e-3
    _tile_loadconfig(&cfg);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, in, 64);
    _tile_loadd(5, in, 64);
    _tile_loadd(6, in, 64);
    _tile_loadd(7, in, 64);
    for (long k = 0; k < iters; k++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, out, 64);
    _tile_release();
    return out[0];
}

typedef struct unit_def {
    const char *name, *dtype;
    float (*loop)(long iters);
    double flops_per_iter;
    bool (*usable)(char *why, size_t n);
    bool in_child; // run in a forked child (AMX)
} unit_def;

static bool usable_sse(char *why, size_t n) {
    (void)why, (void)n;
    return true;
}
static bool usable_avx2(char *why, size_t n) {
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return true;
    snprintf(why, n, "this CPU has no AVX2 with FMA");
    return false;
}
static bool usable_avx512(char *why, size_t n) {
    if (__builtin_cpu_supports("avx512f")) return true;
    snprintf(why, n, "this CPU has no AVX-512");
    return false;
}
static bool usable_bf16(char *why, size_t n) {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16")) return true;
    snprintf(why, n, "this CPU has no AVX512-BF16");
    return false;
}
// CPUID leaf 7 EDX: AMX-BF16 is bit 22, AMX-TILE bit 24 (read directly: not every
// compiler's __builtin_cpu_supports knows the AMX names). Whether the OS lets this
// process use the tiles is asked in the child (arch_prctl), which says so if not.
static bool cpuid_amx_bf16(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return (d >> 22 & 1) && (d >> 24 & 1);
}
static bool usable_amx(char *why, size_t n) {
    if (cpuid_amx_bf16()) return true;
    snprintf(why, n, "this CPU has no AMX-BF16");
    return false;
}

static const unit_def units[IS_CPU_UNIT_COUNT] = {
    [IS_CPU_UNIT_SSE] = {"f32_sse", "f32", loop_sse, 6 * 4 * 2.0, usable_sse, false},
    [IS_CPU_UNIT_AVX2] = {"fma_f32_avx2", "f32", loop_avx2, 12 * 8 * 2.0, usable_avx2, false},
    [IS_CPU_UNIT_AVX512] = {"fma_f32_avx512", "f32", loop_avx512, 24 * 16 * 2.0, usable_avx512, false},
    [IS_CPU_UNIT_BF16] = {"dot_bf16_avx512", "bf16", loop_bf16, 24 * 16 * 2 * 2.0, usable_bf16, false},
    [IS_CPU_UNIT_AMX] = {"amx_bf16", "bf16", loop_amx, 4 * 16 * 16 * 32 * 2.0, usable_amx, true},
};

const char *is_cpu_unit_name(is_cpu_unit u) { return (unsigned)u < IS_CPU_UNIT_COUNT ? units[u].name : "?"; }

int is_cpu_unit_find(const char *name) {
    for (int u = 0; name && u < IS_CPU_UNIT_COUNT; u++)
        if (!strcmp(units[u].name, name)) return u;
    return -1;
}

// ---- timing a unit on a team of threads ------------------------------------------------

typedef struct team_arg {
    const unit_def *u;
    long iters;
    pthread_barrier_t *start;
    double t0, t1;
    volatile float sink;
} team_arg;

static void *team_run(void *p) {
    team_arg *a = p;
    pthread_barrier_wait(a->start);
    a->t0 = now_s();
    a->sink = a->u->loop(a->iters);
    a->t1 = now_s();
    return NULL;
}

// GFLOP/s of n_threads threads each running iters iterations (the slowest thread's time).
static double team_rate(const unit_def *u, int n_threads, long iters) {
    pthread_t *th = calloc((size_t)n_threads, sizeof *th);
    team_arg *args = calloc((size_t)n_threads, sizeof *args);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n_threads);
    int started = 0;
    for (int t = 0; t < n_threads; t++) {
        args[t] = (team_arg){.u = u, .iters = iters, .start = &start};
        if (t == 0) continue; // this thread is thread 0
        if (pthread_create(&th[t], NULL, team_run, &args[t]) != 0) break;
        started++;
    }
    double rate = NAN;
    if (started == n_threads - 1) {
        team_run(&args[0]);
        for (int t = 1; t < n_threads; t++) pthread_join(th[t], NULL);
        double t0 = INFINITY, t1 = 0;
        for (int t = 0; t < n_threads; t++) {
            if (args[t].t0 < t0) t0 = args[t].t0;
            if (args[t].t1 > t1) t1 = args[t].t1;
        }
        rate = u->flops_per_iter * (double)iters * n_threads / (t1 - t0) / 1e9;
    } else { // could not start the team: release the started threads from the barrier
        for (int t = started + 1; t < n_threads; t++) pthread_barrier_wait(&start);
        for (int t = 1; t <= started; t++) pthread_join(th[t], NULL);
    }
    pthread_barrier_destroy(&start);
    free(th);
    free(args);
    return rate;
}

// One thread, then the team: the best of COMPUTE_REPS each, iterations sized to
// about COMPUTE_TARGET_S from a short first run.
static void unit_measure(const unit_def *u, int n_threads, double *one, double *team) {
    long iters = 1000;
    double t0 = now_s();
    volatile float sink = u->loop(iters);
    (void)sink;
    double dt = now_s() - t0;
    if (dt > 0) iters = (long)(iters * COMPUTE_TARGET_S / dt);
    if (iters < 1000) iters = 1000;
    *one = *team = 0;
    for (int r = 0; r < COMPUTE_REPS; r++) {
        double a = team_rate(u, 1, iters), b = team_rate(u, n_threads, iters);
        if (a > *one) *one = a;
        if (b > *team) *team = b;
    }
    // a team can do what one of its threads does (the others idle): a team figure
    // below that was held back by other work on the machine, and the higher one is
    // the better estimate of the ceiling
    if (*team < *one) *team = *one;
}

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

// The AMX unit in a child process: asks for the tile permission, measures, and
// writes {one, team} to a pipe. A refusal or a fault becomes the reason.
static void unit_measure_child(const unit_def *u, int n_threads, is_cpu_unit_peak *out) {
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(out->why, sizeof out->why, "cannot make a pipe for the probe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(out->why, sizeof out->why, "cannot fork the probe: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        alarm(COMPUTE_CHILD_TIMEOUT_S);
        double res[2] = {NAN, NAN};
        if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0) unit_measure(u, n_threads, &res[0], &res[1]);
        else res[0] = -(double)errno; // no permission: the reason, as a negative errno
        ssize_t w = write(fd[1], res, sizeof res);
        _exit(w == (ssize_t)sizeof res ? 0 : 1);
    }
    close(fd[1]);
    double res[2] = {NAN, NAN};
    ssize_t got = read(fd[0], res, sizeof res);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        snprintf(out->why, sizeof out->why, "the probe died with signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else if (got != (ssize_t)sizeof res) {
        snprintf(out->why, sizeof out->why, "the probe gave no result (exit %d)", WEXITSTATUS(status));
    } else if (res[0] < 0) {
        snprintf(out->why, sizeof out->why, "the kernel refused AMX tile data (arch_prctl: %s)", strerror((int)-res[0]));
    } else {
        out->available = true;
        out->gflops_1 = res[0];
        out->gflops_team = res[1];
    }
}

int is_probe_compute(int n_threads, is_compute_probe *out, is_err *err) {
    if (n_threads < 0) return is_errf(err, "compute probe: thread count must be 0 (all CPUs) or positive, got %d", n_threads);
    if (n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    memset(out, 0, sizeof *out);
    out->n_threads = n_threads;
    for (int i = 0; i < IS_CPU_UNIT_COUNT; i++) {
        const unit_def *u = &units[i];
        is_cpu_unit_peak *p = &out->units[i];
        p->unit = (is_cpu_unit)i;
        p->name = u->name;
        p->dtype = u->dtype;
        p->gflops_1 = p->gflops_team = NAN;
        if (!u->usable(p->why, sizeof p->why)) continue;
        if (u->in_child) {
            unit_measure_child(u, n_threads, p);
        } else {
            unit_measure(u, n_threads, &p->gflops_1, &p->gflops_team);
            p->available = isfinite(p->gflops_team) && p->gflops_team > 0;
            if (!p->available) snprintf(p->why, sizeof p->why, "could not start %d threads", n_threads);
        }
    }
    snprintf(out->method, sizeof out->method,
             "register-resident multiply-add loops per unit (independent accumulators, no memory traffic), "
             "1 thread and %d threads, %.0f ms each, best of %d", n_threads, COMPUTE_TARGET_S * 1e3, COMPUTE_REPS);
    return 0;
}

cJSON *is_probe_compute_json(const is_compute_probe *cp, int matmul_unit) {
    cJSON *o = cJSON_CreateObject();
    cJSON *us = cJSON_AddArrayToObject(o, "units");
    for (int i = 0; i < IS_CPU_UNIT_COUNT; i++) {
        const is_cpu_unit_peak *p = &cp->units[i];
        cJSON *u = cJSON_CreateObject();
        cJSON_AddStringToObject(u, "unit", p->name);
        cJSON_AddStringToObject(u, "dtype", p->dtype);
        if (p->available) {
            cJSON_AddNumberToObject(u, "gflops_1_thread", p->gflops_1);
            cJSON_AddNumberToObject(u, "gflops", p->gflops_team);
            cJSON_AddNumberToObject(u, "threads", cp->n_threads);
        } else {
            cJSON_AddStringToObject(u, "unavailable", p->why);
        }
        cJSON_AddItemToArray(us, u);
    }
    if (matmul_unit >= 0 && matmul_unit < IS_CPU_UNIT_COUNT && cp->units[matmul_unit].available) {
        cJSON_AddStringToObject(o, "matmul_unit", cp->units[matmul_unit].name);
        cJSON_AddNumberToObject(o, "peak_gflops", cp->units[matmul_unit].gflops_team);
    }
    cJSON_AddStringToObject(o, "method", cp->method);
    return o;
}
