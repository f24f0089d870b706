// env.h — the environment a result was measured in, as a JSON object: CPU model
// and threads, GPU fields when present, OS, compiler and flags, build type, git
// commit, command line, inferscope version; and how busy the machine was while a
// run measured ("noise"). Declares: is_env_capture, is_env_set_gpu,
// is_env_capture_backend, is_env_noise_mark, is_env_noise_begin, is_env_noise_end,
// is_env_parse_loadavg, is_env_parse_stat, is_env_parse_cpuinfo_mhz.
#ifndef IS_BENCH_ENV_H
#define IS_BENCH_ENV_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "kernels/backend.h" // defines: is_device_info

// Returns a new cJSON object (caller frees) with at least these fields:
//   "cpu_model" (string, from /proc/cpuinfo "model name"; "unknown" when absent),
//   "cpu_online" (number of online CPUs), "threads" (n_threads as given),
//   "os" (uname sysname, release and machine, plus PRETTY_NAME of /etc/os-release when present),
//   "compiler" (the C compiler's __VERSION__, prefixed "gcc " or "clang "),
//   "c_flags" (IS_C_FLAGS when defined, else ""), "build_type" (IS_BUILD_TYPE),
//   "git_commit" (IS_GIT_COMMIT), "inferscope_version" (IS_VERSION),
//   "command" (argv joined with spaces; an element that is empty or holds anything
//   outside [A-Za-z0-9_./:=,+-] is put in single quotes, ' written '\''),
//   "argv" (array of strings), "date" (UTC, ISO 8601),
//   "backend" (backend_name; null when NULL), "gpu" (always null here: with
//   "gpu_unavailable": gpu_why when gpu_why is non-NULL; otherwise the CUDA
//   backend replaces the null with its GPU fields later),
//   "mem_total_gib" (MemTotal from /proc/meminfo; null when unknown).
cJSON *is_env_capture(int argc, char **argv, int n_threads, const char *backend_name, const char *gpu_why);

// Replaces env's "gpu" null with the device's fields: "name", "ordinal",
// "compute_capability" ("9.0"), "sm_count", "mem_total_gib", "mem_free_gib",
// "driver_version" and "runtime_version" ("13.0"), "sm_clock_mhz" and
// "mem_clock_mhz" (the device attributes), "mem_bus_bits", "l2_mib",
// "peak_gbs_attr", "graphs" (whether decode steps replay CUDA graphs).
void is_env_set_gpu(cJSON *env, const is_device_info *di, bool graphs);

// is_env_capture for backend be (why_cuda: why CUDA is not used, NULL or "" when
// it is), with be's device fields (is_env_set_gpu) and "gemm": what its matmul
// runs on and how that was chosen (be->gemm_info: "impl", "unit", "chosen_by",
// "blas" — for OpenBLAS its core name, whether OPENBLAS_CORETYPE chose it, and its
// build configuration).
cJSON *is_env_capture_backend(int argc, char **argv, is_backend *be, const char *why_cuda);

// How busy the machine was while a run measured, so that a reader sees why a
// comparison came out unclear. env["noise"]:
//   "loadavg_before": [1 min, 5 min, 15 min] (/proc/loadavg), "running_before":
//   runnable tasks (/proc/stat procs_running, this process included),
//   "cpu_mhz_before": the mean clock of the online CPUs (cpufreq's
//   scaling_cur_freq, else /proc/cpuinfo "cpu MHz"; a VM may report a constant),
//   "cpu_mhz_source": "cpufreq" | "cpuinfo"; and after the run (is_env_noise_end):
//   "loadavg_after", "running_after", "cpu_mhz_after", "seconds" since the
//   begin, "steal_pct": the share of all CPUs' time the hypervisor gave to other
//   guests over those seconds (/proc/stat steal / total ticks, in percent).
// A value that cannot be read is left out.
typedef struct is_env_noise_mark {
    double t0;                       // monotonic seconds at the begin
    unsigned long long steal, total; // /proc/stat ticks at the begin
    bool stat_ok;
} is_env_noise_mark;
void is_env_noise_begin(cJSON *env, is_env_noise_mark *mark);
// Sets (or replaces) the "after" fields; may be called again (after each point).
void is_env_noise_end(cJSON *env, const is_env_noise_mark *mark);

// The parsers behind them, on the files' text: 0, or -1 when text does not hold
// the field. /proc/loadavg's three averages; /proc/stat's aggregate "cpu" line
// (steal ticks, and total = user + nice + system + idle + iowait + irq + softirq
// + steal) and procs_running (-1 when absent); the mean of /proc/cpuinfo's
// "cpu MHz" lines.
int is_env_parse_loadavg(const char *text, double la[3]);
int is_env_parse_stat(const char *text, unsigned long long *steal, unsigned long long *total, int *running);
int is_env_parse_cpuinfo_mhz(const char *text, double *mhz);

#endif
