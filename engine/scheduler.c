// scheduler.c — continuous batching: admission, chunked prefill, preemption by
// recomputation and the prefix cache, one forward pass per step.
#include "engine/scheduler.h"

#include <stdlib.h>
#include <string.h>

#include "base/nvtx.h"     // defines: is_prof_push, is_prof_pop
#include "engine/decode.h" // defines: is_gen_eos

// One entry of a step's batch: `chunk` tokens of request `req` from its position `from`.
typedef struct sched_entry {
    int req, from, chunk;
    bool decode;
} sched_entry;

struct is_sched {
    is_session *s;
    is_sched_opts o;
    int vocab, block_size;
    is_sched_req *req;       // [n_req]
    int n_req, cap_req;
    int *waiting;            // request ids, front first
    int n_waiting, cap_waiting;
    int *running;            // request ids in admission order (youngest last)
    int n_running;
    sched_entry *plan;       // [max_seqs] this step's batch
    int n_plan;
    bool *in_plan;           // [n_req] cleared after each step
    int avail;               // blocks the plan may still take
    int budget;              // tokens the plan may still take
    int step_preempted;
    // forward arrays
    int32_t *tok, *seq;      // [max_batch_tokens]
    bool *want;
    int *want_entry;         // [max_seqs] plan entry of each logits row
    float *logits;           // [max_seqs * vocab], host sampling only
    is_sample_req *sreq;     // [max_seqs]
    int32_t *ids;            // [max_seqs]
    bool on_device;          // sample on the backend (ids only)
    is_sched_stats st;
};

static int imin(int a, int b) { return a < b ? a : b; }

int is_sched_create(is_session *s, const is_sched_opts *o, is_sched **out, is_err *err) {
    *out = NULL;
    const is_kv_cache *kv = is_session_kv(s);
    is_sched_opts op = o ? *o : (is_sched_opts){0};
    if (op.max_seqs <= 0) op.max_seqs = kv->max_seqs;
    if (op.max_seqs > kv->max_seqs)
        return is_errf(err, "%d running requests: more than the session's %d sequences", op.max_seqs, kv->max_seqs);
    if (op.max_batch_tokens <= 0) op.max_batch_tokens = is_session_max_batch_tokens(s);
    if (op.prefill_chunk <= 0 || op.prefill_chunk > op.max_batch_tokens) op.prefill_chunk = op.max_batch_tokens;
    if (op.max_seqs > op.max_batch_tokens)
        return is_errf(err, "%d running requests do not fit a batch of %d tokens: lower the request cap or raise "
                       "the batch's token budget", op.max_seqs, op.max_batch_tokens);
    is_sched *sc = is_xcalloc(1, sizeof *sc);
    sc->s = s;
    sc->o = op;
    sc->vocab = is_session_model(s)->cfg.vocab_size;
    sc->block_size = kv->block_size;
    sc->waiting = NULL;
    sc->running = is_xmalloc((size_t)op.max_seqs * sizeof *sc->running);
    sc->plan = is_xmalloc((size_t)op.max_seqs * sizeof *sc->plan);
    sc->tok = is_xmalloc((size_t)op.max_batch_tokens * sizeof *sc->tok);
    sc->seq = is_xmalloc((size_t)op.max_batch_tokens * sizeof *sc->seq);
    sc->want = is_xmalloc((size_t)op.max_batch_tokens * sizeof *sc->want);
    sc->want_entry = is_xmalloc((size_t)op.max_seqs * sizeof *sc->want_entry);
    sc->sreq = is_xmalloc((size_t)op.max_seqs * sizeof *sc->sreq);
    sc->ids = is_xmalloc((size_t)op.max_seqs * sizeof *sc->ids);
    const is_sampler_params *sp = &op.sampler;
    sc->on_device = !op.on_logits && is_session_samples_on_backend(s) && sp->min_p <= 0 &&
                    (sp->rep_penalty == 0 || sp->rep_penalty == 1);
    if (!sc->on_device) {
        sc->logits = malloc((size_t)op.max_seqs * (size_t)sc->vocab * sizeof(float));
        if (!sc->logits) {
            is_sched_free(sc);
            return is_errf(err, "out of memory for %d x %d logits", op.max_seqs, sc->vocab);
        }
    }
    if (op.prefix_cache) is_session_prefix_enable(s);
    *out = sc;
    return 0;
}

