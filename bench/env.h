// env.h — the environment a result was measured in, as a JSON object: CPU model
// and threads, GPU fields when present, OS, compiler and flags, build type, git
// commit, command line, inferscope version. Declares: is_env_capture.
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

#endif
