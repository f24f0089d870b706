// nvtx.c — the `inferscope` NVTX domain: registered names, named categories,
// colors and payloads for the engine's ranges.
#include "base/nvtx.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

int is_prof_level = 1;

static const char *const range_names[IS_PROF_RANGE_COUNT] = {
    "request", "tokenize", "prefill", "decode_step", "sample", "detokenize", "context_fill", "schedule", "layer",
    "embed", "rmsnorm", "matmul", "rope", "kv_store", "kv_copy_blocks", "attention", "swiglu", "add",
    "gather_rows"};

static const is_prof_category range_cats[IS_PROF_LAYER] = {
    IS_PROF_CAT_REQUEST, IS_PROF_CAT_TOKENIZER, IS_PROF_CAT_PREFILL, IS_PROF_CAT_DECODE,
    IS_PROF_CAT_SAMPLE, IS_PROF_CAT_TOKENIZER, IS_PROF_CAT_PREFILL, IS_PROF_CAT_SCHEDULE};

static const char *const cat_names[IS_PROF_CAT_COUNT] = {"", "request", "tokenizer", "prefill", "decode",
                                                         "sample", "layer", "op", "schedule"};

// ARGB per category, so Nsight Systems and the trace tell phases apart at a glance
static const uint32_t cat_colors[IS_PROF_CAT_COUNT] = {0, 0xff4c72b0, 0xff8172b2, 0xffdd8452, 0xff55a868,
                                                       0xffc44e52, 0xff937860, 0xff8c8c8c, 0xffda8bc3};

void is_prof_set_level(int level) {
    is_prof_level = level < 0 ? 0 : level > IS_PROF_LEVEL_MAX ? IS_PROF_LEVEL_MAX : level;
}

const char *is_prof_range_name(is_prof_range r) {
    return (unsigned)r < IS_PROF_RANGE_COUNT ? range_names[r] : "?";
}

is_prof_category is_prof_range_category(is_prof_range r) {
    if ((unsigned)r >= IS_PROF_RANGE_COUNT) return IS_PROF_CAT_OP;
    return r < IS_PROF_LAYER ? range_cats[r] : r == IS_PROF_LAYER ? IS_PROF_CAT_LAYER : IS_PROF_CAT_OP;
}

const char *is_prof_category_name(is_prof_category c) {
    return (unsigned)c < IS_PROF_CAT_COUNT ? cat_names[c] : "";
}

#if IS_HAVE_NVTX
#include <nvtx3/nvToolsExt.h>

static nvtxDomainHandle_t domain;
static nvtxStringHandle_t range_strings[IS_PROF_RANGE_COUNT];
static pthread_once_t domain_once = PTHREAD_ONCE_INIT;

// The domain, its strings and category names, registered on the first range
// (after a capture had its chance to attach as the NVTX tool).
static void domain_init(void) {
    domain = nvtxDomainCreateA("inferscope");
    for (int r = 0; r < IS_PROF_RANGE_COUNT; r++) range_strings[r] = nvtxDomainRegisterStringA(domain, range_names[r]);
    for (int c = 1; c < IS_PROF_CAT_COUNT; c++) nvtxDomainNameCategoryA(domain, (uint32_t)c, cat_names[c]);
}

void is_prof_push_impl(is_prof_range r, uint64_t payload) {
    pthread_once(&domain_once, domain_init);
    is_prof_category c = is_prof_range_category(r);
    nvtxEventAttributes_t a = {0};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.category = (uint32_t)c;
    a.colorType = NVTX_COLOR_ARGB;
    a.color = cat_colors[c];
    a.payloadType = NVTX_PAYLOAD_TYPE_UNSIGNED_INT64;
    a.payload.ullValue = payload;
    a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    a.message.registered = range_strings[r];
    nvtxDomainRangePushEx(domain, &a);
}

void is_prof_pop_impl(void) { nvtxDomainRangePop(domain); }
#else
// Built without the NVTX headers: the ranges go to the sink the in-process
// capture sets (profiles/capture.c), or nowhere.
static _Atomic(is_prof_sink_push) sink_push;
static _Atomic(is_prof_sink_pop) sink_pop;

void is_prof_set_sink(is_prof_sink_push push, is_prof_sink_pop pop) {
    atomic_store(&sink_pop, pop);
    atomic_store(&sink_push, push);
}

void is_prof_push_impl(is_prof_range r, uint64_t payload) {
    (void)cat_colors;
    is_prof_sink_push push = atomic_load(&sink_push);
    if (push) push("inferscope", is_prof_range_name(r), (uint32_t)is_prof_range_category(r), payload);
}

void is_prof_pop_impl(void) {
    is_prof_sink_pop pop = atomic_load(&sink_pop);
    if (pop) pop();
}
#endif
