// flags.h — the flags commands share, declared once: one spelling each (and a
// short form for some), one check of the value, one message when it is wrong.
// A command names the set it takes and sets its defaults in an is_flags; then,
// for each argument, is_flags_parse consumes a flag of the set or leaves it to
// the command's own flags. Declares: is_flag, is_flags, is_flags_parse,
// is_flags_int, is_flags_list, is_app_deprecated.
//
// Values that are one number in one command and a list in another (--batch,
// --prompt-len, --gen-len, --depth, --strategy, --kernel, --model) are kept as
// written; the command reads them with is_flags_int or is_flags_list.
#ifndef IS_APP_FLAGS_H
#define IS_APP_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum is_flag {
    IS_FLAG_MODEL,            // -m, --model MODEL
    IS_FLAG_BACKEND,          // --backend cpu|cuda|auto
    IS_FLAG_DEVICE,           // --device N
    IS_FLAG_NO_GRAPHS,        // --no-graphs
    IS_FLAG_THREADS,          // -t, --threads N
    IS_FLAG_DTYPE,            // --dtype f32|bf16|int8|q8_0|q4_0 (IS_FLAGS_DTYPE_F16: f16 too; IS_FLAGS_DTYPE_LIST: a list)
    IS_FLAG_SEED,             // --seed S
    IS_FLAG_KV_BUDGET,        // --kv-budget MIB
    IS_FLAG_KV_FRAC,          // --kv-frac F
    IS_FLAG_BLOCK_SIZE,       // --block-size N
    IS_FLAG_MAX_BATCH_TOKENS, // --max-batch-tokens N
    IS_FLAG_STRATEGY,         // --strategy SPEC
    IS_FLAG_KERNEL,           // --kernel SPEC
    IS_FLAG_NVTX_LEVEL,       // --nvtx-level N
    IS_FLAG_TRACE,            // --trace FILE
    IS_FLAG_OUT,              // -o, --out DIR
    IS_FLAG_FORMAT,           // --format md|csv|json
    IS_FLAG_BATCH,            // -b, --batch N
    IS_FLAG_PROMPT_LEN,       // -p, --prompt-len N
    IS_FLAG_GEN_LEN,          // -n, --gen-len N (was --n-gen in generate, --gen in bench)
    IS_FLAG_DEPTH,            // -d, --depth N (was --context in kernels)
    IS_FLAG_REPS,             // -r, --reps N
    IS_FLAG_MAX_TIME,         // --max-time S
    IS_FLAG_MAX_NOISE,        // --max-noise PCT
    IS_FLAG_NO_PROBE,         // --no-probe
    IS_FLAG_FORCE,            // --force
    IS_FLAG_TOKENIZER,        // --tokenizer SPEC
    IS_FLAG_COUNT
} is_flag;

#define IS_FLAG_BIT(f) (1ull << (f))
// The largest --batch (generate, bench): far above the batches serving engines
// run, and low enough that one flag cannot ask for unbounded memory and time.
#define IS_MAX_BATCH (1 << 16)
// In a set: --dtype also takes f16 (export writes F16 files; the engine holds F32,
// BF16 or a quantized format).
#define IS_FLAGS_DTYPE_F16 (1ull << 63)
// In a set: --dtype takes a comma-separated list (a sweep axis: bench).
#define IS_FLAGS_DTYPE_LIST (1ull << 62)

typedef struct is_flags {
    bool given[IS_FLAG_COUNT];
    const char *spelled[IS_FLAG_COUNT]; // how each given flag was written ("-n", "--gen-len"), for messages
    // as written
    const char *model, *strategy, *kernel, *trace, *out, *tokenizer;
    const char *batch, *prompt_len, *gen_len, *depth;
    // checked
    const char *backend;       // "cpu", "cuda" or "auto"
    const char *format;        // "md", "csv" or "json"
    int device, threads;
    int dtype;                 // an is_dtype, or -1 (automatic); a list's first
    int dtypes[16], n_dtypes;  // IS_FLAGS_DTYPE_LIST: every dtype given, in order (0 when not given)
    uint64_t seed;
    double kv_budget_mib, kv_frac;
    int block_size, max_batch_tokens;
    int nvtx_level;            // 0..IS_PROF_LEVEL_MAX
    int reps;
    double max_time_s;
    double max_noise;          // a fraction (--max-noise is in percent)
    bool no_graphs, no_probe, force;
} is_flags;

// Defaults every command shares: backend auto, dtype automatic, NVTX level 1,
// format md; the rest zero (a command sets its own defaults after this).
void is_flags_init(is_flags *f);

// argv[*i] is a flag of set (IS_FLAG_BIT of each, or'd): consumes it and its
// value (advancing *i), checks the value, and returns 1. Not a flag of set: 0.
// A bad or missing value: prints "inferscope CMD: message (see 'inferscope CMD
// --help')" on stderr and returns -1 (exit status 2). An old spelling still
// works and prints one line on stderr saying which to use instead.
int is_flags_parse(const char *cmd, uint64_t set, int argc, char **argv, int *i, is_flags *f);

// The flag's spelling ("--gen-len"), for messages.
const char *is_flags_name(is_flag which);

// One whole number in [lo, hi] from flag which (its value as written); def when
// the flag was not given. Returns 0, or -1 after a usage message (exit status 2).
int is_flags_int(const char *cmd, const is_flags *f, is_flag which, long lo, long hi, long def, long *out);

// A list of whole numbers in [lo, hi] from flag which ("1,8,32", ranges
// "128-2048*2" and "128-512+128"; bench/sweep.h), or def when not given.
// Returns 0, or -1 after a usage message.
int is_flags_list(const char *cmd, const is_flags *f, is_flag which, const char *def, long lo, long hi, int **out,
                  int *n);

// "inferscope CMD: OLD is deprecated: use NEW (OLD goes in the next release)" on stderr.
void is_app_deprecated(const char *cmd, const char *old, const char *now);

#endif
