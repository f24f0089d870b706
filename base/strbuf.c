// strbuf.c — see strbuf.h.
#include "base/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h" // defines: is_xrealloc, IS_ASSERT

static void sb_reserve(is_strbuf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + extra + 1) cap *= 2;
    b->p = is_xrealloc(b->p, cap);
    b->cap = cap;
}

void is_sb_putn(is_strbuf *b, const char *s, size_t n) {
    sb_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void is_sb_puts(is_strbuf *b, const char *s) { is_sb_putn(b, s, strlen(s)); }

void is_sb_printf(is_strbuf *b, const char *fmt, ...) {
    sb_reserve(b, 256);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    IS_ASSERT(k >= 0);
    if ((size_t)k >= b->cap - b->n) { // did not fit: grow and print again
        sb_reserve(b, (size_t)k);
        va_start(ap, fmt);
        vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
    }
    b->n += (size_t)k;
}

void is_sb_clear(is_strbuf *b) {
    b->n = 0;
    if (b->p) b->p[0] = 0;
}

char *is_sb_take(is_strbuf *b) {
    if (!b->p) {
        sb_reserve(b, 0);
        b->p[0] = 0;
    }
    return b->p;
}
