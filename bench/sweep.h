// sweep.h — the axes of a benchmark sweep as the user writes them: lists of
// integers "1,8,32" with ranges "128-2048*2" (geometric: 128, 256, ..., 2048) and
// "128-512+128" (arithmetic: 128, 256, 384, 512), and lists of strings.
// Declares: is_list_parse_ints, is_list_split, is_list_split_strategies.
#ifndef IS_BENCH_SWEEP_H
#define IS_BENCH_SWEEP_H

#include "base/error.h"

// Parses s into *out (malloc'd, *n values, duplicates kept in order given). Every
// value must lie in [lo, hi]. An empty list or item, a malformed number, a range
// that yields no value (start > end) or a step that would not advance (*1, +0) is
// an error naming flag and the item. At most 4096 values.
int is_list_parse_ints(const char *flag, const char *s, long lo, long hi, int **out, int *n, is_err *err);

// Comma-separated strings (kernel specs, for instance). Empty items are an error.
int is_list_split(const char *flag, const char *s, char ***out, int *n, is_err *err);

// Strategy specs separated by commas, where a comma inside a spec's parameters
// stays with it: "greedy,sample:t=0.8,k=40" is {"greedy", "sample:t=0.8,k=40"}
// (an item holding '=' but no ':' continues the previous item).
int is_list_split_strategies(const char *flag, const char *s, char ***out, int *n, is_err *err);

void is_list_free(char **items, int n);

#endif
