// cuda_probe.h — does a CUDA device answer? Used to pick a backend and to say
// why CUDA is off. Declares: is_cuda_probe, is_cuda_graph_counts,
// is_cuda_graph_failed, is_cuda_break_next_capture.
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
// Graph recordings of be that failed, each shape then run eagerly (0 for another backend).
long is_cuda_graph_failed(const struct is_backend *be);
// Test hook: the next graph recording on be makes a call a recording forbids (a
// stream synchronize), so it fails as a real one would. Nothing for another backend.
void is_cuda_break_next_capture(struct is_backend *be);

#ifdef __cplusplus
}
#endif

#endif
