// engine.c — sessions (paged KV cache + scratch on a backend) and the forward
// pass of a Llama-family decoder over a batch of sequences.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/inferscope.h"
#include "base/nvtx.h" // defines: is_prof_push, is_prof_pop (per layer at --nvtx-level 2)

#define IS_LOGIT_ROWS 32 // rows of logits computed per lm_head call
#define IS_MAX_COPIES 8  // copy-on-write records one reserve can produce

struct is_session {
    is_model *m;
    is_backend *be;
    is_kv_cache kv;
    is_tensor *k_pool, *v_pool;  // [n_layers] each (n_blocks * block_size, kv_dim) in be->kv_dtype
    int max_batch_tokens;
    // scratch activations, F32, rows = max_batch_tokens
    is_tensor x;     // (T, D) residual stream
    is_tensor xn;    // (T, D) normalized input of a block / projection output
    is_tensor q;     // (T, H * hd)
    is_tensor k, v;  // (T, KV * hd)
    is_tensor att;   // (T, H * hd) attention output
    is_tensor gate;  // (T, F)
    is_tensor up;    // (T, F)
    is_tensor h;     // (IS_LOGIT_ROWS, D) final hidden states of the tokens that want logits
    is_tensor logits;// (IS_LOGIT_ROWS, V)
    // host-side batch description, max_batch_tokens entries each
    int32_t *pos, *seq_local, *slot, *tok, *want_rows;
    int32_t *seq_ids;            // [max_seqs] session sequence id of each local sequence
    int32_t *block_tables;       // grown on demand
    size_t block_tables_cap;
    int32_t *new_len;            // [max_seqs] scratch for is_forward
    int32_t *distinct;           // [max_seqs] sequences of one is_forward call
    uint32_t *mark;              // [max_seqs] call_mark when seen in the current call
    uint32_t call_mark;
    is_kv_copy *copies;          // [IS_MAX_COPIES]
};

double is_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int scratch_alloc(is_backend *be, is_tensor *t, int64_t rows, int64_t cols, is_err *err) {
    *t = (is_tensor){.dtype = IS_DTYPE_F32, .rows = rows, .cols = cols};
    return be->tensor_alloc(be, t, err);
}

// The activation buffers, for loops that treat them alike.
#define IS_N_SCRATCH 10
static void session_scratch(is_session *s, is_tensor *out[IS_N_SCRATCH]) {
    is_tensor *all[IS_N_SCRATCH] = {&s->x, &s->xn, &s->q, &s->k, &s->v, &s->att, &s->gate, &s->up, &s->h, &s->logits};
    memcpy(out, all, sizeof all);
}

static void scratch_free(is_backend *be, is_tensor *t) {
    if (t->data) be->tensor_free(be, t);
}

void is_session_free(is_session *s) {
    if (!s) return;
    is_backend *be = s->be;
    if (be->graph_drop) be->graph_drop(be, s);
    if (s->k_pool)
        for (int l = 0; l < s->m->cfg.n_layers; l++) {
            scratch_free(be, &s->k_pool[l]);
            scratch_free(be, &s->v_pool[l]);
        }
    free(s->k_pool);
    free(s->v_pool);
    is_tensor *sc[IS_N_SCRATCH];
    session_scratch(s, sc);
    for (int i = 0; i < IS_N_SCRATCH; i++) scratch_free(be, sc[i]);
    is_kv_free(&s->kv);
    free(s->pos);
    free(s->seq_local);
    free(s->slot);
    free(s->tok);
    free(s->want_rows);
    free(s->seq_ids);
    free(s->block_tables);
    free(s->new_len);
    free(s->distinct);
    free(s->mark);
    free(s->copies);
    free(s);
}

double is_kv_block_mib(const is_config *c, int block_size, is_dtype kv_dtype) {
    return (double)block_size * c->n_layers * 2.0 * c->n_kv_heads * c->head_dim * (double)is_dtype_size(kv_dtype) /
           1048576.0;
}

