// cupti_load.c — opens libcupti at run time where base/dynlib.h looks: the
// loader's search path, the toolkit (the one the build found included), Python
// wheels.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "base/dynlib.h" // defines: is_dynlib_open
#include "profiles/cupti.h"

#ifndef IS_CUPTI_SONAME
#define IS_CUPTI_SONAME "libcupti.so"
#endif

static void *cupti_handle;
static char cupti_why[1024], cupti_where[512];
static pthread_once_t cupti_once = PTHREAD_ONCE_INIT;

#ifndef IS_CUPTI_LIBDIR
#define IS_CUPTI_LIBDIR NULL
#endif

static void cupti_open(void) {
    cupti_handle = is_dynlib_open(IS_CUPTI_SONAME, "cuda_cupti", IS_CUPTI_LIBDIR, cupti_where, sizeof cupti_where,
                                  cupti_why, sizeof cupti_why);
}

void *is_prof_cupti_lib(char *why, size_t why_len) {
    pthread_once(&cupti_once, cupti_open);
    if (!cupti_handle) snprintf(why, why_len, "cannot load CUPTI: %s: %s", IS_CUPTI_SONAME, cupti_why);
    return cupti_handle;
}

const char *is_prof_cupti_path(void) {
    pthread_once(&cupti_once, cupti_open);
    return cupti_handle ? cupti_where : "";
}

void *is_prof_cupti_sym(const char *name, char *why, size_t why_len) {
    void *lib = is_prof_cupti_lib(why, why_len);
    if (!lib) return NULL;
    void *f = dlsym(lib, name);
    if (!f) snprintf(why, why_len, "CUPTI has no %s (an older CUPTI than CUDA 13?)", name);
    return f;
}
