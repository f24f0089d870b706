// costmodel.c — bytes and FLOPs of a benchmark point (see costmodel.h for what is counted).
#include "bench/costmodel.h"

#include <math.h>

#include <string.h>

// Bytes of a rows x cols matrix in dtype t.
static double mat_bytes(is_dtype t, double rows, int64_t cols) {
    return rows * (double)is_dtype_row_bytes(t, cols);
}

void is_cost_compute(const is_config *c, is_dtype wdtype, double kv_bytes, int batch, int prompt, int gen,
                     int depth, is_cost *out) {
    memset(out, 0, sizeof *out);
    double D = c->hidden_size, F = c->intermediate_size, V = c->vocab_size, L = c->n_layers;
    double q = (double)c->n_heads * c->head_dim, kv = (double)c->n_kv_heads * c->head_dim;
    double B = batch, P = prompt, d = depth;
    // matrix elements of one layer, and its F32 vectors (norms, biases)
    double layer_mat = D * q + 2 * D * kv + q * D + 3 * D * F;
    double layer_vec = 2 * D + (c->qkv_bias ? q + 2 * kv : 0) + (c->o_bias ? D : 0);
    double lm_head = V * D;
    // rows of each matrix by its row length: q, k, v, gate, up read rows of D; o of q; down of F
    double layer_mat_bytes = mat_bytes(wdtype, q + 2 * kv + 2 * F, c->hidden_size) +
                             mat_bytes(wdtype, D, (int64_t)q) + mat_bytes(wdtype, D, c->intermediate_size);
    double embed_row_bytes = mat_bytes(wdtype, 1, c->hidden_size);
    out->weight_bytes = L * layer_mat_bytes + V * embed_row_bytes + (L * layer_vec + D) * 4.0;
    out->kv_bytes_per_token = 2.0 * L * kv * kv_bytes;

    // prefill: every prompt token through the layers, logits for the last of each sequence
    double attn_pair = 4.0 * c->n_heads * c->head_dim * L; // FLOPs per (query, key) pair, all layers
    double pairs = B * (P * d + P * (P + 1) / 2);          // query at d + t attends over d + t keys, t = 1..P
    out->prefill_flops = 2.0 * L * layer_mat * B * P + 2.0 * lm_head * B + attn_pair * pairs;

    out->decode_steps = gen > 1 ? gen - 1 : 0;
    if (out->decode_steps == 0) return;
    double mean_ctx = d + P + gen / 2.0; // mean of d + P + s over s = 1..G-1
    out->decode_kv_read_bytes_per_step = B * mean_ctx * out->kv_bytes_per_token;
    out->decode_kv_write_bytes_per_step = B * out->kv_bytes_per_token;
    out->decode_bytes_per_step = out->weight_bytes + B * embed_row_bytes + out->decode_kv_read_bytes_per_step +
                                 out->decode_kv_write_bytes_per_step;
    out->decode_flops_per_step = 2.0 * (L * layer_mat + lm_head) * B + attn_pair * B * mean_ctx;
}

// probes[section][field] as a positive finite number, else NaN.
static double peak_of(const cJSON *probes, const char *section, const char *field) {
    const cJSON *o = cJSON_IsObject(probes) ? cJSON_GetObjectItemCaseSensitive(probes, section) : NULL;
    const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, field) : NULL;
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble > 0 ? v->valuedouble : NAN;
}

void is_cost_derive(const is_cost *cost, double prefill_ms, double decode_ms, const cJSON *probes, is_derived *out) {
    double decode_s = decode_ms / 1e3, prefill_s = prefill_ms / 1e3;
    out->decode_gbs = cost->decode_steps > 0 && decode_s > 0
                          ? cost->decode_bytes_per_step * cost->decode_steps / decode_s / 1e9
                          : NAN;
    out->prefill_gflops = prefill_s > 0 ? cost->prefill_flops / prefill_s / 1e9 : NAN;
    out->mbu = out->decode_gbs / peak_of(probes, "mem", "peak_gbs");
    out->mfu = out->prefill_gflops / peak_of(probes, "compute", "peak_gflops");
}
