// serve_workload.c — see serve_workload.h.
//
// Random streams: arrival gaps, prompt lengths and output lengths each draw
// from their own generator, seeded from (seed, stream name), so a new rate
// leaves the lengths alone, and the arrivals of the duration mode are the first
// ones is_arrival_times gives for the same seed.
//
// Files: a name ending in ".jsonl" is read as JSONL and one ending in ".json" as
// ShareGPT; any other name is decided by its first byte that is not white
// space: '[' is ShareGPT, anything else JSONL. A UTF-8 byte order mark at the
// start is skipped. In JSONL, keys other than "prompt", "prompt_len" and
// "output_len" are ignored, null reads as absent, and a key given twice is an
// error. With a file and n_requests 0, duration_s > 0 takes the entries whose
// arrival falls before it (an error when the file has fewer); duration_s 0
// takes every entry. Reading stops once enough entries are taken: later ones
// are neither counted nor checked. Requests are at most 1e6 in every mode.
#include "bench/serve_workload.h"
#include "base/fileio.h"  // defines: is_read_file
#include "reports/text.h" // defines: is_json_describe

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WL_MAX_LEN (1 << 24)                // longest prompt, output or prefix, tokens
#define WL_MAX_REQUESTS 1000000             // most requests in one workload
#define WL_MAX_FILE_BYTES ((size_t)1 << 30) // largest workload file

#define WL_STREAM_ARRIVAL "serve_workload.arrival"
#define WL_STREAM_PROMPT "serve_workload.prompt_len"
#define WL_STREAM_OUT "serve_workload.out_len"

// ---- random variates -----------------------------------------------------------

static void wl_rng_stream(is_rng *r, uint64_t seed, const char *stream) {
    is_rng_seed(r, seed ^ is_rng_stream(stream));
}

