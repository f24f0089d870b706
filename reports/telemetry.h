// telemetry.h — a point's GPU telemetry section as the readers see it
// (written by bench/telemetry.c; layout in reports/schema.h): what report.md's
// table, results.csv and compare show of it, and report.md's telemetry section.
// Declares: is_telemetry_view, is_telemetry_read, is_telemetry_any, is_telemetry_md.
#ifndef IS_REPORTS_TELEMETRY_H
#define IS_REPORTS_TELEMETRY_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "reports/text.h" // defines: is_strbuf

typedef struct is_telemetry_view {
    bool present;            // the point has a "telemetry" object
    bool ok;                 // ... with status "ok"
    const char *status;      // NULL when not present
    const char *reason;      // not ok: why (NULL when the file gives none)
    int throttled;           // 1 throttled, 0 not, -1 unknown (no section, not ok, reasons not read)
    double energy_j, joules_per_token; // NaN when absent or null
} is_telemetry_view;

void is_telemetry_read(const cJSON *point, is_telemetry_view *v);
// Whether a point of doc has a telemetry section (ok_only: one with status "ok").
bool is_telemetry_any(const cJSON *doc, bool ok_only);
// "## GPU telemetry": a line per reason a point has none (once each), per read
// error and note, then a table of the points that have it. Nothing for a
// document with no telemetry section (written before telemetry existed).
void is_telemetry_md(is_strbuf *b, const cJSON *doc);

#endif
