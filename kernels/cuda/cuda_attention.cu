// cuda_attention.cu — the paged KV cache ops and causal grouped-query attention
// on the device.
//
// K and V pools are BF16 [n_slots, kv_dim], kv_dim = n_kv_heads * head_dim; slot
// = block * block_size + offset, blocks found through each sequence's block table
// (the chunk's upload, stride L.stride). Scores, softmax and sums are fp32.
//
// The kernel is chosen by the shape of the chunk, then by the variant selected
// (kernel_select, cuda_backend.cu; the variant tables are at the end of this file):
// - decode (every tile is one token):
//   naive: a block per (token, head); its 4 warps take interleaved runs of 32
//     positions, each with an online softmax, and merge.
//   split_kv (flash-decoding): the same block over one partition of the context
//     (is_cuda_plan_split_kv), writing its max, sum and unnormalized output to the
//     variant workspace; a second kernel merges the partitions by the log-sum-exp
//     rule. One partition planned (short context, or enough blocks already): naive.
// - prefill:
//   tiled: a block per (tile of up to IS_CUDA_TILE_Q tokens of one sequence,
//     head); K and V pass through shared memory 32 positions at a time and every
//     query keeps an online softmax, so no T x T score matrix is ever stored.
//   wide: a block per (4 consecutive tiles, head), 8 warps of 8 queries; tiles of
//     one sequence share each K/V shared-memory tile (a quarter of tiled's K/V
//     reads for a long prompt), scores of a warp's 8 queries from one read of each
//     K row. head_dim 64 and 128 (compiled for each); other head dims run tiled.
#include "kernels/cuda/cuda_internal.cuh" // defines: cuda_backend, CUDA_LAUNCHED, cuda_dev_batch

#include <math.h>

#define ATT_THREADS 128          // 4 warps
#define ATT_WARPS (ATT_THREADS / 32)
#define ATT_TK 32                // positions per shared-memory tile (one per lane)
#define ATT_QPW (IS_CUDA_TILE_Q / ATT_WARPS) // queries per warp in a prefill tile
#define ATT_ACC ((IS_MAX_HEAD_DIM + 31) / 32) // output dims per lane

static_assert(IS_CUDA_TILE_Q % ATT_WARPS == 0, "tile queries split evenly over the warps");

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// One step of a query's online softmax over 32 positions, one per lane: sc the
// lane's score (-inf where not visible, and some lane's visible, so the new max is
// finite). Updates the running max m and sum l, rescales acc, returns the lane's
// weight e^(sc - m).
template <int N>
__device__ __forceinline__ float softmax_step(float &m, float &l, float (&acc)[N], float sc) {
    float m_new = fmaxf(m, warp_max(sc));
    float corr = expf(m - m_new), pj = sc == -INFINITY ? 0.0f : expf(sc - m_new);
    l = l * corr + warp_sum(pj);
    for (int i = 0; i < N; i++) acc[i] *= corr;
    m = m_new;
    return pj;
}

__device__ __forceinline__ int slot_of(const int32_t *bt, int block_size, int p) {
    return bt[p / block_size] * block_size + p % block_size;
}

// The block copies K and V of head kvh at positions kt .. kt + ATT_TK - 1 (zeros
// past last) into ks and vs, rows of ld_s elements.
__device__ __forceinline__ void load_kv_tile(__nv_bfloat16 *ks, __nv_bfloat16 *vs, int ld_s, const __nv_bfloat16 *kp,
                                             const __nv_bfloat16 *vp, const int32_t *bt, int block_size,
                                             int64_t kv_ld, int kvh, int hd, int kt, int last) {
    int half = hd / 2;
    for (int i = threadIdx.x; i < ATT_TK * half; i += blockDim.x) {
        int j = i / half, k = i % half, p = kt + j;
        __nv_bfloat162 kv2 = __floats2bfloat162_rn(0.0f, 0.0f), vv2 = kv2;
        if (p <= last) {
            int64_t off = (int64_t)slot_of(bt, block_size, p) * kv_ld + (int64_t)kvh * hd;
            kv2 = ((const __nv_bfloat162 *)(kp + off))[k];
            vv2 = ((const __nv_bfloat162 *)(vp + off))[k];
        }
        ((__nv_bfloat162 *)(ks + j * ld_s))[k] = kv2;
        ((__nv_bfloat162 *)(vs + j * ld_s))[k] = vv2;
    }
}

