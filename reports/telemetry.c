// telemetry.c — see telemetry.h.
#include "reports/telemetry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"         // defines: is_xcalloc
#include "reports/profile_md.h" // defines: is_results_point_label, is_results_note_once

void is_telemetry_read(const cJSON *point, is_telemetry_view *v) {
    const cJSON *t = is_json_get(point, "telemetry");
    memset(v, 0, sizeof *v);
    v->throttled = -1;
    v->energy_j = v->joules_per_token = NAN;
    if (!cJSON_IsObject(t)) return;
    v->present = true;
    v->status = is_json_str(t, "status");
    v->reason = is_json_str(t, "reason");
    v->ok = v->status && !strcmp(v->status, "ok");
    if (!v->ok) return;
    const cJSON *th = is_json_get(t, "throttled");
    if (cJSON_IsBool(th)) v->throttled = cJSON_IsTrue(th) ? 1 : 0;
    v->energy_j = is_json_num(t, "energy_j");
    v->joules_per_token = is_json_num(t, "joules_per_token");
}

bool is_telemetry_any(const cJSON *doc, bool ok_only) {
    const cJSON *p;
    cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
        is_telemetry_view v;
        is_telemetry_read(p, &v);
        if (ok_only ? v.ok : v.present) return true;
    }
    return false;
}

#define TMD_CELL 160

// "1410 / 1755 / 1980": min / median / max of a range object, "-" when absent.
static void range_cell(char *buf, const cJSON *r, int decimals) {
    double lo = is_json_num(r, "min"), med = is_json_num(r, "median"), hi = is_json_num(r, "max");
    if (!isfinite(lo) || !isfinite(med) || !isfinite(hi)) snprintf(buf, TMD_CELL, "-");
    else snprintf(buf, TMD_CELL, "%.*f / %.*f / %.*f", decimals, lo, decimals, med, decimals, hi);
}

static void sig_cell(char *buf, double x) {
    if (!isfinite(x)) snprintf(buf, TMD_CELL, "-");
    else snprintf(buf, TMD_CELL, "%.3g", x);
}

static void row_cells(const cJSON *p, const cJSON *t, char (*row)[TMD_CELL]) {
    char label[256];
    is_results_point_label(p, label, sizeof label);
    is_md_cell_text(row[0], TMD_CELL, label);
    snprintf(row[1], TMD_CELL, "%.0f", is_json_num(t, "n_samples"));
    range_cell(row[2], is_json_get(t, "sm_clock_mhz"), 0);
    range_cell(row[3], is_json_get(t, "mem_clock_mhz"), 0);
    range_cell(row[4], is_json_get(t, "power_w"), 1);
    range_cell(row[5], is_json_get(t, "temp_c"), 0);
    double e = is_json_num(t, "energy_j");
    const char *how = is_json_str(t, "energy_method");
    if (isfinite(e) && how) snprintf(row[6], TMD_CELL, "%.3g (%.40s)", e, how);
    else sig_cell(row[6], e);
    sig_cell(row[7], is_json_num(t, "joules_per_token"));
    const cJSON *th = is_json_get(t, "throttled");
    if (cJSON_IsTrue(th))
        snprintf(row[8], TMD_CELL, "yes, %.0f of %.0f samples", is_json_num(t, "throttled_samples"),
                 is_json_num(t, "n_samples"));
    else snprintf(row[8], TMD_CELL, "%s", cJSON_IsFalse(th) ? "no" : "unknown");
    const cJSON *names = is_json_get(t, "throttle_reasons"), *nm;
    size_t k = 0;
    row[9][0] = 0;
    cJSON_ArrayForEach(nm, names) {
        if (!cJSON_IsString(nm)) continue;
        k += (size_t)snprintf(row[9] + k, k < TMD_CELL ? TMD_CELL - k : 0, "%s%s", k ? ", " : "", nm->valuestring);
        if (k >= TMD_CELL) break;
    }
    if (!row[9][0]) snprintf(row[9], TMD_CELL, "%s", cJSON_IsArray(names) ? "none" : "-");
}

void is_telemetry_md(is_strbuf *b, const cJSON *doc) {
    if (!is_telemetry_any(doc, false)) return;
    is_strbuf notes = {0};
    int n_ok = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
        is_telemetry_view v;
        is_telemetry_read(p, &v);
        if (!v.present) continue;
        char text[1200];
        if (!v.ok) {
            is_md_cell_text(text, sizeof text, v.reason ? v.reason : v.status ? v.status : "no status");
            is_results_note_once(&notes, "GPU telemetry", text);
            continue;
        }
        n_ok++;
        const cJSON *t = is_json_get(p, "telemetry"), *e;
        const char *note = is_json_str(t, "note");
        if (note) {
            is_md_cell_text(text, sizeof text, note);
            is_results_note_once(&notes, "note", text);
        }
        cJSON_ArrayForEach(e, is_json_get(t, "read_errors")) {
            if (!cJSON_IsString(e)) continue;
            is_md_cell_text(text, sizeof text, e->valuestring);
            is_results_note_once(&notes, e->string, text);
        }
    }
    is_sb_puts(b, "\n## GPU telemetry\n\n");
    if (notes.n) is_sb_puts(b, notes.p);
    free(notes.p);
    if (!n_ok) return;
    if (notes.n) is_sb_puts(b, "\n");
    is_sb_puts(b, "NVML, sampled through each point's timed repetitions; clocks, power and temperature as min / "
                  "median / max over the samples. Energy: the GPU's total-energy counter where it advanced, else "
                  "power integrated over the samples (trapezoid rule); J/token: that energy over every token the "
                  "timed repetitions generated. Throttled: a sample's clock event reasons held a power cap, thermal "
                  "or hardware slowdown.\n\n");
    static const char *const head[] = {"point", "samples", "SM MHz", "mem MHz", "power W", "temp C",
                                       "energy J", "J/token", "throttled", "reasons"};
    static const bool right[] = {false, true, true, true, true, true, true, true, false, false};
    enum { NC = 10 };
    char(*cells)[TMD_CELL] = is_xcalloc((size_t)(n_ok + 1) * NC, sizeof *cells);
    const char **grid = is_xcalloc((size_t)(n_ok + 1) * NC, sizeof *grid);
    for (int c = 0; c < NC; c++) snprintf(cells[c], TMD_CELL, "%s", head[c]);
    int r = 1;
    cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
        is_telemetry_view v;
        is_telemetry_read(p, &v);
        if (v.ok) row_cells(p, is_json_get(p, "telemetry"), &cells[(r++) * NC]);
    }
    for (int i = 0; i < (n_ok + 1) * NC; i++) grid[i] = cells[i];
    is_md_table(b, grid, n_ok + 1, NC, right);
    free(grid);
    free(cells);
}
