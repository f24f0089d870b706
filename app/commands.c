// commands.c — the command table: `inferscope COMMAND ...` to the command's
// file under app/, each a thin layer over the engine (engine/inferscope.h), the
// drivers (bench/) and the reports (reports/).
#include <stdio.h>
#include <string.h>

#include "app/app.h" // defines: is_cmd_*, is_compare_main

static const char *main_help =
    "usage: inferscope COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  generate   run a prompt (or a batch) through a model and print the generated ids and timing\n"
    "  bench      sweep batch, prompt, generation length, depth, strategy and kernel; TTFT, TPOT, ITL,\n"
    "             tok/s, GB/s, MBU, MFU with confidence intervals; results.json/csv and report.md\n"
    "  serve-bench requests arriving over time (Poisson, gamma, closed loop) served by continuous\n"
    "             batching; TTFT, TPOT, ITL, E2E percentiles, throughput, goodput; prefix caching\n"
    "  kernels    each op's kernel variants on model shapes, validated first; time, GB/s, % of peak,\n"
    "             the winner per shape; the same result files as bench\n"
    "  compare    two bench (kernels, serve-bench) result files: ratio per point, verdict, exit 1 on a\n"
    "             slowdown; --format html: a forest plot\n"
    "  report     a result file as one self-contained HTML page with charts (or md, csv)\n"
    "  merge      result files of repeated runs of one sweep into one, for compare --paired\n"
    "  profile    one bench point under CUPTI: kernel table per phase, DRAM counters, trace;\n"
    "             --list-metrics --chip CHIP: the DRAM counters CUPTI collects on a chip (host side)\n"
    "  logits     one forward pass over a prompt; the logits of its last (or every) position as JSON\n"
    "  export     write a model or preset as a Hugging Face directory (config.json + model.safetensors)\n"
    "  tokenize   text to token ids and back\n"
    "  presets    list the built-in model shapes (preset:NAME)\n"
    "  version    print the version and build\n"
    "\n"
    "'inferscope COMMAND --help' describes a command's options.\n";

// A command's entry point: (the arguments after its name) or, for the drivers
// that record the whole command line in their results, (the whole argv).
typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    bool whole_argv;
} command;

static const command commands[] = {
    {"generate", is_cmd_generate, false},
    {"bench", is_cmd_bench, true},
    {"kernels", is_cmd_kernels, true},
    {"serve-bench", is_cmd_serve_bench, true},
    {"compare", is_compare_main, false},
    {"merge", is_cmd_merge, false},
    {"report", is_cmd_report, false},
    {"profile", is_cmd_profile, true},
    {"logits", is_cmd_logits, false},
    {"export", is_cmd_export, false},
    {"tokenize", is_cmd_tokenize, false},
    {"presets", is_cmd_presets, false},
    {"version", is_cmd_version, false},
    {"--version", is_cmd_version, false},
};

int is_app_main(int argc, char **argv) {
    if (argc < 2) {
        fputs(main_help, stderr);
        return IS_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].whole_argv ? commands[i].run(argc, argv) : commands[i].run(argc - 2, argv + 2);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(main_help, stdout);
        return 0;
    }
    fprintf(stderr, "inferscope: unknown command '%s'\n\n", cmd);
    fputs(main_help, stderr);
    return IS_EXIT_USAGE;
}
