// cupti_load.c — opens libcupti at run time: by its soname first (the loader's
// search path), then from the toolkit the build found.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "profiles/cupti.h"

#ifndef IS_CUPTI_SONAME
#define IS_CUPTI_SONAME "libcupti.so"
#endif

static void *cupti_handle;
static char cupti_why[512];
static pthread_once_t cupti_once = PTHREAD_ONCE_INIT;

static void cupti_open(void) {
    const char *names[] = {IS_CUPTI_SONAME, "libcupti.so",
#ifdef IS_CUPTI_LIBDIR
                           IS_CUPTI_LIBDIR "/" IS_CUPTI_SONAME,
#endif
                           NULL};
    for (int i = 0; names[i] && !cupti_handle; i++) {
        cupti_handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!cupti_handle && i == 0) snprintf(cupti_why, sizeof cupti_why, "%s", dlerror());
    }
}

void *is_prof_cupti_lib(char *why, size_t why_len) {
    pthread_once(&cupti_once, cupti_open);
    if (!cupti_handle) snprintf(why, why_len, "cannot load CUPTI: %s", cupti_why);
    return cupti_handle;
}

void *is_prof_cupti_sym(const char *name, char *why, size_t why_len) {
    void *lib = is_prof_cupti_lib(why, why_len);
    if (!lib) return NULL;
    void *f = dlsym(lib, name);
    if (!f) snprintf(why, why_len, "CUPTI has no %s (an older CUPTI than CUDA 13?)", name);
    return f;
}
