// beam.c — beam search: W beams per prompt, ranked by the sum of token
// log-probabilities; a finished hypothesis (EOS, or the length limit) of n
// tokens, EOS included, scores sum / n^lp. Each step expands every live beam
// over the whole vocabulary and keeps the 2W best candidates: those ending in
// EOS or at the limit join the W best finished hypotheses, the others (up to W)
// are the next beams. A beam's first child takes over its parent's KV sequence,
// the others fork it, so all beams share the prompt's blocks and copy only a
// block they write into (copy-on-write). The search stops when no live beam can
// still beat the W-th finished hypothesis.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/decode.h"

typedef struct beam {
    int seq;          // KV sequence
    int32_t *tok;     // [n_gen] generated so far
    int len;
    double logprob;   // sum over tok
} beam;

typedef struct beam_cand {
    int parent;       // index among the live beams
    int32_t tok;
    double logprob;
} beam_cand;

typedef struct beam_set {
    beam *live, *next;      // [W]
    int n_live;
    is_beam_hyps fin;       // up to W, best first
    int32_t **fin_buf;      // [W] storage of fin.tokens
    double *step_time;      // [n_gen] when each step's tokens were chosen
    int row;                // first logits row of this step
} beam_set;

static double beam_norm(double logprob, int len, double lp) { return logprob / pow((double)len, lp); }

// true when candidate a ranks before b (higher log-prob; ties: lower parent, lower id)
static bool cand_better(const beam_cand *a, const beam_cand *b) {
    if (a->logprob != b->logprob) return a->logprob > b->logprob;
    if (a->parent != b->parent) return a->parent < b->parent;
    return a->tok < b->tok;
}

// Inserts c into the sorted list top[0, *n) of at most cap entries.
static void cand_insert(beam_cand *top, int *n, int cap, const beam_cand *c) {
    if (*n == cap && !cand_better(c, &top[*n - 1])) return;
    int i = *n < cap ? (*n)++ : cap - 1;
    while (i > 0 && cand_better(c, &top[i - 1])) {
        top[i] = top[i - 1];
        i--;
    }
    top[i] = *c;
}

// Adds a finished hypothesis (parent's tokens + tok) when it is among the W best.
static void fin_insert(beam_set *b, int W, const beam *parent, int32_t tok, double logprob, double lp) {
    is_beam_hyps *f = &b->fin;
    int len = parent->len + 1;
    double score = beam_norm(logprob, len, lp);
    if (f->n == W && !(score > f->score[W - 1])) return;
    int i = f->n < W ? f->n++ : W - 1;
    int32_t *buf = f->tokens[i]; // the slot being dropped or a free one
    while (i > 0 && score > f->score[i - 1]) {
        f->tokens[i] = f->tokens[i - 1];
        f->len[i] = f->len[i - 1];
        f->score[i] = f->score[i - 1];
        f->logprob[i] = f->logprob[i - 1];
        i--;
    }
    memcpy(buf, parent->tok, (size_t)parent->len * sizeof *buf);
    buf[parent->len] = tok;
    f->tokens[i] = buf;
    f->len[i] = len;
    f->score[i] = score;
    f->logprob[i] = logprob;
}

// The best score a live beam could still reach: later tokens only lower the
// sum (log-probs <= 0); the length divides it by at most n_gen^lp (lp > 0) or
// at least (len + 1)^lp (lp <= 0).
static double beam_bound(const beam *b, int n_gen, double lp) {
    return beam_norm(b->logprob, lp > 0 ? n_gen : b->len + 1, lp);
}

// log-softmax of a logits row into out (double)
static void log_softmax(const float *x, int V, double *out) {
    double mx = -INFINITY, z = 0.0;
    for (int v = 0; v < V; v++)
        if (x[v] > mx) mx = x[v];
    for (int v = 0; v < V; v++) z += exp((double)x[v] - mx);
    double lz = mx + log(z);
    for (int v = 0; v < V; v++) out[v] = (double)x[v] - lz;
}