// Allocates the activation buffers (rows = max_batch_tokens).
static int session_alloc_scratch(is_session *s, int64_t T, is_err *err) {
    const is_config *c = &s->m->cfg;
    is_backend *be = s->be;
    int64_t D = c->hidden_size, F = c->intermediate_size, kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t qd = (int64_t)c->n_heads * c->head_dim;
    if (scratch_alloc(be, &s->x, T, D, err) || scratch_alloc(be, &s->xn, T, D, err) ||
        scratch_alloc(be, &s->q, T, qd, err) || scratch_alloc(be, &s->k, T, kv_dim, err) ||
        scratch_alloc(be, &s->v, T, kv_dim, err) || scratch_alloc(be, &s->att, T, qd, err) ||
        scratch_alloc(be, &s->gate, T, F, err) || scratch_alloc(be, &s->up, T, F, err) ||
        scratch_alloc(be, &s->h, IS_LOGIT_ROWS, D, err) ||
        scratch_alloc(be, &s->logits, IS_LOGIT_ROWS, c->vocab_size, err)) {
        is_err_prefix(err, "activation buffers");
        return -1;
    }
    return 0;
}

double is_kv_budget_from_free(double free_bytes, double fraction) {
    if (!(fraction > 0) || fraction > 1 || !(free_bytes > 0)) return 0;
    return free_bytes * fraction / 1048576.0;
}

int is_session_create(is_model *m, const is_session_opts *opts, is_session **out, is_err *err) {
    *out = NULL;
    const is_config *c = &m->cfg;
    is_session_opts o = opts ? *opts : (is_session_opts){0};
    if (o.kv_mem_fraction < 0 || o.kv_mem_fraction > 1)
        return is_errf(err, "KV budget as a fraction of free memory %g: expected a fraction in (0, 1]",
                       o.kv_mem_fraction);
    if (o.block_size <= 0) o.block_size = IS_DEFAULT_BLOCK_SIZE;
    if (o.max_seqs <= 0) o.max_seqs = 64;
    if (o.max_batch_tokens <= 0) o.max_batch_tokens = 512;
    is_backend *be = m->be;
    is_session *s = is_xcalloc(1, sizeof *s);
    s->m = m;
    s->be = be;
    s->max_batch_tokens = o.max_batch_tokens;
    // activations first: a KV budget given as a fraction of free memory is taken
    // from what they leave
    if (session_alloc_scratch(s, o.max_batch_tokens, err)) goto fail;
    double free_b, total_b; // where the KV pools will live
    if (is_backend_free_memory(be, &free_b, &total_b, err)) goto fail;
    if (o.kv_mem_fraction > 0) {
        if (free_b <= 0) {
            is_errf(err, "the free memory of this machine is unknown: give the KV budget in MiB, not as a fraction");
            goto fail;
        }
        o.kv_budget_mib = is_kv_budget_from_free(free_b, o.kv_mem_fraction);
    }
    if (o.kv_budget_mib <= 0) o.kv_budget_mib = IS_DEFAULT_KV_BUDGET_MIB;
    int kv_dim = c->n_kv_heads * c->head_dim;
    double block_bytes = is_kv_block_mib(c, o.block_size, be->kv_dtype) * 1048576.0;
    double n_blocks_d = o.kv_budget_mib * 1048576.0 / block_bytes + 1e-9; // a budget of exactly k blocks holds k
    if (n_blocks_d < 1) {
        is_errf(err, "a KV budget of %.3g MiB is smaller than one KV block of %d tokens (%.3f MiB for this model)",
                o.kv_budget_mib, o.block_size, block_bytes / 1048576.0);
        goto fail;
    }
    if (n_blocks_d > 1 << 30) n_blocks_d = 1 << 30;
    int n_blocks = (int)n_blocks_d;
    if (be->mem_info && n_blocks * block_bytes > free_b) {
        is_errf(err, "a KV budget of %.0f MiB: the KV cache does not fit in the %.0f MiB free on the %s device "
                "(of %.0f MiB)", o.kv_budget_mib, free_b / 1048576.0, be->name, total_b / 1048576.0);
        goto fail;
    }
    if (!be->mem_info && free_b > 0 && n_blocks * block_bytes > 0.9 * free_b) {
        is_errf(err, "a KV budget of %.0f MiB: the KV cache does not fit in the %.0f MiB of memory available",
                o.kv_budget_mib, free_b / 1048576.0);
        goto fail;
    }
    if (is_kv_init(&s->kv, n_blocks, o.block_size, o.max_seqs, o.kv_budget_mib, err)) goto fail;
    s->k_pool = is_xcalloc((size_t)c->n_layers, sizeof *s->k_pool);
    s->v_pool = is_xcalloc((size_t)c->n_layers, sizeof *s->v_pool);
    int64_t slots = (int64_t)n_blocks * o.block_size;
    for (int l = 0; l < c->n_layers; l++) {
        s->k_pool[l] = (is_tensor){.dtype = be->kv_dtype, .rows = slots, .cols = kv_dim};
        s->v_pool[l] = (is_tensor){.dtype = be->kv_dtype, .rows = slots, .cols = kv_dim};
        if (be->tensor_alloc(be, &s->k_pool[l], err) || be->tensor_alloc(be, &s->v_pool[l], err)) {
            is_err_prefix(err, "KV cache (a budget of %.0f MiB)", o.kv_budget_mib);
            goto fail;
        }
    }
    // Touch every buffer now: first-touch page faults (and huge-page zeroing) would
    // otherwise land inside the first timed forward pass and inflate TTFT.
    for (int l = 0; l < c->n_layers; l++) {
        be->tensor_fill_const(be, &s->k_pool[l], 0.0f);
        be->tensor_fill_const(be, &s->v_pool[l], 0.0f);
    }
    is_tensor *sc[IS_N_SCRATCH];
    session_scratch(s, sc);
    for (int i = 0; i < IS_N_SCRATCH; i++) be->tensor_fill_const(be, sc[i], 0.0f);
    if (be->sync(be, err)) goto fail;
    int64_t T = o.max_batch_tokens;
    s->pos = is_xmalloc((size_t)T * sizeof(int32_t));
    s->seq_local = is_xmalloc((size_t)T * sizeof(int32_t));
    s->slot = is_xmalloc((size_t)T * sizeof(int32_t));
    s->tok = is_xmalloc((size_t)T * sizeof(int32_t));
    s->want_rows = is_xmalloc((size_t)T * sizeof(int32_t));
    s->seq_ids = is_xmalloc((size_t)o.max_seqs * sizeof(int32_t));
    s->new_len = is_xmalloc((size_t)o.max_seqs * sizeof(int32_t));
    s->distinct = is_xmalloc((size_t)o.max_seqs * sizeof(int32_t));
    s->mark = is_xcalloc((size_t)o.max_seqs, sizeof(uint32_t));
    s->copies = is_xmalloc(IS_MAX_COPIES * sizeof(is_kv_copy));
    *out = s;
    return 0;
fail:
    is_session_free(s);
    return -1;
}

