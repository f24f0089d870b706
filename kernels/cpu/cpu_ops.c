// cpu_ops.c — the row-wise and elementwise ops: embed, rmsnorm, rope, swiglu, add,
// gather_rows. All on F32 activations [rows >= n, cols]; work is split over rows
// (or elements) when there is enough of it to pay for a parallel region.
#include "kernels/cpu/cpu_internal.h" // defines: cpu_backend, CPU_PAR_MIN, v16f_exp

#include <math.h>
#include <omp.h>

static int ops_threads(const is_backend *be, int64_t work) {
    return work >= CPU_PAR_MIN ? cpu_impl(be)->n_threads : 1;
}

static void ops_check_act(const is_tensor *t, int n) {
    IS_ASSERT(t->dtype == IS_DTYPE_F32);
    IS_ASSERT(n >= 0 && n <= t->rows);
}

// out[i] = table[ids[i]]: table [vocab, D] F32, BF16 or quantized (the row dequantized,
// as is_dequantize_row does) -> out [n, D] F32.
void cpu_embed(is_backend *be, is_tensor *out, const is_tensor *table, const int32_t *ids, int n) {
    ops_check_act(out, n);
    IS_ASSERT(table->dtype == IS_DTYPE_F32 || table->dtype == IS_DTYPE_BF16 || is_dtype_quantized(table->dtype));
    IS_ASSERT(out->cols == table->cols);
    int64_t D = table->cols;
    for (int i = 0; i < n; i++) IS_ASSERT(ids[i] >= 0 && ids[i] < table->rows);
    bool quant = is_dtype_quantized(table->dtype);
    size_t rb = is_dtype_row_bytes(table->dtype, D);
    int nt = ops_threads(be, (int64_t)n * D);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int i = 0; i < n; i++) {
        float *o = (float *)out->data + (int64_t)i * D;
        const char *row = (const char *)table->data + (size_t)ids[i] * rb;
        if (quant) cpu_dequant_range(table->dtype, row, 0, D, o);
        else is_dtype_convert(o, IS_DTYPE_F32, row, table->dtype, (size_t)D);
    }
}

// out[i] = x[i] * (1 / sqrt(mean(x[i]^2) + eps)) * w: x, out [n, D]; w [D]. The sum of
// squares is taken in double; the products in F32 in the Hugging Face order.
void cpu_rmsnorm(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, int n,
                 float eps) {
    ops_check_act(out, n);
    ops_check_act(x, n);
    IS_ASSERT(w->dtype == IS_DTYPE_F32 && w->rows * w->cols == x->cols && out->cols == x->cols);
    int64_t D = x->cols;
    const float *wv = w->data;
    int nt = ops_threads(be, (int64_t)n * D);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int i = 0; i < n; i++) {
        const float *xr = (const float *)x->data + (int64_t)i * D;
        float *o = (float *)out->data + (int64_t)i * D;
        double ss = 0.0;
        for (int64_t k = 0; k < D; k++) ss += (double)xr[k] * (double)xr[k];
        float r = (float)(1.0 / sqrt(ss / (double)D + (double)eps));
        for (int64_t k = 0; k < D; k++) o[k] = (xr[k] * r) * wv[k];
    }
}

// Rotate-half RoPE in place on x [n, >= n_heads * hd] (row stride x->cols): for each head,
// for i < hd/2 with a = x[i], b = x[i + hd/2] and angle = pos * inv_freq[i] (in double):
// x[i] = a cos - b sin, x[i + hd/2] = b cos + a sin.
#define ROPE_HALF_MAX 512
void cpu_rope(is_backend *be, is_tensor *x, int n, int n_heads, int head_dim, const int32_t *pos,
              const is_tensor *freq) {
    ops_check_act(x, n);
    IS_ASSERT(head_dim > 0 && head_dim % 2 == 0 && head_dim / 2 <= ROPE_HALF_MAX);
    IS_ASSERT(freq->dtype == IS_DTYPE_F32 && freq->rows * freq->cols == head_dim / 2);
    const float *inv_freq = freq->data;
    IS_ASSERT(n_heads > 0 && (int64_t)n_heads * head_dim <= x->cols);
    int half = head_dim / 2;
    int nt = ops_threads(be, (int64_t)n * n_heads * head_dim);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int t = 0; t < n; t++) {
        float c[ROPE_HALF_MAX], s[ROPE_HALF_MAX];
        for (int i = 0; i < half; i++) {
            double ang = (double)pos[t] * (double)inv_freq[i];
            c[i] = (float)cos(ang);
            s[i] = (float)sin(ang);
        }
        float *row = (float *)x->data + (int64_t)t * x->cols;
        for (int h = 0; h < n_heads; h++) {
            float *v = row + (int64_t)h * head_dim;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * c[i] - b * s[i];
                v[i + half] = b * c[i] + a * s[i];
            }
        }
    }
}

// o[i] = silu(g[i]) * u[i] for i < n, silu(g) = g / (1 + e^-g), exp on 16 lanes.
CPU_CLONES static void ops_swiglu_range(float *o, const float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16f gv = v16f_load(g + i), e = -gv;
        e = v16f_exp(&e);
        *(v16f_u *)(o + i) = gv / (1.0f + e) * v16f_load(u + i);
    }
    for (; i < n; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

// out = silu(gate) * up elementwise over [n, F]. out may equal gate or up.
void cpu_swiglu(is_backend *be, is_tensor *out, const is_tensor *gate, const is_tensor *up, int n) {
    ops_check_act(out, n);
    ops_check_act(gate, n);
    ops_check_act(up, n);
    IS_ASSERT(gate->cols == out->cols && up->cols == out->cols);
    int64_t total = (int64_t)n * out->cols;
    int nt = ops_threads(be, total);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t i0 = total * tid / T / 16 * 16, i1 = tid == T - 1 ? total : total * (tid + 1) / T / 16 * 16;
        ops_swiglu_range((float *)out->data + i0, (const float *)gate->data + i0,
                         (const float *)up->data + i0, i1 - i0);
    }
}

// x += y over [n, D].
void cpu_add(is_backend *be, is_tensor *x, const is_tensor *y, int n) {
    ops_check_act(x, n);
    ops_check_act(y, n);
    IS_ASSERT(x->cols == y->cols);
    int64_t total = (int64_t)n * x->cols;
    float *xv = x->data;
    const float *yv = y->data;
    int nt = ops_threads(be, total);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t i = 0; i < total; i++) xv[i] += yv[i];
}

// out[i] = x[rows[i]] for i < n: x [>= max(rows) + 1, D], out [n, D]. Rows are copied in
// order, so out may equal x when rows is ascending with rows[i] >= i (compaction in place).
void cpu_gather_rows(is_backend *be, is_tensor *out, const is_tensor *x, const int32_t *rows, int n) {
    (void)be;
    ops_check_act(out, n);
    IS_ASSERT(x->dtype == IS_DTYPE_F32 && x->cols == out->cols);
    int64_t D = x->cols;
    for (int i = 0; i < n; i++) {
        IS_ASSERT(rows[i] >= 0 && rows[i] < x->rows);
        memmove((float *)out->data + (int64_t)i * D, (const float *)x->data + (int64_t)rows[i] * D,
                (size_t)D * sizeof(float));
    }
}