// One step of prompt i's beams from their logits rows; returns true when the search is over.
static bool beam_step(is_session *s, beam_set *b, const is_gen_opts *o, const float *logits, double *lsm,
                      beam_cand *top, is_err *err) {
    const is_config *c = &is_session_model(s)->cfg;
    int V = c->vocab_size, W = o->beam_width, n_top = 0, cap = 2 * W;
    double lp = o->length_penalty;
    for (int p = 0; p < b->n_live; p++) {
        log_softmax(logits + (size_t)(b->row + p) * V, V, lsm);
        for (int v = 0; v < V; v++) {
            beam_cand cd = {p, v, b->live[p].logprob + lsm[v]};
            cand_insert(top, &n_top, cap, &cd);
        }
    }
    int n_next = 0;
    int *children = is_xcalloc((size_t)b->n_live, sizeof *children);
    beam_cand *chosen = is_xmalloc((size_t)W * sizeof *chosen);
    for (int t = 0; t < n_top; t++) {
        const beam *par = &b->live[top[t].parent];
        bool eos = !o->ignore_eos && is_gen_eos(c, top[t].tok);
        if (eos || par->len + 1 == o->n_gen) {
            fin_insert(b, W, par, top[t].tok, top[t].logprob, lp);
        } else if (n_next < W) {
            chosen[n_next++] = top[t];
            children[top[t].parent]++;
        }
    }
    // KV: childless parents go; a parent's first child keeps its sequence, the others fork it
    for (int p = 0; p < b->n_live; p++)
        if (!children[p]) {
            is_seq_free(s, b->live[p].seq);
            b->live[p].seq = -1;
        }
    for (int j = 0; j < n_next; j++) {
        beam *par = &b->live[chosen[j].parent], *nb = &b->next[j];
        if (children[chosen[j].parent]-- > 1) {
            nb->seq = is_seq_fork(s, par->seq, err);
            IS_ASSERT(nb->seq >= 0); // sequence slots were checked before the search
        } else {
            nb->seq = par->seq;
        }
        memcpy(nb->tok, par->tok, (size_t)par->len * sizeof *nb->tok);
        nb->tok[par->len] = chosen[j].tok;
        nb->len = par->len + 1;
        nb->logprob = chosen[j].logprob;
    }
    free(children);
    free(chosen);
    beam *t = b->live;
    b->live = b->next;
    b->next = t;
    b->n_live = n_next;
    if (n_next == 0) return true;
    if (b->fin.n < W) return false;
    for (int j = 0; j < n_next; j++)
        if (beam_bound(&b->live[j], o->n_gen, lp) > b->fin.score[W - 1]) return false;
    return true; // early stop: no live beam can enter the W best
}

