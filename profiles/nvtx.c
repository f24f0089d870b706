// nvtx.c — the `inferscope` NVTX domain: registered names, named categories,
// colors and payloads for the engine's ranges; the per-op range backend.
#include "profiles/nvtx.h"

#include <pthread.h>
#include <stdlib.h>

#include "profiles/capture.h" // defines: is_prof_capture_push, is_prof_capture_pop

int is_prof_level = 1;

static const char *const range_names[IS_PROF_RANGE_COUNT] = {
    "request", "tokenize", "prefill", "decode_step", "sample", "detokenize", "context_fill", "layer",
    "embed", "rmsnorm", "matmul", "rope", "kv_store", "kv_copy_blocks", "attention", "swiglu", "add",
    "gather_rows"};

static const is_prof_category range_cats[IS_PROF_LAYER] = {
    IS_PROF_CAT_REQUEST, IS_PROF_CAT_TOKENIZER, IS_PROF_CAT_PREFILL, IS_PROF_CAT_DECODE,
    IS_PROF_CAT_SAMPLE, IS_PROF_CAT_TOKENIZER, IS_PROF_CAT_PREFILL};

static const char *const cat_names[IS_PROF_CAT_COUNT] = {"", "request", "tokenizer", "prefill", "decode",
                                                         "sample", "layer", "op"};

// ARGB per category, so Nsight Systems and the trace tell phases apart at a glance
static const uint32_t cat_colors[IS_PROF_CAT_COUNT] = {0, 0xff4c72b0, 0xff8172b2, 0xffdd8452, 0xff55a868,
                                                       0xffc44e52, 0xff937860, 0xff8c8c8c};

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
void is_prof_push_impl(is_prof_range r, uint64_t payload) {
    (void)cat_colors;
    is_prof_capture_push("inferscope", is_prof_range_name(r), (uint32_t)is_prof_range_category(r), payload);
}

void is_prof_pop_impl(void) { is_prof_capture_pop(); }
#endif

// ---- per-op ranges: a backend that wraps another ----------------------------------
// The wrapper copies the inner backend (so memory calls, impl, name and kernel
// selection work unchanged) and replaces the ops with versions that open a range
// and call the inner op with the inner backend.

typedef struct op_backend {
    is_backend be; // first: the ops get &be and find the rest from it
    is_backend *inner;
} op_backend;

static is_backend *inner_of(is_backend *be) { return ((op_backend *)be)->inner; }

#define IS_OP_RANGE(range, rows, call)          \
    do {                                        \
        is_prof_push(range, (uint64_t)(rows));  \
        call;                                   \
        is_prof_pop(range);                     \
    } while (0)

static void op_embed(is_backend *be, is_tensor *out, const is_tensor *table, const int32_t *ids, int n) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_EMBED, n, in->embed(in, out, table, ids, n));
}
static void op_rmsnorm(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, int n, float eps) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_RMSNORM, n, in->rmsnorm(in, out, x, w, n, eps));
}
static void op_matmul(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias,
                      int n) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_MATMUL, n, in->matmul(in, out, x, w, bias, n));
}
static void op_rope(is_backend *be, is_tensor *x, int n, int n_heads, int head_dim, const int32_t *pos,
                    const is_tensor *inv_freq) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_ROPE, n, in->rope(in, x, n, n_heads, head_dim, pos, inv_freq));
}
static void op_kv_store(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const is_tensor *k, const is_tensor *v,
                        const is_attn_batch *b) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_KV_STORE, b->n_tokens, in->kv_store(in, k_pool, v_pool, k, v, b));
}
static void op_kv_copy(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const int32_t *src, const int32_t *dst,
                       int n, int block_size) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_KV_COPY, n, in->kv_copy_blocks(in, k_pool, v_pool, src, dst, n, block_size));
}
static void op_attention(is_backend *be, is_tensor *out, const is_tensor *q, const is_tensor *k_pool,
                         const is_tensor *v_pool, const is_attn_batch *b, int n_heads, int n_kv_heads, int head_dim) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_ATTENTION, b->n_tokens,
                in->attention(in, out, q, k_pool, v_pool, b, n_heads, n_kv_heads, head_dim));
}
static void op_swiglu(is_backend *be, is_tensor *out, const is_tensor *gate, const is_tensor *up, int n) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_SWIGLU, n, in->swiglu(in, out, gate, up, n));
}
static void op_add(is_backend *be, is_tensor *x, const is_tensor *y, int n) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_ADD, n, in->add(in, x, y, n));
}
static void op_gather(is_backend *be, is_tensor *out, const is_tensor *x, const int32_t *rows, int n) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_GATHER, n, in->gather_rows(in, out, x, rows, n));
}

static void op_add_rmsnorm(is_backend *be, is_tensor *out, is_tensor *x, const is_tensor *y, const is_tensor *w,
                           int n, float eps) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_RMSNORM, n, in->add_rmsnorm(in, out, x, y, w, n, eps));
}

static void op_destroy(is_backend *be) {
    is_backend *in = inner_of(be);
    free(be);
    in->destroy(in);
}

is_backend *is_prof_wrap_backend(is_backend *inner) {
    if (!inner || is_prof_level < 2) return inner;
    op_backend *w = calloc(1, sizeof *w);
    if (!w) return inner; // no op ranges rather than no run
    w->be = *inner;
    w->inner = inner;
    w->be.destroy = op_destroy;
    w->be.embed = op_embed;
    w->be.rmsnorm = op_rmsnorm;
    w->be.matmul = op_matmul;
    w->be.rope = op_rope;
    w->be.kv_store = op_kv_store;
    w->be.kv_copy_blocks = op_kv_copy;
    w->be.attention = op_attention;
    w->be.swiglu = op_swiglu;
    w->be.add = op_add;
    w->be.gather_rows = op_gather;
    if (inner->add_rmsnorm) w->be.add_rmsnorm = op_add_rmsnorm;
    return &w->be;
}
