// speculative.c — speculative decoding: a draft model proposes k tokens, the
// target scores all k+1 positions in one batched forward, and each proposal is
// accepted by the standard rule, so the output is the target's own:
//   greedy:  accept d_j while it equals the target's argmax; the first mismatch
//            is replaced by the argmax, and when all k match the target's next
//            argmax is a bonus token;
//   sampled: accept d_j ~ q with probability min(1, p(d_j) / q(d_j)); on a
//            rejection draw from max(0, p - q) renormalized; after k acceptances
//            draw the bonus from p (Leviathan et al. 2023, Chen et al. 2023).
// p and q are the target's and the draft's filtered distributions (same
// temperature, top-k, min-p, top-p and repetition penalty). Rejected positions
// are rolled back in both KV caches by truncation.
//
// Per sequence, between steps: the target holds prompt + every emitted token
// but the last; the draft holds prompt + emitted tokens except its pending ones
// (1, or 2 when all k proposals were accepted: the last proposal and the bonus).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/decode.h"

typedef struct spec_seq {
    int seq_t, seq_d;    // sequence ids in the target and the draft sessions
    int32_t pend[2];     // emitted tokens the draft has not seen
    int n_pend;
    int ke;              // proposals this step
    int32_t *drafts;     // [k]
    int row_d;           // draft logits row of this step's forward (-1: none)
    int row_t;           // first target logits row (ke + 1 rows)
    bool done;
} spec_seq;

typedef struct spec_ctx {
    is_session *s, *ds;
    const is_gen_opts *o;
    int n, V, k;
    bool sampled;
    spec_seq *q;
    is_sampler *samp_t, *samp_d;
    float *logits_t;     // [n * (k + 1)][V]
    float *logits_d;     // [n][V]
    float *qprob;        // [n][k][V] draft distributions of the proposals (sampled)
    float *pprob;        // [V] scratch
    int32_t *tok, *tseq; // forward batch, n * (k + 1) + total prompt length
    bool *want;
    is_gen_result *res;
    is_gen_callback cb;
    void *user;
    double t_submit;
} spec_ctx;

// Records token t for sequence i; returns true when the sequence ends with it.
static bool spec_emit(spec_ctx *c, int i, int32_t t, double when) {
    is_gen_result *res = c->res;
    int p = res->n_tokens[i]++;
    res->tokens[i][p] = t;
    res->token_time[i][p] = when;
    is_sampler_count(&c->samp_t[i], t, 1);
    if (c->cb) c->cb(c->user, i, t);
    const is_gen_opts *o = c->o;
    if ((!o->ignore_eos && is_gen_eos(&is_session_model(c->s)->cfg, t)) || res->n_tokens[i] == o->n_gen ||
        (o->stop && o->stop(o->stop_user, i, res->tokens[i], res->n_tokens[i])))
        c->q[i].done = true;
    return c->q[i].done;
}

// The target's token from a logits row (penalized in place): argmax or a draw from p.
static int32_t spec_target_pick(spec_ctx *c, int i, float *row) {
    is_sampler_penalize(&c->samp_t[i], row);
    return is_sampler_sample(&c->samp_t[i], row);
}

