// costmodel.h — the analytic model of one benchmark point: bytes moved per
// decode step and FLOPs of the prefill, from the model config, the dtypes and
// the context (docs/design.md, "Metrics"). Declares: is_cost, is_cost_compute,
// is_derived, is_cost_derive.
//
// Counted, for a static batch of B sequences that each hold a context of d
// tokens (--depth), then a prompt of P tokens, then G generated tokens:
// - Weights read per step: every matrix once (q, k, v, o, gate, up, down of each
//   layer, and the lm_head) in its format's bytes (Q8_0: 34 bytes per 32 weights,
//   Q4_0: 18, INT8: 1 per weight + 4 per row), norm weights and biases (F32), plus
//   the B embedding rows gathered. The embedding table itself is not streamed (tied embeddings:
//   the lm_head reads it once).
// - KV per token: 2 (K and V) x layers x kv_heads x head_dim x KV element bytes.
// - Decode steps: G - 1 forward passes (the first token comes from the prefill,
//   the last one is never fed back). Step s = 1..G-1 feeds one token per
//   sequence at position d + P + s - 1 and attends over d + P + s positions
//   (including its own): KV read B x (d + P + s) x kv per token, KV written
//   B x kv per token. The *_per_step figures are means over the G - 1 steps.
// - FLOPs: 2 per multiply-add of a matrix weight (biases and norms left out),
//   attention 4 x heads x head_dim per (query, key) pair (QK^T and AV), and the
//   lm_head only for rows whose logits are computed (the last prompt token of
//   each sequence in the prefill; every row in decode).
// Activations (a few vectors of width hidden_size per token) are not counted.
#ifndef IS_BENCH_COSTMODEL_H
#define IS_BENCH_COSTMODEL_H

#include <cjson/cJSON.h>

#include "base/dtype.h"
#include "engine/config.h"

typedef struct is_cost {
    double weight_bytes;          // weights read per step (the whole model but the embedding table)
    double kv_bytes_per_token;
    int decode_steps;             // G - 1
    double decode_bytes_per_step; // weights + embedding rows + KV read + KV written, mean
    double decode_kv_read_bytes_per_step;
    double decode_kv_write_bytes_per_step;
    double decode_flops_per_step; // mean
    double prefill_flops;         // the whole batch's prefill
} is_cost;

// What the model and the measured medians give against the probed peaks.
typedef struct is_derived {
    double decode_gbs;     // decode bytes (the model's) over the median decode time
    double mbu;            // decode_gbs / probes.mem.peak_gbs (the read ceiling on a CPU)
    double prefill_gflops; // prefill FLOPs over the median prefill time
    double mfu;            // prefill_gflops / probes.compute.peak_gflops: the peak of the unit the
                           // matmul runs on, never the engine's own matmul rate
} is_derived;

// From cost, the medians (ms; NaN when absent) and the probes document. A figure
// whose inputs are missing (no probe, a refused peak, no decode steps) is NaN.
void is_cost_derive(const is_cost *cost, double prefill_ms, double decode_ms, const cJSON *probes, is_derived *out);

// wdtype: the dtype the matrices are held in (a quantized format's bytes are its
// rows' bytes, scales included: base/quant.h); kv_bytes: bytes per KV element.
void is_cost_compute(const is_config *c, is_dtype wdtype, double kv_bytes, int batch, int prompt, int gen,
                     int depth, is_cost *out);

#endif