// q (F32, already scaled) . k (BF16), hd even.
__device__ __forceinline__ float dot_qk(const float *q, const __nv_bfloat16 *k, int hd) {
    const __nv_bfloat162 *k2 = (const __nv_bfloat162 *)k;
    float s = 0.0f;
    for (int i = 0; i < hd / 2; i++) {
        float2 kv = __bfloat1622float2(k2[i]);
        s = fmaf(q[2 * i], kv.x, s);
        s = fmaf(q[2 * i + 1], kv.y, s);
    }
    return s;
}

// ---- KV cache -------------------------------------------------------------------

__global__ void kv_store_kernel(__nv_bfloat16 *kp, __nv_bfloat16 *vp, const float *k, const float *v, int64_t k_ld,
                                int64_t v_ld, int64_t kv_dim, const int32_t *slot) {
    int64_t s = slot[blockIdx.x];
    for (int64_t d = threadIdx.x; d < kv_dim; d += blockDim.x) {
        kp[s * kv_dim + d] = __float2bfloat16_rn(k[blockIdx.x * k_ld + d]);
        vp[s * kv_dim + d] = __float2bfloat16_rn(v[blockIdx.x * v_ld + d]);
    }
}

#define KV_COPY_MAX 8
struct kv_copy_list {
    int32_t src[KV_COPY_MAX], dst[KV_COPY_MAX];
};

// blockIdx.y: the pair; whole blocks of block_elems elements in both pools.
__global__ void kv_copy_kernel(__nv_bfloat16 *kp, __nv_bfloat16 *vp, kv_copy_list list, int64_t block_elems) {
    int64_t s = list.src[blockIdx.y] * block_elems, d = list.dst[blockIdx.y] * block_elems;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < block_elems;
         i += (int64_t)gridDim.x * blockDim.x) {
        kp[d + i] = kp[s + i];
        vp[d + i] = vp[s + i];
    }
}

// ---- decode: a block per (token, head[, partition]) ------------------------------------