static void req_release(is_sched *sc, is_sched_req *r) {
    if (r->seq >= 0) is_seq_free(sc->s, r->seq);
    r->seq = -1;
}

void is_sched_free(is_sched *sc) {
    if (!sc) return;
    for (int i = 0; i < sc->n_req; i++) {
        is_sched_req *r = &sc->req[i];
        req_release(sc, r);
        if (r->admitted_once && r->state != IS_REQ_DONE) is_sampler_free(&r->samp);
        free(r->tokens);
        free(r->token_time);
    }
    free(sc->req);
    free(sc->waiting);
    free(sc->running);
    free(sc->plan);
    free(sc->in_plan);
    free(sc->tok);
    free(sc->seq);
    free(sc->want);
    free(sc->want_entry);
    free(sc->logits);
    free(sc->sreq);
    free(sc->ids);
    free(sc);
}

static int div_up(long a, long b) { return (int)((a + b - 1) / b); }

int is_sched_submit(is_sched *sc, const int32_t *prompt, int n_prompt, int n_gen, uint64_t stream, is_err *err) {
    const is_config *c = &is_session_model(sc->s)->cfg;
    const is_kv_cache *kv = is_session_kv(sc->s);
    if (n_prompt < 1) return is_errf(err, "request %d: the prompt is empty", sc->n_req);
    if (n_gen < 1) return is_errf(err, "request %d: %d tokens to generate, at least 1 is needed", sc->n_req, n_gen);
    for (int j = 0; j < n_prompt; j++)
        if (prompt[j] < 0 || prompt[j] >= c->vocab_size)
            return is_errf(err, "request %d: token id %d is out of range (vocab_size %d)", sc->n_req, prompt[j],
                           c->vocab_size);
    // the last generated token is never fed back: the cache holds n_prompt + n_gen - 1
    long total = (long)n_prompt + n_gen - 1;
    if (total > c->max_pos)
        return is_errf(err, "request %d: %d prompt tokens + %d to generate exceed the context of %d tokens "
                       "(max_position_embeddings)", sc->n_req, n_prompt, n_gen, c->max_pos);
    if (div_up(total, kv->block_size) > kv->n_blocks)
        return is_errf(err, "request %d: %ld tokens need %d KV blocks of %d tokens, more than the whole cache "
                       "holds (%d; a KV budget of %.0f MiB): raise the KV budget or shorten the request",
                       sc->n_req, total, div_up(total, kv->block_size), kv->block_size, kv->n_blocks, kv->budget_mib);
    if (sc->n_req == sc->cap_req) {
        sc->cap_req = sc->cap_req ? 2 * sc->cap_req : 64;
        sc->req = is_xrealloc(sc->req, (size_t)sc->cap_req * sizeof *sc->req);
        sc->in_plan = is_xrealloc(sc->in_plan, (size_t)sc->cap_req * sizeof *sc->in_plan);
        sc->waiting = is_xrealloc(sc->waiting, (size_t)sc->cap_req * sizeof *sc->waiting);
    }
    int id = sc->n_req++;
    is_sched_req *r = &sc->req[id];
    memset(r, 0, sizeof *r);
    r->n_prompt = n_prompt;
    r->n_gen = n_gen;
    r->tokens = is_xmalloc(((size_t)n_prompt + (size_t)n_gen) * sizeof *r->tokens);
    memcpy(r->tokens, prompt, (size_t)n_prompt * sizeof *prompt);
    r->token_time = is_xmalloc((size_t)n_gen * sizeof *r->token_time);
    r->t_submit = is_now_s();
    r->stream = stream;
    r->seq = -1;
    sc->in_plan[id] = false;
    sc->waiting[sc->n_waiting++] = id;
    return id;
}

// ---- building a step's batch ------------------------------------------------------

// Tokens known (prompt and generated) that request r has not computed yet.
static int req_remaining(const is_sched_req *r) { return r->n_prompt + r->n_out - r->computed; }

static void running_remove(is_sched *sc, int k) {
    memmove(sc->running + k, sc->running + k + 1, (size_t)(sc->n_running - k - 1) * sizeof *sc->running);
    sc->n_running--;
}