// One standard normal value: Box-Muller, the second value of the pair dropped.
static double wl_normal(is_rng *r) {
    double u1 = 1.0 - is_rng_uniform(r); // (0, 1]: the log is finite
    double u2 = is_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// Marsaglia and Tsang, "A simple method for generating gamma variables" (2000):
// with d = shape - 1/3 and c = 1 / sqrt(9d), d * (1 + c x)^3 for a normal x is
// accepted by a cheap squeeze, or else by the exact log test.
double is_gamma_draw(is_rng *r, double shape) {
    IS_ASSERT(shape > 0 && isfinite(shape));
    if (shape < 1) {
        // gamma(shape) = gamma(shape + 1) * U^(1 / shape)
        double u = 1.0 - is_rng_uniform(r);
        return is_gamma_draw(r, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = wl_normal(r), v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = is_rng_uniform(r), x2 = x * x;
        if (u < 1.0 - 0.0331 * x2 * x2) return d * v;
        if (log(u) < 0.5 * x2 + d * (1.0 - v + log(v))) return d * v;
    }
}

// ---- arrivals ------------------------------------------------------------------

static bool wl_timed(const is_arrival_spec *a) { return a->kind == IS_ARRIVAL_POISSON || a->kind == IS_ARRIVAL_GAMMA; }

static int wl_arrival_check(const is_arrival_spec *a, is_err *err) {
    if (a->kind != IS_ARRIVAL_POISSON && a->kind != IS_ARRIVAL_GAMMA && a->kind != IS_ARRIVAL_BURST &&
        a->kind != IS_ARRIVAL_CLOSED)
        return is_errf(err, "arrival kind %d is not one of poisson, gamma, burst, closed", (int)a->kind);
    if (wl_timed(a) && !(a->rate > 0 && isfinite(a->rate)))
        return is_errf(err, "arrival rate must be > 0 and finite (requests per second), got %g", a->rate);
    if (a->kind == IS_ARRIVAL_GAMMA && !(a->burstiness > 0 && isfinite(a->burstiness)))
        return is_errf(err, "arrival burstiness (the gamma shape) must be > 0 and finite, got %g", a->burstiness);
    if (a->kind == IS_ARRIVAL_CLOSED && a->concurrency < 1)
        return is_errf(err, "closed-loop concurrency must be >= 1, got %d", a->concurrency);
    return 0;
}

// The gap before the next arrival, POISSON or GAMMA.
static double wl_gap(const is_arrival_spec *a, is_rng *r) {
    if (a->kind == IS_ARRIVAL_POISSON) return -log1p(-is_rng_uniform(r)) / a->rate;
    return is_gamma_draw(r, a->burstiness) / (a->rate * a->burstiness);
}

int is_arrival_times(const is_arrival_spec *a, int n, uint64_t seed, double *t, is_err *err) {
    if (n < 0) return is_errf(err, "request count must be >= 0, got %d", n);
    if (wl_arrival_check(a, err)) return -1;
    is_rng r;
    wl_rng_stream(&r, seed, WL_STREAM_ARRIVAL);
    for (int i = 0; i < n; i++) t[i] = (i == 0 || !wl_timed(a)) ? 0.0 : t[i - 1] + wl_gap(a, &r);
    return 0;
}

// The arrivals before duration_s (t = 0 always counts), the same draws as
// is_arrival_times; *t malloc'd. The arrival spec is already checked.
static int wl_arrivals_until(const is_arrival_spec *a, double duration_s, uint64_t seed, double **t_out, int *n_out,
                             is_err *err) {
    *t_out = NULL;
    *n_out = 0;
    if (!wl_timed(a))
        return is_errf(err, "duration_s needs a rate: burst and closed-loop arrivals need n_requests > 0");
    is_rng r;
    wl_rng_stream(&r, seed, WL_STREAM_ARRIVAL);
    int n = 0, cap = 1024;
    double *t = is_xmalloc((size_t)cap * sizeof *t);
    for (double now = 0.0; now < duration_s; now += wl_gap(a, &r)) {
        if (n == WL_MAX_REQUESTS) {
            free(t);
            return is_errf(err,
                           "duration_s %g at a rate of %g per second gives more than %d requests; shorten the "
                           "duration or lower the rate",
                           duration_s, a->rate, WL_MAX_REQUESTS);
        }
        if (n == cap) {
            cap *= 2;
            t = is_xrealloc(t, (size_t)cap * sizeof *t);
        }
        t[n++] = now;
    }
    *t_out = t;
    *n_out = n;
    return 0;
}

// ---- lengths -------------------------------------------------------------------

static bool wl_is_len(double v) { return v >= 1 && v <= WL_MAX_LEN && v == floor(v); }

// A decimal integer of digits only, in *v (saturated past WL_MAX_LEN).
static bool wl_parse_int(const char *s, double *v) {
    if (!*s) return false;
    double x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        x = fmin(x * 10 + (*s - '0'), (double)WL_MAX_LEN + 1);
    }
    *v = x;
    return true;
}

// A finite decimal number that starts with a digit or '.', in *v.
static bool wl_parse_real(const char *s, double *v) {
    if (!((*s >= '0' && *s <= '9') || *s == '.')) return false;
    char *end;
    *v = strtod(s, &end);
    return !*end && isfinite(*v);
}

int is_len_dist_parse(const char *s, const char *what, is_len_dist *out, is_err *err) {
    if (!what) what = "length";
    if (!s) s = "";
    const char *syntax = "expected N, LO:HI or lognormal:MEAN:SD with lengths >= 1";
    char buf[64];
    if (strlen(s) >= sizeof buf) return is_errf(err, "%s \"%.80s...\": %s", what, s, syntax);
    strcpy(buf, s);
    char *f[4] = {buf, NULL, NULL, NULL};
    int nf = 1;
    for (char *p = buf; *p; p++) {
        if (*p != ':') continue;
        if (nf == 4) return is_errf(err, "%s \"%s\": %s", what, s, syntax);
        *p = 0;
        f[nf++] = p + 1;
    }
    is_len_dist d = {0};
    if (nf == 3 && !strcmp(f[0], "lognormal")) {
        d.kind = IS_LEN_LOGNORMAL;
        if (!wl_parse_real(f[1], &d.a) || !wl_parse_real(f[2], &d.b))
            return is_errf(err, "%s \"%s\": %s", what, s, syntax);
        if (!(d.a >= 1 && d.a <= WL_MAX_LEN))
            return is_errf(err, "%s \"%s\": the mean must be from 1 to %d", what, s, WL_MAX_LEN);
        if (!(d.b >= 0)) return is_errf(err, "%s \"%s\": the standard deviation must be >= 0", what, s);
    } else if (nf == 1 || nf == 2) {
        d.kind = nf == 1 ? IS_LEN_FIXED : IS_LEN_UNIFORM;
        if (!wl_parse_int(f[0], &d.a) || (nf == 2 && !wl_parse_int(f[1], &d.b)))
            return is_errf(err, "%s \"%s\": %s", what, s, syntax);
        if (nf == 1) d.b = d.a;
        if (!wl_is_len(d.a) || !wl_is_len(d.b))
            return is_errf(err, "%s \"%s\": lengths must be from 1 to %d", what, s, WL_MAX_LEN);
        if (d.a > d.b) return is_errf(err, "%s \"%s\": LO is greater than HI", what, s);
    } else {
        return is_errf(err, "%s \"%s\": %s", what, s, syntax);
    }
    *out = d;
    return 0;
}

// A distribution built by code rather than parsed: the same ranges.
static int wl_len_check(const is_len_dist *d, const char *what, is_err *err) {
    bool ok;
    switch (d->kind) {
    case IS_LEN_FIXED: ok = wl_is_len(d->a); break;
    case IS_LEN_UNIFORM: ok = wl_is_len(d->a) && wl_is_len(d->b) && d->a <= d->b; break;
    case IS_LEN_LOGNORMAL: ok = d->a >= 1 && d->a <= WL_MAX_LEN && d->b >= 0 && isfinite(d->b); break;
    default: return is_errf(err, "%s: length kind %d is not fixed, uniform or lognormal", what, (int)d->kind);
    }
    if (ok) return 0;
    return is_errf(err,
                   "%s: (kind %d, %g, %g) is not a valid length distribution (integer lengths from 1 to %d, LO <= "
                   "HI; lognormal: mean from 1, sd >= 0)",
                   what, (int)d->kind, d->a, d->b, WL_MAX_LEN);
}

int is_len_draw(const is_len_dist *d, is_rng *r) {
    double v;
    switch (d->kind) {
    case IS_LEN_FIXED: v = d->a; break;
    case IS_LEN_UNIFORM: v = d->a + floor(is_rng_uniform(r) * (d->b - d->a + 1.0)); break;
    case IS_LEN_LOGNORMAL: {
        // the lengths' mean m and sd s: sigma^2 = ln(1 + (s/m)^2), mu = ln(m) - sigma^2 / 2
        double cv = d->b / d->a, s2 = log1p(cv * cv);
        v = exp(log(d->a) - 0.5 * s2 + sqrt(s2) * wl_normal(r));
        break;
    }
    default: is_die(__FILE__, __LINE__, "is_len_draw: unknown length kind %d", (int)d->kind);
    }
    v = round(v);
    if (!(v >= 1)) v = 1; // NaN too
    if (d->kind == IS_LEN_UNIFORM && v > d->b) v = d->b;
    return v > WL_MAX_LEN ? WL_MAX_LEN : (int)v;
}

// ---- the spec --------------------------------------------------------------------

static bool wl_duration_mode(const is_workload_spec *sp) {
    return sp->n_requests == 0 && (!sp->file || sp->duration_s != 0);
}

static int wl_spec_check(const is_workload_spec *sp, is_err *err) {
    if (sp->n_requests < 0 || sp->n_requests > WL_MAX_REQUESTS)
        return is_errf(err, "n_requests must be from 0 to %d, got %d", WL_MAX_REQUESTS, sp->n_requests);
    if (wl_arrival_check(&sp->arrival, err)) return -1;
    if (wl_duration_mode(sp)) {
        if (!(sp->duration_s > 0 && isfinite(sp->duration_s)))
            return is_errf(err, "n_requests is 0, so duration_s decides: it must be > 0 and finite, got %g",
                           sp->duration_s);
        if (!wl_timed(&sp->arrival))
            return is_errf(err, "duration_s needs a rate: burst and closed-loop arrivals need n_requests > 0");
    }
    if (sp->n_prefixes < 0) return is_errf(err, "n_prefixes must be >= 0, got %d", sp->n_prefixes);
    if (sp->n_prefixes > 0 && sp->file)
        return is_errf(err, "%s: shared prefixes (n_prefixes %d) apply to synthetic prompts only, not to a file",
                       sp->file, sp->n_prefixes);
    if (sp->n_prefixes > 0 && (sp->prefix_len < 1 || sp->prefix_len > WL_MAX_LEN))
        return is_errf(err, "prefix_len must be from 1 to %d with n_prefixes %d, got %d", WL_MAX_LEN, sp->n_prefixes,
                       sp->prefix_len);
    if (sp->max_context < 0) return is_errf(err, "max_context must be >= 0 (0: no limit), got %d", sp->max_context);
    return 0;
}

// The arrival times of n requests (n_requests) or of those before duration_s.
static int wl_times(const is_workload_spec *sp, double **t, int *n, is_err *err) {
    if (wl_duration_mode(sp)) return wl_arrivals_until(&sp->arrival, sp->duration_s, sp->seed, t, n, err);
    *n = sp->n_requests;
    *t = is_xmalloc((size_t)*n * sizeof **t);
    return is_arrival_times(&sp->arrival, *n, sp->seed, *t, err);
}

// ---- synthetic requests ----------------------------------------------------------

static int wl_make_synthetic(const is_workload_spec *sp, is_workload *w, is_err *err) {
    if (wl_len_check(&sp->prompt_len, "prompt_len", err) || wl_len_check(&sp->out_len, "out_len", err)) return -1;
    double *t;
    int n;
    if (wl_times(sp, &t, &n, err)) {
        free(t);
        return -1;
    }
    w->req = is_xcalloc((size_t)n, sizeof *w->req);
    w->n = n;
    is_rng rp, ro;
    wl_rng_stream(&rp, sp->seed, WL_STREAM_PROMPT);
    wl_rng_stream(&ro, sp->seed, WL_STREAM_OUT);
    for (int i = 0; i < n; i++) {
        is_serve_req *q = &w->req[i];
        int drawn = is_len_draw(&sp->prompt_len, &rp);
        q->t_arrival = t[i];
        q->prefix_id = sp->n_prefixes > 0 ? i % sp->n_prefixes : -1;
        q->prompt_len = sp->n_prefixes > 0 ? sp->prefix_len + drawn : drawn;
        q->out_len = is_len_draw(&sp->out_len, &ro);
        long long total = (long long)q->prompt_len + q->out_len;
        if (sp->max_context > 0 && total > sp->max_context) {
            free(t);
            return is_errf(err,
                           "request %d: prompt (%d tokens, %d of them the shared prefix) + output (%d) is %lld "
                           "tokens, longer than the context of %d; lower the prompt, output or prefix lengths",
                           i, q->prompt_len, sp->n_prefixes > 0 ? sp->prefix_len : 0, q->out_len, total,
                           sp->max_context);
        }
    }
    free(t);
    return 0;
}

// ---- file entries ------------------------------------------------------------------


// Member key of obj, NULL when absent or null; -1 with err when it appears twice.
static int wl_json_field(const cJSON *obj, const char *key, const char *where, const cJSON **v, is_err *err) {
    *v = NULL;
    for (const cJSON *a = obj->child; a; a = a->next) {
        if (!a->string || strcmp(a->string, key)) continue;
        if (*v) return is_errf(err, "%s: \"%s\" appears more than once", where, key);
        *v = a;
    }
    if (*v && cJSON_IsNull(*v)) *v = NULL;
    return 0;
}

// A length member: 0 absent, 1 with *len, -1 with err when not an integer from 1 to WL_MAX_LEN.
static int wl_json_len(const cJSON *obj, const char *key, const char *where, int *len, is_err *err) {
    const cJSON *v;
    if (wl_json_field(obj, key, where, &v, err)) return -1;
    if (!v) return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
    if (!cJSON_IsNumber(v) || !wl_is_len(d)) {
        char buf[96];
        return is_errf(err, "%s: \"%s\" must be an integer >= 1 (at most %d), got %s", where, key, WL_MAX_LEN,
                       is_json_describe(v, buf, sizeof buf));
    }
    *len = (int)d;
    return 1;
}

// Tokens of text (what names it) under the spec's counter.
static int wl_count(const is_workload_spec *sp, const char *text, const char *where, const char *what, is_err *err) {
    if (!sp->count) return is_errf(err, "%s: a text %s needs a token counter, and none was given", where, what);
    is_err e;
    e.msg[0] = 0;
    int k = sp->count(sp->count_user, text, &e);
    if (k < 0)
        return is_errf(err, "%s: counting the tokens of the %s failed: %s", where, what,
                       e.msg[0] ? e.msg : "no reason given");
    if (k > WL_MAX_LEN) return is_errf(err, "%s: the %s has %d tokens, more than %d", where, what, k, WL_MAX_LEN);
    return k;
}

static int wl_context_check(const is_workload_spec *sp, const char *where, int prompt, int out, is_err *err) {
    long long total = (long long)prompt + out;
    if (sp->max_context <= 0 || total <= sp->max_context) return 0;
    return is_errf(err, "%s: prompt (%d tokens) + output (%d) is %lld tokens, longer than the context of %d", where,
                   prompt, out, total, sp->max_context);
}

// Appends a request (zeroed but for prefix_id -1); *cap is the allocated count.
static is_serve_req *wl_push(is_workload *w, int *cap) {
    if (w->n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        w->req = is_xrealloc(w->req, (size_t)*cap * sizeof *w->req);
    }
    is_serve_req *q = &w->req[w->n++];
    memset(q, 0, sizeof *q);
    q->prefix_id = -1;
    return q;
}

// State of reading one file.
typedef struct wl_reader {
    const is_workload_spec *sp;
    is_workload *w;
    int cap;        // of w->req
    int need;       // requests wanted, -1: every entry
    int skipped;    // ShareGPT entries left out
    is_rng out_rng; // output lengths of JSONL lines without one
    bool out_checked;
    is_err *err;
} wl_reader;

// One JSONL line (text, NUL-terminated), number line.
static int wl_jsonl_line(wl_reader *rd, char *text, int line) {
    const is_workload_spec *sp = rd->sp;
    is_err *err = rd->err;
    char where[640];
    snprintf(where, sizeof where, "%s: line %d", sp->file, line);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, 1);
    if (!j) return is_errf(err, "%s: not valid JSON (column %d)", where, end ? (int)(end - text) + 1 : 1);
    int rc = -1;
    const cJSON *prompt;
    int prompt_len = 0, out_len = 0, has_len = 0, has_out = 0;
    char buf[96];
    if (!cJSON_IsObject(j)) {
        is_errf(err, "%s: not a JSON object (got %s)", where, is_json_describe(j, buf, sizeof buf));
        goto done;
    }
    if (wl_json_field(j, "prompt", where, &prompt, err) ||
        (has_len = wl_json_len(j, "prompt_len", where, &prompt_len, err)) < 0 ||
        (has_out = wl_json_len(j, "output_len", where, &out_len, err)) < 0)
        goto done;
    if (prompt && has_len) {
        is_errf(err, "%s: both \"prompt\" and \"prompt_len\" given; give one", where);
        goto done;
    }
    if (!prompt && !has_len) {
        is_errf(err, "%s: no \"prompt\" (a string) or \"prompt_len\" (an integer >= 1)", where);
        goto done;
    }
    if (prompt && !cJSON_IsString(prompt)) {
        is_errf(err, "%s: \"prompt\" must be a string, got %s", where, is_json_describe(prompt, buf, sizeof buf));
        goto done;
    }
    if (prompt) {
        if (*prompt->valuestring &&
            (prompt_len = wl_count(sp, prompt->valuestring, where, "\"prompt\"", err)) < 0)
            goto done;
        if (prompt_len == 0) {
            is_errf(err, "%s: \"prompt\" is empty (no text or no tokens)", where);
            goto done;
        }
    }
    if (!has_out) {
        if (!rd->out_checked && wl_len_check(&sp->out_len, "out_len", err)) {
            is_err_prefix(err, "%s: no \"output_len\", and the default", where);
            goto done;
        }
        rd->out_checked = true;
        out_len = is_len_draw(&sp->out_len, &rd->out_rng);
    }
    if (wl_context_check(sp, where, prompt_len, out_len, err)) goto done;
    is_serve_req *q = wl_push(rd->w, &rd->cap);
    q->prompt = prompt ? is_xstrdup(prompt->valuestring) : NULL;
    q->prompt_len = prompt_len;
    q->out_len = out_len;
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

// Room for one more request: every entry of a file is taken only up to WL_MAX_REQUESTS.
static int wl_room(const wl_reader *rd) {
    if (rd->w->n < WL_MAX_REQUESTS) return 0;
    return is_errf(rd->err, "%s: more than %d entries; set n_requests to take the first ones", rd->sp->file,
                   WL_MAX_REQUESTS);
}

static int wl_read_jsonl(wl_reader *rd, char *buf, size_t len) {
    char *p = buf, *end = buf + len;
    for (int line = 1; p < end && (rd->need < 0 || rd->w->n < rd->need); line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *next = nl ? nl + 1 : end;
        if (nl) *nl = 0;
        bool blank = true;
        for (const char *c = p; *c && blank; c++) blank = *c == ' ' || *c == '\t' || *c == '\r';
        if (!blank && (wl_room(rd) || wl_jsonl_line(rd, p, line))) return -1;
        p = next;
    }
    return 0;
}

// The string member key of turn, or NULL with err.
static const char *wl_turn_str(const cJSON *turn, const char *key, const char *where, int i, is_err *err) {
    const cJSON *v;
    char buf[96];
    if (wl_json_field(turn, key, where, &v, err)) return NULL;
    if (v && cJSON_IsString(v)) return v->valuestring;
    is_errf(err, "%s: turn %d: \"%s\" must be a string, got %s", where, i, key,
            v ? is_json_describe(v, buf, sizeof buf) : "nothing");
    return NULL;
}

// One ShareGPT entry, number idx: 1 taken, 0 skipped, -1 with err.
static int wl_sharegpt_entry(wl_reader *rd, const cJSON *e, int idx) {
    const is_workload_spec *sp = rd->sp;
    is_err *err = rd->err;
    char where[640], buf[96];
    snprintf(where, sizeof where, "%s: entry %d", sp->file, idx);
    if (!cJSON_IsObject(e))
        return is_errf(err, "%s: not a JSON object (got %s)", where, is_json_describe(e, buf, sizeof buf));
    const cJSON *conv, *conv1;
    if (wl_json_field(e, "conversations", where, &conv, err) || wl_json_field(e, "conversation", where, &conv1, err))
        return -1;
    const char *key = conv ? "conversations" : "conversation";
    if (!conv) conv = conv1;
    if (!conv) return is_errf(err, "%s: no \"conversations\" (a list of {\"from\", \"value\"} turns)", where);
    if (!cJSON_IsArray(conv))
        return is_errf(err, "%s: \"%s\" must be a list of turns, got %s", where, key,
                       is_json_describe(conv, buf, sizeof buf));
    const char *prompt = NULL, *reply = NULL;
    int i = 0;
    for (const cJSON *turn = conv->child; turn; turn = turn->next, i++) {
        if (!cJSON_IsObject(turn))
            return is_errf(err, "%s: turn %d: not a JSON object (got %s)", where, i,
                           is_json_describe(turn, buf, sizeof buf));
        const char *from = wl_turn_str(turn, "from", where, i, err), *value;
        if (!from || !(value = wl_turn_str(turn, "value", where, i, err))) return -1;
        if (prompt && !reply) reply = value;
        if (!prompt && (!strcmp(from, "human") || !strcmp(from, "user"))) prompt = value;
    }
    if (!reply || !*prompt || !*reply) return 0;
    int np = wl_count(sp, prompt, where, "prompt", err);
    if (np < 0) return -1;
    int nr = wl_count(sp, reply, where, "reply", err);
    if (nr < 0) return -1;
    if (np == 0 || nr == 0) return 0;
    if (wl_context_check(sp, where, np, nr, err)) return -1;
    is_serve_req *q = wl_push(rd->w, &rd->cap);
    q->prompt = is_xstrdup(prompt);
    q->prompt_len = np;
    q->out_len = nr;
    return 1;
}

// The 1-based line and column of position p of buf.
static void wl_line_col(const char *buf, const char *p, int *line, int *col) {
    *line = 1;
    const char *start = buf;
    for (const char *c = buf; c < p && *c; c++)
        if (*c == '\n') {
            ++*line;
            start = c + 1;
        }
    *col = (int)(p - start) + 1;
}

static int wl_read_sharegpt(wl_reader *rd, const char *buf) {
    const char *path = rd->sp->file, *end = NULL;
    if (!rd->sp->count)
        return is_errf(rd->err, "%s: a ShareGPT file holds text: it needs a token counter, and none was given", path);
    cJSON *root = cJSON_ParseWithOpts(buf, &end, 1);
    if (!root) {
        int line, col;
        wl_line_col(buf, end ? end : buf, &line, &col);
        bool object = buf[strspn(buf, " \t\r\n")] == '{';
        return is_errf(rd->err, "%s: not valid JSON (line %d, column %d)%s", path, line, col,
                       object ? "; a ShareGPT file is one JSON array, and a JSONL file is named .jsonl" : "");
    }
    int rc = 0, idx = 0;
    char b[96];
    if (!cJSON_IsArray(root))
        rc = is_errf(rd->err, "%s: a ShareGPT file is a JSON array of conversations, got %s", path,
                     is_json_describe(root, b, sizeof b));
    for (const cJSON *e = root->child; !rc && e && (rd->need < 0 || rd->w->n < rd->need); e = e->next, idx++) {
        int k = wl_room(rd) ? -1 : wl_sharegpt_entry(rd, e, idx);
        if (k < 0) rc = -1;
        else rd->skipped += k == 0;
    }
    cJSON_Delete(root);
    return rc;
}

static bool wl_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int wl_make_from_file(const is_workload_spec *sp, is_workload *w, is_err *err) {
    const char *path = sp->file;
    char *buf;
    size_t len;
    if (is_read_file(path, WL_MAX_FILE_BYTES, &buf, &len, err)) return -1;
    double *t = NULL;
    int rc = -1, n_t = -1;
    wl_reader rd = {.sp = sp, .w = w, .need = sp->n_requests, .err = err};
    wl_rng_stream(&rd.out_rng, sp->seed, WL_STREAM_OUT);
    char *text = buf + (strncmp(buf, "\xEF\xBB\xBF", 3) ? 0 : 3); // a UTF-8 byte order mark is skipped
    size_t text_len = len - (size_t)(text - buf);
    const char *first = text + strspn(text, " \t\r\n");
    bool sharegpt = wl_ends_with(path, ".json") || (!wl_ends_with(path, ".jsonl") && *first == '[');
    if (strlen(buf) != len) {
        is_errf(err, "%s: a NUL byte at offset %zu; expected JSON text", path, strlen(buf));
        goto done;
    }
    if (!*first) {
        is_errf(err, "%s: the file is empty: no requests", path);
        goto done;
    }
    if (wl_duration_mode(sp) && wl_arrivals_until(&sp->arrival, sp->duration_s, sp->seed, &t, &n_t, err)) goto done;
    if (sp->n_requests == 0) rd.need = n_t; // -1: every entry
    if (sharegpt ? wl_read_sharegpt(&rd, text) : wl_read_jsonl(&rd, text, text_len)) goto done;
    if (w->n == 0 || (rd.need >= 0 && w->n < rd.need)) {
        char asked[128] = "", skipped[160] = "";
        if (sp->n_requests > 0) snprintf(asked, sizeof asked, "%d requests asked for (n_requests), but ", rd.need);
        else if (rd.need >= 0)
            snprintf(asked, sizeof asked, "%d requests arrive before duration_s %g, but ", rd.need, sp->duration_s);
        if (sharegpt)
            snprintf(skipped, sizeof skipped,
                     " (%d skipped: fewer than two turns, no human turn with a reply, or an empty prompt or reply)",
                     rd.skipped);
        is_errf(err, "%s: %sthe file has only %d usable %s%s", path, asked, w->n, w->n == 1 ? "entry" : "entries",
                skipped);
        goto done;
    }
    if (!t) {
        t = is_xmalloc((size_t)w->n * sizeof *t);
        if (is_arrival_times(&sp->arrival, w->n, sp->seed, t, err)) goto done;
    }
    for (int i = 0; i < w->n; i++) w->req[i].t_arrival = t[i];
    rc = 0;
done:
    free(t);
    free(buf);
    return rc;
}

// ---- the workload ----------------------------------------------------------------

int is_workload_make(const is_workload_spec *sp, is_workload *out, is_err *err) {
    memset(out, 0, sizeof *out);
    is_workload w = {0};
    if (wl_spec_check(sp, err)) return -1;
    if (sp->file ? wl_make_from_file(sp, &w, err) : wl_make_synthetic(sp, &w, err)) {
        is_workload_free(&w);
        return -1;
    }
    w.n_prefixes = sp->n_prefixes;
    w.prefix_len = sp->n_prefixes > 0 ? sp->prefix_len : 0;
    *out = w;
    return 0;
}

void is_workload_free(is_workload *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->req[i].prompt);
    free(w->req);
    memset(w, 0, sizeof *w);
}
