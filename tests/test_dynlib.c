// test_dynlib.c — where a CUDA library is looked for at run time (base/dynlib.h):
// a folder named by IS_CUDA_LIB_DIRS, a CUDA_HOME prefix, a Python wheel's
// nvidia/cu13/lib and nvidia/WHEEL/lib under a virtual environment, and the
// message when it is nowhere. The "CUDA library" is a link to a library every
// test machine has (a copy of cJSON's), under a name no loader path holds.
#define _GNU_SOURCE // dladdr
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/dynlib.h"
#include "support/testutil.h"

static char dir[256];
static char real_lib[512];

static void setup(void) {
    tu_mkdtemp(dir, sizeof dir);
    void *h = dlopen("libcjson.so.1", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(h, "%s", dlerror());
    // the real path of the library, through the loader
    Dl_info info;
    void *sym = dlsym(h, "cJSON_Version");
    cr_assert(sym && dladdr(sym, &info) && info.dli_fname, "cJSON's file");
    snprintf(real_lib, sizeof real_lib, "%s", info.dli_fname);
    unsetenv("IS_CUDA_LIB_DIRS");
    unsetenv("CUDA_HOME");
    unsetenv("CUDA_PATH");
    unsetenv("VIRTUAL_ENV");
}

static void teardown(void) { tu_rm_rf(dir); }

TestSuite(dynlib, .init = setup, .fini = teardown);

// dir/sub/name as a copy of cJSON's library (a copy: the loader knows an already
// loaded file by its inode, a link would come back as the loaded one); returns the folder.
static const char *plant(const char *sub, const char *name) {
    static char folder[1024];
    char path[1200], cmd[2048];
    snprintf(folder, sizeof folder, "%s/%s", dir, sub);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", folder);
    cr_assert_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/%s", folder, name);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", real_lib, path);
    cr_assert_eq(system(cmd), 0, "copy to %s", path);
    return folder;
}

// Sets var to dir/sub (prefix: "" or a list to put before it, ending in ':').
static void set_env_dir(const char *var, const char *prefix, const char *sub) {
    char v[1200];
    snprintf(v, sizeof v, "%s%s/%s", prefix, dir, sub);
    setenv(var, v, 1);
}

static void expect_loaded(const char *soname, const char *wheel, const char *want_dir) {
    char where[512] = "", why[1024] = "";
    void *h = is_dynlib_open(soname, wheel, NULL, where, sizeof where, why, sizeof why);
    cr_assert_not_null(h, "%s not found: %s", soname, why);
    cr_assert_not_null(dlsym(h, "cJSON_Version"), "the library that loaded is the planted one");
    cr_assert(strstr(where, want_dir) == where, "loaded from %s, expected under %s", where, want_dir);
    dlclose(h);
}

Test(dynlib, a_folder_of_IS_CUDA_LIB_DIRS) {
    const char *f = plant("a/lib", "libis_test_a.so.13");
    set_env_dir("IS_CUDA_LIB_DIRS", "/nonexistent:", "a/lib");
    expect_loaded("libis_test_a.so.13", NULL, f);
}

Test(dynlib, a_CUDA_HOME_prefix) {
    const char *f = plant("cuda/lib64", "libis_test_b.so.13");
    set_env_dir("CUDA_HOME", "", "cuda");
    expect_loaded("libis_test_b.so.13", NULL, f);
}

Test(dynlib, python_wheels_cu13_then_per_wheel) {
    // CUDA 13 wheels: every library in nvidia/cu13/lib
    const char *f = plant("venv/lib/python3.12/site-packages/nvidia/cu13/lib", "libis_test_c.so.13");
    set_env_dir("VIRTUAL_ENV", "", "venv");
    expect_loaded("libis_test_c.so.13", "cublas", f);
    // CUDA 12 layout: one folder per wheel
    f = plant("venv/lib/python3.12/site-packages/nvidia/cublas/lib", "libis_test_d.so.12");
    expect_loaded("libis_test_d.so.12", "cublas", f);
}

Test(dynlib, nowhere_is_a_reason) {
    char where[512] = "", why[1024] = "";
    cr_assert_null(is_dynlib_open("libis_no_such_library.so.13", "cublas", NULL, where, sizeof where, why, sizeof why));
    cr_assert(strstr(why, "libis_no_such_library.so.13") && strstr(why, "other places"), "%s", why);
}
