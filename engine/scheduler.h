// scheduler.h — continuous batching (iteration-level scheduling) over a session.
//
// Requests are submitted at any time; every is_sched_step builds one batch from
// the running requests' decode tokens and chunks of prompts still to compute,
// under a token budget and a cap on running requests, runs one forward pass
// (mixed prefill and decode rows) and samples the next token of every request
// whose known tokens are all in the KV cache. Finished requests leave and
// waiting ones join at every step.
//
// - Admission (first come, first served): a waiting request joins when the KV
//   cache has blocks, free or evictable, for all its known tokens.
// - Preemption by recomputation: when a running request needs a block and none
//   is left, the youngest running request outside this step's batch gives its
//   blocks back and returns to the front of the queue; later its prompt and the
//   tokens it already generated are computed again (the tokens are kept, so its
//   output is the same).
// - Prefix cache (opt-in): every full block a request computes is registered
//   under its tokens and the blocks before it; a new request starts from the
//   longest registered chain that matches its prompt.
// - Policies: decode-first puts the running decodes into the batch before any
//   prompt chunk (steady TPOT, later first tokens); prefill-first gives prompt
//   chunks the budget first (earlier first tokens, decodes wait).
// The sampling of request r uses stream r.stream of the seed, and token number n
// of it counter n: the same as is_generate's prompt number `stream`.
#ifndef IS_ENGINE_SCHEDULER_H
#define IS_ENGINE_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/inferscope.h"

typedef enum is_sched_policy {
    IS_SCHED_DECODE_FIRST = 0,
    IS_SCHED_PREFILL_FIRST,
} is_sched_policy;

// Logits of token `index` (0-based) a request generates, before sampling.
typedef void (*is_sched_logits_fn)(void *user, int req, int index, const float *logits, int vocab);

typedef struct is_sched_opts {
    int max_seqs;            // running requests at once; <= 0: the session's max_seqs
    int max_batch_tokens;    // tokens per step; <= 0: the session's max_batch_tokens
    int prefill_chunk;       // prompt tokens of one request per step; <= 0: max_batch_tokens
    is_sched_policy policy;
    bool prefix_cache;       // share full KV blocks between requests with equal prefixes
    bool ignore_eos;         // generate n_gen tokens whatever comes
    is_sampler_params sampler;
    is_sched_logits_fn on_logits; // not NULL: logits come to the host and go here first
    void *user;
} is_sched_opts;

typedef enum is_req_state { IS_REQ_WAITING = 0, IS_REQ_RUNNING, IS_REQ_DONE } is_req_state;

typedef struct is_sched_req {
    is_req_state state;
    int n_prompt;            // prompt tokens
    int n_gen;               // tokens to generate at most
    int n_out;               // generated so far
    int32_t *tokens;         // [n_prompt + n_gen] the prompt, then the generated ids
    double *token_time;      // [n_gen] is_now_s() when each generated id reached the host
    double t_submit;         // is_now_s() at is_sched_submit
    double t_scheduled;      // start of the first step that computed any of its tokens (0 before)
    double t_done;           // is_now_s() when it finished (0 before)
    int n_preempted;         // times its blocks were taken back
    int n_cached;            // prompt tokens found in the prefix cache when first admitted
    uint64_t stream;         // sampling stream
    // bookkeeping
    int seq;                 // session sequence while running, else -1
    int computed;            // tokens of tokens[] in the KV cache
    int n_registered;        // leading blocks registered in (or taken from) the prefix cache
    uint64_t last_key;       // key of block n_registered - 1
    bool admitted_once;
    is_sampler samp;
} is_sched_req;

typedef struct is_sched_step_info {
    double t_start, t_end;   // is_now_s()
    double forward_s;        // the forward pass (sampling on the device included)
    double sample_s;         // sampling on the host
    double sched_s;          // the scheduler's own time: building the batch and bookkeeping
    int prefill_tokens;      // prompt (or recomputed) tokens in the batch
    int decode_tokens;       // one per request decoding
    int running, waiting;    // after this step's admissions
    int kv_blocks_used;      // blocks held by sequences after the step
    int kv_blocks_cached;    // evictable prefix-cache blocks after the step
    int preempted;           // requests preempted by this step
    int finished;            // requests that finished in this step
} is_sched_step_info;

typedef struct is_sched_stats {
    long steps;
    long preemptions;
    long prefix_lookup_tokens; // prompt tokens of first admissions (what could have been found)
    long prefix_hit_tokens;    // of those, found in the prefix cache
    long computed_tokens;      // tokens run through the model (recomputation included)
    int peak_running;
    int peak_kv_blocks;        // blocks held by sequences, at most
    double sched_s, forward_s, sample_s;
} is_sched_stats;

typedef struct is_sched is_sched;

// A scheduler over session s (s outlives it). Turns s's prefix cache on when asked.
int is_sched_create(is_session *s, const is_sched_opts *o, is_sched **out, is_err *err);
// Frees the scheduler; sequences of unfinished requests are released.
void is_sched_free(is_sched *sc);
// Queues a request (the prompt is copied); returns its id (0, 1, ... in submit
// order), or -1 with err when it could never run: empty, ids outside the
// vocabulary, n_gen < 1, longer than the context, or more KV blocks than the
// whole cache holds.
int is_sched_submit(is_sched *sc, const int32_t *prompt, int n_prompt, int n_gen, uint64_t stream, is_err *err);
// Runs one step (nothing when no request is waiting or running: info's token
// counts are then 0). On error (-1) the step's requests are left as they were
// before it where the session allows; the scheduler should then be freed.
int is_sched_step(is_sched *sc, is_sched_step_info *info, is_err *err);
// Requests submitted and not finished.
int is_sched_pending(const is_sched *sc);
int is_sched_n_requests(const is_sched *sc);
const is_sched_req *is_sched_request(const is_sched *sc, int id);
const is_sched_stats *is_sched_get_stats(const is_sched *sc);

#endif
