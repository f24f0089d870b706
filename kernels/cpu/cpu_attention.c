// cpu_attention.c — the paged KV cache ops and causal grouped-query attention.
//
// K and V pools are F32 [n_slots, kv_dim], kv_dim = n_kv_heads * head_dim; slot =
// block * block_size + offset, blocks found through each sequence's block table.
#include "kernels/cpu/cpu_internal.h" // defines: v16f, cpu_backend, CPU_CLONES

#include <math.h>
#include <omp.h>

// Writes k[t], v[t] ([n, kv_dim]) into row slot[t] of the pools.
void cpu_kv_store(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const is_tensor *k,
                  const is_tensor *v, const is_attn_batch *b) {
    (void)be;
    IS_ASSERT(k_pool->dtype == IS_DTYPE_F32 && v_pool->dtype == IS_DTYPE_F32);
    IS_ASSERT(k->dtype == IS_DTYPE_F32 && v->dtype == IS_DTYPE_F32);
    IS_ASSERT(k->cols == k_pool->cols && v->cols == v_pool->cols && k_pool->rows == v_pool->rows);
    IS_ASSERT(b->n_tokens >= 0 && b->n_tokens <= k->rows && b->n_tokens <= v->rows);
    size_t kb = (size_t)k->cols * sizeof(float), vb = (size_t)v->cols * sizeof(float);
    for (int t = 0; t < b->n_tokens; t++) {
        int64_t s = b->slot[t];
        IS_ASSERT(s >= 0 && s < k_pool->rows);
        memcpy((float *)k_pool->data + s * k_pool->cols, (const float *)k->data + t * k->cols, kb);
        memcpy((float *)v_pool->data + s * v_pool->cols, (const float *)v->data + t * v->cols, vb);
    }
}

// Copies block src[i] to block dst[i] in both pools (all block_size slots).
void cpu_kv_copy_blocks(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const int32_t *src,
                        const int32_t *dst, int n, int block_size) {
    (void)be;
    IS_ASSERT(k_pool->dtype == IS_DTYPE_F32 && v_pool->dtype == IS_DTYPE_F32);
    IS_ASSERT(k_pool->rows == v_pool->rows && block_size > 0);
    int64_t n_blocks = k_pool->rows / block_size;
    for (int i = 0; i < n; i++) {
        IS_ASSERT(src[i] >= 0 && src[i] < n_blocks && dst[i] >= 0 && dst[i] < n_blocks);
        if (src[i] == dst[i]) continue;
        const is_tensor *pools[2] = {k_pool, v_pool};
        for (int p = 0; p < 2; p++) {
            int64_t row_floats = pools[p]->cols;
            float *base = pools[p]->data;
            memcpy(base + (int64_t)dst[i] * block_size * row_floats,
                   base + (int64_t)src[i] * block_size * row_floats,
                   (size_t)(block_size * row_floats) * sizeof(float));
        }
    }
}

// ---- attention -------------------------------------------------------------------

#define ATT_CHUNK 64   // positions per online-softmax step (scores on the stack)
#define ATT_GMAX 8     // query heads per work item, all sharing one kv head
#define ATT_HD_MAX IS_MAX_HEAD_DIM // largest head_dim (kernels/backend.h; models are checked on load)

// One work item: query heads [0, g) of one token (q, out: g x hd, stride hd) against
// positions 0..n_pos-1 of its sequence in kv head kvh.
typedef struct att_job {
    float *out;
    const float *q;
    int g;
    const float *k_pool, *v_pool; // [n_slots, kv_dim]
    int64_t kv_dim, n_slots;
    int kvh;
    const int32_t *btab; // the sequence's block table
    int bs, n_pos;
    float scale;
} att_job;

CPU_INLINE float att_dot(const float *a, const float *b, int hd) {
    v16f acc = {0};
    int i = 0;
    for (; i + 16 <= hd; i += 16) acc += v16f_load(a + i) * v16f_load(b + i);
    float s = v16f_sum(&acc);
    for (; i < hd; i++) s += a[i] * b[i];
    return s;
}