// SPLIT false (naive): grid (token, head), positions 0 .. pos[t], out = o / L.
// SPLIT true (split_kv): grid (token, head, partition), positions of partition z
// (is_cuda_split_part_len of the token's own context over gridDim.z partitions);
// part row (t * heads + h) * gridDim.z + z gets [M, L, o[0..hd)] unnormalized
// (M = -inf, L = 0 for a partition past the token's context).
template <bool SPLIT>
__global__ void __launch_bounds__(ATT_THREADS)
attn_decode_kernel(float *out, int64_t out_ld, float *part, const float *q, int64_t q_ld, const __nv_bfloat16 *kp,
                   const __nv_bfloat16 *vp, const int32_t *pos, const int32_t *seq, const int32_t *bts, int stride,
                   int block_size, int group, int kv_heads, int hd, float scale) {
    __shared__ float qs[IS_MAX_HEAD_DIM];
    __shared__ float w_m[ATT_WARPS], w_l[ATT_WARPS];
    __shared__ float w_acc[ATT_WARPS][IS_MAX_HEAD_DIM];
    int t = blockIdx.x, h = blockIdx.y, kvh = h / group;
    int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t kv_ld = (int64_t)kv_heads * hd;
    const int32_t *bt = bts + (int64_t)seq[t] * stride;
    int n_pos = pos[t] + 1, p0 = 0;
    float *pr = SPLIT ? part + (((int64_t)t * gridDim.y + h) * gridDim.z + blockIdx.z) * (hd + 2) : NULL;
    if (SPLIT) {
        int len = is_cuda_split_part_len(n_pos, (int)gridDim.z, block_size);
        p0 = (int)blockIdx.z * len;
        if (p0 >= n_pos) { // the token is shorter than the planned context: an empty partition
            if (threadIdx.x == 0) {
                pr[0] = -INFINITY;
                pr[1] = 0.0f;
            }
            return;
        }
        n_pos = min(n_pos, p0 + len); // positions p0 .. n_pos - 1
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = q[t * q_ld + (int64_t)h * hd + d] * scale;
    __syncthreads();
    float m = -INFINITY, l = 0.0f, acc[ATT_ACC];
    for (int i = 0; i < ATT_ACC; i++) acc[i] = 0.0f;
    for (int base = p0 + w * 32; base < n_pos; base += ATT_THREADS) {
        int p = base + lane, slot = 0;
        float sc = -INFINITY;
        if (p < n_pos) {
            slot = slot_of(bt, block_size, p);
            sc = dot_qk(qs, kp + slot * kv_ld + (int64_t)kvh * hd, hd);
        }
        float m_new = fmaxf(m, warp_max(sc)); // finite: position base is always valid
        float corr = expf(m - m_new), pj = p < n_pos ? expf(sc - m_new) : 0.0f;
        l = l * corr + warp_sum(pj);
        for (int i = 0; i < ATT_ACC; i++) acc[i] *= corr;
        for (int j = 0; j < 32 && base + j < n_pos; j++) {
            float pjj = __shfl_sync(0xffffffffu, pj, j);
            int sj = __shfl_sync(0xffffffffu, slot, j);
            const __nv_bfloat16 *vr = vp + sj * kv_ld + (int64_t)kvh * hd;
            for (int i = 0; i < ATT_ACC; i++) {
                int d = lane + 32 * i;
                if (d < hd) acc[i] = fmaf(pjj, __bfloat162float(vr[d]), acc[i]);
            }
        }
        m = m_new;
    }
    if (lane == 0) {
        w_m[w] = m;
        w_l[w] = l;
    }
    for (int i = 0; i < ATT_ACC; i++) {
        int d = lane + 32 * i;
        if (d < hd) w_acc[w][d] = acc[i];
    }
    __syncthreads();
    float M = -INFINITY;
    for (int k = 0; k < ATT_WARPS; k++) M = fmaxf(M, w_m[k]);
    float L = 0.0f;
    for (int k = 0; k < ATT_WARPS; k++) L += w_m[k] == -INFINITY ? 0.0f : w_l[k] * expf(w_m[k] - M);
    if (SPLIT && threadIdx.x == 0) {
        pr[0] = M;
        pr[1] = L;
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (int k = 0; k < ATT_WARPS; k++)
            if (w_m[k] != -INFINITY) o += w_acc[k][d] * expf(w_m[k] - M);
        if (SPLIT) pr[2 + d] = o;
        else out[t * out_ld + (int64_t)h * hd + d] = o / L;
    }
}

// split_kv, second pass: grid (token, head). With m_z, l_z, o_z of the n_parts
// partitions and M = max m_z: out = sum_z o_z e^(m_z - M) / sum_z l_z e^(m_z - M).
// Partition 0 always holds position 0, so M is finite.
__global__ void __launch_bounds__(ATT_THREADS)
attn_decode_merge_kernel(float *out, int64_t out_ld, const float *part, int n_parts, int hd) {
    __shared__ float wz[IS_CUDA_SPLIT_MAX_PARTS]; // e^(m_z - M), 0 for an empty partition
    __shared__ float s_inv_l;
    int t = blockIdx.x, h = blockIdx.y;
    const float *pr = part + ((int64_t)t * gridDim.y + h) * n_parts * (hd + 2);
    float M = -INFINITY;
    for (int z = 0; z < n_parts; z++) M = fmaxf(M, pr[(int64_t)z * (hd + 2)]);
    for (int z = threadIdx.x; z < n_parts; z += blockDim.x) {
        float mz = pr[(int64_t)z * (hd + 2)];
        wz[z] = mz == -INFINITY ? 0.0f : expf(mz - M);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float L = 0.0f;
        for (int z = 0; z < n_parts; z++) L += wz[z] * pr[(int64_t)z * (hd + 2) + 1];
        s_inv_l = 1.0f / L;
    }
    __syncthreads();
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (int z = 0; z < n_parts; z++)
            if (wz[z] != 0.0f) o += wz[z] * pr[(int64_t)z * (hd + 2) + 2 + d];
        out[t * out_ld + (int64_t)h * hd + d] = o * s_inv_l;
    }
}

// ---- prefill: a block per (tile, head) -----------------------------------------------

static size_t prefill_smem(int hd) {
    return (size_t)IS_CUDA_TILE_Q * hd * sizeof(float) + 2 * (size_t)ATT_TK * (hd + 2) * sizeof(__nv_bfloat16);
}

