// main.c — the inferscope executable: the drivers (bench/, reports/) and the
// engine's commands (engine/cli.c).
#include <string.h>

#include "bench/bench.h"     // defines: is_bench_main, is_bench_profile_main
#include "bench/kernels.h"   // defines: is_kernels_main
#include "engine/cli.h"      // defines: is_cli_main
#include "reports/compare.h" // defines: is_compare_main

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "bench")) return is_bench_main(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "kernels")) return is_kernels_main(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "profile")) return is_bench_profile_main(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "compare")) return is_compare_main(argc - 2, argv + 2);
    return is_cli_main(argc, argv);
}
