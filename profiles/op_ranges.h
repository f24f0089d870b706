// op_ranges.h — NVTX ranges around every backend op (--nvtx-level 2), by a
// backend that wraps another. Declares: is_prof_wrap_backend.
#ifndef IS_PROF_OP_RANGES_H
#define IS_PROF_OP_RANGES_H

#include "kernels/backend.h"

// At level 2: a backend whose ops open a range each and call `inner`; destroying
// it destroys inner. Below level 2: inner itself. NULL in, NULL out.
is_backend *is_prof_wrap_backend(is_backend *inner);

#endif
