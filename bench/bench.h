// bench.h — `inferscope bench`: the static-batch sweep driver, and `inferscope
// profile`: one point of it in full detail (kernel tables, DRAM counters, device
// tracks). Declares: is_bench_main, is_bench_profile_main.
#ifndef IS_BENCH_BENCH_H
#define IS_BENCH_BENCH_H

// argv[0] is the program, argv[1] "bench"; the full argv is recorded in the
// results. Returns the exit status: 0 every point measured, 1 a point failed or
// the run could not start, 2 a usage error, 130 interrupted (finished points are
// in --out; --resume continues).
int is_bench_main(int argc, char **argv);

// argv[1] "profile": --list-metrics --chip CHIP (profiles/profile_cmd.h), or one
// point run as bench runs it, then the kernel table and the counter pass; the
// report on stdout, --out as bench writes it. Exit status as bench's.
int is_bench_profile_main(int argc, char **argv);

#endif
