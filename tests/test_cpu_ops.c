// test_cpu_ops.c — every CPU backend op against the float64 reference ops
// (kernels/ref.h), on seeded random inputs and shapes that are not multiples of the
// vector width. Outputs are poisoned with NaN before each op, so an element the op
// fails to write shows up as a failure.
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"            // defines: is_rng_normal
#include "kernels/backend.h"       // defines: is_backend, is_tensor, is_cpu_backend_create
#include "kernels/cpu/cpu_internal.h" // defines: cpu_matmul_with, cpu_matmul_path
#include "kernels/ref.h"       // defines: is_ref_dot, is_ref_rmsnorm, is_ref_rope, is_ref_silu, is_ref_attention_head
#include "support/testutil.h" // defines: tu_next, tu_unif

#define EPS32 (1.0 / 16777216.0) // 2^-24: unit roundoff of F32

// ---- helpers -----------------------------------------------------------------------

static int t_int(uint64_t *s, int n) { return (int)(tu_next(s) % (uint64_t)n); }

static is_backend *t_backend(int n_threads) {
    is_err err = {{0}};
    is_backend *be = is_cpu_backend_create(n_threads, &err);
    cr_assert_not_null(be, "is_cpu_backend_create(%d): %s", n_threads, err.msg);
    return be;
}

static is_tensor t_tensor(is_backend *be, is_dtype dt, int64_t rows, int64_t cols) {
    is_tensor t = {.dtype = dt, .rows = rows, .cols = cols};
    is_err err = {{0}};
    cr_assert_eq(be->tensor_alloc(be, &t, &err), 0, "tensor_alloc: %s", err.msg);
    cr_assert_eq((uintptr_t)t.data % 64, 0, "tensor data is 64-byte aligned");
    return t;
}

// A tensor of uniform [-scale, scale) values (rounded to dt); the host F32 copy of the
// stored values goes to *host (caller frees).
static is_tensor t_random(is_backend *be, is_dtype dt, int64_t rows, int64_t cols, float scale,
                          uint64_t *seed, float **host) {
    is_tensor t = t_tensor(be, dt, rows, cols);
    size_t n = (size_t)(rows * cols);
    float *h = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = scale * tu_unif(seed);
    is_err err = {{0}};
    cr_assert_eq(be->tensor_set(be, &t, h, IS_DTYPE_F32, &err), 0, "%s", err.msg);
    cr_assert_eq(be->tensor_get_f32(be, &t, rows, h, &err), 0, "%s", err.msg);
    if (host) *host = h;
    else free(h);
    return t;
}

static float *t_get(is_backend *be, const is_tensor *t) {
    float *h = malloc((size_t)(t->rows * t->cols + 1) * sizeof(float));
    is_err err = {{0}};
    cr_assert_eq(be->tensor_get_f32(be, t, t->rows, h, &err), 0, "%s", err.msg);
    return h;
}

static void t_poison(is_backend *be, is_tensor *t) { be->tensor_fill_const(be, t, NAN); }

// Rows n..rows-1 of an op's output must still hold the poison: ops touch n rows only.
static void t_check_untouched(const float *h, const is_tensor *t, int n, const char *what) {
    for (int64_t i = (int64_t)n * t->cols; i < t->rows * t->cols; i++)
        cr_assert(isnan(h[i]), "%s: element %lld beyond row %d was written", what, (long long)i, n);
}

// ---- memory and fills ----------------------------------------------------------------

Test(cpu_memory, set_get_wrap_and_convert) {
    is_backend *be = t_backend(2);
    cr_assert_str_eq(be->name, "cpu");
    uint64_t seed = 1;
    enum { R = 5, C = 37 };
    float src[R * C];
    uint16_t src_h[R * C];
    for (int i = 0; i < R * C; i++) {
        src[i] = 3.0f * tu_unif(&seed);
        src_h[i] = is_f32_to_f16(src[i]);
    }
    float back[R * C];
    is_err err = {{0}};
    // F32 -> BF16 tensor rounds to nearest even; F16 source is widened exactly into F32.
    is_tensor tb = t_tensor(be, IS_DTYPE_BF16, R, C);
    cr_assert_eq(be->tensor_set(be, &tb, src, IS_DTYPE_F32, &err), 0);
    cr_assert_eq(be->tensor_get_f32(be, &tb, R, back, &err), 0);
    for (int i = 0; i < R * C; i++) cr_assert_eq(back[i], is_bf16_to_f32(is_f32_to_bf16(src[i])));
    is_tensor tf = t_tensor(be, IS_DTYPE_F32, R, C);
    cr_assert_eq(be->tensor_set(be, &tf, src_h, IS_DTYPE_F16, &err), 0);
    memset(back, 0, sizeof back);
    cr_assert_eq(be->tensor_get_f32(be, &tf, 2, back, &err), 0); // first 2 rows only
    for (int i = 0; i < 2 * C; i++) cr_assert_eq(back[i], is_f16_to_f32(src_h[i]));
    for (int i = 2 * C; i < R * C; i++) cr_assert_eq(back[i], 0.0f, "get_f32 wrote past n_rows");
    // wrap aliases host memory without a copy
    is_tensor tw = {.dtype = IS_DTYPE_F32, .rows = R, .cols = C};
    cr_assert_eq(be->tensor_wrap(be, &tw, src, &err), 0);
    cr_assert_eq(tw.data, (void *)src);
    cr_assert(!tw.owned);
    be->tensor_free(be, &tw);
    cr_assert_eq(src[0], src[0], "freeing a wrapped tensor leaves its memory alone");
    be->tensor_free(be, &tb);
    be->tensor_free(be, &tf);
    cr_assert_null(tb.data);
    cr_assert_eq(be->sync(be, &err), 0);
    be->destroy(be);
}

