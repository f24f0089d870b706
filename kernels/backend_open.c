// backend_open.c — the backend factory: cpu, cuda, or auto (cuda when a device
// answers and the backend starts, else cpu, saying why).
#include <stdio.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_probe.h" // defines: is_cuda_probe

is_backend *is_backend_open(const is_backend_opts *bo, bool verbose, char *why_cuda, size_t why_len, is_err *err) {
    char why[512] = "";
    int n_dev = is_cuda_probe(why, sizeof why);
    if (n_dev > 0) snprintf(why, sizeof why, "the cpu backend was asked for (%d CUDA device(s) answer)", n_dev);
    if (n_dev > 0 && bo->device >= n_dev) {
        snprintf(why, sizeof why, "device %d was asked for: only %d CUDA device(s) answer", bo->device, n_dev);
        n_dev = 0;
    }
    is_backend *be = NULL;
    if (!strcmp(bo->which, "cuda") || (!strcmp(bo->which, "auto") && n_dev > 0)) {
        if (n_dev == 0) {
            is_errf(err, "%s", why);
            return NULL;
        }
        is_err cerr = {{0}};
        be = is_cuda_backend_create(bo->device, &cerr);
        if (!be && !strcmp(bo->which, "cuda")) {
            is_errf(err, "%s", cerr.msg);
            return NULL;
        }
        if (!be) snprintf(why, sizeof why, "the CUDA backend could not start: %.440s", cerr.msg);
    }
    if (be) {
        be->graphs = be->graphs && !bo->no_graphs;
        be->batch_invariant = bo->batch_invariant;
        if (why_cuda) why_cuda[0] = 0;
        if (verbose) {
            is_device_info di = {0};
            is_err derr = {{0}};
            if (be->device_info && !be->device_info(be, &di, &derr))
                fprintf(stderr, "backend: cuda (device %d: %s, %.1f GiB, sm_%d%d)%s\n", di.ordinal, di.name,
                        di.mem_total_bytes / 1073741824.0, di.cc_major, di.cc_minor,
                        be->graphs ? "" : ", no graphs");
            else
                fprintf(stderr, "backend: cuda\n");
        }
        return be;
    }
    if (why_cuda) snprintf(why_cuda, why_len, "%s", why);
    if (!strcmp(bo->which, "auto") && verbose) fprintf(stderr, "backend: cpu (CUDA off: %s)\n", why);
    be = is_cpu_backend_create(bo->threads, err);
    if (be) be->batch_invariant = bo->batch_invariant;
    return be;
}