const is_kv_cache *is_session_kv(const is_session *s) { return &s->kv; }

is_model *is_session_model(const is_session *s) { return s->m; }

int is_session_kv_capacity_tokens(const is_session *s) { return s->kv.n_blocks * s->kv.block_size; }
is_dtype is_session_kv_dtype(const is_session *s) { return s->k_pool[0].dtype; }

int is_seq_new(is_session *s, is_err *err) { return is_kv_seq_new(&s->kv, err); }

void is_seq_free(is_session *s, int seq) { is_kv_seq_release(&s->kv, seq); }

int is_seq_len(const is_session *s, int seq) { return s->kv.seqs[seq].len; }

int is_seq_fork(is_session *s, int seq, is_err *err) { return is_kv_seq_fork(&s->kv, seq, err); }

void is_seq_truncate(is_session *s, int seq, int len) { is_kv_seq_truncate(&s->kv, seq, len); }

void is_session_prefix_enable(is_session *s) { is_kv_prefix_enable(&s->kv); }

int is_seq_prefix_attach(is_session *s, int seq, const int32_t *tokens, int n_tokens, int max_blocks) {
    return is_kv_prefix_attach(&s->kv, seq, tokens, n_tokens, max_blocks);
}

uint64_t is_seq_prefix_register(is_session *s, int seq, int bi, uint64_t parent_key, const int32_t *tokens) {
    return is_kv_prefix_register(&s->kv, seq, bi, parent_key, tokens);
}

void is_session_prefix_evict_all(is_session *s) { is_kv_prefix_evict_all(&s->kv); }

int is_session_kv_available(const is_session *s) { return is_kv_n_available(&s->kv); }