__global__ void __launch_bounds__(ATT_THREADS)
attn_prefill_kernel(float *out, int64_t out_ld, const float *q, int64_t q_ld, const __nv_bfloat16 *kp,
                    const __nv_bfloat16 *vp, const int32_t *pos, const int32_t *seq, const int32_t *tiles,
                    const int32_t *bts, int stride, int block_size, int group, int kv_heads, int hd, float scale) {
    extern __shared__ float smem[];
    float *qs = smem;                                                   // [TILE_Q][hd]
    __nv_bfloat16 *ks = (__nv_bfloat16 *)(qs + IS_CUDA_TILE_Q * hd);    // [TK][hd + 2]
    __nv_bfloat16 *vs = ks + ATT_TK * (hd + 2);                          // [TK][hd + 2]
    int ld_s = hd + 2; // padding: lane j reading row j hits its own bank
    int t0 = tiles[2 * blockIdx.x], cnt = tiles[2 * blockIdx.x + 1];
    int h = blockIdx.y, kvh = h / group;
    int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t kv_ld = (int64_t)kv_heads * hd;
    const int32_t *bt = bts + (int64_t)seq[t0] * stride;
    int max_pos = 0;
    for (int i = 0; i < cnt; i++) max_pos = max(max_pos, pos[t0 + i]);
    for (int i = threadIdx.x; i < IS_CUDA_TILE_Q * hd; i += blockDim.x) {
        int qi = i / hd, d = i % hd;
        qs[i] = qi < cnt ? q[(int64_t)(t0 + qi) * q_ld + (int64_t)h * hd + d] * scale : 0.0f;
    }
    int my_pos[ATT_QPW];
    float m[ATT_QPW], l[ATT_QPW], acc[ATT_QPW][ATT_ACC];
    for (int r = 0; r < ATT_QPW; r++) {
        int qi = w * ATT_QPW + r;
        my_pos[r] = qi < cnt ? pos[t0 + qi] : -1;
        m[r] = -INFINITY;
        l[r] = 0.0f;
        for (int i = 0; i < ATT_ACC; i++) acc[r][i] = 0.0f;
    }
    for (int kt = 0; kt <= max_pos; kt += ATT_TK) {
        __syncthreads(); // the previous tile is consumed (and qs written, the first time)
        load_kv_tile(ks, vs, ld_s, kp, vp, bt, block_size, kv_ld, kvh, hd, kt, max_pos);
        __syncthreads();
        for (int r = 0; r < ATT_QPW; r++) {
            int qi = w * ATT_QPW + r;
            if (my_pos[r] < kt) continue; // nothing visible in this tile (or no query): warp-uniform
            int p = kt + lane;
            bool vis = p <= my_pos[r];
            float sc = vis ? dot_qk(qs + qi * hd, ks + lane * ld_s, hd) : -INFINITY;
            float pj = softmax_step(m[r], l[r], acc[r], sc); // position kt is visible
            for (int j = 0; j < ATT_TK && kt + j <= my_pos[r]; j++) {
                float pjj = __shfl_sync(0xffffffffu, pj, j);
                const __nv_bfloat16 *vr = vs + j * ld_s;
                for (int i = 0; i < ATT_ACC; i++) {
                    int d = lane + 32 * i;
                    if (d < hd) acc[r][i] = fmaf(pjj, __bfloat162float(vr[d]), acc[r][i]);
                }
            }
        }
    }
    for (int r = 0; r < ATT_QPW; r++) {
        int qi = w * ATT_QPW + r;
        if (qi >= cnt) continue;
        float *o = out + (int64_t)(t0 + qi) * out_ld + (int64_t)h * hd;
        for (int i = 0; i < ATT_ACC; i++) {
            int d = lane + 32 * i;
            if (d < hd) o[d] = acc[r][i] / l[r];
        }
    }
}

// ---- prefill, wide: a block per (4 tiles, head) ----------------------------------------

#define WIDE_SUB 4                          // IS_CUDA_TILE_Q-query tiles per block
#define WIDE_Q (WIDE_SUB * IS_CUDA_TILE_Q)  // 64 queries
#define WIDE_WARPS 8
#define WIDE_THREADS (WIDE_WARPS * 32)
#define WIDE_QPW (WIDE_Q / WIDE_WARPS)      // 8 queries per warp
#define WIDE_WPT (WIDE_WARPS / WIDE_SUB)    // 2 warps per tile

static_assert(WIDE_Q % WIDE_WARPS == 0 && IS_CUDA_TILE_Q == WIDE_WPT * WIDE_QPW, "a tile is whole warps");

template <int HD>
static size_t prefill_wide_smem() {
    return (size_t)WIDE_Q * HD * sizeof(float) + 2 * (size_t)ATT_TK * (HD + 2) * sizeof(__nv_bfloat16);
}