// Takes back the blocks of the youngest running request outside this step's
// batch and queues it first; false when every running request is in the batch.
static bool preempt_youngest(is_sched *sc) {
    for (int k = sc->n_running - 1; k >= 0; k--) {
        int id = sc->running[k];
        if (sc->in_plan[id]) continue;
        is_sched_req *r = &sc->req[id];
        req_release(sc, r);
        r->computed = 0;
        r->n_registered = 0;
        r->last_key = 0;
        r->state = IS_REQ_WAITING;
        r->n_preempted++;
        running_remove(sc, k);
        memmove(sc->waiting + 1, sc->waiting, (size_t)sc->n_waiting * sizeof *sc->waiting);
        sc->waiting[0] = id;
        sc->n_waiting++;
        sc->st.preemptions++;
        sc->step_preempted++;
        return true;
    }
    return false;
}

// Blocks committed by the plan so far are subtracted from what the KV cache has.
static int plan_blocks(const is_sched *sc) {
    int n = 0;
    for (int e = 0; e < sc->n_plan; e++) {
        const sched_entry *p = &sc->plan[e];
        const is_sched_req *r = &sc->req[p->req];
        n += is_session_kv_blocks_needed(sc->s, r->seq, p->from + p->chunk);
    }
    return n;
}

static void refresh_avail(is_sched *sc) { sc->avail = is_session_kv_available(sc->s) - plan_blocks(sc); }

static void plan_add(is_sched *sc, int id, int chunk, bool decode) {
    is_sched_req *r = &sc->req[id];
    sc->plan[sc->n_plan++] = (sched_entry){.req = id, .from = r->computed, .chunk = chunk, .decode = decode};
    sc->in_plan[id] = true;
    sc->budget -= chunk;
}

// The longest chunk (<= want) of request r whose blocks fit what is left.
static int chunk_fit(is_sched *sc, const is_sched_req *r, int want) {
    while (want > 0 && is_session_kv_blocks_needed(sc->s, r->seq, r->computed + want) > sc->avail) {
        // drop to the end of the last block that fits
        int held = (r->computed / sc->block_size + sc->avail) * sc->block_size;
        int fit = held - r->computed;
        want = fit < want ? fit : want - 1;
    }
    return want > 0 ? want : 0;
}

// Running requests with one token to compute (decodes), oldest first; a decode
// that finds no block preempts the youngest request outside the batch (perhaps
// itself) and the pass starts over (requests already in the batch are skipped).
static void plan_decodes(is_sched *sc) {
    for (int k = 0; k < sc->n_running && sc->budget > 0; k++) {
        int id = sc->running[k];
        is_sched_req *r = &sc->req[id];
        if (sc->in_plan[id] || req_remaining(r) != 1 || r->n_out == 0) continue;
        if (is_session_kv_blocks_needed(sc->s, r->seq, r->computed + 1) > sc->avail) {
            if (preempt_youngest(sc)) {
                refresh_avail(sc);
                k = -1;
            }
            continue;
        }
        plan_add(sc, id, 1, true);
        refresh_avail(sc);
    }
}

// Running requests with prompt (or recomputed) tokens left: a chunk each.
static void plan_prefills(is_sched *sc) {
    for (int k = 0; k < sc->n_running && sc->budget > 0; k++) {
        int id = sc->running[k];
        is_sched_req *r = &sc->req[id];
        if (sc->in_plan[id] || (req_remaining(r) == 1 && r->n_out > 0)) continue;
        int want = imin(imin(req_remaining(r), sc->o.prefill_chunk), sc->budget);
        int chunk = chunk_fit(sc, r, want);
        if (chunk == 0) continue;
        plan_add(sc, id, chunk, false);
        refresh_avail(sc);
    }
}