Test(cpu_memory, alloc_failure_is_an_error) {
    is_backend *be = t_backend(1);
    is_err err = {{0}};
    // 2^40 x 2^12 BF16 = 8 PiB: no machine has it.
    is_tensor t = {.dtype = IS_DTYPE_BF16, .rows = (int64_t)1 << 40, .cols = 4096};
    cr_assert_eq(be->tensor_alloc(be, &t, &err), -1);
    cr_assert_null(t.data);
    cr_assert(strstr(err.msg, "cannot allocate") && strstr(err.msg, "BF16"), "message: %s", err.msg);
    // rows * cols * 4 overflows size_t
    is_tensor o = {.dtype = IS_DTYPE_F32, .rows = (int64_t)1 << 40, .cols = (int64_t)1 << 30};
    cr_assert_eq(be->tensor_alloc(be, &o, &err), -1);
    cr_assert(strstr(err.msg, "cannot allocate"), "message: %s", err.msg);
    be->destroy(be);
}

Test(cpu_memory, create_arguments) {
    is_err err = {{0}};
    cr_assert_null(is_cpu_backend_create(-1, &err));
    cr_assert(strstr(err.msg, "thread"), "message: %s", err.msg);
    is_backend *be = t_backend(0); // all online CPUs
    cr_assert_geq(cpu_impl(be)->n_threads, 1);
    be->destroy(be);
}

Test(cpu_fill, normal_is_deterministic_across_thread_counts) {
    const int64_t rows = 301, cols = 1001; // 301301 elements: parallel, odd split
    const is_dtype dts[] = {IS_DTYPE_F32, IS_DTYPE_BF16, IS_DTYPE_F16};
    is_backend *be1 = t_backend(1), *be2 = t_backend(2), *be3 = t_backend(3);
    for (int d = 0; d < 3; d++) {
        is_tensor a = t_tensor(be1, dts[d], rows, cols), b = t_tensor(be2, dts[d], rows, cols),
                  c = t_tensor(be3, dts[d], rows, cols);
        be1->tensor_fill_normal(be1, &a, 42, 7, 0.5f);
        be2->tensor_fill_normal(be2, &b, 42, 7, 0.5f);
        be3->tensor_fill_normal(be3, &c, 42, 7, 0.5f);
        size_t bytes = (size_t)(rows * cols) * is_dtype_size(dts[d]);
        cr_assert_eq(memcmp(a.data, b.data, bytes), 0, "%s: 1 vs 2 threads", is_dtype_name(dts[d]));
        cr_assert_eq(memcmp(a.data, c.data, bytes), 0, "%s: 1 vs 3 threads", is_dtype_name(dts[d]));
        // element i is std * is_rng_normal(seed, stream, i), rounded to the dtype
        for (int64_t i = 0; i < rows * cols; i += 9973) {
            float v = 0.5f * is_rng_normal(42, 7, (uint64_t)i);
            if (dts[d] == IS_DTYPE_F32) cr_assert_eq(((float *)a.data)[i], v);
            else if (dts[d] == IS_DTYPE_BF16) cr_assert_eq(((uint16_t *)a.data)[i], is_f32_to_bf16(v));
            else cr_assert_eq(((uint16_t *)a.data)[i], is_f32_to_f16(v));
        }
        // another stream gives other values
        be2->tensor_fill_normal(be2, &b, 42, 8, 0.5f);
        cr_assert_neq(memcmp(a.data, b.data, bytes), 0);
        be1->tensor_free(be1, &a);
        be2->tensor_free(be2, &b);
        be3->tensor_free(be3, &c);
    }
    be1->destroy(be1);
    be2->destroy(be2);
    be3->destroy(be3);
}

Test(cpu_fill, normal_moments) {
    is_backend *be = t_backend(2);
    const int64_t N = (int64_t)1 << 20;
    const float sd = 0.02f;
    is_tensor t = t_tensor(be, IS_DTYPE_F32, 1024, N / 1024);
    be->tensor_fill_normal(be, &t, 1234, is_rng_stream("layers.0.w"), sd);
    const float *v = t.data;
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < N; i++) {
        s += v[i];
        s2 += (double)v[i] * v[i];
    }
    double mean = s / N, std = sqrt(s2 / N - mean * mean);
    // standard error of the mean: sd / sqrt(N) = 2e-5; of the std: sd / sqrt(2N) = 1.4e-5.
    // Allow 5 standard errors each (a false failure has odds below 1e-6).
    cr_assert_lt(fabs(mean), 5 * sd / sqrt((double)N), "mean %g", mean);
    cr_assert_lt(fabs(std - sd), 5 * sd / sqrt(2.0 * N), "std %g, want %g", std, sd);
    be->tensor_free(be, &t);
    be->destroy(be);
}

