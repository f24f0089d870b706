// profile_md.c — the profile sections of report.md (bench/profile.h): each
// point's kernel table per phase and its DRAM counters beside the model's
// bytes; one line per reason when they could not be collected.
#include "reports/profile_md.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define PMD_CELL 160
#define PMD_MAX_ROWS 15 // kernels shown per phase; results.json holds them all

static void cell_num(char *buf, double x, int decimals) {
    if (!isfinite(x)) snprintf(buf, PMD_CELL, "-");
    else snprintf(buf, PMD_CELL, "%.*f", decimals, x);
}

static void cell_pct(char *buf, double frac) {
    if (!isfinite(frac)) snprintf(buf, PMD_CELL, "-");
    else snprintf(buf, PMD_CELL, "%.1f", frac * 100);
}

void is_results_point_label(const cJSON *p, char *buf, size_t n) {
    const cJSON *c = is_json_get(p, "config");
    const char *st = is_json_str(c, "strategy"), *k = is_json_str(c, "kernel");
    snprintf(buf, n, "b=%.0f p=%.0f n=%.0f d=%.0f %s %s", is_json_num(c, "batch"), is_json_num(c, "prompt"),
             is_json_num(c, "gen"), is_json_num(c, "depth"), st ? st : "?", k ? k : "?");
}

// One table, rows[r][c] with the header in row 0.
static void table(is_strbuf *b, char (*cells)[PMD_CELL], int n_rows, int nc, const bool *right) {
    const char **grid = is_xmalloc((size_t)n_rows * (size_t)nc * sizeof *grid);
    for (int i = 0; i < n_rows * nc; i++) grid[i] = cells[i];
    is_md_table(b, grid, n_rows, nc, right);
    free(grid);
}

static void kernel_phase(is_strbuf *b, const cJSON *ph) {
    const char *name = is_json_str(ph, "phase");
    double wall = is_json_num(ph, "wall_ms"), kern = is_json_num(ph, "kernel_ms"), busy = is_json_num(ph, "busy_ms");
    double share = is_json_num(ph, "share");
    is_sb_printf(b, "\n**%s**: ", name ? name : "?");
    if (isfinite(wall) && wall > 0)
        is_sb_printf(b, "wall %.3f ms over %.0f range(s); kernels %.3f ms (%.1f%% of the phase), device busy %.3f ms\n\n",
                     wall, is_json_num(ph, "ranges"), kern, share * 100, busy);
    else is_sb_printf(b, "no range to compare with; kernels %.3f ms, device busy %.3f ms\n\n", kern, busy);
    static const char *const head[] = {"kernel", "kind", "calls", "total ms", "mean ms", "max ms", "share %"};
    static const bool right[] = {false, false, true, true, true, true, true};
    enum { NC = 7 };
    const cJSON *ks = is_json_get(ph, "kernels");
    int n = cJSON_GetArraySize(ks), shown = n < PMD_MAX_ROWS ? n : PMD_MAX_ROWS;
    char(*cells)[PMD_CELL] = is_xcalloc((size_t)(shown + 1) * NC, sizeof *cells);
    for (int c = 0; c < NC; c++) snprintf(cells[c], PMD_CELL, "%s", head[c]);
    int r = 1;
    const cJSON *k;
    cJSON_ArrayForEach(k, ks) {
        if (r > shown) break;
        char(*row)[PMD_CELL] = &cells[r * NC];
        const char *kn = is_json_str(k, "name"), *kind = is_json_str(k, "kind");
        is_md_cell_text(row[0], PMD_CELL, kn ? kn : "?");
        snprintf(row[1], PMD_CELL, "%s", kind ? kind : "?");
        cell_num(row[2], is_json_num(k, "calls"), 0);
        cell_num(row[3], is_json_num(k, "total_ms"), 3);
        cell_num(row[4], is_json_num(k, "mean_ms"), 4);
        cell_num(row[5], is_json_num(k, "max_ms"), 4);
        cell_pct(row[6], is_json_num(k, "share"));
        r++;
    }
    table(b, cells, shown + 1, NC, right);
    if (n > shown) is_sb_printf(b, "\n(%d more in results.json)\n", n - shown);
    free(cells);
}