// s[p] = q . K[rows[p]] * scale for p < pn, 16 positions at a time with one transposed
// reduction; s[pn..] = -inf up to the next multiple of 16.
CPU_INLINE void att_scores(float *s, const float *q, const float *k_pool, const int64_t *rows,
                           int pn, int hd, float scale) {
    int hv = hd & ~15, p = 0;
    for (; p + 16 <= pn; p += 16) {
        v16f acc[16];
        for (int a = 0; a < 16; a++) {
            const float *kr = k_pool + rows[p + a];
            v16f t = {0};
            for (int i = 0; i < hv; i += 16) t += v16f_load(q + i) * v16f_load(kr + i);
            acc[a] = t;
        }
        *(v16f_u *)(s + p) = v16f_sum16(acc);
        for (int a = 0; hv < hd && a < 16; a++) // head_dim not a multiple of 16: the tail
            for (int i = hv; i < hd; i++) s[p + a] += q[i] * k_pool[rows[p + a] + i];
        *(v16f_u *)(s + p) = v16f_load(s + p) * scale;
    }
    for (; p < pn; p++) s[p] = att_dot(q, k_pool + rows[p], hd) * scale;
    for (; p & 15; p++) s[p] = -INFINITY;
}

// acc[0..hd) = acc * corr + sum_p s[p] V[rows[p]]; two positions in flight, so the FMA
// chains of the hd/16 accumulators overlap.
CPU_INLINE void att_accum_v(float *acc, float corr, const float *s, const float *v_pool,
                            const int64_t *rows, int pn, int hd) {
    enum { NV = ATT_HD_MAX / 16 };
    int nv = hd / 16;
    v16f a0[NV], a1[NV];
    for (int i = 0; i < nv; i++) {
        a0[i] = v16f_load(acc + 16 * i) * corr;
        a1[i] = (v16f){0};
    }
    int p = 0;
    for (; p + 2 <= pn; p += 2) {
        const float *v0 = v_pool + rows[p], *v1 = v_pool + rows[p + 1];
        for (int i = 0; i < nv; i++) {
            a0[i] += s[p] * v16f_load(v0 + 16 * i);
            a1[i] += s[p + 1] * v16f_load(v1 + 16 * i);
        }
    }
    if (p < pn)
        for (int i = 0; i < nv; i++) a0[i] += s[p] * v16f_load(v_pool + rows[p] + 16 * i);
    for (int i = 0; i < nv; i++) *(v16f_u *)(acc + 16 * i) = a0[i] + a1[i];
    for (int i = nv * 16; i < hd; i++) { // head_dim not a multiple of 16: the tail
        float t = acc[i] * corr;
        for (p = 0; p < pn; p++) t += s[p] * v_pool[rows[p] + i];
        acc[i] = t;
    }
}

// out[j] = sum_p softmax_p(q[j] . K[p] * scale) V[p], an online softmax over chunks of
// ATT_CHUNK positions. Each chunk's K and V rows (16 KiB each at hd = 64) are read from
// memory once for all g heads and then reused from L1. hd is a constant in the
// specialized clones below, so the accumulators stay in registers.
CPU_INLINE void att_item(const att_job *J, int hd) {
    float acc[ATT_GMAX][ATT_HD_MAX] __attribute__((aligned(64)));
    float s[ATT_CHUNK] __attribute__((aligned(64)));
    float m[ATT_GMAX], l[ATT_GMAX];
    int64_t rows[ATT_CHUNK]; // element offsets of the chunk's K/V rows in the pools
    for (int j = 0; j < J->g; j++) {
        m[j] = -INFINITY;
        l[j] = 0.0f;
        memset(acc[j], 0, (size_t)hd * sizeof(float));
    }
    int blk = 0, off = 0; // block-table index and offset of the next position
    for (int p0 = 0; p0 < J->n_pos; p0 += ATT_CHUNK) {
        int pn = J->n_pos - p0 < ATT_CHUNK ? J->n_pos - p0 : ATT_CHUNK;
        for (int p = 0; p < pn; p++) {
            int64_t slot = (int64_t)J->btab[blk] * J->bs + off;
            IS_ASSERT(slot >= 0 && slot < J->n_slots);
            rows[p] = slot * J->kv_dim + (int64_t)J->kvh * hd;
            if (++off == J->bs) {
                off = 0;
                blk++;
            }
        }
        for (int j = 0; j < J->g; j++) {
            att_scores(s, J->q + (int64_t)j * hd, J->k_pool, rows, pn, hd, J->scale);
            v16f mv = v16f_load(s);
            for (int p = 16; p < pn; p += 16) {
                v16f t = v16f_load(s + p);
                mv = v16f_max(&mv, &t);
            }
            float mx = m[j];
            for (int i = 0; i < 16; i++) mx = mv[i] > mx ? mv[i] : mx;
            float corr = expf(m[j] - mx); // 0 on the first chunk (m = -inf)
            m[j] = mx;
            v16f sum = {0};
            for (int p = 0; p < pn; p += 16) {
                v16f t = v16f_load(s + p) - mx;
                t = v16f_exp(&t); // the -inf padding gives 0
                *(v16f_u *)(s + p) = t;
                sum += t;
            }
            l[j] = l[j] * corr + v16f_sum(&sum);
            att_accum_v(acc[j], corr, s, J->v_pool, rows, pn, hd);
        }
    }
    for (int j = 0; j < J->g; j++) {
        float inv = 1.0f / l[j];
        for (int i = 0; i < hd; i++) J->out[(int64_t)j * hd + i] = acc[j][i] * inv;
    }
}