Test(cpu_fill, const_every_dtype) {
    is_backend *be = t_backend(2);
    const is_dtype dts[] = {IS_DTYPE_F32, IS_DTYPE_BF16, IS_DTYPE_F16};
    for (int d = 0; d < 3; d++) {
        is_tensor t = t_tensor(be, dts[d], 257, 129);
        be->tensor_fill_const(be, &t, 1.5f);
        float *h = t_get(be, &t);
        for (int64_t i = 0; i < t.rows * t.cols; i++) cr_assert_eq(h[i], 1.5f);
        free(h);
        be->tensor_free(be, &t);
    }
    be->destroy(be);
}

// ---- matmul ---------------------------------------------------------------------------

// Runs one matmul case through `path` and compares with the double reference.
// Returns the output (host F32, n x M) for the caller's further checks.
static float *t_matmul_case(is_backend *be, cpu_matmul_path path, int n, int64_t M, int64_t K,
                            is_dtype wdt, bool with_bias, uint64_t seed) {
    float *hx, *hw, *hb = NULL;
    is_tensor x = t_random(be, IS_DTYPE_F32, n + 2, K, 1.0f, &seed, &hx);
    is_tensor w = t_random(be, wdt, M, K, 0.5f, &seed, &hw);
    is_tensor b = {0};
    if (with_bias) b = t_random(be, IS_DTYPE_F32, 1, M, 1.0f, &seed, &hb);
    is_tensor out = t_tensor(be, IS_DTYPE_F32, n + 3, M); // spare rows must stay poisoned
    t_poison(be, &out);
    cpu_matmul_with(be, path, &out, &x, &w, with_bias ? &b : NULL, n);
    float *ho = t_get(be, &out);
    for (int i = 0; i < n; i++) {
        for (int64_t j = 0; j < M; j++) {
            double mag; // sum |x_k w_k| (and |bias|)
            double ref = is_ref_dot(IS_REF_F32, hx + i * K, hw + j * K, K, with_bias ? hb[j] : 0.0, &mag);
            // F32 accumulation of K products (any summation order, FMA or not): the error
            // is at most about (K + 2) * 2^-24 * sum |x_k w_k|; BF16 weights are exact in F32,
            // so they add no error of their own. Factor 2 for slack.
            double tol = 2.0 * (double)(K + 2) * EPS32 * mag + 1e-30;
            float got = ho[i * M + j];
            cr_assert(fabs(got - ref) <= tol,
                      "matmul path %d n=%d M=%lld K=%lld %s bias=%d: out[%d][%lld] = %.9g, ref %.9g (tol %.3g)",
                      path, n, (long long)M, (long long)K, is_dtype_name(wdt), with_bias, i,
                      (long long)j, got, ref, tol);
        }
    }
    t_check_untouched(ho, &out, n, "matmul");
    be->tensor_free(be, &x);
    be->tensor_free(be, &w);
    be->tensor_free(be, &out);
    if (with_bias) be->tensor_free(be, &b);
    free(hx);
    free(hw);
    free(hb);
    return ho;
}

Test(cpu_matmul, every_path_against_double_reference) {
    is_backend *be = t_backend(2);
    const int Ks[] = {1, 3, 17, 100, 2048 + 5};
    const int ns[] = {1, 2, 7, 33, 130};
    const int Ms[] = {1, 5, 67, 130};
    const cpu_matmul_path paths[] = {CPU_MATMUL_AUTO, CPU_MATMUL_GEMV, CPU_MATMUL_GEMM_OWN,
                                     CPU_MATMUL_GEMM_BLAS};
    uint64_t seed = 99;
    int c = 0;
    for (int ki = 0; ki < 5; ki++)
        for (int ni = 0; ni < 5; ni++)
            for (int p = 0; p < 4; p++) {
                int n = ns[ni];
                int64_t M = Ms[(ki + ni + p) % 4], K = Ks[ki];
                if (K > 1000 && n > 33 && M > 67) M = 67; // keep the double reference quick
                is_dtype wdt = (c & 1) ? IS_DTYPE_BF16 : IS_DTYPE_F32;
                bool bias = (c & 2) != 0;
                c++;
                free(t_matmul_case(be, paths[p], n, M, K, wdt, bias, seed++));
                free(t_matmul_case(be, paths[p], n, M, K, wdt == IS_DTYPE_F32 ? IS_DTYPE_BF16 : IS_DTYPE_F32,
                                   !bias, seed++));
            }
    be->destroy(be);
}

Test(cpu_matmul, decode_and_prefill_shapes) {
    // A Llama-like projection at both sides of the GEMV/GEMM switch, with the wide
    // outputs that split unevenly over threads.
    is_backend *be = t_backend(2);
    const int ns[] = {1, CPU_MATMUL_GEMV_N - 1, CPU_MATMUL_GEMV_N, 63, 64};
    for (int i = 0; i < 5; i++) {
        free(t_matmul_case(be, CPU_MATMUL_AUTO, ns[i], 1000, 512, IS_DTYPE_BF16, i & 1, 7 + i));
        free(t_matmul_case(be, CPU_MATMUL_AUTO, ns[i], 515, 768, IS_DTYPE_F32, !(i & 1), 17 + i));
    }
    be->destroy(be);
}

