// cuda_probe.h — does a CUDA device answer? Used to pick a backend and to say
// why CUDA is off. Declares: is_cuda_probe, is_cuda_graph_counts.
#ifndef IS_CUDA_PROBE_H
#define IS_CUDA_PROBE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Returns the number of CUDA devices that answer (0 when none), and when there
// are none writes the reason into why (no driver, no device, not built with CUDA).
int is_cuda_probe(char *why, size_t why_len);

struct is_backend;
// Graphs the CUDA backend be recorded and replayed so far (0 and 0 for another backend).
void is_cuda_graph_counts(const struct is_backend *be, long *recorded, long *replayed);

#ifdef __cplusplus
}
#endif

#endif
