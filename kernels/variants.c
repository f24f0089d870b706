// variants.c — kernel variant specs ("matmul=gemv+attention=split") checked
// against a backend's table of ops with alternatives, and applied.
#include <stdio.h>
#include <string.h>

#include "kernels/backend.h"

// Lists "op=v1|v2 op2=..." of be into buf, for messages.
static void variants_describe(const is_backend *be, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < be->n_kernel_ops && len < n; i++) {
        const is_kernel_op *k = &be->kernel_ops[i];
        len += (size_t)snprintf(buf + len, n - len, "%s%s=", i ? ", " : "", k->op);
        for (int v = 0; k->variants[v].name && len < n; v++)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", v ? "|" : "", k->variants[v].name);
    }
    if (be->n_kernel_ops == 0) snprintf(buf, n, "none");
}

// Parses spec into chosen[op] = variant index (-1: default). Returns 0 or -1 with a message.
static int variants_parse(const is_backend *be, const char *spec, int *chosen, is_err *err) {
    for (int i = 0; i < be->n_kernel_ops; i++) chosen[i] = -1;
    if (!strcmp(spec, "default")) return 0;
    char avail[512];
    const char *p = spec;
    while (1) {
        const char *end = strchr(p, '+');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (len == 0 || !eq || eq == p || eq == p + len - 1) {
            return is_errf(err, "kernel spec '%s': expected 'default' or op=variant items joined by '+'", spec);
        }
        size_t op_len = (size_t)(eq - p), var_len = len - op_len - 1;
        int op = -1;
        for (int i = 0; i < be->n_kernel_ops; i++)
            if (strlen(be->kernel_ops[i].op) == op_len && !memcmp(be->kernel_ops[i].op, p, op_len)) op = i;
        if (op < 0) {
            variants_describe(be, avail, sizeof avail);
            return is_errf(err, "kernel spec '%s': the %s backend has no op '%.*s' with variants (it has: %s)",
                           spec, be->name, (int)op_len, p, avail);
        }
        if (chosen[op] >= 0)
            return is_errf(err, "kernel spec '%s': op '%s' is named twice", spec, be->kernel_ops[op].op);
        const is_kernel_op *k = &be->kernel_ops[op];
        for (int v = 0; k->variants[v].name; v++)
            if (strlen(k->variants[v].name) == var_len && !memcmp(k->variants[v].name, eq + 1, var_len)) chosen[op] = v;
        if (chosen[op] < 0) {
            variants_describe(be, avail, sizeof avail);
            return is_errf(err, "kernel spec '%s': op '%s' has no variant '%.*s' on the %s backend (it has: %s)",
                           spec, k->op, (int)var_len, eq + 1, be->name, avail);
        }
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

int is_kernel_spec_check(const is_backend *be, const char *spec, is_err *err) {
    int chosen[64];
    IS_ASSERT(be->n_kernel_ops <= 64);
    return variants_parse(be, spec, chosen, err);
}

int is_kernel_spec_apply(is_backend *be, const char *spec, is_err *err) {
    int chosen[64];
    IS_ASSERT(be->n_kernel_ops <= 64);
    if (variants_parse(be, spec, chosen, err)) return -1;
    for (int i = 0; i < be->n_kernel_ops; i++) be->kernel_select(be, i, chosen[i] < 0 ? 0 : chosen[i]);
    return 0;
}
