// fuzz_results.c — a result file as `compare` and the report writers read it:
// is_results_load validates it or names what is wrong; a file it accepts renders
// as JSON, CSV, Markdown and HTML (never a "<script" in the page: every string
// from the file is escaped), and compares against itself (every point matched,
// every comparable ratio 1), paired too; merged with itself (reports/merge.h) it
// compares paired against itself (every ratio 1 again) or is refused with a message.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "reports/compare.h"
#include "reports/html.h"
#include "reports/merge.h"
#include "reports/results.h"

// a compared with b (the same points): every comparable ratio 1, or a message.
static void compare_self(const cJSON *a, const cJSON *b, bool paired) {
    is_compare_opts o = {.threshold = 0.05, .seed = 1, .paired = paired};
    is_compare_row *rows = NULL;
    int n = 0;
    is_err err = {{0}};
    if (is_compare(a, b, &o, &rows, &n, &err) == 0) {
        for (int i = 0; i < n; i++)
            if (rows[i].verdict != IS_VERDICT_NONE && fabs(rows[i].ratio - 1) > 1e-12) abort();
        free(is_compare_to_md(rows, n, &o));
        char *page = is_compare_to_html(rows, n, &o, a, b);
        if (strstr(page, "<script")) abort();
        free(page);
        free(rows);
    } else if (!err.msg[0]) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write_tmp(data, size, ".json");
    cJSON *doc = NULL;
    is_err err = {{0}};
    if (is_results_load(path, &doc, &err)) {
        if (!err.msg[0] || doc) abort();
        return 0;
    }
    free(is_results_to_json(doc));
    free(is_results_to_csv(doc));
    free(is_results_to_md(doc));
    char *page = is_results_to_html(doc);
    if (strstr(page, "<script")) abort();
    free(page);
    compare_self(doc, doc, false);
    compare_self(doc, doc, true);
    const cJSON *two[2] = {doc, doc};
    static const char *const names[2] = {"a", "b"};
    cJSON *m = NULL;
    if (is_results_merge(two, names, 2, 1, &m, &err) == 0) {
        if (is_results_runs(m) != 2) abort();
        free(is_results_to_md(m));
        compare_self(m, m, true);
        cJSON_Delete(m);
    } else if (!err.msg[0] || m) {
        abort();
    }
    cJSON_Delete(doc);
    return 0;
}