// The GEMV has two kinds of tiles: 16-lane vectors (CPUs with AVX-512, or none of
// AVX2) and 8-lane halves (AVX2 the widest). Both pass the float64 bound
// (t_matmul_case) here, whichever this CPU would pick. (The 16-lane tiles are
// chosen by naming another GEMM kernel: the GEMV takes its AVX2 tiles only where
// AVX2 is the widest unit.)
Test(cpu_matmul, gemv_both_tile_kinds) {
    if (!cpu_gemm_kernel_usable(CPU_GEMM_AVX2)) cr_skip_test("this CPU has no AVX2");
    is_backend *be = t_backend(2);
    const int shapes[][3] = {{1, 301, 333}, {3, 64, 2048}, {15, 7, 17}, {5, 1000, 4096 + 3}};
    for (int s = 0; s < 4; s++)
        for (int dt = 0; dt < 2; dt++) {
            int n = shapes[s][0], M = shapes[s][1], K = shapes[s][2];
            is_dtype wdt = dt ? IS_DTYPE_BF16 : IS_DTYPE_F32;
            cpu_impl(be)->gemm_kernel = CPU_GEMM_AVX2;
            free(t_matmul_case(be, CPU_MATMUL_GEMV, n, M, K, wdt, dt, 900 + s));
            cpu_impl(be)->gemm_kernel = CPU_GEMM_SSE;
            free(t_matmul_case(be, CPU_MATMUL_GEMV, n, M, K, wdt, dt, 900 + s));
        }
    be->destroy(be);
}

// Every micro-kernel of the packed GEMM this CPU can run: the one chosen for it
// and the portable builds of the others' bodies (so the avx512 kernel's arithmetic,
// packing and edge tiles are checked on a machine without AVX-512), on shapes with
// partial tiles in every direction and several k blocks (K past 256), F32 and BF16
// weights, with and without a bias.
Test(cpu_matmul, packed_gemm_every_kernel) {
    is_backend *be = t_backend(2);
    const int shapes[][3] = {{1, 1, 1}, {5, 31, 257}, {13, 33, 600}, {97, 70, 513}, {130, 100, 100}, {12, 32, 256}};
    uint64_t seed = 501;
    int ran = 0;
    for (int id = 0; id < CPU_GEMM_N_KERNELS; id++) {
        if (!cpu_gemm_kernel_usable((cpu_gemm_kernel_id)id)) continue;
        cpu_impl(be)->gemm_kernel = id;
        for (int s = 0; s < 6; s++)
            for (int dt = 0; dt < 2; dt++)
                free(t_matmul_case(be, CPU_MATMUL_GEMM_OWN, shapes[s][0], shapes[s][1], shapes[s][2],
                                   dt ? IS_DTYPE_BF16 : IS_DTYPE_F32, (s + dt) % 2, seed++));
        ran++;
    }
    cr_assert(cpu_gemm_kernel_usable(cpu_gemm_best()), "the kernel chosen for this CPU runs on it");
    cr_assert(cpu_gemm_kernel_usable(CPU_GEMM_AVX512_PORTABLE) && cpu_gemm_kernel_usable(CPU_GEMM_AVX2_PORTABLE));
    cr_assert_geq(ran, 3, "sse and both portable builds at least: %d", ran);
    be->destroy(be);
}

Test(cpu_matmul, own_paths_do_not_depend_on_thread_count) {
    // GEMV and our GEMM give each output element the same arithmetic whatever the split.
    is_backend *be1 = t_backend(1), *be3 = t_backend(3);
    const cpu_matmul_path paths[] = {CPU_MATMUL_GEMV, CPU_MATMUL_GEMM_OWN};
    for (int p = 0; p < 2; p++) {
        float *a = t_matmul_case(be1, paths[p], 9, 301, 333, IS_DTYPE_BF16, true, 5);
        float *b = t_matmul_case(be3, paths[p], 9, 301, 333, IS_DTYPE_BF16, true, 5);
        cr_assert_eq(memcmp(a, b, 9 * 301 * sizeof(float)), 0, "path %d", paths[p]);
        free(a);
        free(b);
    }
    be1->destroy(be1);
    be3->destroy(be3);
}

Test(cpu_matmul, zero_inner_dimension_gives_bias) {
    is_backend *be = t_backend(2);
    free(t_matmul_case(be, CPU_MATMUL_AUTO, 3, 20, 0, IS_DTYPE_F32, true, 3));
    free(t_matmul_case(be, CPU_MATMUL_GEMM_BLAS, 40, 20, 0, IS_DTYPE_BF16, false, 4));
    be->destroy(be);
}

// ---- row-wise ops ------------------------------------------------------------------------

