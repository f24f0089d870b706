// strategy.c — parsing and printing decoding strategy specs.
#include "engine/strategy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int strategy_number(const char *spec, const char *key, const char *v, size_t len, double lo, double hi,
                           double *out, is_err *err) {
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return is_errf(err, "strategy '%s': %s needs a value", spec, key);
    memcpy(buf, v, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (errno || *end || !(d >= lo && d <= hi))
        return is_errf(err, "strategy '%s': %s=%s is not a number in [%g, %g]", spec, key, buf, lo, hi);
    *out = d;
    return 0;
}

int is_strategy_parse(const char *spec, is_strategy *out, is_err *err) {
    memset(out, 0, sizeof *out);
    out->sampler.top_p = 1.0f;
    if (!spec || !*spec) return is_errf(err, "empty strategy: expected greedy or sample[:t=T,k=K,p=P,seed=S]");
    const char *colon = strchr(spec, ':');
    size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
    if (name_len == 6 && !strncmp(spec, "greedy", 6)) {
        out->kind = IS_STRATEGY_GREEDY;
        if (colon) return is_errf(err, "strategy '%s': greedy takes no parameters", spec);
        return 0;
    }
    if (!(name_len == 6 && !strncmp(spec, "sample", 6)))
        return is_errf(err, "strategy '%s': unknown strategy '%.*s' (expected greedy or sample)", spec,
                       (int)name_len, spec);
    out->kind = IS_STRATEGY_SAMPLE;
    out->sampler.temperature = IS_SAMPLE_DEFAULT_T;
    out->sampler.top_k = IS_SAMPLE_DEFAULT_K;
    out->sampler.top_p = IS_SAMPLE_DEFAULT_P;
    if (!colon) return 0;
    const char *p = colon + 1;
    if (!*p) return is_errf(err, "strategy '%s': nothing after ':'", spec);
    unsigned seen = 0;
    while (1) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq) return is_errf(err, "strategy '%s': '%.*s' is not key=value", spec, (int)len, p);
        size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
        double d;
        unsigned bit;
        if (klen == 1 && *p == 't') {
            bit = 1;
            if (strategy_number(spec, "t", eq + 1, vlen, 0, 1e6, &d, err)) return -1;
            out->sampler.temperature = (float)d;
        } else if (klen == 1 && *p == 'k') {
            bit = 2;
            if (strategy_number(spec, "k", eq + 1, vlen, 0, 2147483647.0, &d, err)) return -1;
            if (d != (int)d) return is_errf(err, "strategy '%s': k must be an integer", spec);
            out->sampler.top_k = (int)d;
        } else if (klen == 1 && *p == 'p') {
            bit = 4;
            if (strategy_number(spec, "p", eq + 1, vlen, 1e-9, 1, &d, err)) return -1;
            out->sampler.top_p = (float)d;
        } else if (klen == 4 && !strncmp(p, "seed", 4)) {
            bit = 8;
            char buf[32];
            if (vlen == 0 || vlen >= sizeof buf || eq[1] == '-')
                return is_errf(err, "strategy '%s': seed needs a non-negative integer", spec);
            memcpy(buf, eq + 1, vlen);
            buf[vlen] = 0;
            char *e;
            errno = 0;
            unsigned long long s = strtoull(buf, &e, 10);
            if (errno || *e) return is_errf(err, "strategy '%s': seed=%s is not a non-negative integer", spec, buf);
            out->sampler.seed = s;
            out->seed_given = true;
        } else {
            return is_errf(err, "strategy '%s': unknown key '%.*s' (sample takes t, k, p, seed)", spec, (int)klen, p);
        }
        if (seen & bit) return is_errf(err, "strategy '%s': key '%.*s' given twice", spec, (int)klen, p);
        seen |= bit;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

void is_strategy_format(const is_strategy *s, char *buf, size_t n) {
    if (s->kind == IS_STRATEGY_GREEDY) {
        snprintf(buf, n, "greedy");
        return;
    }
    int len = snprintf(buf, n, "sample:t=%g,k=%d,p=%g", (double)s->sampler.temperature, s->sampler.top_k,
                       (double)s->sampler.top_p);
    if (s->seed_given && len >= 0 && (size_t)len < n)
        snprintf(buf + len, n - (size_t)len, ",seed=%llu", (unsigned long long)s->sampler.seed);
}