// Proposals: one draft forward per position, every sequence still proposing in one batch.
static int spec_draft(spec_ctx *c, is_err *err) {
    int max_ke = 0;
    for (int i = 0; i < c->n; i++)
        if (!c->q[i].done && c->q[i].ke > max_ke) max_ke = c->q[i].ke;
    for (int j = 0; j < max_ke; j++) {
        int nt = 0, rows = 0;
        for (int i = 0; i < c->n; i++) {
            spec_seq *q = &c->q[i];
            q->row_d = -1;
            if (q->done || q->ke <= j) continue;
            if (j == 0) {
                for (int e = 0; e < q->n_pend; e++) {
                    c->tok[nt] = q->pend[e];
                    c->tseq[nt] = q->seq_d;
                    c->want[nt++] = e == q->n_pend - 1;
                }
                q->n_pend = 0;
            } else {
                c->tok[nt] = q->drafts[j - 1];
                c->tseq[nt] = q->seq_d;
                c->want[nt++] = true;
            }
            q->row_d = rows++;
        }
        if (is_forward(c->ds, nt, c->tok, c->tseq, c->want, c->logits_d, err)) return -1;
        for (int i = 0; i < c->n; i++) {
            spec_seq *q = &c->q[i];
            if (q->row_d < 0) continue;
            float *row = c->logits_d + (size_t)q->row_d * c->V;
            is_sampler *sd = &c->samp_d[i];
            is_sampler_penalize(sd, row);
            int32_t d;
            if (c->sampled) {
                float *qp = c->qprob + ((size_t)i * c->k + j) * c->V;
                is_sampler_probs(sd, row, qp);
                d = is_sample_dense(&sd->rng, qp, c->V);
            } else {
                d = is_argmax(row, c->V);
            }
            is_sampler_count(sd, d, 1);
            q->drafts[j] = d;
        }
    }
    return 0;
}

// Accepts a prefix of sequence i's proposals against the target rows, emits
// the accepted tokens and one more (correction or bonus), and rolls both
// caches back. Returns the number of proposals accepted.
static int spec_accept(spec_ctx *c, int i) {
    spec_seq *q = &c->q[i];
    int V = c->V, ke = q->ke;
    int len_t = is_seq_len(c->s, q->seq_t) - (ke + 1); // before this step's verification
    int n_before = c->res->n_tokens[i];
    double when = is_now_s() - c->t_submit;
    int a = 0;
    int32_t extra = -1;
    for (; a < ke; a++) {
        float *row = c->logits_t + (size_t)(q->row_t + a) * V;
        int32_t d = q->drafts[a];
        if (!c->sampled) {
            int32_t t = spec_target_pick(c, i, row);
            if (t != d) {
                extra = t;
                break;
            }
        } else {
            is_sampler *st = &c->samp_t[i];
            is_sampler_penalize(st, row);
            is_sampler_probs(st, row, c->pprob);
            const float *qp = c->qprob + ((size_t)i * c->k + a) * V;
            double u = is_rng_uniform(&st->rng);
            if (!(u * qp[d] < c->pprob[d])) { // rejected: draw from max(0, p - q)
                double mass = 0.0;
                for (int v = 0; v < V; v++) {
                    float r = c->pprob[v] - qp[v];
                    c->pprob[v] = r > 0.0f ? r : 0.0f;
                    mass += c->pprob[v];
                }
                if (!(mass > 0.0)) is_sampler_probs(st, row, c->pprob); // p == q up to rounding
                extra = is_sample_dense(&st->rng, c->pprob, V);
                break;
            }
        }
        if (spec_emit(c, i, d, when)) {
            a++;
            break;
        }
    }
    int accepted = a;
    if (!q->done) {
        if (extra < 0) extra = spec_target_pick(c, i, c->logits_t + (size_t)(q->row_t + ke) * V); // bonus
        spec_emit(c, i, extra, when);
    }
    if (q->done) return accepted;
    // target: keep the fed last token and the accepted proposals
    is_seq_truncate(c->s, q->seq_t, len_t + 1 + accepted);
    // draft: it was fed up to drafts[ke - 2]; keep what matches the emitted tokens
    int keep = accepted < ke - 1 ? accepted : ke - 1;
    if (ke > 0) is_seq_truncate(c->ds, q->seq_d, is_seq_len(c->ds, q->seq_d) - (ke - 1 - keep));
    for (int j = accepted; j < ke; j++) is_sampler_count(&c->samp_d[i], q->drafts[j], -1);
    q->n_pend = 0;
    for (int p = n_before + keep; p < c->res->n_tokens[i]; p++) {
        IS_ASSERT(q->n_pend < 2);
        q->pend[q->n_pend++] = c->res->tokens[i][p];
        if (p >= n_before + accepted) is_sampler_count(&c->samp_d[i], c->res->tokens[i][p], 1);
    }
    return accepted;
}

