// app.c — what the command files share (app.h): usage errors, whole-string
// numbers, the backend the flags ask for.
#include "app/app.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/gguf.h" // defines: is_gguf_open, is_gguf_tokenizer

int is_app_usage(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "inferscope %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'inferscope %s --help')\n", cmd);
    return IS_EXIT_USAGE;
}

int is_app_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int is_app_parse_double(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

// "1,2,3" or "1 2 3" -> ids (malloc'd). Returns the count, or -1 with a message.
int is_app_parse_ids(const char *s, int32_t **out, char *bad, size_t bad_len) {
    int cap = 16, n = 0;
    int32_t *ids = is_xmalloc((size_t)cap * sizeof *ids);
    const char *p = s;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',' && *end != ' ' && *end != '\t' && *end != '\n')) {
            size_t len = strcspn(p, ", \t\n");
            snprintf(bad, bad_len, "'%.*s' is not a token id (a non-negative integer)", (int)(len > 40 ? 40 : len), p);
            free(ids);
            return -1;
        }
        if (n == cap) ids = is_xrealloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (n == 0) {
        snprintf(bad, bad_len, "no token ids given");
        free(ids);
        return -1;
    }
    *out = ids;
    return n;
}

is_backend *is_app_open_backend(const is_flags *f, bool verbose, char *why_cuda, size_t why_len, is_err *err) {
    is_backend_opts bo = {.which = f->backend, .threads = f->threads, .device = f->device, .no_graphs = f->no_graphs};
    is_backend *be = is_backend_open(&bo, verbose, why_cuda, why_len, err);
    if (!be && !strcmp(f->backend, "cuda")) is_err_prefix(err, "--backend cuda");
    return be;
}

int is_app_open_tokenizer(const char *spec, const char *model, bool needed, const char *hint, is_tokenizer **tok,
                          is_err *err) {
    *tok = NULL;
    char path[2048];
    size_t mlen = strlen(model);
    if (!spec && mlen > 5 && !strcmp(model + mlen - 5, ".gguf")) {
        // the GGUF's own vocabulary (tokenizer.ggml.*)
        is_gguf g;
        if (is_gguf_open(model, &g, err)) return -1;
        int rc = is_gguf_tokenizer(&g, tok, err);
        is_gguf_close(&g);
        if (rc && !needed) {
            fprintf(stderr, "inferscope: %s: no tokenizer (%s)\n", model, err->msg);
            return 0;
        }
        return rc;
    }
    if (!spec) {
        if (!strncmp(model, "preset:", 7)) {
            spec = "builtin";
        } else {
            snprintf(path, sizeof path, "%s/tokenizer.json", model);
            struct stat st;
            if (stat(path, &st) == 0) spec = model;
        }
    }
    if (!spec) return needed ? is_errf(err, "%s has no tokenizer.json: %s", model, hint) : 0;
    return is_tok_load(spec, tok, err);
}
