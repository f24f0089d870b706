// test_kernels_cmd.c — `inferscope kernels` on the CPU: a sweep over the CPU
// matmul variants (every variant validates, a row per variant and shape, one
// winner per shape, results.json with the point count of the axes, compare of two
// runs matching every point), attention and a rejected variant on a wrapped CPU
// backend, the validation decision on known perturbations, and bad input (clear
// message, non-zero exit, nothing at --out).
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app.h"          // defines: is_kernels_sweep
#include "kernels/check.h"    // defines: is_nmse, is_check_tolerance, is_check_accept
#include "reports/compare.h"
#include "reports/results.h"
#include "support/testutil.h"

// preset:tiny (D=64, F=192, 4 heads, 2 KV heads, head_dim 16, vocab 512): its
// distinct [out, in] projection shapes, as the sweep must name them.
static const struct {
    const char *tensor, *shape;
} tiny_shapes[] = {{"q,o", "m=64,k=64"},
                   {"k,v", "m=32,k=64"},
                   {"gate,up", "m=192,k=64"},
                   {"down", "m=64,k=192"},
                   {"lm_head", "m=512,k=64"}};
#define N_TINY_SHAPES 5

// The CPU backend's matmul variants, from its own table.
static int cpu_matmul_variants(void) {
    is_err err = {{0}};
    is_backend *be = is_cpu_backend_create(1, &err);
    cr_assert_not_null(be, "%s", err.msg);
    cr_assert_eq(be->n_kernel_ops, 1);
    cr_assert_str_eq(be->kernel_ops[0].op, "matmul");
    int n = 0;
    while (be->kernel_ops[0].variants[n].name) n++;
    be->destroy(be);
    return n;
}

static const char *str(const cJSON *o, const char *k) {
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}
static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

// One sweep of preset:tiny at batch 1 and 3 into out; returns the loaded document.
static cJSON *tiny_sweep(const char *out, tu_run *r) {
    const char *args[] = {"kernels", "--backend", "cpu", "--threads", "1", "--model", "preset:tiny", "-b", "1,3",
                          "-r", "3", "--max-time", "0", "--no-probe", "--out", out, NULL};
    *r = tu_run_cli(args);
    cr_assert_eq(r->status, 0, "stderr: %s", r->err);
    char path[1024];
    snprintf(path, sizeof path, "%s/results.json", out);
    cJSON *doc = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_results_load(path, &doc, &err), 0, "%s", err.msg);
    return doc;
}