Test(cpu_ops, rmsnorm) {
    is_backend *be = t_backend(2);
    const int Ds[] = {1, 17, 2048, 4099};
    const int ns[] = {1, 5, 40};
    uint64_t seed = 11;
    for (int di = 0; di < 4; di++)
        for (int ni = 0; ni < 3; ni++)
            for (int inplace = 0; inplace < 2; inplace++) {
                int D = Ds[di], n = ns[ni];
                float *hx, *hw;
                is_tensor x = t_random(be, IS_DTYPE_F32, n + 1, D, 4.0f, &seed, &hx);
                is_tensor w = t_random(be, IS_DTYPE_F32, 1, D, 2.0f, &seed, &hw);
                is_tensor out = x;
                if (!inplace) {
                    out = t_tensor(be, IS_DTYPE_F32, n + 1, D);
                    t_poison(be, &out);
                }
                be->rmsnorm(be, &out, &x, &w, n, 1e-5f);
                float *ho = t_get(be, &out);
                double *ref = malloc((size_t)D * sizeof *ref);
                for (int i = 0; i < n; i++) {
                    is_ref_rmsnorm(IS_REF_F32, hx + i * D, hw, D, 1e-5, ref);
                    for (int k = 0; k < D; k++) {
                        // three F32 roundings (r, x*r, *w): 4 ulps of the result
                        cr_assert(fabs(ho[i * D + k] - ref[k]) <= 4 * EPS32 * fabs(ref[k]) + 1e-30,
                                  "rmsnorm D=%d n=%d [%d][%d]: %g vs %g", D, n, i, k, ho[i * D + k], ref[k]);
                    }
                }
                free(ref);
                if (!inplace) {
                    t_check_untouched(ho, &out, n, "rmsnorm");
                    be->tensor_free(be, &out);
                }
                free(ho);
                free(hx);
                free(hw);
                be->tensor_free(be, &x);
                be->tensor_free(be, &w);
            }
    be->destroy(be);
}

Test(cpu_ops, rope_against_formula_in_double) {
    is_backend *be = t_backend(2);
    const int hds[] = {2, 6, 64, 128};
    const int nhs[] = {1, 3, 32};
    const double thetas[] = {10000.0, 500000.0};
    uint64_t seed = 21;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++) {
            int hd = hds[a], nh = nhs[b], n = 7, half = hd / 2;
            double theta = thetas[(a + b) % 2];
            float inv_freq[64];
            double inv_freq_d[64]; // the same values, for the reference
            for (int i = 0; i < half; i++) inv_freq_d[i] = inv_freq[i] = (float)pow(theta, -2.0 * i / hd);
            int32_t pos[7] = {0, 1, 17, 511, 4095, 32767, 100000};
            float *hx;
            is_tensor x = t_random(be, IS_DTYPE_F32, n + 1, (int64_t)nh * hd, 2.0f, &seed, &hx);
            is_tensor freq = t_tensor(be, IS_DTYPE_F32, 1, half);
            is_err err = {{0}};
            cr_assert_eq(be->tensor_set(be, &freq, inv_freq, IS_DTYPE_F32, &err), 0, "%s", err.msg);
            be->rope(be, &x, n, nh, hd, pos, &freq);
            be->tensor_free(be, &freq);
            float *ho = t_get(be, &x);
            double *ref = malloc((size_t)nh * hd * sizeof *ref);
            for (int t = 0; t < n + 1; t++) {
                if (t < n) is_ref_rope(IS_REF_F32, hx + (int64_t)t * nh * hd, nh, hd, pos[t], inv_freq_d, ref);
                for (int h = 0; h < nh; h++)
                    for (int i = 0; i < half; i++) {
                        int64_t o = (int64_t)t * nh * hd + (int64_t)h * hd + i;
                        double xa = hx[o], xb = hx[o + half];
                        double ra = xa, rb = xb; // the row past n is left alone
                        if (t < n) {
                            ra = ref[h * hd + i];
                            rb = ref[h * hd + i + half];
                        }
                        // cos, sin rounded to F32, then a product pair and a sum in F32:
                        // about 3 ulps of |a| + |b|
                        double tol = 4 * EPS32 * (fabs(xa) + fabs(xb)) + 1e-30;
                        cr_assert(fabs(ho[o] - ra) <= tol && fabs(ho[o + half] - rb) <= tol,
                                  "rope hd=%d heads=%d t=%d h=%d i=%d: (%g, %g) vs (%g, %g)", hd, nh, t,
                                  h, i, ho[o], ho[o + half], ra, rb);
                    }
            }
            free(ref);
            free(ho);
            free(hx);
            be->tensor_free(be, &x);
        }
    be->destroy(be);
}