// Prefill of one session: every prompt in one batch, logits of the last
// positions into logits (NULL: none).
static int spec_prefill(spec_ctx *c, is_session *s, const int *seqs, const int32_t *const *prompts,
                        const int *lens, float *logits, is_err *err) {
    long k = 0;
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < lens[i]; j++, k++) {
            c->tok[k] = prompts[i][j];
            c->tseq[k] = seqs[i];
            c->want[k] = logits && j == lens[i] - 1;
        }
    return is_forward(s, (int)k, c->tok, c->tseq, c->want, logits, err);
}

int is_spec_generate(is_session *s, int n, const int32_t *const *prompts, const int *lens, const is_gen_opts *opts,
                     is_gen_callback cb, void *user, is_gen_result *res, is_err *err) {
    memset(res, 0, sizeof *res);
    double t_submit = opts->t_submit > 0 ? opts->t_submit : is_now_s();
    const is_config *ct = &is_session_model(s)->cfg, *cd = &is_session_model(opts->draft)->cfg;
    if (opts->spec_k < 1) return is_errf(err, "spec:k=%d: the draft must propose at least 1 token", opts->spec_k);
    if (cd->vocab_size != ct->vocab_size)
        return is_errf(err, "spec: the draft's vocabulary has %d tokens, the target's %d; speculative decoding "
                       "needs the same vocabulary", cd->vocab_size, ct->vocab_size);
    if (opts->seqs) return is_errf(err, "spec: continuing sequences that already hold a context is not supported");
    if (opts->draft == s) return is_errf(err, "spec: the draft needs a session of its own");
    if (is_gen_check_request(s, n, prompts, lens, opts->n_gen, NULL, err)) return -1;
    if (is_gen_check_request(opts->draft, n, prompts, lens, opts->n_gen, NULL, err)) {
        is_err_prefix(err, "the draft model");
        return -1;
    }
    int V = ct->vocab_size, k = opts->spec_k;
    long total = 0;
    for (int i = 0; i < n; i++) total += lens[i];
    long batch_cap = total > (long)n * (k + 2) ? total : (long)n * (k + 2);
    spec_ctx c = {.s = s, .ds = opts->draft, .o = opts, .n = n, .V = V, .k = k,
                  .sampled = opts->sampler.temperature > 0.0f, .res = res, .cb = cb, .user = user,
                  .t_submit = t_submit};
    c.q = is_xcalloc((size_t)n, sizeof *c.q);
    c.samp_t = is_xcalloc((size_t)n, sizeof *c.samp_t);
    c.samp_d = is_xcalloc((size_t)n, sizeof *c.samp_d);
    c.logits_t = malloc((size_t)n * (k + 1) * V * sizeof(float));
    c.logits_d = malloc((size_t)n * V * sizeof(float));
    c.qprob = c.sampled ? malloc((size_t)n * k * V * sizeof(float)) : NULL;
    c.pprob = is_xmalloc((size_t)V * sizeof(float));
    c.tok = is_xmalloc((size_t)batch_cap * sizeof *c.tok);
    c.tseq = is_xmalloc((size_t)batch_cap * sizeof *c.tseq);
    c.want = is_xcalloc((size_t)batch_cap, sizeof *c.want);
    int *seq_t = is_xmalloc((size_t)n * sizeof *seq_t), *seq_d = is_xmalloc((size_t)n * sizeof *seq_d);
    int made_t = 0, made_d = 0, rc = -1;
    is_gen_result_alloc(res, n, opts->n_gen);
    if (!c.logits_t || !c.logits_d || (c.sampled && !c.qprob)) {
        is_errf(err, "out of memory for the logits of %d x %d positions", n, k + 1);
        goto done;
    }
    is_sampler_params pd = opts->sampler;
    pd.seed = is_mix64(pd.seed ^ 0x6472616674ULL); // the draft's own draws
    for (int i = 0; i < n; i++) {
        c.q[i].drafts = is_xmalloc((size_t)k * sizeof(int32_t));
        is_sampler_init(&c.samp_t[i], &opts->sampler, V, (uint64_t)i);
        is_sampler_init(&c.samp_d[i], &pd, V, (uint64_t)i);
        for (int j = 0; j < lens[i]; j++) {
            is_sampler_count(&c.samp_t[i], prompts[i][j], 1);
            is_sampler_count(&c.samp_d[i], prompts[i][j], 1);
        }
    }
    for (int i = 0; i < n; i++) {
        if ((seq_t[i] = is_seq_new(s, err)) < 0) goto done;
        made_t++;
        c.q[i].seq_t = seq_t[i];
    }
    for (int i = 0; i < n; i++) {
        if ((seq_d[i] = is_seq_new(c.ds, err)) < 0) goto done;
        made_d++;
        c.q[i].seq_d = seq_d[i];
    }

    // prefill of both models (the draft's first: TTFT counts both)
    double t0 = is_now_s();
    if (spec_prefill(&c, c.ds, seq_d, prompts, lens, NULL, err)) goto done;
    if (spec_prefill(&c, s, seq_t, prompts, lens, c.logits_t, err)) goto done;
    res->prefill_s = is_now_s() - t0;
    res->n_prompt_tokens = total;
    for (int i = 0; i < n; i++) {
        int32_t t = spec_target_pick(&c, i, c.logits_t + (size_t)i * V);
        spec_emit(&c, i, t, is_now_s() - t_submit);
        c.q[i].pend[0] = t;
        c.q[i].n_pend = 1;
        is_sampler_count(&c.samp_d[i], t, 1);
    }
    res->t_first = is_now_s() - t_submit;

    while (1) {
        int running = 0;
        for (int i = 0; i < n; i++) {
            spec_seq *q = &c.q[i];
            if (q->done) continue;
            running++;
            int left = opts->n_gen - res->n_tokens[i]; // >= 1; a step emits up to ke + 1
            q->ke = k < left - 1 ? k : left - 1;
        }
        if (!running) break;
        double td = is_now_s();
        if (spec_draft(&c, err)) goto done;
        double tv = is_now_s();
        res->stats.draft_s += tv - td;
        // verification: the last emitted token and the proposals, all scored
        int nt = 0;
        for (int i = 0; i < n; i++) {
            spec_seq *q = &c.q[i];
            if (q->done) continue;
            q->row_t = nt;
            c.tok[nt] = res->tokens[i][res->n_tokens[i] - 1];
            c.tseq[nt] = q->seq_t;
            c.want[nt++] = true;
            for (int j = 0; j < q->ke; j++) {
                c.tok[nt] = q->drafts[j];
                c.tseq[nt] = q->seq_t;
                c.want[nt++] = true;
            }
        }
        if (is_forward(s, nt, c.tok, c.tseq, c.want, c.logits_t, err)) goto done;
        res->stats.verify_s += is_now_s() - tv;
        res->stats.steps++;
        for (int i = 0; i < n; i++) {
            spec_seq *q = &c.q[i];
            if (q->done) continue;
            res->stats.rounds++;
            res->stats.drafted += q->ke;
            res->stats.accepted += spec_accept(&c, i);
        }
    }
    res->t_done = is_now_s() - t_submit;
    res->decode_s = res->t_done - res->t_first;
    for (int i = 0; i < n; i++) res->n_decode_tokens += res->n_tokens[i] - 1;
    rc = 0;
done:
    for (int i = 0; i < made_t; i++) is_seq_free(s, seq_t[i]);
    for (int i = 0; i < made_d; i++) is_seq_free(c.ds, seq_d[i]);
    for (int i = 0; i < n; i++) {
        free(c.q[i].drafts);
        if (c.samp_t[i].probs) is_sampler_free(&c.samp_t[i]);
        if (c.samp_d[i].probs) is_sampler_free(&c.samp_d[i]);
    }
    free(c.q);
    free(c.samp_t);
    free(c.samp_d);
    free(c.logits_t);
    free(c.logits_d);
    free(c.qprob);
    free(c.pprob);
    free(c.tok);
    free(c.tseq);
    free(c.want);
    free(seq_t);
    free(seq_d);
    if (rc) is_gen_result_free(res);
    return rc;
}