Test(kernels_cmd, cpu_matmul_sweep_and_compare) {
    char dir[256], a[512], b[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    int nv = cpu_matmul_variants();
    int expect = N_TINY_SHAPES * 2 * nv;
    tu_run r;
    cJSON *doc = tiny_sweep(a, &r);
    char want[64];
    snprintf(want, sizeof want, "%d points", expect);
    cr_assert_not_null(strstr(r.err, want), "the point count is printed first: %s", r.err);

    // results.json: a kernels document with one ok point per shape x batch x variant
    cr_assert(is_results_is_kernels(doc));
    const cJSON *points = cJSON_GetObjectItemCaseSensitive(doc, "points");
    cr_assert_eq(cJSON_GetArraySize(points), expect);
    int seen[N_TINY_SHAPES][2] = {{0}};
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(p, "config");
        cr_assert_str_eq(str(p, "status"), "ok", "%s", str(p, "error") ? str(p, "error") : "");
        cr_assert_str_eq(str(cfg, "op"), "matmul");
        cr_assert_str_eq(str(cfg, "backend"), "cpu");
        int s = -1;
        for (int i = 0; i < N_TINY_SHAPES; i++)
            if (!strcmp(str(cfg, "tensor"), tiny_shapes[i].tensor)) s = i;
        cr_assert_geq(s, 0, "unexpected tensor %s", str(cfg, "tensor"));
        cr_assert_str_eq(str(cfg, "shape"), tiny_shapes[s].shape);
        int batch = (int)num(cfg, "batch");
        cr_assert(batch == 1 || batch == 3);
        seen[s][batch == 3]++;
        // validated before and after the timed runs, within the stated tolerance
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "validation");
        cr_assert_leq(num(v, "nmse"), num(v, "tolerance"));
        cr_assert_leq(num(v, "nmse_after"), num(v, "tolerance"));
        cr_assert_geq(num(p, "reps"), 3);
        const cJSON *samples = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "samples"), "time_us");
        cr_assert_eq(cJSON_GetArraySize(samples), (int)num(p, "reps"));
        // bytes of the op's model: BF16 weights + F32 activations in and out
        double m = 0, k = 0;
        sscanf(str(cfg, "shape"), "m=%lf,k=%lf", &m, &k);
        cr_assert_eq(num(cJSON_GetObjectItemCaseSensitive(p, "model"), "bytes"), m * k * 2 + 4 * batch * k + 4 * batch * m);
    }
    for (int s = 0; s < N_TINY_SHAPES; s++)
        for (int bi = 0; bi < 2; bi++) cr_assert_eq(seen[s][bi], nv, "every variant of %s once", tiny_shapes[s].tensor);

    // one winner per shape and batch: the lowest median of its variants
    for (int s = 0; s < N_TINY_SHAPES; s++)
        for (int batch = 1; batch <= 3; batch += 2) {
            int winners = 0;
            double best = INFINITY, won = NAN;
            cJSON_ArrayForEach(p, points) {
                const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(p, "config");
                if (strcmp(str(cfg, "tensor"), tiny_shapes[s].tensor) || (int)num(cfg, "batch") != batch) continue;
                double med = num(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "stats"), "time_us"),
                                 "median");
                if (med < best) best = med;
                if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "winner"))) {
                    winners++;
                    won = med;
                }
            }
            cr_assert_eq(winners, 1, "%s b=%d", tiny_shapes[s].tensor, batch);
            cr_assert_eq(won, best, "%s b=%d: the winner has the lowest median", tiny_shapes[s].tensor, batch);
        }

    // stdout: the table, a row per point, winners marked
    int rows = 0, marked = 0;
    for (const char *l = r.out; (l = strstr(l, "\n| matmul")); l++) {
        rows++;
        const char *end = strchr(l + 1, '\n');
        const char *star = strstr(l + 1, "| *");
        if (star && (!end || star < end)) marked++;
    }
    cr_assert_eq(rows, expect, "%s", r.out);
    cr_assert_eq(marked, N_TINY_SHAPES * 2, "%s", r.out);
    // results.csv: a header and a row per point
    char path[1024];
    snprintf(path, sizeof path, "%s/results.csv", a);
    char *csv = tu_read_file(path, NULL);
    cr_assert_not_null(csv);
    int lines = 0;
    for (const char *c = csv; *c; c++) lines += *c == '\n';
    cr_assert_eq(lines, expect + 1);
    cr_assert_eq(strncmp(csv, "op,model,backend,dtype,threads,tensor,shape,batch,context,variant,status", 71), 0, "%s", csv);
    free(csv);
    tu_run_free(&r);

    // a second run: compare matches every point and gives each a verdict on time_us
    cJSON *doc2 = tiny_sweep(b, &r);
    tu_run_free(&r);
    is_compare_opts o = {.metric = NULL, .threshold = 0.05, .seed = 7};
    is_compare_row *cr = NULL;
    int n = 0;
    is_err err = {{0}};
    cr_assert_eq(is_compare(doc, doc2, &o, &cr, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, expect);
    for (int i = 0; i < n; i++) {
        cr_assert(cr[i].in_base && cr[i].in_new, "%s", cr[i].key);
        cr_assert_neq(cr[i].verdict, IS_VERDICT_NONE, "%s: %s", cr[i].key, cr[i].note);
    }
    free(cr);
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/results.json", a);
    snprintf(pb, sizeof pb, "%s/results.json", b);
    const char *cargs[] = {"compare", pa, pb, NULL};
    r = tu_run_cli(cargs);
    cr_assert(r.status == 0 || r.status == 1, "compare exit %d: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.out, "Comparing time_us (us, lower is better)"), "%s", r.out);
    snprintf(want, sizeof want, "%d points:", expect);
    cr_assert_not_null(strstr(r.out, want), "%s", r.out);
    cr_assert_not_null(strstr(r.out, " 0 not compared"), "%s", r.out);
    tu_run_free(&r);
    cJSON_Delete(doc);
    cJSON_Delete(doc2);
    tu_rm_rf(dir);
}

Test(kernels_cmd, validation_decision) {
    enum { N = 1000 };
    float ref[N], got[N];
    for (int i = 0; i < N; i++) ref[i] = got[i] = (float)sin(0.37 * i + 1) * 3.0f;
    // the checks kernel variants name (matmul with F32 or BF16 operands, attention)
    const is_check checks[] = {IS_CHECK_MATMUL_F32, IS_CHECK_MATMUL_BF16, IS_CHECK_ATTENTION};
    // an exact copy: NMSE 0, passes every tolerance
    cr_assert_eq(is_nmse(got, ref, N), 0);
    for (int k = 0; k < 3; k++) {
        double tol = is_check_tolerance(checks[k]);
        cr_assert(tol > 0 && tol < 1e-3, "check %d: %g", checks[k], tol);
        cr_assert(is_check_accept(0, checks[k]));
    }
    // every element off by a relative 1e-2: NMSE exactly 1e-4 (up to float rounding),
    // above every tolerance of a variant
    for (int i = 0; i < N; i++) got[i] = ref[i] * 1.01f;
    double e = is_nmse(got, ref, N);
    cr_assert(fabs(e - 1e-4) < 1e-6, "nmse %g", e);
    for (int k = 0; k < 3; k++) cr_assert_not(is_check_accept(e, checks[k]));
    // off by a relative 2^-12 (NMSE ~6e-8): passes the BF16 matmul bound, fails the F32 one
    for (int i = 0; i < N; i++) got[i] = ref[i] * (1.0f + 1.0f / 4096);
    e = is_nmse(got, ref, N);
    cr_assert(e > 5e-8 && e < 7e-8, "nmse %g", e);
    cr_assert(is_check_accept(e, IS_CHECK_MATMUL_BF16));
    cr_assert_not(is_check_accept(e, IS_CHECK_MATMUL_F32));
    // an extra BF16 rounding of the output (relative error up to 2^-9: NMSE ~1e-6)
    // fails even the BF16 matmul bound
    for (int i = 0; i < N; i++) got[i] = is_bf16_to_f32(is_f32_to_bf16(ref[i]));
    e = is_nmse(got, ref, N);
    cr_assert(e > 1e-7 && e < 1e-5, "nmse %g", e);
    cr_assert_not(is_check_accept(e, IS_CHECK_MATMUL_BF16), "nmse %g", e);
    // every check has a reason, and only exact data movement tolerates nothing
    for (int c = 0; c < IS_CHECK_COUNT; c++) {
        cr_assert(strlen(is_check_reason((is_check)c)) > 10, "check %d has no reason", c);
        cr_assert((is_check_tolerance((is_check)c) == 0) == (c == IS_CHECK_EXACT), "check %d", c);
    }
    // one NaN or inf anywhere fails
    memcpy(got, ref, sizeof got);
    got[N / 2] = NAN;
    cr_assert_not(is_check_accept(is_nmse(got, ref, N), IS_CHECK_FORWARD_BF16));
    got[N / 2] = INFINITY;
    cr_assert_not(is_check_accept(is_nmse(got, ref, N), IS_CHECK_FORWARD_BF16));
    // an all-zero reference: 0 only for an all-zero output
    float zero[4] = {0, 0, 0, 0}, one[4] = {0, 0, 1e-20f, 0};
    cr_assert_eq(is_nmse(zero, zero, 4), 0);
    cr_assert_not(is_check_accept(is_nmse(one, zero, 4), IS_CHECK_FORWARD_BF16));
}

// Bad input: exit 2, a message naming what was wrong, no --out directory.
static void refused(const char *what, const char *const *extra, const char *msg) {
    char dir[256], out[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/run", dir);
    const char *args[32] = {"kernels", "--backend", "cpu", "--threads", "1", "--no-probe", "--out", out};
    int n = 8;
    for (int i = 0; extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    tu_run r = tu_run_cli(args);
    cr_assert_eq(r.status, 2, "%s: exit %d, stderr: %s", what, r.status, r.err);
    cr_assert_not_null(strstr(r.err, msg), "%s: stderr: %s", what, r.err);
    cr_assert_not(exists(out), "%s: nothing written at --out", what);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

Test(kernels_cmd, bad_input) {
    const char *tiny[] = {"--model", "preset:tiny"};
    refused("unknown variant", (const char *[]){tiny[0], tiny[1], "--kernel", "matmul=nope", NULL},
            "op 'matmul' has no variant 'nope'");
    refused("unknown op in a spec", (const char *[]){tiny[0], tiny[1], "--kernel", "attention=split", NULL},
            "no op 'attention'");
    refused("unknown --ops", (const char *[]){tiny[0], tiny[1], "--ops", "matmul,softmax", NULL},
            "--ops: the cpu backend has no op 'softmax'");
    refused("bad list", (const char *[]){tiny[0], tiny[1], "--batch", "1,,8", NULL}, "--batch");
    refused("bad number", (const char *[]){tiny[0], tiny[1], "--reps", "0", NULL}, "--reps '0'");
    refused("unknown preset", (const char *[]){"--model", "preset:nope", NULL}, "no such preset");
    refused("unknown flag", (const char *[]){tiny[0], tiny[1], "--frobnicate", "1", NULL}, "unknown flag");
    // 5 shapes x 4096 batches x every variant: past the 10000-point limit
    refused("sweep too large", (const char *[]){tiny[0], tiny[1], "--batch", "1-4096+1", NULL},
            "more than 10000 points");
}

// ---- the sweep on a backend with attention and GEMV variants -----------------------------
// The CPU backend wrapped with a table of three ops, each with a correct variant and
// a wrong one ("off": attention output 1% too large; "nan": one GEMV output NaN), so
// the attention paths (paged cache, reference on a subsample of queries) and the
// rejection of a variant run on the CPU.

static const is_kernel_variant w_attn_variants[] = {
    {"plain", IS_CHECK_ATTENTION, NULL}, {"off", IS_CHECK_ATTENTION, NULL}, {NULL, IS_CHECK_EXACT, NULL}};
static const is_kernel_variant w_mm_variants[] = {
    {"plain", IS_CHECK_MATMUL_F32, NULL}, {"nan", IS_CHECK_MATMUL_F32, NULL}, {NULL, IS_CHECK_EXACT, NULL}};
static const is_kernel_op w_ops[] = {
    {"attn_decode", w_attn_variants, "test: the CPU's attention, and one 1% off", IS_KOP_ATTN_DECODE},
    {"attn_prefill", w_attn_variants, "test: the CPU's attention, and one 1% off", IS_KOP_ATTN_PREFILL},
    {"gemv", w_mm_variants, "test: the CPU's matmul, and one with a NaN", IS_KOP_GEMV},
};
static int w_sel[3];
static is_backend *w_cpu;

static void w_select(is_backend *be, int op, int v) {
    (void)be;
    w_sel[op] = v;
}

static void w_attention(is_backend *be, is_tensor *out, const is_tensor *q, const is_tensor *kp, const is_tensor *vp,
                        const is_attn_batch *b, int H, int KV, int hd) {
    (void)be;
    w_cpu->attention(w_cpu, out, q, kp, vp, b, H, KV, hd);
    if (w_sel[0] == 1 || w_sel[1] == 1)
        for (int64_t i = 0; i < (int64_t)b->n_tokens * out->cols; i++) ((float *)out->data)[i] *= 1.01f;
}

static void w_matmul(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias,
                     int n) {
    (void)be;
    w_cpu->matmul(w_cpu, out, x, w, bias, n);
    if (w_sel[2] == 1) ((float *)out->data)[out->cols / 2] = NAN;
}

Test(kernels_cmd, attention_and_rejected_variants) {
    is_err err = {{0}};
    w_cpu = is_cpu_backend_create(2, &err);
    cr_assert_not_null(w_cpu, "%s", err.msg);
    is_backend wb = *w_cpu;
    wb.kernel_ops = w_ops;
    wb.n_kernel_ops = 3;
    wb.kernel_select = w_select;
    wb.attention = w_attention;
    wb.matmul = w_matmul;
    char *args[] = {"--model", "preset:tiny", "-b", "1,2", "--depth", "20,33", "--prompt-len", "17", "-r", "2",
                    "--max-time", "0", "--no-probe", NULL};
    cJSON *doc = NULL;
    int rc = is_kernels_sweep(&wb, 13, args, &doc, &err);
    cr_assert_eq(rc, 1, "a variant fails validation: exit 1 (got %d: %s)", rc, err.msg);
    cr_assert_not_null(doc);
    cr_assert_eq(is_results_validate(doc, "sweep", &err), 0, "%s", err.msg);
    const cJSON *points = cJSON_GetObjectItemCaseSensitive(doc, "points");
    // decode 2 batches x 2 contexts, prefill 2 batches x 1 prompt, gemv 5 shapes x 2 batches; 2 variants each
    cr_assert_eq(cJSON_GetArraySize(points), (4 + 2 + 10) * 2);
    const is_config *cfg = &is_preset_find("tiny")->cfg;
    int winners = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(p, "config"), *v = cJSON_GetObjectItemCaseSensitive(p, "validation");
        const char *op = str(c, "op");
        bool wrong = strcmp(str(c, "variant"), "plain") != 0;
        cr_assert_not_null(v, "every point was validated");
        if (!wrong) {
            cr_assert_str_eq(str(p, "status"), "ok", "%s: %s", op, str(p, "error") ? str(p, "error") : "");
            cr_assert_leq(num(v, "nmse"), num(v, "tolerance"));
            winners += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "winner"));
        } else {
            // reported with its NMSE and the tolerance, not timed, never the winner
            cr_assert_str_eq(str(p, "status"), "error", "%s", op);
            cr_assert_not_null(strstr(str(p, "error"), "validation failed"), "%s", str(p, "error"));
            cr_assert_null(cJSON_GetObjectItemCaseSensitive(p, "samples"));
            cr_assert_not(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "winner")));
            if (!strcmp(op, "gemv")) cr_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(v, "nmse")), "NaN: no number");
            else cr_assert(num(v, "nmse") > 5e-5 && num(v, "nmse") < 2e-4, "1%% off: NMSE ~1e-4, got %g", num(v, "nmse"));
        }
        int B = (int)num(c, "batch"), C = (int)num(c, "context");
        double bytes = num(cJSON_GetObjectItemCaseSensitive(p, "model"), "bytes");
        int kvd = cfg->n_kv_heads * cfg->head_dim, qd = cfg->n_heads * cfg->head_dim;
        if (!strcmp(op, "attn_decode") && !wrong) {
            cr_assert(C == 20 || C == 33);
            cr_assert_eq(bytes, 2.0 * B * C * kvd * 4 + 2.0 * 4 * B * qd, "K and V of the context (F32), q and out");
        }
        if (!strcmp(op, "attn_prefill") && !wrong) {
            cr_assert_eq(C, 17);
            cr_assert_eq(bytes, 2.0 * B * C * kvd * 4 + 2.0 * 4 * B * C * qd);
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "derived");
            double t = num(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "stats"), "time_us"),
                           "median");
            cr_assert(fabs(num(d, "gflops") - 4.0 * qd * B * (17.0 * 18 / 2) / (t * 1e-6) / 1e9) < 1e-6 * num(d, "gflops"));
        }
    }
    cr_assert_eq(winners, 4 + 2 + 10, "the correct variant wins every shape");
    // the report: the rejected variants marked invalid, with a note giving the NMSE and the tolerance
    char *md = is_results_to_md(doc);
    cr_assert_not_null(strstr(md, " invalid |"), "%s", md);
    cr_assert_not_null(strstr(md, "validation failed: NMSE nan"), "%s", md);
    cr_assert_not_null(strstr(md, "tolerance 1e-06"), "%s", md);
    free(md);
    cJSON_Delete(doc);
    w_cpu->destroy(w_cpu);
}