// Waiting requests, first come first served, while a sequence, the budget and
// the blocks for all their known tokens allow.
static int plan_admit(is_sched *sc, is_err *err) {
    while (sc->n_waiting > 0 && sc->n_running < sc->o.max_seqs && sc->budget > 0) {
        int id = sc->waiting[0];
        is_sched_req *r = &sc->req[id];
        int known = r->n_prompt + r->n_out;
        int seq = is_seq_new(sc->s, err);
        if (seq < 0) return -1;
        int matched = 0;
        if (sc->o.prefix_cache) // at least one token is computed: its logits give the next token
            matched = is_seq_prefix_attach(sc->s, seq, r->tokens, known, (known - 1) / sc->block_size);
        refresh_avail(sc); // blocks taken from the cache are no longer evictable
        int need = is_session_kv_blocks_needed(sc->s, seq, known);
        if (need > sc->avail) {
            is_seq_free(sc->s, seq); // head of the line waits for blocks
            break;
        }
        memmove(sc->waiting, sc->waiting + 1, (size_t)(sc->n_waiting - 1) * sizeof *sc->waiting);
        sc->n_waiting--;
        r->seq = seq;
        r->computed = matched * sc->block_size;
        r->n_registered = matched;
        r->last_key = 0;
        for (int b = 0; b < matched; b++)
            r->last_key = is_kv_prefix_key(r->last_key, r->tokens + (size_t)b * sc->block_size, sc->block_size);
        if (!r->admitted_once) {
            r->admitted_once = true;
            r->n_cached = r->computed;
            sc->st.prefix_lookup_tokens += r->n_prompt;
            sc->st.prefix_hit_tokens += r->computed;
            is_sampler_init(&r->samp, &sc->o.sampler, sc->vocab, r->stream);
            for (int j = 0; j < r->n_prompt; j++) is_sampler_count(&r->samp, r->tokens[j], 1);
        }
        r->state = IS_REQ_RUNNING;
        sc->running[sc->n_running++] = id;
        refresh_avail(sc);
        int want = imin(imin(req_remaining(r), sc->o.prefill_chunk), sc->budget);
        int chunk = chunk_fit(sc, r, want);
        if (chunk > 0) {
            plan_add(sc, id, chunk, false);
            refresh_avail(sc);
        }
    }
    return 0;
}

static int plan_step(is_sched *sc, is_err *err) {
    for (;;) {
        sc->n_plan = 0;
        sc->budget = sc->o.max_batch_tokens;
        refresh_avail(sc);
        if (sc->o.policy == IS_SCHED_DECODE_FIRST) {
            plan_decodes(sc);
            plan_prefills(sc);
            if (plan_admit(sc, err)) return -1;
        } else {
            plan_prefills(sc);
            if (plan_admit(sc, err)) return -1;
            plan_decodes(sc);
        }
        if (sc->n_plan > 0 || sc->n_running == 0) return 0;
        // running requests but none could take a block: make room and plan again
        if (!preempt_youngest(sc)) return 0;
    }
}

// ---- running it -----------------------------------------------------------------

// Registers the request's blocks that its computed tokens filled.
static void register_blocks(is_sched *sc, is_sched_req *r) {
    int bs = sc->block_size;
    while ((r->n_registered + 1) * bs <= r->computed) {
        r->last_key = is_seq_prefix_register(sc->s, r->seq, r->n_registered, r->last_key,
                                             r->tokens + (size_t)r->n_registered * bs);
        r->n_registered++;
    }
}

static void req_finish(is_sched *sc, int id, double t) {
    is_sched_req *r = &sc->req[id];
    r->state = IS_REQ_DONE;
    r->t_done = t;
    req_release(sc, r);
    is_sampler_free(&r->samp);
    for (int k = 0; k < sc->n_running; k++)
        if (sc->running[k] == id) {
            running_remove(sc, k);
            break;
        }
}

