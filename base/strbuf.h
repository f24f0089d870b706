// strbuf.h — a growing string. Declares: is_strbuf, is_sb_putn, is_sb_puts,
// is_sb_printf, is_sb_clear, is_sb_take.
#ifndef IS_BASE_STRBUF_H
#define IS_BASE_STRBUF_H

#include <stddef.h>

// Zero-initialized: empty. p is NUL-terminated whenever it is not NULL.
typedef struct is_strbuf {
    char *p;
    size_t n, cap;
} is_strbuf;

void is_sb_putn(is_strbuf *b, const char *s, size_t n);
void is_sb_puts(is_strbuf *b, const char *s);
void is_sb_printf(is_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Empties b, keeping its memory.
void is_sb_clear(is_strbuf *b);
// The string (malloc'd, the caller frees), never NULL: "" when nothing was written.
char *is_sb_take(is_strbuf *b);

#endif