// grid (ceil(n_tiles / WIDE_SUB), heads), WIDE_THREADS threads. Block b takes tiles
// WIDE_SUB * b .. + WIDE_SUB - 1 of the chunk; warps 2s and 2s + 1 own tile s's
// queries. Runs of those tiles of one sequence (a segment) share the K/V tiles of
// positions 0 .. the segment's largest position; a block whose tiles belong to
// several sequences walks its segments in turn, the other warps waiting.
template <int HD>
__global__ void __launch_bounds__(WIDE_THREADS)
attn_prefill_wide_kernel(float *out, int64_t out_ld, const float *q, int64_t q_ld, const __nv_bfloat16 *kp,
                         const __nv_bfloat16 *vp, const int32_t *pos, const int32_t *seq, const int32_t *tiles,
                         int n_tiles, const int32_t *bts, int stride, int block_size, int group, int kv_heads,
                         float scale) {
    constexpr int NA = HD / 32, LD = HD + 2, HALF = HD / 2; // output dims per lane; padded K/V row
    extern __shared__ float smem[];
    float *qs = smem;                                      // [WIDE_Q][HD], scaled
    __nv_bfloat16 *ks = (__nv_bfloat16 *)(qs + WIDE_Q * HD); // [TK][LD]
    __nv_bfloat16 *vs = ks + ATT_TK * LD;                   // [TK][LD]
    __shared__ int s_t0[WIDE_SUB], s_cnt[WIDE_SUB], s_seq[WIDE_SUB], s_max[WIDE_SUB];
    int g0 = blockIdx.x * WIDE_SUB, n_sub = min(WIDE_SUB, n_tiles - g0);
    int h = blockIdx.y, kvh = h / group;
    int w = threadIdx.x / 32, lane = threadIdx.x % 32, sub = w / WIDE_WPT;
    int64_t kv_ld = (int64_t)kv_heads * HD;
    if (threadIdx.x < WIDE_SUB) {
        int i = threadIdx.x, t0 = 0, cnt = 0, sq = -1, mx = -1;
        if (i < n_sub) {
            t0 = tiles[2 * (g0 + i)];
            cnt = tiles[2 * (g0 + i) + 1];
            sq = seq[t0];
            for (int k = 0; k < cnt; k++) mx = max(mx, pos[t0 + k]);
        }
        s_t0[i] = t0;
        s_cnt[i] = cnt;
        s_seq[i] = sq;
        s_max[i] = mx;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < WIDE_Q * HD; i += WIDE_THREADS) {
        int qq = i / HD, d = i % HD, s = qq / IS_CUDA_TILE_Q, qi = qq % IS_CUDA_TILE_Q;
        qs[i] = qi < s_cnt[s] ? q[(int64_t)(s_t0[s] + qi) * q_ld + (int64_t)h * HD + d] * scale : 0.0f;
    }
    int q_first = sub * IS_CUDA_TILE_Q + (w % WIDE_WPT) * WIDE_QPW; // this warp's first query in qs
    int my_pos[WIDE_QPW], last_pos = -1; // the warp's queries' positions and their largest
    float m[WIDE_QPW], l[WIDE_QPW], acc[WIDE_QPW][NA];
#pragma unroll
    for (int r = 0; r < WIDE_QPW; r++) {
        int qi = (w % WIDE_WPT) * WIDE_QPW + r;
        my_pos[r] = qi < s_cnt[sub] ? pos[s_t0[sub] + qi] : -1;
        last_pos = max(last_pos, my_pos[r]);
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int i = 0; i < NA; i++) acc[r][i] = 0.0f;
    }
    for (int s0 = 0; s0 < n_sub;) {
        int s1 = s0 + 1, seg_max = s_max[s0];
        while (s1 < n_sub && s_seq[s1] == s_seq[s0]) seg_max = max(seg_max, s_max[s1++]);
        const int32_t *bt = bts + (int64_t)s_seq[s0] * stride;
        bool active = sub >= s0 && sub < s1;
        for (int kt = 0; kt <= seg_max; kt += ATT_TK) {
            __syncthreads(); // the previous tile is consumed (and qs written, the first time)
            load_kv_tile(ks, vs, LD, kp, vp, bt, block_size, kv_ld, kvh, HD, kt, seg_max);
            __syncthreads();
            if (!active || last_pos < kt) continue; // warp-uniform: nothing of this tile is visible to the warp
            // scores of the warp's queries against position kt + lane, one read of the K row for all
            float sc[WIDE_QPW];
#pragma unroll
            for (int r = 0; r < WIDE_QPW; r++) sc[r] = 0.0f;
            const __nv_bfloat162 *k2 = (const __nv_bfloat162 *)(ks + lane * LD);
            const float2 *q2 = (const float2 *)(qs + q_first * HD);
#pragma unroll 4
            for (int i = 0; i < HALF; i++) {
                float2 kv = __bfloat1622float2(k2[i]);
#pragma unroll
                for (int r = 0; r < WIDE_QPW; r++) {
                    float2 qv = q2[r * HALF + i];
                    sc[r] = fmaf(qv.x, kv.x, sc[r]);
                    sc[r] = fmaf(qv.y, kv.y, sc[r]);
                }
            }
            float pj[WIDE_QPW];
#pragma unroll
            for (int r = 0; r < WIDE_QPW; r++) {
                pj[r] = 0.0f;
                if (my_pos[r] < kt) continue; // no query, or none of the tile visible: warp-uniform
                bool vis = kt + lane <= my_pos[r];
                pj[r] = softmax_step(m[r], l[r], acc[r], vis ? sc[r] : -INFINITY); // position kt is visible
            }
            int jn = min(ATT_TK, last_pos - kt + 1);
            for (int j = 0; j < jn; j++) {
                float v[NA];
#pragma unroll
                for (int i = 0; i < NA; i++) v[i] = __bfloat162float(vs[j * LD + lane + 32 * i]);
#pragma unroll
                for (int r = 0; r < WIDE_QPW; r++) {
                    float pjj = __shfl_sync(0xffffffffu, pj[r], j);
#pragma unroll
                    for (int i = 0; i < NA; i++) acc[r][i] = fmaf(pjj, v[i], acc[r][i]);
                }
            }
        }
        s0 = s1;
    }
