// sweep.c — parsing the list syntax of bench's axes.
#include "bench/sweep.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 4096

static int list_number(const char *flag, const char *item, const char *s, size_t len, long lo, long hi,
                       long *out, is_err *err) {
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return is_errf(err, "%s: '%s' is not a number or a range (N, A-B*F or A-B+S)", flag, item);
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || *end || buf[0] == '+' || buf[0] == ' ')
        return is_errf(err, "%s: '%s' is not a number or a range (N, A-B*F or A-B+S)", flag, item);
    if (v < lo || v > hi) return is_errf(err, "%s: %ld in '%s' is outside %ld..%ld", flag, v, item, lo, hi);
    *out = v;
    return 0;
}

static int list_push(const char *flag, int **out, int *n, long v, is_err *err) {
    if (*n >= LIST_MAX) return is_errf(err, "%s: more than %d values", flag, LIST_MAX);
    *out = is_xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
    (*out)[(*n)++] = (int)v;
    return 0;
}

// One item: "N", "A-B*F" or "A-B+S".
static int list_item(const char *flag, const char *item, long lo, long hi, int **out, int *n, is_err *err) {
    const char *dash = strchr(item + (item[0] == '-'), '-');
    if (!dash) {
        long v;
        if (list_number(flag, item, item, strlen(item), lo, hi, &v, err)) return -1;
        return list_push(flag, out, n, v, err);
    }
    const char *op = strpbrk(dash + 1, "*+");
    if (!op) return is_errf(err, "%s: range '%s' needs a step: A-B*F (multiply) or A-B+S (add)", flag, item);
    long a, b, step;
    if (list_number(flag, item, item, (size_t)(dash - item), lo, hi, &a, err) ||
        list_number(flag, item, dash + 1, (size_t)(op - dash - 1), lo, hi, &b, err) ||
        list_number(flag, item, op + 1, strlen(op + 1), 1, 1L << 30, &step, err))
        return -1;
    if (a > b) return is_errf(err, "%s: range '%s' produces no values (start %ld > end %ld)", flag, item, a, b);
    if (*op == '*' && step < 2) return is_errf(err, "%s: range '%s': the factor must be at least 2", flag, item);
    if (*op == '*' && a < 1) return is_errf(err, "%s: range '%s': a geometric range must start at 1 or more", flag, item);
    for (long v = a; v <= b; v = *op == '*' ? v * step : v + step) {
        if (list_push(flag, out, n, v, err)) return -1;
        if (v > (1L << 40)) break;
    }
    return 0;
}

int is_list_parse_ints(const char *flag, const char *s, long lo, long hi, int **out, int *n, is_err *err) {
    *out = NULL;
    *n = 0;
    if (!s || !*s) return is_errf(err, "%s: empty list", flag);
    char *copy = is_xstrdup(s);
    int rc = 0;
    char *p = copy;
    while (!rc) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        if (!*p) rc = is_errf(err, "%s '%s': empty item in the list", flag, s);
        else rc = list_item(flag, p, lo, hi, out, n, err);
        if (!comma) break;
        p = comma + 1;
    }
    free(copy);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int list_split_impl(const char *flag, const char *s, bool strategies, char ***out, int *n, is_err *err) {
    *out = NULL;
    *n = 0;
    if (!s || !*s) return is_errf(err, "%s: empty list", flag);
    const char *p = s;
    while (1) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0) {
            is_list_free(*out, *n);
            *out = NULL;
            *n = 0;
            return is_errf(err, "%s '%s': empty item in the list", flag, s);
        }
        // a parameter of the previous spec: "k=40" after "sample:t=0.8", or
        // "draft=preset:tiny" after "spec:k=4" (its '=' comes before any ':')
        const char *eq = memchr(p, '=', len), *colon = memchr(p, ':', len);
        bool continues = strategies && *n > 0 && eq && (!colon || eq < colon);
        if (continues) {
            char *prev = (*out)[*n - 1];
            size_t pl = strlen(prev);
            prev = is_xrealloc(prev, pl + 1 + len + 1);
            prev[pl] = ',';
            memcpy(prev + pl + 1, p, len);
            prev[pl + 1 + len] = 0;
            (*out)[*n - 1] = prev;
        } else {
            *out = is_xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
            char *item = is_xmalloc(len + 1);
            memcpy(item, p, len);
            item[len] = 0;
            (*out)[(*n)++] = item;
        }
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

int is_list_split(const char *flag, const char *s, char ***out, int *n, is_err *err) {
    return list_split_impl(flag, s, false, out, n, err);
}

int is_list_split_strategies(const char *flag, const char *s, char ***out, int *n, is_err *err) {
    return list_split_impl(flag, s, true, out, n, err);
}

void is_list_free(char **items, int n) {
    for (int i = 0; i < n; i++) free(items[i]);
    free(items);
}
