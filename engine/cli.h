// cli.h — the inferscope command line, a thin layer over engine/inferscope.h.
#ifndef IS_CLI_H
#define IS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/backend.h"

typedef struct is_cli_backend_opts {
    const char *which; // "cpu", "cuda" or "auto" (cuda when a device answers and the backend starts)
    int threads;       // CPU threads (0: all)
    int device;        // CUDA device ordinal
    bool no_graphs;    // cuda: no graph recording and replay
} is_cli_backend_opts;

// Opens the backend bo->which. verbose: says on stderr which backend runs and
// why. why_cuda (may be NULL): why CUDA is not used ("" when it is).
is_backend *is_cli_open_backend(const is_cli_backend_opts *bo, bool verbose, char *why_cuda, size_t why_len,
                                is_err *err);

// Shared by the commands' flag parsing: prints "inferscope CMD: message (see
// 'inferscope CMD --help')" on stderr and returns 2, the usage exit status.
int is_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Whole-string numbers in [lo, hi]: 0, or -1 when s is empty, malformed or out of range.
int is_cli_parse_long(const char *s, long lo, long hi, long *out);
int is_cli_parse_double(const char *s, double lo, double hi, double *out);

// Runs one command; returns the process exit status (0 ok, 1 failure, 2 usage error).
int is_cli_main(int argc, char **argv);

#endif
