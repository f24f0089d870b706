// cuda_probe.h — does a CUDA device answer? Used to pick a backend and to say
// why CUDA is off. Declares: is_cuda_probe.
#ifndef IS_CUDA_PROBE_H
#define IS_CUDA_PROBE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Returns the number of CUDA devices that answer (0 when none), and when there
// are none writes the reason into why (no driver, no device, not built with CUDA).
int is_cuda_probe(char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
