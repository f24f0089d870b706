// cmd_export.c — `inferscope export`: a model or preset written as a Hugging
// Face directory (config.json, model.safetensors, tokenizer.json).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app.h"
#include "base/fileio.h" // defines: is_read_file, is_write_file_atomic
#include "engine/model.h"
#include "engine/tokenizer.h"

static const char *export_help =
    "usage: inferscope export --model MODEL --out DIR|FILE.gguf [--dtype f32|bf16|f16|q8_0|q4_0] [--seed S]\n"
    "\n"
    "Writes MODEL (a directory, a .gguf file or preset:NAME) as a Hugging Face directory: config.json,\n"
    "model.safetensors in the chosen dtype (default bf16: f32, bf16 or f16) and tokenizer.json (the model's,\n"
    "or the built-in GPT-2 vocabulary for a preset); or, when --out ends in .gguf, as one GGUF file that\n"
    "llama.cpp also runs: matrices in f32, f16, bf16, q8_0 or q4_0 (a q8_0 or q4_0 file holds exactly the\n"
    "weights `--dtype q8_0` runs here), norms in f32, and the vocabulary as GGUF metadata. Files are\n"
    "written under temporary names and renamed when complete.\n";

// tokenizer.json beside the weights: a copy of the model directory's, or for a
// preset the built-in vocabulary written in the Hugging Face format.
static int export_tokenizer(const char *model, const char *dir, is_err *err) {
    char src[2048], dst[2048];
    snprintf(dst, sizeof dst, "%s/tokenizer.json", dir);
    if (!strncmp(model, "preset:", 7)) {
        is_tokenizer *tok;
        if (is_tok_load_builtin(&tok, err)) return -1;
        int rc = is_tok_save_hf(tok, dst, err);
        is_tok_free(tok);
        return rc;
    }
    snprintf(src, sizeof src, "%s/tokenizer.json", model);
    struct stat st;
    if (stat(src, &st) != 0) return 0; // the model has none
    size_t len;
    char *data;
    if (is_read_file(src, (size_t)1 << 30, &data, &len, err)) return -1;
    int rc = is_write_file_atomic(dst, data, len, err);
    free(data);
    return rc;
}

#define EXPORT_FLAGS                                                                                             \
    (IS_FLAG_BIT(IS_FLAG_MODEL) | IS_FLAG_BIT(IS_FLAG_DTYPE) | IS_FLAGS_DTYPE_F16 | IS_FLAG_BIT(IS_FLAG_SEED) |   \
     IS_FLAG_BIT(IS_FLAG_OUT) | IS_FLAG_BIT(IS_FLAG_THREADS))

int is_cmd_export(int argc, char **argv) {
    const char *cmd = "export";
    is_flags o;
    is_flags_init(&o);
    o.dtype = IS_DTYPE_BF16;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int c = is_flags_parse(cmd, EXPORT_FLAGS, argc, argv, &i, &o);
        if (c < 0) return IS_EXIT_USAGE;
        if (c > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(export_help, stdout);
            return 0;
        }
        return is_app_usage(cmd, "unknown flag '%s'", a);
    }
    if (!o.model) return is_app_usage(cmd, "--model is required (a model directory, a .gguf file or preset:NAME)");
    if (!o.out) return is_app_usage(cmd, "--out DIR or --out FILE.gguf is required");
    size_t olen = strlen(o.out);
    bool gguf = olen > 5 && !strcmp(o.out + olen - 5, ".gguf");
    is_dtype dt = (is_dtype)o.dtype;
    if (dt == IS_DTYPE_I8 || (!gguf && is_dtype_quantized(dt)))
        return is_app_usage(cmd, "--dtype %s: a Hugging Face directory takes f32, bf16 or f16; a .gguf file also q8_0 "
                            "and q4_0", is_dtype_name(dt));
    is_err err = {{0}};
    is_backend *be = is_cpu_backend_create(o.threads, &err);
    is_model *m = NULL;
    is_tokenizer *tok = NULL;
    int rc = 1;
    if (be) {
        // hold the weights in f32 unless the export is bf16 or quantized: no double
        // rounding, and a quantized file holds exactly the model `--dtype q8_0` runs
        is_model_opts mo = {.dtype = dt == IS_DTYPE_BF16 || is_dtype_quantized(dt) ? (int)dt : IS_DTYPE_F32,
                            .seed = o.seed};
        int erc = is_model_load(o.model, &mo, be, &m, &err);
        if (!erc && gguf)
            erc = is_app_open_tokenizer(NULL, o.model, false, "", &tok, &err) ||
                  is_model_export_gguf(m, o.out, dt, tok, &err);
        else if (!erc)
            erc = is_model_export(m, o.out, dt, &err) || export_tokenizer(o.model, o.out, &err);
        if (!erc) {
            fprintf(stderr, "exported %s to %s (%s%s)\n", o.model, o.out, is_dtype_name(dt),
                    gguf && !tok ? ", no tokenizer" : "");
            rc = 0;
        }
    }
    if (rc) fprintf(stderr, "inferscope export: %s\n", err.msg);
    if (tok) is_tok_free(tok);
    is_model_free(m);
    if (be) be->destroy(be);
    return rc;
}
