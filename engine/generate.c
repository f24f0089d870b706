// generate.c — batched generation: one prefill over every prompt, then decode
// steps over the sequences still running, with per-token host timestamps.
#include <stdlib.h>
#include <string.h>

#include "engine/decode.h" // defines: is_beam_generate, is_spec_generate
#include "engine/inferscope.h"
#include "base/nvtx.h" // defines: is_prof_push, is_prof_pop

void is_gen_result_free(is_gen_result *res) {
    if (!res) return;
    for (int i = 0; i < res->n_seqs; i++) {
        if (res->tokens) free(res->tokens[i]);
        if (res->token_time) free(res->token_time[i]);
    }
    free(res->tokens);
    free(res->token_time);
    free(res->n_tokens);
    for (int i = 0; res->hyps && i < res->n_seqs; i++) {
        is_beam_hyps *h = &res->hyps[i];
        for (int j = 0; j < h->n; j++) free(h->tokens[j]);
        free(h->tokens);
        free(h->len);
        free(h->score);
        free(h->logprob);
    }
    free(res->hyps);
    memset(res, 0, sizeof *res);
}

void is_gen_result_alloc(is_gen_result *res, int n, int n_gen) {
    res->n_seqs = n;
    res->tokens = is_xcalloc((size_t)n, sizeof *res->tokens);
    res->token_time = is_xcalloc((size_t)n, sizeof *res->token_time);
    res->n_tokens = is_xcalloc((size_t)n, sizeof *res->n_tokens);
    for (int i = 0; i < n; i++) {
        res->tokens[i] = is_xmalloc((size_t)n_gen * sizeof(int32_t));
        res->token_time[i] = is_xmalloc((size_t)n_gen * sizeof(double));
    }
}

bool is_gen_eos(const is_config *c, int32_t t) {
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_token_ids[i] == t) return true;
    return false;
}

static int ceil_div(long a, long b) { return (int)((a + b - 1) / b); }

int is_gen_check_request(is_session *s, int n, const int32_t *const *prompts, const int *lens,
                         int n_gen, const int *seqs, is_err *err) {
    const is_config *c = &is_session_model(s)->cfg;
    const is_kv_cache *kv = is_session_kv(s);
    if (n < 1) return is_errf(err, "no prompt given");
    if (n_gen < 1) return is_errf(err, "%d tokens to generate: at least 1 is needed", n_gen);
    if (n > kv->max_seqs)
        return is_errf(err, "a batch of %d sequences: more than the session allows (%d)", n, kv->max_seqs);
    long blocks = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] < 1) return is_errf(err, "prompt %d is empty", i);
        for (int j = 0; j < lens[i]; j++)
            if (prompts[i][j] < 0 || prompts[i][j] >= c->vocab_size)
                return is_errf(err, "prompt %d: token id %d is out of range (vocab_size %d)", i,
                               prompts[i][j], c->vocab_size);
        long held = seqs ? is_seq_len(s, seqs[i]) : 0; // context already in the cache
        if (held + lens[i] > c->max_pos)
            return is_errf(err, "prompt %d is %ld tokens (%d after a context of %ld), longer than the context "
                           "of %d tokens (max_position_embeddings)", i, held + lens[i], lens[i], held, c->max_pos);
        // the last generated token is never fed back, so the cache holds len + n_gen - 1
        long total = held + lens[i] + n_gen - 1;
        if (total > c->max_pos)
            return is_errf(err, "prompt %d (%ld tokens with its context) + %d generated tokens exceed the "
                           "context of %d tokens (max_position_embeddings)", i, held + lens[i], n_gen, c->max_pos);
        // a partly filled last block is already held; count it as needing a copy
        // (it may be shared), so the check errs on the safe side
        blocks += ceil_div(total, kv->block_size) - held / kv->block_size;
    }
    // logits and sampler scratch: 4 + 8 bytes per vocabulary entry per sequence
    double host = (double)n * c->vocab_size * 12.0, avail = is_host_mem_available();
    if (avail > 0 && host > 0.5 * avail)
        return is_errf(err, "a batch of %d: logits and sampling buffers need %.1f GiB for a vocabulary of %d, "
                       "more than half of the %.1f GiB of memory available",
                       n, host / 1073741824.0, c->vocab_size, avail / 1073741824.0);
    if (blocks > is_kv_n_available(kv))
        return is_errf(err, "the batch does not fit the KV cache: %d sequences need %ld blocks of %d tokens, "
                       "%d are free (a KV budget of %.0f MiB holds %d tokens); raise the KV budget or lower "
                       "the batch, the prompt length or the tokens generated",
                       n, blocks, kv->block_size, is_kv_n_available(kv), kv->budget_mib, kv->n_blocks * kv->block_size);
    return 0;
}

