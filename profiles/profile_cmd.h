// profile_cmd.h — `inferscope profile --list-metrics --chip CHIP`: the DRAM
// counters the range profiler would collect on a chip, resolved on the host
// (no GPU needed). `profile --model` is bench's (bench/bench.h:
// is_bench_profile_main), which hands these flags here. Declares: is_profile_main.
#ifndef IS_PROF_PROFILE_CMD_H
#define IS_PROF_PROFILE_CMD_H

// argv[0] is the program, argv[1] "profile". Returns the exit status: 0, 1 the
// chip is unknown or CUPTI cannot be loaded, 2 a usage error.
int is_profile_main(int argc, char **argv);

#endif