static void kernel_tables(is_strbuf *b, const cJSON *p, const cJSON *kt) {
    char label[256];
    is_results_point_label(p, label, sizeof label);
    is_sb_printf(b, "\n## Kernels per phase: %s\n\n", label);
    const char *how = is_json_str(kt, "collected"), *lib = is_json_str(kt, "cupti_library");
    if (how) is_sb_printf(b, "Collected during %s.\n", how);
    if (lib && *lib) is_sb_printf(b, "CUPTI: %s.\n", lib);
    is_sb_printf(b, "%.0f device records, %.0f dropped by CUPTI, %.0f with no API record, %.0f launched outside "
                    "any phase range.\n",
                 is_json_num(kt, "records"), is_json_num(kt, "dropped_records"), is_json_num(kt, "no_api_record"),
                 is_json_num(kt, "outside_ranges"));
    const cJSON *ph;
    cJSON_ArrayForEach(ph, is_json_get(kt, "phases")) kernel_phase(b, ph);
}

static void counter_table(is_strbuf *b, const cJSON *p, const cJSON *ct) {
    char label[256];
    is_results_point_label(p, label, sizeof label);
    is_sb_printf(b, "\n## DRAM counters: %s\n\n", label);
    const char *how = is_json_str(ct, "collected"), *chip = is_json_str(ct, "chip");
    const char *rd = is_json_str(ct, "read_metric"), *wr = is_json_str(ct, "write_metric");
    is_sb_printf(b, "%s: %s + %s, %.0f pass(es), %.0f range(s) dropped; collected in %s. GB/s: measured bytes over "
                    "the timed repetitions' median phase time.\n\n",
                 chip ? chip : "?", rd ? rd : "?", wr ? wr : "?", is_json_num(ct, "passes"),
                 is_json_num(ct, "dropped_ranges"), how ? how : "a separate pass");
    static const char *const head[] = {"phase", "ranges", "read MB", "write MB", "measured MB", "model MB",
                                       "measured / model", "median ms", "GB/s"};
    static const bool right[] = {false, true, true, true, true, true, true, true, true};
    enum { NC = 9 };
    const cJSON *phases = is_json_get(ct, "phases");
    int n = cJSON_GetArraySize(phases);
    char(*cells)[PMD_CELL] = is_xcalloc((size_t)(n + 1) * NC, sizeof *cells);
    for (int c = 0; c < NC; c++) snprintf(cells[c], PMD_CELL, "%s", head[c]);
    int r = 1;
    const cJSON *ph;
    cJSON_ArrayForEach(ph, phases) {
        char(*row)[PMD_CELL] = &cells[r * NC];
        const char *name = is_json_str(ph, "phase");
        snprintf(row[0], PMD_CELL, "%s", name ? name : "?");
        cell_num(row[1], is_json_num(ph, "ranges"), 0);
        cell_num(row[2], is_json_num(ph, "read_bytes") / 1e6, 2);
        cell_num(row[3], is_json_num(ph, "write_bytes") / 1e6, 2);
        cell_num(row[4], is_json_num(ph, "bytes") / 1e6, 2);
        cell_num(row[5], is_json_num(ph, "model_bytes") / 1e6, 2);
        cell_num(row[6], is_json_num(ph, "ratio"), 3);
        cell_num(row[7], is_json_num(ph, "median_ms"), 3);
        cell_num(row[8], is_json_num(ph, "gbs"), 1);
        r++;
    }
    table(b, cells, n + 1, NC, right);
    free(cells);
}

void is_results_note_once(is_strbuf *lines, const char *what, const char *reason) {
    char line[1400];
    snprintf(line, sizeof line, "- %s: %s\n", what, reason);
    if (lines->p && strstr(lines->p, line)) return;
    is_sb_puts(lines, line);
}

void is_results_profile_md(is_strbuf *b, const cJSON *doc) {
    is_strbuf notes = {0};
    const cJSON *p;
    cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
        static const char *const keys[] = {"kernel_table", "counters"};
        static const char *const what[] = {"kernel tables", "DRAM counters"};
        for (int k = 0; k < 2; k++) {
            const cJSON *sec = is_json_get(p, keys[k]);
            const char *st = is_json_str(sec, "status");
            if (!st || !strcmp(st, "ok")) continue;
            const char *why = is_json_str(sec, "reason");
            char text[1200];
            is_md_cell_text(text, sizeof text, why ? why : st);
            is_results_note_once(&notes, what[k], text);
        }
    }
    if (notes.n) {
        is_sb_puts(b, "\n## Profiling\n\n");
        is_sb_puts(b, notes.p);
    }
    free(notes.p);
    cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
        const cJSON *kt = is_json_get(p, "kernel_table"), *ct = is_json_get(p, "counters");
        const char *ks = is_json_str(kt, "status"), *cs = is_json_str(ct, "status");
        if (ks && !strcmp(ks, "ok")) kernel_tables(b, p, kt);
        if (cs && !strcmp(cs, "ok")) counter_table(b, p, ct);
    }
}
