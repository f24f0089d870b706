// error.h — error reporting for bad input, and checks for broken invariants.
//
// Bad input is not a programming error: a function that reads user input returns
// -1 (or NULL) and writes one message into an is_err naming the file, field or
// flag and what was expected. Only broken invariants abort (IS_ASSERT, is_xmalloc).
#ifndef IS_ERROR_H
#define IS_ERROR_H

#include <stddef.h>

typedef struct is_err {
    char msg[1024];
} is_err;

// Writes a message into err (when err is not NULL) and returns -1.
int is_errf(is_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Prefixes the message already in err with "prefix: ".
void is_err_prefix(is_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Aborts with file and line: only for broken invariants, never for user input.
void is_die(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define IS_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) is_die(__FILE__, __LINE__, "assertion failed: %s", #cond); \
    } while (0)

// Allocation of small bookkeeping structures; aborts when memory runs out.
// Large buffers (weights, KV cache) use plain malloc and report the error.
void *is_xmalloc(size_t n);
void *is_xcalloc(size_t n, size_t size);
void *is_xrealloc(void *p, size_t n);
char *is_xstrdup(const char *s);

#endif