int is_session_block_size(const is_session *s) { return s->kv.block_size; }

int is_session_max_batch_tokens(const is_session *s) { return s->max_batch_tokens; }

int is_session_kv_blocks_needed(const is_session *s, int seq, int new_len) {
    return is_kv_blocks_needed(&s->kv, seq, new_len);
}

// ---- forward -----------------------------------------------------------------

// x += y, then out = rmsnorm(x) * w: fused when the backend has the op.
static void add_norm(is_backend *be, is_tensor *out, is_tensor *x, const is_tensor *y, const is_tensor *w,
                     int n, float eps) {
    if (be->add_rmsnorm) {
        be->add_rmsnorm(be, out, x, y, w, n, eps);
        return;
    }
    be->add(be, x, y, n);
    be->rmsnorm(be, out, x, w, n, eps);
}

// The logits of want_rows[r0 .. r0 + nr) into s->logits.
static void logits_rows(is_session *s, int r0, int nr) {
    is_backend *be = s->be;
    const is_model *m = s->m;
    be->gather_rows(be, &s->h, &s->x, s->want_rows + r0, nr);
    be->rmsnorm(be, &s->h, &s->h, &m->out_norm, nr, m->cfg.rms_norm_eps);
    be->matmul(be, &s->logits, &s->h, &m->lm_head, NULL, nr);
}

// Where a chunk's results go: logits rows to the host, or (ids not NULL) the
// token sampled on the backend from each row under req.
typedef struct fwd_out {
    float *logits;
    const is_sample_req *req;
    int32_t *ids;
} fwd_out;

// Rows r0 .. r0 + nr of s->logits to their destination.
static int logits_out(is_session *s, int r0, int nr, const fwd_out *o, is_err *err) {
    is_backend *be = s->be;
    if (o->ids) return be->sample(be, &s->logits, nr, o->req + r0, o->ids + r0, err);
    return be->tensor_get_f32(be, &s->logits, nr, o->logits + (size_t)r0 * s->m->cfg.vocab_size, err);
}

// Issues the layers' ops over one chunk of n tokens, and the logits of its
// n_want rows when they fit one lm_head call (one_call).
static void issue_layers(is_session *s, int n, const is_attn_batch *b, int n_want, bool one_call) {
    is_model *m = s->m;
    is_backend *be = s->be;
    const is_config *c = &m->cfg;
    float eps = c->rms_norm_eps;
    be->embed(be, &s->x, &m->embed, s->tok, n);
    be->rmsnorm(be, &s->xn, &s->x, &m->layers[0].attn_norm, n, eps);
    for (int l = 0; l < c->n_layers; l++) {
        is_layer *L = &m->layers[l];
        is_prof_push(IS_PROF_LAYER, (uint64_t)l);
        be->matmul(be, &s->q, &s->xn, &L->wq, L->bq.data ? &L->bq : NULL, n);
        be->matmul(be, &s->k, &s->xn, &L->wk, L->bk.data ? &L->bk : NULL, n);
        be->matmul(be, &s->v, &s->xn, &L->wv, L->bv.data ? &L->bv : NULL, n);
        be->rope(be, &s->q, n, c->n_heads, c->head_dim, s->pos, &m->rope_freq);
        be->rope(be, &s->k, n, c->n_kv_heads, c->head_dim, s->pos, &m->rope_freq);
        be->kv_store(be, &s->k_pool[l], &s->v_pool[l], &s->k, &s->v, b);
        be->attention(be, &s->att, &s->q, &s->k_pool[l], &s->v_pool[l], b, c->n_heads, c->n_kv_heads,
                      c->head_dim);
        be->matmul(be, &s->xn, &s->att, &L->wo, L->bo.data ? &L->bo : NULL, n);
        add_norm(be, &s->xn, &s->x, &s->xn, &L->ffn_norm, n, eps);
        be->matmul(be, &s->gate, &s->xn, &L->w_gate, NULL, n);
        be->matmul(be, &s->up, &s->xn, &L->w_up, NULL, n);
        be->swiglu(be, &s->gate, &s->gate, &s->up, n);
        be->matmul(be, &s->xn, &s->gate, &L->w_down, NULL, n);
        if (l + 1 < c->n_layers) add_norm(be, &s->xn, &s->x, &s->xn, &m->layers[l + 1].attn_norm, n, eps);
        else be->add(be, &s->x, &s->xn, n);
        is_prof_pop(IS_PROF_LAYER);
    }
    if (one_call && n_want > 0) logits_rows(s, 0, n_want);
}

