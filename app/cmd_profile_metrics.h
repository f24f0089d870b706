// cmd_profile_metrics.h — `inferscope profile --list-metrics --chip CHIP`: the
// DRAM counters the range profiler would collect on a chip, resolved on the host
// (no GPU needed). `profile --model` runs a bench point (app/cmd_bench.c), which
// hands these flags here. Declares: is_profile_metrics_main.
#ifndef IS_APP_CMD_PROFILE_METRICS_H
#define IS_APP_CMD_PROFILE_METRICS_H

// argv[0] is the program, argv[1] "profile". Returns the exit status: 0, 1 the
// chip is unknown or CUPTI cannot be loaded, 2 a usage error.
int is_profile_metrics_main(int argc, char **argv);

#endif
