// cmd_presets.c — `inferscope presets` (the built-in model shapes) and
// `inferscope version`.
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "base/buildinfo.h"          // defines: is_build_commit
#include "engine/model.h"            // defines: is_preset_count, is_preset_at, is_config_n_params
#include "kernels/cuda/cuda_probe.h" // defines: is_cuda_probe

int is_cmd_presets(int argc, char **argv) {
    if (argc > 0 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        puts("usage: inferscope presets\n\nLists the built-in model shapes, used as --model preset:NAME.");
        return 0;
    }
    if (argc > 0) return is_app_usage("presets", "takes no arguments, got '%s'", argv[0]);
    printf("%-16s %9s %6s %6s %5s %4s %7s  %s\n", "preset", "params", "D", "F", "layers", "kv", "vocab",
           "description");
    for (int i = 0; i < is_preset_count(); i++) {
        const is_preset *p = is_preset_at(i);
        double n = is_config_n_params(&p->cfg);
        printf("%-16s %8.3gM %6d %6d %5d %4d %7d  %s\n", p->name, n / 1e6, p->cfg.hidden_size,
               p->cfg.intermediate_size, p->cfg.n_layers, p->cfg.n_kv_heads, p->cfg.vocab_size,
               p->description);
    }
    return 0;
}

int is_cmd_version(int argc, char **argv) {
    (void)argc, (void)argv;
    char why[256];
    int n = is_cuda_probe(why, sizeof why);
    printf("inferscope %s (commit %s, %s build)\n", IS_VERSION, is_build_commit, IS_BUILD_TYPE);
    if (n) printf("CUDA devices: %d\n", n);
    else printf("CUDA: %s\n", why);
    return 0;
}
