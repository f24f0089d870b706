// test_tokenizer_oracle.c — our tiktoken-format tokenizer against js-tiktoken
// (an independent implementation, pinned in tests/oracle/package.json) for
// r50k_base, cl100k_base and o200k_base on a ~256 KB multilingual corpus:
// identical ids, exact byte round trips, and our encode throughput (logged only).
//
// The oracle files live in IS_ORACLE_DIR (a build-time macro) and are made by
//   tests/oracle/run.sh IS_ORACLE_DIR
// (rank files, corpus.bin, corpus.bin.valid, ENCODING.ids). Missing files fail
// the test with that instruction. Invalid UTF-8: js-tiktoken only sees text, so
// ids are compared on corpus.bin.valid (invalid sequences replaced by U+FFFD,
// see tests/oracle/encode.mjs); round trips are checked on the raw corpus.bin too.
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/tokenizer.h"

#ifndef IS_ORACLE_DIR
#error "IS_ORACLE_DIR must name the directory written by tests/oracle/run.sh"
#endif

#define ORC_REPS 5

static char *orc_path(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", IS_ORACLE_DIR, name);
    return buf;
}

// Reads a whole oracle file or fails the test saying how to make it.
static char *orc_read(const char *name, size_t *len) {
    const char *path = orc_path(name);
    FILE *f = fopen(path, "rb");
    if (!f)
        cr_assert_fail("missing oracle file %s: run `tests/oracle/run.sh %s` (needs node and npm) "
                 "before this test",
                 path, IS_ORACLE_DIR);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    cr_assert(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            cr_assert(buf);
        }
    }
    cr_assert(!ferror(f), "reading %s failed", path);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

// Parses whitespace-separated decimal ids.
static int32_t *orc_parse_ids(const char *text, int *n_out) {
    int n = 0, cap = 1024;
    int32_t *ids = malloc(sizeof *ids * (size_t)cap);
    cr_assert(ids);
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        cr_assert(end != p && v >= 0 && v < INT32_MAX, "bad id in oracle file near \"%.20s\"", p);
        if (n == cap) {
            cap *= 2;
            ids = realloc(ids, sizeof *ids * (size_t)cap);
            cr_assert(ids);
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    *n_out = n;
    return ids;
}

static double orc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int orc_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The text of ids[from, to) as a C-escaped string (for mismatch messages).
static void orc_describe(const is_tokenizer *t, const int32_t *ids, int n, int from, int to,
                         char *out, size_t cap) {
    if (from < 0) from = 0;
    if (to > n) to = n;
    size_t o = 0;
    out[0] = '\0';
    for (int i = from; i < to && o + 64 < cap; i++) {
        char *s = NULL;
        size_t len = 0;
        is_err err;
        o += (size_t)snprintf(out + o, cap - o, "%s%d\"", i == from ? "" : " ", ids[i]);
        if (is_tok_decode(t, &ids[i], 1, true, &s, &len, &err) == 0) {
            for (size_t k = 0; k < len && o + 16 < cap; k++) {
                unsigned char c = (unsigned char)s[k];
                if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                    out[o++] = (char)c;
                else
                    o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
            }
        }
        free(s);
        o += (size_t)snprintf(out + o, cap - o, "\"");
    }
}

// decode(encode(bytes)) must give the bytes back exactly.
static void orc_round_trip(is_tokenizer *t, const char *what, const char *bytes, size_t len) {
    is_err err;
    int32_t *ids = NULL;
    int n = is_tok_encode(t, bytes, len, true, &ids, &err);
    cr_assert(n >= 0, "%s: encode failed: %s", what, err.msg);
    char *back = NULL;
    size_t blen = 0;
    cr_assert(is_tok_decode(t, ids, n, false, &back, &blen, &err) == 0, "%s: decode failed: %s",
              what, err.msg);
    size_t i = 0;
    while (i < len && i < blen && bytes[i] == back[i]) i++;
    cr_expect(i == len && blen == len,
              "%s: decode(encode(x)) != x: %zu bytes in, %zu out, first difference at byte %zu",
              what, len, blen, i);
    free(back);
    free(ids);
}

static void orc_check(const char *encoding) {
    char name[256];
    size_t len;

    snprintf(name, sizeof name, "%s.tiktoken", encoding);
    free(orc_read(name, &len)); // fails with instructions when missing
    char rank_path[4096];
    snprintf(rank_path, sizeof rank_path, "%s", orc_path(name));

    size_t raw_len, valid_len;
    char *raw = orc_read("corpus.bin", &raw_len);
    char *valid = orc_read("corpus.bin.valid", &valid_len);
    snprintf(name, sizeof name, "%s.ids", encoding);
    char *ids_text = orc_read(name, &len);
    int n_ref;
    int32_t *ref = orc_parse_ids(ids_text, &n_ref);
    free(ids_text);
    cr_assert(n_ref > 0, "%s: no ids in %s", encoding, orc_path(name));

    is_tokenizer *t = NULL;
    is_err err;
    cr_assert(is_tok_load_tiktoken(rank_path, encoding, &t, &err) == 0, "%s: load %s: %s",
              encoding, rank_path, err.msg);

    // Ids on the valid-UTF-8 corpus, exactly as js-tiktoken encoded it.
    int32_t *ids = NULL;
    int n = is_tok_encode(t, valid, valid_len, true, &ids, &err);
    cr_assert(n >= 0, "%s: encode failed: %s", encoding, err.msg);
    int i = 0;
    while (i < n && i < n_ref && ids[i] == ref[i]) i++;
    if (i < n || i < n_ref) {
        char ours[2048], theirs[2048];
        orc_describe(t, ids, n, i - 4, i + 6, ours, sizeof ours);
        orc_describe(t, ref, n_ref, i - 4, i + 6, theirs, sizeof theirs);
        cr_expect_fail("%s: ids differ from js-tiktoken at index %d (ours: %d ids, js-tiktoken: %d)\n"
                "  ours[%d..]: %s\n  js  [%d..]: %s",
                encoding, i, n, n_ref, i < 4 ? 0 : i - 4, ours, i < 4 ? 0 : i - 4, theirs);
    }

    orc_round_trip(t, encoding, raw, raw_len);
    orc_round_trip(t, encoding, valid, valid_len);

    // Throughput of our encode: single thread, median of ORC_REPS (log only).
    double times[ORC_REPS];
    for (int r = 0; r < ORC_REPS; r++) {
        int32_t *tmp = NULL;
        double t0 = orc_now();
        int m = is_tok_encode(t, valid, valid_len, true, &tmp, &err);
        times[r] = orc_now() - t0;
        cr_assert(m == n, "%s: encode gave %d ids, then %d", encoding, n, m);
        free(tmp);
    }
    qsort(times, ORC_REPS, sizeof times[0], orc_cmp_double);
    double med = times[ORC_REPS / 2];
    cr_log_info("%s: %zu bytes -> %d ids; encode median of %d: %.2f ms, %.2f MB/s", encoding,
                valid_len, n, ORC_REPS, med * 1e3, (double)valid_len / 1e6 / med);

    is_tok_free(t);
    free(ids);
    free(ref);
    free(raw);
    free(valid);
}

Test(tokenizer_oracle, r50k_base) { orc_check("r50k_base"); }
Test(tokenizer_oracle, cl100k_base) { orc_check("cl100k_base"); }
Test(tokenizer_oracle, o200k_base) { orc_check("o200k_base"); }