#pragma unroll
    for (int r = 0; r < WIDE_QPW; r++) {
        if (my_pos[r] < 0) continue;
        int qi = (w % WIDE_WPT) * WIDE_QPW + r;
        float *o = out + (int64_t)(s_t0[sub] + qi) * out_ld + (int64_t)h * HD;
#pragma unroll
        for (int i = 0; i < NA; i++) o[lane + 32 * i] = acc[r][i] / l[r];
    }
}

// ---- launchers -----------------------------------------------------------------------

bool cuda_attention_init(cuda_backend *cb) {
    return CUDA_OK(cb, cudaFuncSetAttribute(attn_prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)prefill_smem(IS_MAX_HEAD_DIM))) &&
           CUDA_OK(cb, cudaFuncSetAttribute(attn_prefill_wide_kernel<64>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            (int)prefill_wide_smem<64>())) &&
           CUDA_OK(cb, cudaFuncSetAttribute(attn_prefill_wide_kernel<128>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, (int)prefill_wide_smem<128>()));
}

static void check_pools(const is_tensor *kp, const is_tensor *vp) {
    IS_ASSERT(kp->dtype == IS_DTYPE_BF16 && vp->dtype == IS_DTYPE_BF16);
    IS_ASSERT(kp->rows == vp->rows && kp->cols == vp->cols);
}

void cuda_kv_store(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const is_tensor *k, const is_tensor *v,
                   const is_attn_batch *b) {
    cuda_backend *cb = cuda_impl(be);
    check_pools(k_pool, v_pool);
    IS_ASSERT(k->dtype == IS_DTYPE_F32 && v->dtype == IS_DTYPE_F32);
    IS_ASSERT(k->cols == k_pool->cols && v->cols == v_pool->cols);
    IS_ASSERT(b->n_tokens >= 0 && b->n_tokens <= k->rows && b->n_tokens <= v->rows);
    for (int t = 0; t < b->n_tokens; t++) IS_ASSERT(b->slot[t] >= 0 && b->slot[t] < k_pool->rows);
    if (cb->failed || b->n_tokens == 0) return;
    is_cuda_layout L;
    const int32_t *d = cuda_dev_batch(cb, b, &L);
    if (!d) return;
    kv_store_kernel<<<b->n_tokens, 256, 0, cb->stream>>>((__nv_bfloat16 *)k_pool->data, (__nv_bfloat16 *)v_pool->data,
                                                         (const float *)k->data, (const float *)v->data, k->cols,
                                                         v->cols, k_pool->cols, d + L.off_slot);
    CUDA_LAUNCHED(cb, "kv_store_kernel");
}

void cuda_kv_copy_blocks(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const int32_t *src, const int32_t *dst,
                         int n, int block_size) {
    cuda_backend *cb = cuda_impl(be);
    check_pools(k_pool, v_pool);
    IS_ASSERT(block_size > 0);
    int64_t n_blocks = k_pool->rows / block_size, block_elems = (int64_t)block_size * k_pool->cols;
    for (int i = 0; i < n; i++) IS_ASSERT(src[i] >= 0 && src[i] < n_blocks && dst[i] >= 0 && dst[i] < n_blocks);
    for (int i0 = 0; i0 < n && !cb->failed; i0 += KV_COPY_MAX) {
        kv_copy_list list;
        int c = 0;
        for (int i = i0; i < n && i < i0 + KV_COPY_MAX; i++)
            if (src[i] != dst[i]) {
                list.src[c] = src[i];
                list.dst[c] = dst[i];
                c++;
            }
        if (c == 0) continue;
        dim3 grid(cuda_grid(block_elems, 256) < 64 ? cuda_grid(block_elems, 256) : 64, (unsigned)c);
        kv_copy_kernel<<<grid, 256, 0, cb->stream>>>((__nv_bfloat16 *)k_pool->data, (__nv_bfloat16 *)v_pool->data,
                                                     list, block_elems);
        CUDA_LAUNCHED(cb, "kv_copy_kernel");
    }
}