int is_sched_step(is_sched *sc, is_sched_step_info *info, is_err *err) {
    memset(info, 0, sizeof *info);
    double t0 = is_now_s();
    info->t_start = t0;
    sc->step_preempted = 0;
    if (plan_step(sc, err)) return -1;
    int n = 0, n_want = 0;
    for (int e = 0; e < sc->n_plan; e++) {
        const sched_entry *p = &sc->plan[e];
        is_sched_req *r = &sc->req[p->req];
        if (r->t_scheduled == 0) r->t_scheduled = t0;
        bool last = p->from + p->chunk == r->n_prompt + r->n_out;
        for (int j = 0; j < p->chunk; j++, n++) {
            sc->tok[n] = r->tokens[p->from + j];
            sc->seq[n] = r->seq;
            sc->want[n] = last && j == p->chunk - 1;
        }
        if (p->decode) info->decode_tokens++;
        else info->prefill_tokens += p->chunk;
        if (last) {
            sc->sreq[n_want] = (is_sample_req){.temperature = sc->o.sampler.temperature, .top_k = sc->o.sampler.top_k,
                                               .top_p = sc->o.sampler.top_p, .seed = sc->o.sampler.seed,
                                               .stream = r->stream, .counter = (uint64_t)r->n_out};
            sc->want_entry[n_want++] = e;
        }
    }
    info->running = sc->n_running;
    info->waiting = sc->n_waiting;
    info->preempted = sc->step_preempted;
    double t_plan = is_now_s();
    double t_fwd = t_plan, t_smp = t_plan;
    if (n > 0) {
        // 53 bits, so the payload stays exact where tools hold it as a double
        uint64_t payload = (uint64_t)imin(info->prefill_tokens, 0x1ffff) << 36 |
                           (uint64_t)imin(info->decode_tokens, 0xfff) << 24 |
                           (uint64_t)imin(info->running, 0xfff) << 12 | (uint64_t)imin(info->waiting, 0xfff);
        is_prof_push(IS_PROF_SCHEDULE, payload);
        int rc = sc->on_device ? is_forward_sample(sc->s, n, sc->tok, sc->seq, sc->want, sc->sreq, sc->ids, err)
                               : is_forward(sc->s, n, sc->tok, sc->seq, sc->want, sc->logits, err);
        t_fwd = is_now_s();
        if (rc) {
            is_prof_pop(IS_PROF_SCHEDULE);
            return -1;
        }
        for (int e = 0; e < sc->n_plan; e++) {
            is_sched_req *r = &sc->req[sc->plan[e].req];
            r->computed += sc->plan[e].chunk;
            if (sc->o.prefix_cache) register_blocks(sc, r);
        }
        sc->st.computed_tokens += n;
        is_prof_push(IS_PROF_SAMPLE, (uint64_t)n_want);
        for (int w = 0; w < n_want; w++) {
            int id = sc->plan[sc->want_entry[w]].req;
            is_sched_req *r = &sc->req[id];
            int32_t t;
            if (sc->on_device) {
                t = sc->ids[w];
            } else {
                float *lg = sc->logits + (size_t)w * sc->vocab;
                if (sc->o.on_logits) sc->o.on_logits(sc->o.user, id, r->n_out, lg, sc->vocab);
                is_sampler_penalize(&r->samp, lg);
                t = is_sampler_sample(&r->samp, lg);
            }
            is_sampler_count(&r->samp, t, 1);
            double now = is_now_s();
            r->tokens[r->n_prompt + r->n_out] = t;
            r->token_time[r->n_out] = now;
            r->n_out++;
            const is_config *c = &is_session_model(sc->s)->cfg;
            if (r->n_out == r->n_gen || (!sc->o.ignore_eos && is_gen_eos(c, t))) {
                req_finish(sc, id, now);
                info->finished++;
            }
        }
        is_prof_pop(IS_PROF_SAMPLE);
        t_smp = is_now_s();
        is_prof_pop(IS_PROF_SCHEDULE);
    }
    for (int e = 0; e < sc->n_plan; e++) sc->in_plan[sc->plan[e].req] = false;
    sc->n_plan = 0;
    const is_kv_cache *kv = is_session_kv(sc->s);
    info->kv_blocks_cached = kv->n_evictable;
    info->kv_blocks_used = kv->n_blocks - kv->n_free - kv->n_evictable;
    info->t_end = is_now_s();
    info->forward_s = t_fwd - t_plan;
    info->sample_s = t_smp - t_fwd;
    info->sched_s = (info->t_end - t0) - info->forward_s - info->sample_s;
    if (n > 0) {
        sc->st.steps++;
        sc->st.sched_s += info->sched_s;
        sc->st.forward_s += info->forward_s;
        sc->st.sample_s += info->sample_s;
    }
    if (info->running > sc->st.peak_running) sc->st.peak_running = info->running;
    if (info->kv_blocks_used > sc->st.peak_kv_blocks) sc->st.peak_kv_blocks = info->kv_blocks_used;
    return 0;
}

int is_sched_pending(const is_sched *sc) { return sc->n_waiting + sc->n_running; }

int is_sched_n_requests(const is_sched *sc) { return sc->n_req; }

const is_sched_req *is_sched_request(const is_sched *sc, int id) {
    IS_ASSERT(id >= 0 && id < sc->n_req);
    return &sc->req[id];
}

const is_sched_stats *is_sched_get_stats(const is_sched *sc) { return &sc->st; }
