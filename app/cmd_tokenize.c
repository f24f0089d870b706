// cmd_tokenize.c — `inferscope tokenize`: text to token ids and back, with an
// optional encode-throughput measurement.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/fileio.h"       // defines: is_read_file
#include "base/stats.h"        // defines: is_median
#include "engine/inferscope.h" // defines: is_now_s
#include "engine/tokenizer.h"

static const char *tokenize_help =
    "usage: inferscope tokenize --tokenizer SPEC (--text T | --file F) [--no-special] [--time R]\n"
    "       inferscope tokenize --decode --tokenizer SPEC --ids \"1 2 3\"\n"
    "\n"
    "SPEC: builtin (GPT-2), a tokenizer.json, a directory holding one, or ENCODING:FILE for a\n"
    "tiktoken rank file (r50k_base, p50k_base, cl100k_base, o200k_base). Encoding prints the ids\n"
    "space-separated on one line; decoding prints the text. --time R encodes R more times and\n"
    "prints the median encode throughput (one thread) on stderr.\n";

// Encodes text reps more times (after the first, whose time the caller prints)
// and prints the median throughput of one thread on stderr.
static int time_encode(is_tokenizer *tok, const char *text, size_t len, bool special, int reps, int n_ids,
                       is_err *err) {
    double *t = is_xmalloc((size_t)reps * sizeof *t);
    for (int r = 0; r < reps; r++) {
        int32_t *ids;
        double t0 = is_now_s();
        int n = is_tok_encode(tok, text, len, special, &ids, err);
        t[r] = is_now_s() - t0;
        free(ids);
        if (n < 0) {
            free(t);
            return -1;
        }
    }
    double med = is_median(t, reps);
    fprintf(stderr, "encode: %zu bytes -> %d ids, median %.3f ms of %d runs, %.2f MB/s (one thread)\n", len,
            n_ids, med * 1e3, reps, med > 0 ? (double)len / med / 1e6 : 0.0);
    free(t);
    return 0;
}

int is_cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize";
    const char *text = NULL, *file = NULL, *ids_arg = NULL, *time_arg = NULL;
    bool decode = false, no_special = false;
    is_flags f;
    is_flags_init(&f);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int c = is_flags_parse(cmd, IS_FLAG_BIT(IS_FLAG_TOKENIZER), argc, argv, &i, &f);
        if (c < 0) return IS_EXIT_USAGE;
        if (c > 0) continue;
        const char **dst = !strcmp(a, "--text")    ? &text
                           : !strcmp(a, "--file")    ? &file
                           : !strcmp(a, "--ids")     ? &ids_arg
                           : !strcmp(a, "--time")    ? &time_arg
                                                     : NULL;
        if (dst) {
            if (i + 1 >= argc) return is_app_usage(cmd, "flag %s needs a value", a);
            *dst = argv[++i];
        } else if (!strcmp(a, "--decode")) {
            decode = true;
        } else if (!strcmp(a, "--no-special")) {
            no_special = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(tokenize_help, stdout);
            return 0;
        } else {
            return is_app_usage(cmd, "unknown flag '%s'", a);
        }
    }
    const char *spec = f.tokenizer;
    if (!spec) return is_app_usage(cmd, "--tokenizer SPEC is required (builtin, a tokenizer.json, ...)");
    long reps = 0;
    if (time_arg && (is_app_parse_long(time_arg, 1, 1000, &reps) || decode))
        return is_app_usage(cmd, "--time '%s': expected a repetition count from 1 to 1000 (encoding only)", time_arg);
    if (decode ? !ids_arg : (!text == !file))
        return is_app_usage(cmd, decode ? "--decode needs --ids" : "give exactly one of --text and --file");
    is_err err = {{0}};
    is_tokenizer *tok = NULL;
    int rc = 1;
    char *buf = NULL;
    int32_t *ids = NULL;
    if (is_tok_load(spec, &tok, &err)) goto done;
    if (decode) {
        char bad[128];
        int n = is_app_parse_ids(ids_arg, &ids, bad, sizeof bad);
        if (n < 0) {
            is_tok_free(tok);
            return is_app_usage(cmd, "--ids: %s", bad);
        }
        size_t len;
        if (is_tok_decode(tok, ids, n, false, &buf, &len, &err)) goto done;
        fwrite(buf, 1, len, stdout);
        putchar('\n');
    } else {
        size_t len = text ? strlen(text) : 0;
        if (file && is_read_file(file, (size_t)1 << 32, &buf, &len, &err)) goto done;
        const char *in = text ? text : buf;
        double t0 = is_now_s();
        int n = is_tok_encode(tok, in, len, !no_special, &ids, &err);
        double first = is_now_s() - t0;
        if (n < 0) goto done;
        if (reps > 0) {
            fprintf(stderr, "encode: first run (empty pre-token cache) %.3f ms, %.2f MB/s\n", first * 1e3,
                    first > 0 ? (double)len / first / 1e6 : 0.0);
            if (time_encode(tok, in, len, !no_special, (int)reps, n, &err)) goto done;
        }
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "inferscope tokenize: %s\n", err.msg);
    free(buf);
    free(ids);
    is_tok_free(tok);
    return rc;
}