// Runs the layers over one chunk whose host arrays (tok, pos, seq_local, slot,
// block tables) are filled; n_want rows of results for s->want_rows. A chunk
// whose logits fit one lm_head call may run as a recorded graph (backends with
// graphs): its ops, up to the logits, are then replayed as one launch. When a
// recording fails the backend says IS_BATCH_AGAIN (none of the ops ran) and the
// chunk is issued once more, which the backend then runs eagerly.
static int forward_chunk(is_session *s, int n, const is_attn_batch *b, int n_want, const fwd_out *o,
                         is_err *err) {
    is_backend *be = s->be;
    bool one_call = n_want <= IS_LOGIT_ROWS;
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        is_batch_mode mode = IS_BATCH_ISSUE;
        if (be->batch_begin)
            mode = be->batch_begin(be, s->tok, b, s->want_rows, n_want, one_call && be->graphs ? s : NULL);
        if (mode == IS_BATCH_ISSUE) issue_layers(s, n, b, n_want, one_call);
        rc = be->batch_end ? be->batch_end(be, err) : 0;
        if (rc != IS_BATCH_AGAIN) break;
    }
    if (rc == IS_BATCH_AGAIN)
        return is_errf(err, "backend %s: a chunk of %d tokens could not be run (its graph recording failed twice)",
                       be->name, n);
    if (rc) return -1;
    if (one_call) {
        if (n_want > 0 && logits_out(s, 0, n_want, o, err)) return -1;
    } else {
        for (int r0 = 0; r0 < n_want; r0 += IS_LOGIT_ROWS) {
            int nr = n_want - r0 < IS_LOGIT_ROWS ? n_want - r0 : IS_LOGIT_ROWS;
            logits_rows(s, r0, nr);
            if (logits_out(s, r0, nr, o, err)) return -1;
        }
    }
    return be->sync(be, err);
}

// Fills the block tables of the chunk's local sequences.
static void fill_block_tables(is_session *s, int n_local, is_attn_batch *b) {
    int max_blocks = 1;
    for (int i = 0; i < n_local; i++) {
        int nb = s->kv.seqs[s->seq_ids[i]].n_blocks;
        if (nb > max_blocks) max_blocks = nb;
    }
    size_t need = (size_t)n_local * (size_t)max_blocks;
    if (need > s->block_tables_cap) {
        s->block_tables = is_xrealloc(s->block_tables, need * sizeof(int32_t));
        s->block_tables_cap = need;
    }
    for (int i = 0; i < n_local; i++) {
        const is_kv_seq *q = &s->kv.seqs[s->seq_ids[i]];
        memcpy(s->block_tables + (size_t)i * max_blocks, q->blocks, (size_t)q->n_blocks * sizeof(int32_t));
        for (int j = q->n_blocks; j < max_blocks; j++) s->block_tables[(size_t)i * max_blocks + j] = -1;
    }
    b->block_tables = s->block_tables;
    b->max_blocks = max_blocks;
}

