// cli.h — the inferscope command line, a thin layer over engine/inferscope.h.
#ifndef IS_CLI_H
#define IS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/backend.h"

// Opens the backend `which` ("cpu", "cuda" or "auto") with n_threads CPU threads
// (0: all). verbose: says on stderr which backend runs and why. why_cuda (may be
// NULL): why CUDA is not used.
is_backend *is_cli_open_backend(const char *which, int n_threads, bool verbose, char *why_cuda,
                                size_t why_len, is_err *err);

// Runs one command; returns the process exit status (0 ok, 1 failure, 2 usage error).
int is_cli_main(int argc, char **argv);

#endif
