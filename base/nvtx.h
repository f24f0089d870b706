// nvtx.h — NVTX ranges of the engine's phases in the `inferscope` domain.
// Declares: is_prof_push, is_prof_pop, is_prof_set_level, is_prof_range_name,
// is_prof_range_category, is_prof_category_name, is_prof_set_sink.
//
// Level 0 emits nothing; level 1 (the default) the phases: request, tokenize,
// prefill, decode_step, sample, detokenize; level 2 adds one range per layer
// and per backend op. Each range carries a category (its phase) and a payload:
// the batch size for request, the tokens it covers for the phase ranges, the
// layer index for a layer, the rows for an op. Without a tool attached to NVTX
// a range costs a level check and an indirect call that returns at once.
#ifndef IS_BASE_NVTX_H
#define IS_BASE_NVTX_H

#include <stdint.h>

typedef enum is_prof_range {
    IS_PROF_REQUEST,
    IS_PROF_TOKENIZE,
    IS_PROF_PREFILL,
    IS_PROF_DECODE_STEP,
    IS_PROF_SAMPLE,
    IS_PROF_DETOKENIZE,
    IS_PROF_CONTEXT_FILL, // bench: the pre-filled depth, not timed
    IS_PROF_SCHEDULE,     // one continuous-batching step (engine/scheduler.c); payload: prefill tokens << 36 |
                          // decode tokens << 24 | running << 12 | waiting (prefill at most 131071, the others
                          // 4095: 53 bits, exact as a double)
    IS_PROF_LAYER,
    IS_PROF_OP_EMBED,
    IS_PROF_OP_RMSNORM,
    IS_PROF_OP_MATMUL,
    IS_PROF_OP_ROPE,
    IS_PROF_OP_KV_STORE,
    IS_PROF_OP_KV_COPY,
    IS_PROF_OP_ATTENTION,
    IS_PROF_OP_SWIGLU,
    IS_PROF_OP_ADD,
    IS_PROF_OP_GATHER,
    IS_PROF_RANGE_COUNT
} is_prof_range;

// Categories: the phase a range belongs to (NVTX category ids, named in the domain).
typedef enum is_prof_category {
    IS_PROF_CAT_REQUEST = 1,
    IS_PROF_CAT_TOKENIZER,
    IS_PROF_CAT_PREFILL,
    IS_PROF_CAT_DECODE,
    IS_PROF_CAT_SAMPLE,
    IS_PROF_CAT_LAYER,
    IS_PROF_CAT_OP,
    IS_PROF_CAT_SCHEDULE,
    IS_PROF_CAT_COUNT
} is_prof_category;

#define IS_PROF_LEVEL_MAX 2

extern int is_prof_level; // read on every push; set with is_prof_set_level

// Sets the detail level (0..IS_PROF_LEVEL_MAX, clamped); call before the first range.
void is_prof_set_level(int level);

// The range's name ("decode_step"), its category and the lowest level that emits it.
const char *is_prof_range_name(is_prof_range r);
is_prof_category is_prof_range_category(is_prof_range r);
const char *is_prof_category_name(is_prof_category c);
static inline int is_prof_range_level(is_prof_range r) { return r >= IS_PROF_LAYER ? 2 : 1; }

void is_prof_push_impl(is_prof_range r, uint64_t payload);
void is_prof_pop_impl(void);

// Opens range r on this thread; close it with is_prof_pop(r) on the same thread.
static inline void is_prof_push(is_prof_range r, uint64_t payload) {
    if (is_prof_level >= is_prof_range_level(r)) is_prof_push_impl(r, payload);
}
static inline void is_prof_pop(is_prof_range r) {
    if (is_prof_level >= is_prof_range_level(r)) is_prof_pop_impl();
}

// In a build without the NVTX headers, ranges go to this sink (the in-process
// capture sets it when it starts); with them, NVTX hands them to its tool.
typedef void (*is_prof_sink_push)(const char *domain, const char *name, uint32_t category, uint64_t payload);
typedef void (*is_prof_sink_pop)(void);
void is_prof_set_sink(is_prof_sink_push push, is_prof_sink_pop pop);

#endif