static int forward(is_session *s, int n, const int32_t *tok, const int32_t *seq, const bool *want,
                   const fwd_out *o, is_err *err) {
    const is_config *c = &s->m->cfg;
    is_kv_cache *kv = &s->kv;
    if (n <= 0) return 0;
    // check every token and position, and that the KV cache has room, before any change
    for (int i = 0; i < n; i++) {
        if (seq[i] < 0 || seq[i] >= kv->max_seqs || !kv->seqs[seq[i]].active)
            return is_errf(err, "token %d: sequence %d does not exist", i, seq[i]);
        if (tok[i] < 0 || tok[i] >= c->vocab_size)
            return is_errf(err, "token id %d is out of range for a vocabulary of %d", tok[i], c->vocab_size);
    }
    // the distinct sequences of this call, and their lengths after it
    int n_distinct = 0;
    s->call_mark++;
    for (int i = 0; i < n; i++) {
        int q = seq[i];
        if (s->mark[q] != s->call_mark) {
            s->mark[q] = s->call_mark;
            s->distinct[n_distinct++] = q;
            s->new_len[q] = kv->seqs[q].len;
        }
        s->new_len[q]++;
    }
    int blocks = 0;
    for (int j = 0; j < n_distinct; j++) {
        int q = s->distinct[j];
        if (s->new_len[q] > c->max_pos)
            return is_errf(err, "sequence %d would reach %d tokens, past the context of %d "
                           "(max_position_embeddings)", q, s->new_len[q], c->max_pos);
        blocks += is_kv_blocks_needed(kv, q, s->new_len[q]);
    }
    if (blocks > is_kv_n_available(kv))
        return is_errf(err, "KV cache full: this batch needs %d more blocks of %d tokens, %d are free "
                       "(a KV budget of %.0f MiB holds %d tokens)",
                       blocks, kv->block_size, is_kv_n_available(kv), kv->budget_mib, kv->n_blocks * kv->block_size);
    // reserve (cannot fail now), copying shared blocks that will be written
    for (int j = 0; j < n_distinct; j++) {
        int q = s->distinct[j];
        int n_copies = 0;
        if (is_kv_seq_reserve(kv, q, s->new_len[q], s->copies, &n_copies, err)) return -1;
        if (n_copies) {
            int32_t src[IS_MAX_COPIES], dst[IS_MAX_COPIES];
            IS_ASSERT(n_copies <= IS_MAX_COPIES);
            for (int k = 0; k < n_copies; k++) {
                src[k] = s->copies[k].src;
                dst[k] = s->copies[k].dst;
            }
            for (int l = 0; l < c->n_layers; l++)
                s->be->kv_copy_blocks(s->be, &s->k_pool[l], &s->v_pool[l], src, dst, n_copies,
                                      kv->block_size);
        }
        s->new_len[q] = kv->seqs[q].len; // from here on: the next position to assign
    }
    int out_row = 0;
    for (int c0 = 0; c0 < n; c0 += s->max_batch_tokens) {
        int cn = n - c0 < s->max_batch_tokens ? n - c0 : s->max_batch_tokens;
        int n_local = 0, n_want = 0;
        for (int i = 0; i < cn; i++) {
            int q = seq[c0 + i];
            int local = -1;
            for (int j = 0; j < n_local; j++)
                if (s->seq_ids[j] == q) local = j;
            if (local < 0) {
                local = n_local;
                s->seq_ids[n_local++] = q;
            }
            s->tok[i] = tok[c0 + i];
            s->seq_local[i] = local;
            s->pos[i] = s->new_len[q]++;
            s->slot[i] = is_kv_slot(kv, q, s->pos[i]);
            if (want && want[c0 + i]) s->want_rows[n_want++] = i;
        }
        is_attn_batch b = {.n_tokens = cn, .pos = s->pos, .seq = s->seq_local, .slot = s->slot,
                           .n_seqs = n_local, .block_size = kv->block_size};
        fill_block_tables(s, n_local, &b);
        fwd_out co = *o;
        if (co.logits) co.logits += (size_t)out_row * c->vocab_size;
        if (co.ids) {
            co.ids += out_row;
            co.req += out_row;
        }
        IS_ASSERT(n_want == 0 || co.logits || co.ids);
        if (forward_chunk(s, cn, &b, n_want, &co, err)) return -1;
        out_row += n_want;
        for (int j = 0; j < n_local; j++) is_kv_seq_set_len(kv, s->seq_ids[j], s->new_len[s->seq_ids[j]]);
    }
    return 0;
}

int is_forward(is_session *s, int n, const int32_t *tok, const int32_t *seq, const bool *want,
               float *logits, is_err *err) {
    fwd_out o = {.logits = logits};
    return forward(s, n, tok, seq, want, &o, err);
}

bool is_session_samples_on_backend(const is_session *s) { return s->be->sample != NULL; }

int is_forward_sample(is_session *s, int n, const int32_t *tok, const int32_t *seq, const bool *want,
                      const is_sample_req *req, int32_t *ids, is_err *err) {
    if (!s->be->sample)
        return is_errf(err, "the %s backend does not sample on the device; use is_forward", s->be->name);
    fwd_out o = {.req = req, .ids = ids};
    return forward(s, n, tok, seq, want, &o, err);
}