Test(cpu_ops, swiglu_add_embed_gather) {
    is_backend *be = t_backend(2);
    uint64_t seed = 31;
    const int sizes[][2] = {{1, 1}, {3, 17}, {40, 5632}};
    for (int s = 0; s < 3; s++) {
        int n = sizes[s][0], F = sizes[s][1];
        float *hg, *hu;
        is_tensor g = t_random(be, IS_DTYPE_F32, n + 1, F, 12.0f, &seed, &hg);
        is_tensor u = t_random(be, IS_DTYPE_F32, n + 1, F, 3.0f, &seed, &hu);
        is_tensor o = t_tensor(be, IS_DTYPE_F32, n + 1, F);
        t_poison(be, &o);
        be->swiglu(be, &o, &g, &u, n);
        float *ho = t_get(be, &o);
        for (int64_t i = 0; i < (int64_t)n * F; i++) {
            double ref = is_ref_silu(hg[i]) * hu[i];
            // expf within a few ulps, then a division and a product: 8 ulps of the result
            cr_assert(fabs(ho[i] - ref) <= 8 * EPS32 * fabs(ref) + 1e-30, "swiglu %lld: %g vs %g",
                      (long long)i, ho[i], ref);
        }
        t_check_untouched(ho, &o, n, "swiglu");
        free(ho);
        // add: x += y is a single F32 rounding
        be->add(be, &g, &u, n);
        float *hs = t_get(be, &g);
        for (int64_t i = 0; i < (int64_t)(n + 1) * F; i++) {
            float ref = i < (int64_t)n * F ? hg[i] + hu[i] : hg[i];
            cr_assert_eq(hs[i], ref, "add %lld", (long long)i);
        }
        free(hs);
        free(hg);
        free(hu);
        be->tensor_free(be, &g);
        be->tensor_free(be, &u);
        be->tensor_free(be, &o);
    }
    // embed: F32 rows copied, BF16 rows widened exactly
    for (int d = 0; d < 2; d++) {
        is_dtype dt = d ? IS_DTYPE_BF16 : IS_DTYPE_F32;
        int V = 50, D = 37, n = 6;
        float *ht;
        is_tensor table = t_random(be, dt, V, D, 1.0f, &seed, &ht);
        int32_t ids[6] = {0, 49, 7, 7, 3, 20};
        is_tensor out = t_tensor(be, IS_DTYPE_F32, n + 2, D);
        t_poison(be, &out);
        be->embed(be, &out, &table, ids, n);
        float *ho = t_get(be, &out);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < D; k++) cr_assert_eq(ho[i * D + k], ht[ids[i] * D + k]);
        t_check_untouched(ho, &out, n, "embed");
        // gather_rows into another tensor, then compaction in place
        is_tensor gout = t_tensor(be, IS_DTYPE_F32, 4, D);
        t_poison(be, &gout);
        int32_t rows[3] = {5, 0, 2};
        be->gather_rows(be, &gout, &out, rows, 3);
        float *hg2 = t_get(be, &gout);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < D; k++) cr_assert_eq(hg2[i * D + k], ho[rows[i] * D + k]);
        t_check_untouched(hg2, &gout, 3, "gather_rows");
        int32_t up_rows[3] = {1, 3, 5};
        be->gather_rows(be, &out, &out, up_rows, 3);
        float *hc = t_get(be, &out);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < D; k++) cr_assert_eq(hc[i * D + k], ho[up_rows[i] * D + k]);
        free(hc);
        free(hg2);
        free(ho);
        free(ht);
        be->tensor_free(be, &gout);
        be->tensor_free(be, &table);
        be->tensor_free(be, &out);
    }
    be->destroy(be);
}

Test(cpu_ops, swiglu_extremes) {
    // The vector exp saturates: e^-g is 0 below g = -87.3 ... and inf above; silu must still
    // be g for large g and (-)0 or tiny for very negative g, never NaN.
    is_backend *be = t_backend(1);
    enum { N = 40 };
    float g[N], u[N];
    const float special[] = {-1000.0f, -100.0f, -88.5f, -88.3f, -87.4f, -87.2f, -20.0f, -1e-30f,
                             -0.0f, 0.0f, 1e-30f, 1e-6f, 0.5f, 20.0f, 87.2f, 88.5f, 100.0f, 1e30f};
    for (int i = 0; i < N; i++) {
        g[i] = special[i % 18];
        u[i] = (i & 1) ? -1.5f : 1.0f;
    }
    is_tensor tg = t_tensor(be, IS_DTYPE_F32, 1, N), tu = t_tensor(be, IS_DTYPE_F32, 1, N),
              to = t_tensor(be, IS_DTYPE_F32, 1, N);
    is_err err = {{0}};
    be->tensor_set(be, &tg, g, IS_DTYPE_F32, &err);
    be->tensor_set(be, &tu, u, IS_DTYPE_F32, &err);
    t_poison(be, &to);
    be->swiglu(be, &to, &tg, &tu, 1);
    const float *o = to.data;
    for (int i = 0; i < N; i++) {
        double ref = is_ref_silu(g[i]) * u[i];
        // relative 8 ulps as above; absolute 1e-30 covers results that underflow to 0
        cr_assert(!isnan(o[i]) && fabs(o[i] - ref) <= 8 * EPS32 * fabs(ref) + 1e-30,
                  "swiglu(%g) * %g = %g, want %g", g[i], u[i], o[i], ref);
    }
    be->tensor_free(be, &tg);
    be->tensor_free(be, &tu);
    be->tensor_free(be, &to);
    be->destroy(be);
}

// ---- KV cache and attention ------------------------------------------------------------

// A paged cache holding n_seqs sequences of lens[s] tokens, K and V kept also in logical
// order on the host (kref, vref: [s][p][kv_dim]) for the reference.
typedef struct t_cache {
    int n_seqs, max_blocks, bs, kv_dim, n_slots;
    int32_t *tables; // [n_seqs][max_blocks], a random permutation of physical blocks
    float **kref, **vref;
    is_tensor kp, vp;
} t_cache;