int is_beam_generate(is_session *s, int n, const int32_t *const *prompts, const int *lens, const is_gen_opts *opts,
                     is_gen_callback cb, void *user, is_gen_result *res, is_err *err) {
    memset(res, 0, sizeof *res);
    double t_submit = opts->t_submit > 0 ? opts->t_submit : is_now_s();
    const is_config *c = &is_session_model(s)->cfg;
    const is_kv_cache *kv = is_session_kv(s);
    int W = opts->beam_width, V = c->vocab_size, L = opts->n_gen;
    if (W < 1) return is_errf(err, "beam:w=%d: the width must be at least 1", W);
    if (n < 1 || L < 1) return is_gen_check_request(s, n, prompts, lens, L, opts->seqs, err);
    int extra_seqs = opts->seqs ? n : 0; // continued sequences stay alive beside the beams
    if ((long)n * W + extra_seqs > kv->max_seqs)
        return is_errf(err, "beam:w=%d with %d prompt(s) needs %ld sequences, the session allows %d", W, n,
                       (long)n * W + extra_seqs, kv->max_seqs);
    // blocks: the prompt once (shared), and per beam its new tokens plus a copy of
    // the partly filled block it shares when it first writes
    long blocks = 0;
    int bs = kv->block_size;
    for (int i = 0; i < n; i++) {
        long held = opts->seqs ? is_seq_len(s, opts->seqs[i]) : 0;
        blocks += (held + lens[i] + bs - 1) / bs - held / bs + (long)W * ((L - 1 + bs - 1) / bs + 1);
    }
    if (blocks > is_kv_n_available(kv))
        return is_errf(err, "beam:w=%d does not fit the KV cache: %d prompt(s) with %d beams of %d tokens need up "
                       "to %ld blocks of %d tokens, %d are free (a KV budget of %.0f MiB holds %d tokens); raise "
                       "the KV budget or lower w, the tokens generated or the prompt length",
                       W, n, W, L, blocks, bs, is_kv_n_available(kv), kv->budget_mib, kv->n_blocks * bs);
    // the rest (ids, context length); its block count is below the one above
    if (is_gen_check_request(s, n, prompts, lens, L, opts->seqs, err)) return -1;

    long total = 0;
    for (int i = 0; i < n; i++) total += lens[i];
    long cap = total > (long)n * W ? total : (long)n * W;
    beam_set *bsets = is_xcalloc((size_t)n, sizeof *bsets);
    float *logits = malloc((size_t)n * W * V * sizeof(float));
    double *lsm = is_xmalloc((size_t)V * sizeof *lsm);
    beam_cand *top = is_xmalloc((size_t)2 * W * sizeof *top);
    int32_t *tok = is_xmalloc((size_t)cap * sizeof *tok), *tseq = is_xmalloc((size_t)cap * sizeof *tseq);
    bool *want = is_xcalloc((size_t)cap, sizeof *want);
    int rc = -1;
    for (int i = 0; i < n; i++) {
        beam_set *b = &bsets[i];
        b->live = is_xcalloc((size_t)W, sizeof *b->live);
        b->next = is_xcalloc((size_t)W, sizeof *b->next);
        for (int j = 0; j < W; j++) {
            b->live[j].seq = b->next[j].seq = -1;
            b->live[j].tok = is_xmalloc((size_t)L * sizeof(int32_t));
            b->next[j].tok = is_xmalloc((size_t)L * sizeof(int32_t));
        }
        b->fin.tokens = is_xcalloc((size_t)W, sizeof *b->fin.tokens);
        for (int j = 0; j < W; j++) b->fin.tokens[j] = is_xmalloc((size_t)L * sizeof(int32_t));
        b->fin.len = is_xcalloc((size_t)W, sizeof *b->fin.len);
        b->fin.score = is_xcalloc((size_t)W, sizeof *b->fin.score);
        b->fin.logprob = is_xcalloc((size_t)W, sizeof *b->fin.logprob);
        b->step_time = is_xcalloc((size_t)L, sizeof *b->step_time);
    }
    if (!logits) {
        is_errf(err, "out of memory for %d x %d logits", n * W, V);
        goto done;
    }
    // the root beam of each prompt: a new sequence, or a fork of the continued one
    for (int i = 0; i < n; i++) {
        beam *r = &bsets[i].live[0];
        r->seq = opts->seqs ? is_seq_fork(s, opts->seqs[i], err) : is_seq_new(s, err);
        if (r->seq < 0) goto done;
        bsets[i].n_live = 1;
    }
    long k = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < lens[i]; j++, k++) {
            tok[k] = prompts[i][j];
            tseq[k] = bsets[i].live[0].seq;
            want[k] = j == lens[i] - 1;
        }
    double t0 = is_now_s();
    if (is_forward(s, (int)k, tok, tseq, want, logits, err)) goto done;
    res->prefill_s = is_now_s() - t0;
    res->n_prompt_tokens = total;
    for (int i = 0; i < n; i++) bsets[i].row = i;
    bool *over = is_xcalloc((size_t)n, sizeof *over);
    for (int step = 0; step < L; step++) {
        for (int i = 0; i < n; i++) {
            if (over[i]) continue;
            over[i] = beam_step(s, &bsets[i], opts, logits, lsm, top, err);
            bsets[i].step_time[step] = is_now_s() - t_submit;
        }
        if (step == 0) res->t_first = is_now_s() - t_submit;
        int nt = 0;
        for (int i = 0; i < n; i++) {
            beam_set *b = &bsets[i];
            if (over[i]) continue;
            b->row = nt;
            for (int j = 0; j < b->n_live; j++) {
                tok[nt] = b->live[j].tok[b->live[j].len - 1];
                tseq[nt] = b->live[j].seq;
                want[nt++] = true;
            }
        }
        if (nt == 0) break;
        res->stats.steps++;
        if (is_forward(s, nt, tok, tseq, want, logits, err)) {
            free(over);
            goto done;
        }
    }
    free(over);
    res->t_done = is_now_s() - t_submit;
    res->decode_s = res->t_done - res->t_first;
    is_gen_result_alloc(res, n, L);
    res->hyps = is_xcalloc((size_t)n, sizeof *res->hyps);
    for (int i = 0; i < n; i++) {
        beam_set *b = &bsets[i];
        is_beam_hyps *h = &res->hyps[i];
        *h = b->fin; // takes the buffers
        b->fin = (is_beam_hyps){0};
        for (int j = h->n; j < W; j++) free(h->tokens[j]);
        IS_ASSERT(h->n >= 1);
        res->n_tokens[i] = h->len[0];
        memcpy(res->tokens[i], h->tokens[0], (size_t)h->len[0] * sizeof(int32_t));
        for (int j = 0; j < h->len[0]; j++) {
            res->token_time[i][j] = b->step_time[j];
            if (cb) cb(user, i, h->tokens[0][j]);
        }
        res->n_decode_tokens += h->len[0] - 1;
    }
    rc = 0;
done:
    for (int i = 0; i < n; i++) {
        beam_set *b = &bsets[i];
        for (int j = 0; j < W; j++) {
            if (j < b->n_live && b->live[j].seq >= 0) is_seq_free(s, b->live[j].seq);
            free(b->live[j].tok);
            free(b->next[j].tok);
        }
        free(b->live);
        free(b->next);
        if (b->fin.tokens)
            for (int j = 0; j < W; j++) free(b->fin.tokens[j]);
        free(b->fin.tokens);
        free(b->fin.len);
        free(b->fin.score);
        free(b->fin.logprob);
        free(b->step_time);
    }
    free(bsets);
    free(logits);
    free(lsm);
    free(top);
    free(tok);
    free(tseq);
    free(want);
    if (rc) is_gen_result_free(res);
    return rc;
}