// ---- the variants ----------------------------------------------------------------
// Decode attention (every tile one token): naive, a block per (token, head).
static void decode_naive(cuda_backend *cb, const cuda_attn_call *c) {
    const is_cuda_layout *L = c->L;
    dim3 grid((unsigned)c->b->n_tokens, (unsigned)c->n_heads);
    attn_decode_kernel<false><<<grid, ATT_THREADS, 0, cb->stream>>>(
        (float *)c->out->data, c->out->cols, NULL, (const float *)c->q->data, c->q->cols,
        (const __nv_bfloat16 *)c->k_pool->data, (const __nv_bfloat16 *)c->v_pool->data, c->d + L->off_pos,
        c->d + L->off_seq, c->d + L->off_bt, L->stride, c->b->block_size, c->n_heads / c->n_kv_heads, c->n_kv_heads,
        c->head_dim, c->scale);
    CUDA_LAUNCHED(cb, "attn_decode_kernel");
}

// split_kv: context partitions merged by log-sum-exp, when its plan has more than
// one partition (else naive). The plan is made for the longest context the chunk's
// block-table stride admits, so a graph recorded with it stays right as the
// contexts grow; its workspace was reserved by kernel_select.
static void decode_split_kv(cuda_backend *cb, const cuda_attn_call *c) {
    const is_cuda_layout *L = c->L;
    const is_attn_batch *b = c->b;
    is_cuda_split_plan sp = {1, 0};
    int64_t ctx = (int64_t)L->stride * b->block_size;
    is_cuda_plan_split_kv(&sp, b->n_tokens, c->n_heads, ctx < (1 << 30) ? (int)ctx : (1 << 30), b->block_size,
                          cb->info.sm_count);
    if (sp.n_parts == 1) {
        decode_naive(cb, c);
        return;
    }
    // the plan's cap: the merge kernel keeps one weight per partition in shared memory
    IS_ASSERT(sp.n_parts <= IS_CUDA_SPLIT_MAX_PARTS);
    size_t need = is_cuda_plan_split_kv_work(&sp, b->n_tokens, c->n_heads, c->head_dim) * sizeof(float);
    if (need > cb->work_cap) {
        cuda_note_msg(cb, __FILE__, __LINE__, "attn_decode=split_kv: %d partitions need %zu bytes of workspace, "
                      "%zu reserved", sp.n_parts, need, cb->work_cap);
        return;
    }
    float *part = (float *)cb->d_work;
    dim3 grid((unsigned)b->n_tokens, (unsigned)c->n_heads, (unsigned)sp.n_parts);
    attn_decode_kernel<true><<<grid, ATT_THREADS, 0, cb->stream>>>(
        NULL, 0, part, (const float *)c->q->data, c->q->cols, (const __nv_bfloat16 *)c->k_pool->data,
        (const __nv_bfloat16 *)c->v_pool->data, c->d + L->off_pos, c->d + L->off_seq, c->d + L->off_bt, L->stride,
        b->block_size, c->n_heads / c->n_kv_heads, c->n_kv_heads, c->head_dim, c->scale);
    if (!CUDA_LAUNCHED(cb, "attn_decode_kernel (split_kv)")) return;
    attn_decode_merge_kernel<<<dim3((unsigned)b->n_tokens, (unsigned)c->n_heads), ATT_THREADS, 0, cb->stream>>>(
        (float *)c->out->data, c->out->cols, part, sp.n_parts, c->head_dim);
    CUDA_LAUNCHED(cb, "attn_decode_merge_kernel");
}

// Prefill attention, tiled: a block per (tile of IS_CUDA_TILE_Q queries, head).
static void prefill_tiled(cuda_backend *cb, const cuda_attn_call *c) {
    const is_cuda_layout *L = c->L;
    dim3 grid((unsigned)L->n_tiles, (unsigned)c->n_heads);
    attn_prefill_kernel<<<grid, ATT_THREADS, prefill_smem(c->head_dim), cb->stream>>>(
        (float *)c->out->data, c->out->cols, (const float *)c->q->data, c->q->cols,
        (const __nv_bfloat16 *)c->k_pool->data, (const __nv_bfloat16 *)c->v_pool->data, c->d + L->off_pos,
        c->d + L->off_seq, c->d + L->off_tiles, c->d + L->off_bt, L->stride, c->b->block_size,
        c->n_heads / c->n_kv_heads, c->n_kv_heads, c->head_dim, c->scale);
    CUDA_LAUNCHED(cb, "attn_prefill_kernel");
}