static t_cache t_cache_build(is_backend *be, int n_seqs, const int *lens, int bs, int kv_dim,
                             uint64_t *seed) {
    t_cache c = {.n_seqs = n_seqs, .bs = bs, .kv_dim = kv_dim};
    int total_blocks = 0;
    for (int s = 0; s < n_seqs; s++) {
        int nb = (lens[s] + bs - 1) / bs;
        if (nb > c.max_blocks) c.max_blocks = nb;
        total_blocks += nb;
    }
    total_blocks += 3; // spare blocks nobody uses
    c.n_slots = total_blocks * bs;
    int32_t *perm = malloc(sizeof(int32_t) * total_blocks);
    for (int i = 0; i < total_blocks; i++) perm[i] = i;
    for (int i = total_blocks - 1; i > 0; i--) {
        int j = t_int(seed, i + 1);
        int32_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    c.tables = calloc((size_t)n_seqs * c.max_blocks, sizeof(int32_t));
    int next = 0;
    for (int s = 0; s < n_seqs; s++)
        for (int b = 0; b < (lens[s] + bs - 1) / bs; b++) c.tables[s * c.max_blocks + b] = perm[next++];
    free(perm);
    c.kp = t_tensor(be, IS_DTYPE_F32, c.n_slots, kv_dim);
    c.vp = t_tensor(be, IS_DTYPE_F32, c.n_slots, kv_dim);
    t_poison(be, &c.kp); // unused slots are NaN: reading one would show
    t_poison(be, &c.vp);
    c.kref = calloc(n_seqs, sizeof(float *));
    c.vref = calloc(n_seqs, sizeof(float *));
    // store every sequence through kv_store, one batch per sequence
    for (int s = 0; s < n_seqs; s++) {
        int L = lens[s];
        is_tensor k = t_random(be, IS_DTYPE_F32, L, kv_dim, 1.0f, seed, &c.kref[s]);
        is_tensor v = t_random(be, IS_DTYPE_F32, L, kv_dim, 1.0f, seed, &c.vref[s]);
        int32_t *pos = malloc(sizeof(int32_t) * L), *seq = malloc(sizeof(int32_t) * L),
                *slot = malloc(sizeof(int32_t) * L);
        for (int p = 0; p < L; p++) {
            pos[p] = p;
            seq[p] = s;
            slot[p] = c.tables[s * c.max_blocks + p / bs] * bs + p % bs;
        }
        is_attn_batch b = {.n_tokens = L, .pos = pos, .seq = seq, .slot = slot, .n_seqs = n_seqs,
                           .block_tables = c.tables, .max_blocks = c.max_blocks, .block_size = bs};
        be->kv_store(be, &c.kp, &c.vp, &k, &v, &b);
        free(pos);
        free(seq);
        free(slot);
        be->tensor_free(be, &k);
        be->tensor_free(be, &v);
    }
    return c;
}

static void t_cache_free(is_backend *be, t_cache *c) {
    for (int s = 0; s < c->n_seqs; s++) {
        free(c->kref[s]);
        free(c->vref[s]);
    }
    free(c->kref);
    free(c->vref);
    free(c->tables);
    be->tensor_free(be, &c->kp);
    be->tensor_free(be, &c->vp);
}

Test(cpu_attention, kv_store_and_copy_blocks) {
    is_backend *be = t_backend(2);
    uint64_t seed = 41;
    int lens[3] = {5, 9, 1};
    t_cache c = t_cache_build(be, 3, lens, 3, 20, &seed);
    float *hk = t_get(be, &c.kp), *hv = t_get(be, &c.vp);
    for (int s = 0; s < 3; s++)
        for (int p = 0; p < lens[s]; p++) {
            int64_t slot = (int64_t)c.tables[s * c.max_blocks + p / c.bs] * c.bs + p % c.bs;
            cr_assert_eq(memcmp(hk + slot * 20, c.kref[s] + p * 20, 20 * sizeof(float)), 0);
            cr_assert_eq(memcmp(hv + slot * 20, c.vref[s] + p * 20, 20 * sizeof(float)), 0);
        }
    // copy sequence 1's first two blocks over two other blocks
    int32_t src[2] = {c.tables[c.max_blocks + 0], c.tables[c.max_blocks + 1]};
    int32_t dst[2] = {c.tables[0], c.n_slots / c.bs - 1};
    be->kv_copy_blocks(be, &c.kp, &c.vp, src, dst, 2, c.bs);
    float *hk2 = t_get(be, &c.kp), *hv2 = t_get(be, &c.vp);
    size_t blk = (size_t)c.bs * 20;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(memcmp(hk2 + dst[i] * blk, hk + src[i] * blk, blk * sizeof(float)), 0);
        cr_assert_eq(memcmp(hv2 + dst[i] * blk, hv + src[i] * blk, blk * sizeof(float)), 0);
    }
    // every other block unchanged (NaN compares by bytes)
    for (int64_t blkid = 0; blkid < c.n_slots / c.bs; blkid++) {
        if (blkid == dst[0] || blkid == dst[1]) continue;
        cr_assert_eq(memcmp(hk2 + blkid * blk, hk + blkid * blk, blk * sizeof(float)), 0);
    }
    free(hk);
    free(hv);
    free(hk2);
    free(hv2);
    t_cache_free(be, &c);
    be->destroy(be);
}

