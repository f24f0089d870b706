// dynlib.c — see dynlib.h.
#define _GNU_SOURCE // dlinfo, RTLD_DI_LINKMAP
#include "base/dynlib.h"

#include <dlfcn.h>
#include <glob.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The file a handle came from (the loader knows it even for a bare soname).
static void loaded_from(void *h, const char *fallback, char *where, size_t n) {
    struct link_map *lm = NULL;
    if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && lm->l_name[0]) snprintf(where, n, "%s", lm->l_name);
    else snprintf(where, n, "%s", fallback);
}

static void *try_dir(const char *dir, const char *soname, int *tried) {
    char path[4096];
    if (!dir || !*dir || snprintf(path, sizeof path, "%s/%s", dir, soname) >= (int)sizeof path) return NULL;
    (*tried)++;
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

// Each folder matching pattern (a glob), soname in it.
static void *try_glob(const char *pattern, const char *soname, int *tried) {
    glob_t g;
    void *h = NULL;
    if (glob(pattern, GLOB_ONLYDIR | GLOB_NOSORT, NULL, &g) != 0) return NULL;
    for (size_t i = 0; i < g.gl_pathc && !h; i++) h = try_dir(g.gl_pathv[i], soname, tried);
    globfree(&g);
    return h;
}

// The folders of an environment variable holding a prefix (CUDA_HOME) or a list (IS_CUDA_LIB_DIRS).
static void *try_env(const char *var, bool prefix, const char *soname, int *tried) {
    const char *v = getenv(var);
    if (!v || !*v) return NULL;
    char *list = strdup(v), *save = NULL;
    void *h = NULL;
    for (char *d = strtok_r(list, ":", &save); d && !h; d = strtok_r(NULL, ":", &save)) {
        if (!prefix) {
            h = try_dir(d, soname, tried);
            continue;
        }
        const char *subs[] = {"lib64", "lib", "extras/CUPTI/lib64"};
        for (int s = 0; s < 3 && !h; s++) {
            char dir[4096];
            if (snprintf(dir, sizeof dir, "%s/%s", d, subs[s]) < (int)sizeof dir) h = try_dir(dir, soname, tried);
        }
    }
    free(list);
    return h;
}

void *is_dynlib_open(const char *soname, const char *wheel_dir, const char *extra_dir, char *where, size_t where_len,
                     char *why, size_t why_len) {
    int tried = 1;
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    char first[512] = "";
    if (!h) snprintf(first, sizeof first, "%s", dlerror());
    if (!h) h = try_env("IS_CUDA_LIB_DIRS", false, soname, &tried);
    if (!h) h = try_env("CUDA_HOME", true, soname, &tried);
    if (!h) h = try_env("CUDA_PATH", true, soname, &tried);
    const char *toolkit[] = {"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
                             "/usr/local/cuda/extras/CUPTI/lib64", extra_dir};
    for (int i = 0; i < 4 && !h; i++) h = try_dir(toolkit[i], soname, &tried);
    // Python wheels: CUDA 13 groups every library in nvidia/cu13/lib, CUDA 12 kept one folder per wheel
    const char *roots[] = {"$VENV", "/opt/*/.venv/lib/python3*/site-packages", "/opt/*/lib/python3*/site-packages",
                           "/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
                           "/usr/lib/python3/dist-packages", "$HOME/.local/lib/python3*/site-packages"};
    for (int r = 0; r < 7 && !h; r++) {
        char root[2048];
        const char *venv = getenv("VIRTUAL_ENV"), *home = getenv("HOME");
        if (!strcmp(roots[r], "$VENV")) {
            if (!venv || snprintf(root, sizeof root, "%s/lib/python3*/site-packages", venv) >= (int)sizeof root) continue;
        } else if (!strncmp(roots[r], "$HOME", 5)) {
            if (!home || snprintf(root, sizeof root, "%s%s", home, roots[r] + 5) >= (int)sizeof root) continue;
        } else {
            snprintf(root, sizeof root, "%s", roots[r]);
        }
        char pattern[2304];
        snprintf(pattern, sizeof pattern, "%s/nvidia/cu13/lib", root);
        h = try_glob(pattern, soname, &tried);
        if (!h && wheel_dir) {
            snprintf(pattern, sizeof pattern, "%s/nvidia/%s/lib", root, wheel_dir);
            h = try_glob(pattern, soname, &tried);
        }
    }
    if (!h) {
        snprintf(why, why_len, "%s (and %d other places: the toolkit's folders, Python wheels' nvidia/ folders)", first,
                 tried - 1);
        return NULL;
    }
    loaded_from(h, soname, where, where_len);
    return h;
}
