// serve_workload.h — the requests of a serving benchmark: when each arrives
// (Poisson or gamma at a rate, all at once, or a closed loop of N clients) and
// how long its prompt and output are (fixed, uniform, lognormal; or read from a
// JSONL file or a ShareGPT-style conversation file), with optional shared
// prefixes (N system prompts of P tokens) to exercise the prefix cache.
// Everything drawn is seeded: the same spec gives the same workload.
// Declares: is_arrival_kind, is_arrival_spec, is_arrival_times, is_len_kind,
// is_len_dist, is_len_dist_parse, is_len_draw, is_gamma_draw, is_serve_req,
// is_workload, is_workload_spec, is_token_count_fn, is_workload_make, is_workload_free.
#ifndef IS_BENCH_SERVE_WORKLOAD_H
#define IS_BENCH_SERVE_WORKLOAD_H

#include <stdint.h>

#include "base/error.h"
#include "base/rng.h"

typedef enum is_arrival_kind {
    IS_ARRIVAL_POISSON = 0, // exponential gaps of mean 1/rate
    IS_ARRIVAL_GAMMA,       // gamma gaps: shape = burstiness, scale = 1/(rate * burstiness)
    IS_ARRIVAL_BURST,       // every request at time 0 (rate inf)
    IS_ARRIVAL_CLOSED,      // a closed loop of `concurrency` clients: times decided while running
} is_arrival_kind;

typedef struct is_arrival_spec {
    is_arrival_kind kind;
    double rate;        // requests per second (> 0, finite) for POISSON and GAMMA
    double burstiness;  // GAMMA: the shape (> 0); 1 is Poisson, below 1 burstier, above 1 more regular
    int concurrency;    // CLOSED: clients in flight (>= 1)
} is_arrival_spec;

// Arrival times t[0..n) in seconds from the start: t[0] = 0 (the first request
// arrives at once) and t[i] = t[i-1] + gap_i for POISSON and GAMMA; all 0 for
// BURST and CLOSED. Deterministic for (spec, seed). Returns -1 with err naming
// the field when the spec is out of range.
int is_arrival_times(const is_arrival_spec *a, int n, uint64_t seed, double *t, is_err *err);

// One gamma(shape, scale = 1) variate (Marsaglia-Tsang; shape < 1 by the
// boost U^(1/shape)); shape > 0.
double is_gamma_draw(is_rng *r, double shape);

typedef enum is_len_kind {
    IS_LEN_FIXED = 0, // a
    IS_LEN_UNIFORM,   // an integer uniform in [a, b]
    IS_LEN_LOGNORMAL, // lognormal with mean a and standard deviation b (of the lengths, not their log),
                      // rounded, at least 1
} is_len_kind;

typedef struct is_len_dist {
    is_len_kind kind;
    double a, b;
} is_len_dist;

// "128" (fixed), "64:256" (uniform, inclusive), "lognormal:128:64" (mean:sd).
// Lengths must be >= 1 and at most 1 << 24; what is wrong is named, with the
// text given (what names the flag, for messages: "--prompt-len").
int is_len_dist_parse(const char *s, const char *what, is_len_dist *out, is_err *err);
// One length (>= 1) drawn from d.
int is_len_draw(const is_len_dist *d, is_rng *r);

typedef struct is_serve_req {
    double t_arrival; // seconds from the start (is_arrival_times)
    char *prompt;     // the prompt's text (from a file), or NULL: prompt_len synthetic token ids
    int prompt_len;   // tokens of the prompt, shared prefix included (counted with the spec's counter for text)
    int out_len;      // tokens to generate (>= 1)
    int prefix_id;    // the shared prefix this request starts with (0 .. n_prefixes-1), or -1
} is_serve_req;

typedef struct is_workload {
    int n;
    is_serve_req *req;  // [n], in arrival order
    int n_prefixes;     // shared prefixes (0: none)
    int prefix_len;     // tokens of each shared prefix
} is_workload;

// Tokens of a text under the model's tokenizer (>= 0), or -1 with err.
typedef int (*is_token_count_fn)(void *user, const char *text, is_err *err);

typedef struct is_workload_spec {
    int n_requests;          // > 0: this many requests; 0: duration_s decides (or, with a file, every entry)
    double duration_s;       // > 0 with n_requests 0: requests whose arrival falls before it (at most 1e6)
    is_arrival_spec arrival;
    is_len_dist prompt_len;  // for synthetic prompts (no file); with shared prefixes, the part after the prefix
    is_len_dist out_len;     // for synthetic prompts, and file entries that give no output length
    const char *file;        // NULL, a JSONL file (.jsonl) or a ShareGPT-style JSON array (.json)
    int n_prefixes;          // > 0: request i starts with shared prefix i % n_prefixes ...
    int prefix_len;          // ... of this many tokens (>= 1 when n_prefixes > 0); synthetic prompts only
    int max_context;         // > 0: prompt_len + out_len of every request must be at most this
    uint64_t seed;
    is_token_count_fn count; // needed for text prompts and ShareGPT replies
    void *count_user;
} is_workload_spec;

// Builds the workload. File formats:
// - JSONL: one JSON object per non-empty line, with "prompt" (a string) or
//   "prompt_len" (an integer >= 1), and "output_len" (an integer >= 1; when
//   absent, drawn from out_len).
// - ShareGPT (a JSON array): entries with "conversations" (or "conversation"),
//   a list of {"from", "value"} turns; the first turn from "human" (or "user")
//   is the prompt and the next turn's token count the output length. Entries with
//   fewer than two turns or an empty prompt or reply are skipped (and counted in
//   the message if too few remain).
// Entries are taken in file order; n_requests > 0 takes the first n and is an
// error when the file has fewer. Bad input (not JSON, a missing or negative
// length, a non-JSON line, a prompt + output longer than max_context) is an
// error naming the file and the line (JSONL) or entry (ShareGPT), and nothing
// is returned (out zeroed).
int is_workload_make(const is_workload_spec *sp, is_workload *out, is_err *err);
void is_workload_free(is_workload *w);

#endif
