// error.c — is_err messages and the abort path for broken invariants.
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int is_errf(is_err *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void is_err_prefix(is_err *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[sizeof prefix + 2 + sizeof err->msg];
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->msg);
    size_t n = strlen(joined);
    if (n >= sizeof err->msg) n = sizeof err->msg - 1; // keep the start: it names the file
    memcpy(err->msg, joined, n);
    err->msg[n] = 0;
}

void is_die(const char *file, int line, const char *fmt, ...) {
    fprintf(stderr, "inferscope: internal error at %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *is_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) is_die(__FILE__, __LINE__, "out of memory allocating %zu bytes", n);
    return p;
}

void *is_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) is_die(__FILE__, __LINE__, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *is_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) is_die(__FILE__, __LINE__, "out of memory reallocating %zu bytes", n);
    return q;
}

char *is_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = is_xmalloc(n);
    memcpy(p, s, n);
    return p;
}