template <int HD>
static void prefill_wide_hd(cuda_backend *cb, const cuda_attn_call *c) {
    const is_cuda_layout *L = c->L;
    dim3 grid((unsigned)((L->n_tiles + WIDE_SUB - 1) / WIDE_SUB), (unsigned)c->n_heads);
    attn_prefill_wide_kernel<HD><<<grid, WIDE_THREADS, prefill_wide_smem<HD>(), cb->stream>>>(
        (float *)c->out->data, c->out->cols, (const float *)c->q->data, c->q->cols,
        (const __nv_bfloat16 *)c->k_pool->data, (const __nv_bfloat16 *)c->v_pool->data, c->d + L->off_pos,
        c->d + L->off_seq, c->d + L->off_tiles, L->n_tiles, c->d + L->off_bt, L->stride, c->b->block_size,
        c->n_heads / c->n_kv_heads, c->n_kv_heads, c->scale);
    CUDA_LAUNCHED(cb, "attn_prefill_wide_kernel");
}

// wide: 64 queries a block share each K/V tile; compiled for head_dim 64 and 128,
// other head_dims run tiled.
static void prefill_wide(cuda_backend *cb, const cuda_attn_call *c) {
    if (c->head_dim == 64) prefill_wide_hd<64>(cb, c);
    else if (c->head_dim == 128) prefill_wide_hd<128>(cb, c);
    else prefill_tiled(cb, c);
}

// The tables. Every variant attends over the same BF16 K and V with fp32 softmax
// and sums (split_kv regroups them by log-sum-exp): checked as attention.
static const cuda_variant decode_naive_impl = {NULL, decode_naive, NULL};
static const cuda_variant decode_split_kv_impl = {NULL, decode_split_kv, is_cuda_plan_split_kv_work_max};
static const cuda_variant prefill_tiled_impl = {NULL, prefill_tiled, NULL};
static const cuda_variant prefill_wide_impl = {NULL, prefill_wide, NULL};

const is_kernel_variant cuda_attn_decode_variants[] = {
    {"naive", IS_CHECK_ATTENTION, &decode_naive_impl},
    {"split_kv", IS_CHECK_ATTENTION, &decode_split_kv_impl},
    {NULL, IS_CHECK_EXACT, NULL},
};
const is_kernel_variant cuda_attn_prefill_variants[] = {
    {"tiled", IS_CHECK_ATTENTION, &prefill_tiled_impl},
    {"wide", IS_CHECK_ATTENTION, &prefill_wide_impl},
    {NULL, IS_CHECK_EXACT, NULL},
};

void cuda_attention(is_backend *be, is_tensor *out, const is_tensor *q, const is_tensor *k_pool,
                    const is_tensor *v_pool, const is_attn_batch *b, int n_heads, int n_kv_heads, int head_dim) {
    cuda_backend *cb = cuda_impl(be);
    check_pools(k_pool, v_pool);
    IS_ASSERT(out->dtype == IS_DTYPE_F32 && q->dtype == IS_DTYPE_F32);
    IS_ASSERT(head_dim > 0 && head_dim % 2 == 0 && head_dim <= IS_MAX_HEAD_DIM);
    IS_ASSERT(n_kv_heads > 0 && n_heads % n_kv_heads == 0);
    IS_ASSERT((int64_t)n_heads * head_dim <= q->cols && (int64_t)n_heads * head_dim <= out->cols);
    IS_ASSERT((int64_t)n_kv_heads * head_dim == k_pool->cols);
    IS_ASSERT(b->n_tokens <= q->rows && b->n_tokens <= out->rows);
    if (cb->failed || b->n_tokens == 0) return;
    is_cuda_layout L;
    const int32_t *d = cuda_dev_batch(cb, b, &L);
    if (!d) return;
    cuda_attn_call c = {out, q, k_pool, v_pool, b, d, &L, n_heads, n_kv_heads, head_dim, 1.0f / sqrtf((float)head_dim)};
    // batch-invariant: one kernel for any mix of tokens (the prefill kernels take
    // any number of queries per sequence), so a query is computed alike in any batch
    bool decode = L.decode && !be->batch_invariant;
    cuda_variant_of(cb, decode ? CUDA_OP_ATTN_DECODE : CUDA_OP_ATTN_PREFILL)->attention(cb, &c);
}
