// app.h — the command line: what the command files share, and their entry
// points (app/main.c dispatches). Flags are parsed strictly: an unknown flag, a
// missing value or a malformed number is a usage error (exit 2) naming the flag;
// a failure while running is exit 1 with one message.
// Declares: is_app_usage, is_app_parse_long, is_app_parse_double, is_app_open_backend,
// is_app_open_tokenizer, is_cmd_* (one per command), is_compare_main, is_kernels_sweep, is_app_bench_parse.
#ifndef IS_APP_APP_H
#define IS_APP_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "app/flags.h"    // defines: is_flags
#include "bench/bench.h"  // defines: is_bench_opts
#include "engine/tokenizer.h" // defines: is_tokenizer
#include "kernels/backend.h"

#define IS_EXIT_USAGE 2

// Prints "inferscope CMD: message (see 'inferscope CMD --help')" on stderr and
// returns 2, the usage exit status.
int is_app_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Whole-string numbers in [lo, hi]: 0, or -1 when s is empty, malformed or out of range.
int is_app_parse_long(const char *s, long lo, long hi, long *out);
int is_app_parse_double(const char *s, double lo, double hi, double *out);

// "1,2,3" or "1 2 3" -> ids (malloc'd). Returns the count, or -1 with a message in bad.
int is_app_parse_ids(const char *s, int32_t **out, char *bad, size_t bad_len);

// The help lines of --nvtx-level and --trace, for the commands that take them.
#define IS_APP_PROF_FLAGS_HELP                                                                          \
    "  --nvtx-level N         NVTX ranges: 0 none, 1 phases (default), 2 also every layer and backend op\n" \
    "  --trace FILE           write a Chrome trace-event JSON (Perfetto, chrome://tracing) of the run\n"

// The backend the flags ask for (--backend, --threads, --device, --no-graphs);
// a failure names the flag: "--backend cuda: no CUDA device ...". why_cuda: as
// is_backend_open.
is_backend *is_app_open_backend(const is_flags *f, bool verbose, char *why_cuda, size_t why_len, is_err *err);

// The tokenizer for a model: spec (--tokenizer) when given, else the model
// directory's tokenizer.json, else (presets) the built-in GPT-2 vocabulary. A
// directory with no tokenizer.json has none: *tok NULL, and an error ending with
// hint when needed.
int is_app_open_tokenizer(const char *spec, const char *model, bool needed, const char *hint, is_tokenizer **tok,
                          is_err *err);

// `inferscope COMMAND ...`: argv[0] is the program, argv[1] the command.
// Returns the process exit status (0 ok, 1 failure, 2 usage error).
int is_app_main(int argc, char **argv);

// The commands: argv holds the arguments after the command's name (argv[0] is the
// first of them); the return is the process exit status. bench, kernels and
// profile also take the whole command line (full_argc, full_argv) for the result files.
int is_cmd_generate(int argc, char **argv);
int is_cmd_export(int argc, char **argv);
int is_cmd_logits(int argc, char **argv);
int is_cmd_tokenize(int argc, char **argv);
int is_cmd_presets(int argc, char **argv);
int is_cmd_merge(int argc, char **argv);
int is_cmd_version(int argc, char **argv);
int is_cmd_bench(int full_argc, char **full_argv);
int is_cmd_profile(int full_argc, char **full_argv);
int is_cmd_kernels(int full_argc, char **full_argv);
int is_cmd_serve_bench(int full_argc, char **full_argv);
int is_cmd_report(int argc, char **argv);

// `inferscope compare BASE.json NEW.json [--threshold PCT] [--metric M]`: argv
// holds the arguments after "compare". Prints the table on stdout; exit 1 when
// any point is slower, 0 otherwise, 2 on bad input (message "inferscope
// compare: ..." on stderr), and 2 after the table when no point of NEW matches
// a point of BASE.
int is_compare_main(int argc, char **argv);

// bench and profile share their flags: parses argv (after the command's name)
// into o (is_bench_opts_free), profile: one point in full detail. Returns 0, an
// exit status after a usage message, or -1 after printing --help.
int is_app_bench_parse(int argc, char **argv, bool profile, is_bench_opts *o);

// The sweep `inferscope kernels ARGS` runs, on be (a backend the caller made;
// --backend, --device and --threads do not apply). argv: the flags after
// "kernels". *doc: the result document (caller frees; NULL unless the return is
// 0 or 1). Returns 0, 1 (a point failed: validation or an error), 2 bad usage or
// -1 (message in err; usage messages also go to stderr).
int is_kernels_sweep(is_backend *be, int argc, char **argv, cJSON **doc, is_err *err);

#endif