// The device sampling request of sequence i (stream i of the seed, as the host
// samplers) for its token number counter.
static void set_req(is_sample_req *r, const is_sampler_params *p, int i, int counter) {
    *r = (is_sample_req){.temperature = p->temperature, .top_k = p->top_k, .top_p = p->top_p, .seed = p->seed,
                         .stream = (uint64_t)i, .counter = (uint64_t)counter};
}

// One forward: logits to the host (logits not NULL), or ids sampled on the backend.
static int forward_step(is_session *s, int n, const int32_t *tok, const int32_t *seq, const bool *want,
                        float *logits, const is_sample_req *req, int32_t *ids, is_err *err) {
    if (logits) return is_forward(s, n, tok, seq, want, logits, err);
    return is_forward_sample(s, n, tok, seq, want, req, ids, err);
}

int is_generate(is_session *s, int n, const int32_t *const *prompts, const int *lens,
                const is_gen_opts *opts, is_gen_callback cb, void *user, is_gen_result *res,
                is_err *err) {
    memset(res, 0, sizeof *res);
    if (opts->beam_width > 0) return is_beam_generate(s, n, prompts, lens, opts, cb, user, res, err);
    if (opts->draft) return is_spec_generate(s, n, prompts, lens, opts, cb, user, res, err);
    double t_submit = opts->t_submit > 0 ? opts->t_submit : is_now_s();
    if (is_gen_check_request(s, n, prompts, lens, opts->n_gen, opts->seqs, err)) return -1;
    const is_config *c = &is_session_model(s)->cfg;
    int V = c->vocab_size;
    long total = 0;
    for (int i = 0; i < n; i++) total += lens[i];

    is_gen_result_alloc(res, n, opts->n_gen);
    int *seq = is_xmalloc((size_t)n * sizeof *seq);
    int *held = is_xcalloc((size_t)n, sizeof *held); // lengths on entry of continued sequences
    if (opts->seqs)
        for (int i = 0; i < n; i++) held[i] = is_seq_len(s, opts->seqs[i]);
    bool *done = is_xcalloc((size_t)n, sizeof *done);
    is_sampler *samp = is_xcalloc((size_t)n, sizeof *samp);
    // a backend that samples on the device returns ids only: no logits cross to the host
    // (min-p and the repetition penalty run on the host)
    const is_sampler_params *sp = &opts->sampler;
    bool on_device = is_session_samples_on_backend(s) && sp->min_p <= 0 && (sp->rep_penalty == 0 || sp->rep_penalty == 1);
    float *logits = on_device ? NULL : malloc((size_t)n * (size_t)V * sizeof(float));
    is_sample_req *req = is_xmalloc((size_t)n * sizeof *req);
    int32_t *ids = is_xmalloc((size_t)n * sizeof *ids);
    int32_t *tok = is_xmalloc((size_t)(total > n ? total : n) * sizeof *tok);
    int32_t *tseq = is_xmalloc((size_t)(total > n ? total : n) * sizeof *tseq);
    bool *want = is_xcalloc((size_t)(total > n ? total : n), sizeof *want);
    int *row_seq = is_xmalloc((size_t)n * sizeof *row_seq);
    int rc = -1, n_seqs_made = 0;
    if (!logits && !on_device) {
        is_errf(err, "out of memory for %d x %d logits", n, V);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        is_sampler_init(&samp[i], &opts->sampler, V, (uint64_t)i);
        for (int j = 0; j < lens[i]; j++) is_sampler_count(&samp[i], prompts[i][j], 1);
    }
    if (opts->seqs) {
        for (int i = 0; i < n; i++) seq[i] = opts->seqs[i];
    } else {
        for (int i = 0; i < n; i++) {
            if ((seq[i] = is_seq_new(s, err)) < 0) goto done;
            n_seqs_made++;
        }
    }

    // prefill: every prompt in one batch (split into chunks by the session)
    long k = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < lens[i]; j++, k++) {
            tok[k] = prompts[i][j];
            tseq[k] = seq[i];
            want[k] = j == lens[i] - 1;
        }
    for (int i = 0; i < n; i++) set_req(&req[i], &opts->sampler, i, 0);
    double t0 = is_now_s();
    is_prof_push(IS_PROF_PREFILL, (uint64_t)total);
    int frc = forward_step(s, (int)total, tok, tseq, want, logits, req, ids, err);
    is_prof_pop(IS_PROF_PREFILL);
    if (frc) goto done;
    res->prefill_s = is_now_s() - t0;
    res->n_prompt_tokens = total;
    for (int i = 0; i < n; i++) row_seq[i] = i;
    int n_rows = n;

    for (int step = 0; step < opts->n_gen; step++) {
        // sample one token for each running sequence
        is_prof_push(IS_PROF_SAMPLE, (uint64_t)n_rows);
        for (int r = 0; r < n_rows; r++) {
            int i = row_seq[r];
            int32_t t;
            if (on_device) {
                t = ids[r];
            } else {
                is_sampler_penalize(&samp[i], logits + (size_t)r * V);
                t = is_sampler_sample(&samp[i], logits + (size_t)r * V);
            }
            is_sampler_count(&samp[i], t, 1);
            int p = res->n_tokens[i]++;
            res->tokens[i][p] = t;
            res->token_time[i][p] = is_now_s() - t_submit;
            if (cb) cb(user, i, t);
            if ((!opts->ignore_eos && is_gen_eos(c, t)) || res->n_tokens[i] == opts->n_gen ||
                (opts->stop && opts->stop(opts->stop_user, i, res->tokens[i], res->n_tokens[i])))
                done[i] = true;
        }
        is_prof_pop(IS_PROF_SAMPLE);
        if (step == 0) res->t_first = is_now_s() - t_submit;
        // next step: the running sequences, each fed its last token
        n_rows = 0;
        for (int i = 0; i < n; i++)
            if (!done[i]) {
                row_seq[n_rows] = i;
                tok[n_rows] = res->tokens[i][res->n_tokens[i] - 1];
                tseq[n_rows] = seq[i];
                want[n_rows] = true;
                set_req(&req[n_rows], &opts->sampler, i, res->n_tokens[i]);
                n_rows++;
            }
        if (n_rows == 0) break;
        is_prof_push(IS_PROF_DECODE_STEP, (uint64_t)n_rows);
        frc = forward_step(s, n_rows, tok, tseq, want, logits, req, ids, err);
        is_prof_pop(IS_PROF_DECODE_STEP);
        if (frc) goto done;
    }
    res->t_done = is_now_s() - t_submit;
    res->decode_s = res->t_done - res->t_first;
    for (int i = 0; i < n; i++) res->n_decode_tokens += res->n_tokens[i] - 1;
    rc = 0;
done:
    for (int i = 0; i < n_seqs_made; i++) is_seq_free(s, seq[i]);
    if (opts->seqs)
        for (int i = 0; i < n; i++) is_seq_truncate(s, opts->seqs[i], held[i]);
    free(held);
    for (int i = 0; i < n; i++) is_sampler_free(&samp[i]);
    free(samp);
    free(seq);
    free(done);
    free(logits);
    free(req);
    free(ids);
    free(tok);
    free(tseq);
    free(want);
    free(row_seq);
    if (rc) is_gen_result_free(res);
    return rc;
}
