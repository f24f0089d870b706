// fuzz_specs.c — the command line's list and spec parsers: sweep lists (-b 1,4,16),
// name lists, strategy lists and specs (greedy, sample:t=0.7,top_k=40, beam:4,
// spec:draft=...,k=4), kernel specs (matmul=gemv+attention=split), dtypes and id
// lists. The input is split at its first newline bytes into one text per parser.
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/dtype.h"
#include "bench/sweep.h"
#include "engine/strategy.h"
#include "fuzz.h"
#include "kernels/backend.h"

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static is_backend *be;
    if (!be) {
        is_err e = {{0}};
        be = is_cpu_backend_create(1, &e);
        if (!be) abort();
    }
    char *s = fz_cstr(data, size);
    is_err err = {{0}};
    int *ints = NULL, n = 0;
    if (is_list_parse_ints("-b", s, 0, 1 << 16, &ints, &n, &err) == 0) {
        for (int i = 0; i < n; i++)
            if (ints[i] < 0 || ints[i] > 1 << 16) abort();
        free(ints);
    }
    char **names = NULL;
    if (is_list_split("--kernel", s, &names, &n, &err) == 0) {
        for (int i = 0; i < n; i++) {
            is_err e2 = {{0}};
            (void)is_kernel_spec_check(be, names[i], &e2);
        }
        free_list(names, n);
    }
    if (is_list_split_strategies("--strategy", s, &names, &n, &err) == 0) {
        for (int i = 0; i < n; i++) {
            is_strategy st;
            is_err e2 = {{0}};
            if (is_strategy_parse(names[i], &st, &e2) == 0) {
                char buf[512];
                is_strategy_format(&st, buf, sizeof buf);
                is_strategy back;
                if (is_strategy_parse(buf, &back, &e2)) abort(); // what is printed parses again
            }
        }
        free_list(names, n);
    }
    is_dtype dt;
    (void)is_dtype_parse(s, &dt);
    int32_t *ids = NULL;
    char bad[64];
    if (is_app_parse_ids(s, &ids, bad, sizeof bad) >= 0) free(ids);
    long lv;
    double dv;
    (void)is_app_parse_long(s, -5, 1 << 20, &lv);
    (void)is_app_parse_double(s, 0, 1, &dv);
    free(s);
    return 0;
}
