// dynlib.h — opening a CUDA library at run time (dlopen) wherever a machine keeps
// it: the loader's search path, the toolkit's folders, and the folders of Python
// wheels (a GPU image with PyTorch may have cuBLAS and CUPTI only there).
// Declares: is_dynlib_open.
#ifndef IS_BASE_DYNLIB_H
#define IS_BASE_DYNLIB_H

#include <stddef.h>

// Tries soname (e.g. "libcublas.so.13"), in this order:
//   1. the loader's own search (LD_LIBRARY_PATH, the ld.so cache);
//   2. each folder of IS_CUDA_LIB_DIRS (colon-separated), then $CUDA_HOME and
//      $CUDA_PATH (lib64, lib, extras/CUPTI/lib64);
//   3. the toolkit: /usr/local/cuda/{lib64, targets/x86_64-linux/lib,
//      extras/CUPTI/lib64}, and extra_dir when not NULL (the toolkit the build found);
//   4. Python wheels under the usual site-packages roots (a virtual environment's
//      $VIRTUAL_ENV, /opt/*/.venv, /usr/local/lib/python3*/{site,dist}-packages,
//      /usr/lib/python3/dist-packages, ~/.local): nvidia/cu13/lib (CUDA 13 wheels),
//      then nvidia/WHEEL/lib (CUDA 12 layout, WHEEL = wheel_dir, e.g. "cublas").
// Returns the handle, and in where the file that loaded; NULL with the first
// loader error (the plain soname's) and how many places were tried in why.
void *is_dynlib_open(const char *soname, const char *wheel_dir, const char *extra_dir, char *where, size_t where_len,
                     char *why, size_t why_len);

#endif