CPU_CLONES static void att_item_64(const att_job *J) { att_item(J, 64); }
CPU_CLONES static void att_item_128(const att_job *J) { att_item(J, 128); }
CPU_CLONES static void att_item_any(const att_job *J, int hd) { att_item(J, hd); }

// q, out [n_tokens, n_heads * hd]; work items (kv head, sub-group of its query heads,
// token) are spread dynamically over the threads, since causal rows differ in length.
void cpu_attention(is_backend *be, is_tensor *out, const is_tensor *q, const is_tensor *k_pool,
                   const is_tensor *v_pool, const is_attn_batch *b, int n_heads, int n_kv_heads,
                   int head_dim) {
    IS_ASSERT(out->dtype == IS_DTYPE_F32 && q->dtype == IS_DTYPE_F32);
    IS_ASSERT(k_pool->dtype == IS_DTYPE_F32 && v_pool->dtype == IS_DTYPE_F32);
    IS_ASSERT(n_heads > 0 && n_kv_heads > 0 && n_heads % n_kv_heads == 0);
    IS_ASSERT(head_dim > 0 && head_dim <= ATT_HD_MAX);
    IS_ASSERT(q->cols == (int64_t)n_heads * head_dim && out->cols == q->cols);
    IS_ASSERT(k_pool->cols == (int64_t)n_kv_heads * head_dim && v_pool->cols == k_pool->cols);
    IS_ASSERT(k_pool->rows == v_pool->rows && out->data != q->data);
    IS_ASSERT(b->n_tokens >= 0 && b->n_tokens <= q->rows && b->n_tokens <= out->rows);
    IS_ASSERT(b->block_size > 0 && b->max_blocks > 0);
    int nt_tok = b->n_tokens;
    if (nt_tok == 0) return;
    for (int t = 0; t < nt_tok; t++) {
        IS_ASSERT(b->seq[t] >= 0 && b->seq[t] < b->n_seqs);
        IS_ASSERT(b->pos[t] >= 0 && b->pos[t] / b->block_size < b->max_blocks);
    }
    int ratio = n_heads / n_kv_heads;
    int n_threads = cpu_impl(be)->n_threads;
    // Sub-groups: at most ATT_GMAX heads each, and enough items to keep every thread busy.
    int n_sub = (ratio + ATT_GMAX - 1) / ATT_GMAX;
    while (n_sub < ratio && (int64_t)nt_tok * n_kv_heads * n_sub < 2 * n_threads) n_sub++;
    int64_t n_items = (int64_t)nt_tok * n_kv_heads * n_sub;
    float scale = 1.0f / sqrtf((float)head_dim);
    int64_t work = 0;
    for (int t = 0; t < nt_tok; t++) work += (int64_t)(b->pos[t] + 1) * n_heads * head_dim;
    int nt = work >= CPU_PAR_MIN ? n_threads : 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
    for (int64_t it = 0; it < n_items; it++) {
        // tokens innermost: neighbouring items read the same kv head's rows (cache reuse)
        int t = (int)(it % nt_tok);
        int rem = (int)(it / nt_tok);
        int kvh = rem / n_sub, sub = rem % n_sub;
        int h0 = kvh * ratio + ratio * sub / n_sub, h1 = kvh * ratio + ratio * (sub + 1) / n_sub;
        att_job J = {
            .out = (float *)out->data + t * out->cols + (int64_t)h0 * head_dim,
            .q = (const float *)q->data + t * q->cols + (int64_t)h0 * head_dim,
            .g = h1 - h0,
            .k_pool = k_pool->data,
            .v_pool = v_pool->data,
            .kv_dim = k_pool->cols,
            .n_slots = k_pool->rows,
            .kvh = kvh,
            .btab = b->block_tables + (int64_t)b->seq[t] * b->max_blocks,
            .bs = b->block_size,
            .n_pos = b->pos[t] + 1,
            .scale = scale,
        };
        if (head_dim == 64) att_item_64(&J);
        else if (head_dim == 128) att_item_128(&J);
        else att_item_any(&J, head_dim);
    }
}
