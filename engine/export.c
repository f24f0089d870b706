// export.c — writes a model as a Hugging Face directory: config.json and
// model.safetensors, readable by this engine and by other tools.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h" // defines: is_write_file_atomic
#include "engine/model.h"

typedef struct export_ctx {
    is_model *m;
    is_weight_ref *refs;
    is_st_desc *descs;
} export_ctx;

// Tensor index's bytes in the file's dtype, converted from backend memory.
static int export_fill(void *user, int index, void *dst, is_err *err) {
    export_ctx *x = user;
    const is_weight_ref *w = &x->refs[index];
    size_t numel = (size_t)w->rows * (size_t)w->cols;
    float *tmp = malloc(numel * sizeof(float));
    if (!tmp) return is_errf(err, "tensor '%s': out of memory converting %zu elements", w->name, numel);
    int rc = x->m->be->tensor_get_f32(x->m->be, w->t, w->t->rows, tmp, err);
    if (!rc) is_dtype_convert(dst, x->descs[index].dtype, tmp, IS_DTYPE_F32, numel);
    free(tmp);
    return rc;
}

static const char *torch_dtype_name(is_dtype t) {
    switch (t) {
    case IS_DTYPE_F32: return "float32";
    case IS_DTYPE_F16: return "float16";
    default: return "bfloat16";
    }
}

int is_model_export(is_model *m, const char *dir, is_dtype dtype, is_err *err) {
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return is_errf(err, "%s: exists and is not a directory", dir);
    } else if (mkdir(dir, 0777) != 0) {
        return is_errf(err, "%s: cannot create directory: %s", dir, strerror(errno));
    }
    is_weight_ref *refs;
    int n = is_model_weight_refs(m, &refs);
    is_st_desc *descs = is_xcalloc((size_t)n, sizeof *descs);
    for (int i = 0; i < n; i++) {
        descs[i].name = refs[i].name;
        // norms and biases keep the matrices' dtype, as Hugging Face checkpoints do
        descs[i].dtype = dtype;
        if (refs[i].kind == IS_WKIND_MATRIX) {
            descs[i].ndim = 2;
            descs[i].shape[0] = refs[i].rows;
            descs[i].shape[1] = refs[i].cols;
        } else {
            descs[i].ndim = 1;
            descs[i].shape[0] = refs[i].cols;
        }
    }
    size_t plen = strlen(dir) + 32;
    char *st_path = is_xmalloc(plen), *cfg_path = is_xmalloc(plen);
    snprintf(st_path, plen, "%s/model.safetensors", dir);
    snprintf(cfg_path, plen, "%s/config.json", dir);
    export_ctx x = {m, refs, descs};
    int rc = is_st_write(st_path, descs, n, export_fill, &x, err);
    if (!rc) {
        char *json = is_config_to_json(&m->cfg, torch_dtype_name(dtype));
        rc = is_write_file_atomic(cfg_path, json, strlen(json), err);
        free(json);
    }
    free(st_path);
    free(cfg_path);
    free(descs);
    free(refs);
    return rc;
}