// Attention for a batch of tokens of several sequences against the double reference.
static void t_attention_case(is_backend *be, int bs, int n_kv, int ratio, int hd, float q_scale,
                             uint64_t seed) {
    int n_heads = n_kv * ratio, kv_dim = n_kv * hd, qd = n_heads * hd;
    int lens[3] = {1, 37, 200}; // 200 spans several online-softmax chunks
    t_cache c = t_cache_build(be, 3, lens, bs, kv_dim, &seed);
    // tokens: every sequence's last position, plus first, middle and random ones
    int32_t pos[12], seq[12], slot[12];
    int n = 0;
    for (int s = 0; s < 3; s++) {
        int want[4] = {lens[s] - 1, 0, lens[s] / 2, t_int(&seed, lens[s])};
        for (int i = 0; i < 4; i++) {
            seq[n] = s;
            pos[n] = want[i];
            slot[n] = c.tables[s * c.max_blocks + want[i] / bs] * bs + want[i] % bs;
            n++;
        }
    }
    float *hq;
    // q_scale 3: logits spread over several units; 100: a nearly one-hot softmax
    is_tensor q = t_random(be, IS_DTYPE_F32, n + 1, qd, q_scale, &seed, &hq);
    is_tensor out = t_tensor(be, IS_DTYPE_F32, n + 1, qd);
    t_poison(be, &out);
    is_attn_batch b = {.n_tokens = n, .pos = pos, .seq = seq, .slot = slot, .n_seqs = 3,
                       .block_tables = c.tables, .max_blocks = c.max_blocks, .block_size = bs};
    be->attention(be, &out, &q, &c.kp, &c.vp, &b, n_heads, n_kv, hd);
    float *ho = t_get(be, &out);
    double *sc = malloc(sizeof(double) * 256), *ref = malloc(sizeof(double) * hd);
    for (int t = 0; t < n; t++) {
        const float *K = c.kref[seq[t]], *V = c.vref[seq[t]];
        for (int h = 0; h < n_heads; h++) {
            int kvh = h / ratio;
            double maxlogit; // the largest |logit|
            is_ref_attention_head(IS_REF_F32, hq + (int64_t)t * qd + (int64_t)h * hd, K + kvh * hd, V + kvh * hd,
                                  (size_t)kv_dim, pos[t] + 1, hd, sc, ref, &maxlogit);
            for (int i = 0; i < hd; i++) {
                // Each logit carries an F32 dot-product error of about hd * 2^-24 * |q||k|
                // (<= hd * 2^-24 * (maxlogit + 1) here), which moves the softmax weights by the
                // same relative amount; the weighted sum of |v| <= 1 adds (pos + 1) * 2^-24.
                // Factor 4 for expf and the online rescaling.
                double tol = 4 * EPS32 * (hd * (maxlogit + 1) + pos[t] + 1);
                float got = ho[(int64_t)t * qd + (int64_t)h * hd + i];
                cr_assert(fabs(got - ref[i]) <= tol,
                          "attention bs=%d kv=%d ratio=%d hd=%d token %d (seq %d pos %d) head %d [%d]: %.8g vs %.8g (tol %.2g)",
                          bs, n_kv, ratio, hd, t, seq[t], pos[t], h, i, got, ref[i], tol);
            }
        }
    }
    t_check_untouched(ho, &out, n, "attention");
    free(sc);
    free(ref);
    free(ho);
    free(hq);
    be->tensor_free(be, &q);
    be->tensor_free(be, &out);
    t_cache_free(be, &c);
}

Test(cpu_attention, paged_gqa_against_double_reference) {
    is_backend *be = t_backend(2);
    const int bss[] = {1, 3, 16};
    const int ratios[] = {1, 2, 4};
    const int hds[] = {64, 128, 20};
    uint64_t seed = 51;
    for (int a = 0; a < 3; a++)
        for (int r = 0; r < 3; r++) t_attention_case(be, bss[a], 2, ratios[r], hds[(a + r) % 3], 3.0f, seed++);
    // more query heads per kv head than one work item takes (ratio 16 > 8), a single kv head
    t_attention_case(be, 16, 1, 16, 64, 3.0f, seed++);
    // logits in the hundreds: exp underflows to 0 for all but a few positions
    t_attention_case(be, 3, 2, 2, 64, 100.0f, seed++);
    t_attention_case(be, 16, 2, 4, 20, 100.0f, seed++);
    be->destroy(be);
}

Test(cpu_attention, single_thread_matches) {
    is_backend *be = t_backend(1);
    t_attention_case(be, 3, 4, 8, 64, 3.0f, 77);
    be->destroy(be);
}

// flush_cache (inferscope kernels, between timed samples) runs and returns 0, its
// buffer allocated once; the CPU has no device timer: callers time on the host.
Test(cpu_ops, flush_cache) {
    is_err err = {{0}};
    is_backend *be = is_cpu_backend_create(2, &err);
    cr_assert_not_null(be, "%s", err.msg);
    cr_assert_not_null(be->flush_cache);
    cr_assert_null(be->timer_begin, "the CPU is timed on the host clock");
    cr_assert_null(be->timer_end);
    cr_assert_eq(be->flush_cache(be, &err), 0, "%s", err.msg);
    const cpu_backend *cb = be->impl;
    const float *buf = cb->flush;
    cr_assert_not_null(buf);
    cr_assert_geq(cb->flush_floats * sizeof(float), (size_t)32 << 20, "at least 32 MiB");
    float first = buf[0];
    for (int i = 0; i < 2; i++) cr_assert_eq(be->flush_cache(be, &err), 0, "%s", err.msg);
    cr_assert_eq(cb->flush, buf, "allocated once, reused");
    cr_assert_neq(buf[0], first, "each flush writes the buffer");
    cr_assert_eq(buf[0], buf[cb->flush_floats - 1], "the whole buffer");
    be->destroy(be);
}
