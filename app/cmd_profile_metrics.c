// cmd_profile_metrics.c — see cmd_profile_metrics.h.
#include "app/cmd_profile_metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"         // defines: is_app_usage
#include "profiles/cupti.h" // defines: is_prof_dram_metrics_resolve

static const char *profile_help =
    "usage: inferscope profile --list-metrics --chip CHIP\n"
    "\n"
    "Lists the DRAM byte counters the CUPTI range profiler collects on CHIP (GH100, AD102, GB100,\n"
    "GB202, ...: names differ between chips), resolved on the host with no GPU, and the size of\n"
    "the configuration image and the replay passes they need. (profile --model MODEL: see\n"
    "'inferscope profile --help'.)\n";

int is_profile_metrics_main(int argc, char **argv) {
    const char *cmd = "profile", *chip = NULL;
    bool list = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(profile_help, stdout);
            return 0;
        } else if (!strcmp(a, "--list-metrics")) {
            list = true;
        } else if (!strcmp(a, "--chip")) {
            if (i + 1 >= argc || !*argv[i + 1]) return is_app_usage(cmd, "--chip needs a chip name (GH100, AD102, ...)");
            chip = argv[++i];
        } else {
            return is_app_usage(cmd, "unknown flag '%s'", a);
        }
    }
    if (!list) return is_app_usage(cmd, "nothing to do: --list-metrics --chip CHIP is what this version runs");
    if (!chip) return is_app_usage(cmd, "--list-metrics needs --chip CHIP (GH100, AD102, GB100, ...)");
    is_prof_dram_metrics m;
    is_err err = {{0}};
    if (is_prof_dram_metrics_resolve(chip, &m, &err)) {
        fprintf(stderr, "inferscope profile: %s\n", err.msg);
        return 1;
    }
    printf("chip %s\n", m.chip);
    printf("dram read   %s\n", m.read);
    printf("dram write  %s\n", m.write);
    printf("config image %zu bytes, %zu pass%s\n", m.config_image_bytes, m.passes, m.passes == 1 ? "" : "es");
    return 0;
}
