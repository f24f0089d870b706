// html.h — a result file as one self-contained HTML page: the environment block
// at the top, charts as inline SVG written here (no script, no fetch, no font
// download: the page opens offline from disk and renders the same everywhere),
// then every table of report.md (is_results_to_md / is_compare_to_md) as HTML
// tables. Every string that comes from a result file is escaped.
//
// DOM contract (tests/html/ reads it through the browser's DOM):
//   <body data-kind="bench|kernels|serve|profile|compare" data-charts="N">
//   each chart: <figure class="chart" data-chart="NAME" data-series="S"> holding
//   one <svg> with S <g class="series" data-name="..."> groups (a point with no
//   value, NaN or missing, leaves a gap in its line, never a NaN coordinate);
//   a chart with no data at all holds <p class="gap">why</p> instead, and
//   data-series="0". N counts the figures.
// Declares: is_results_to_html, is_compare_to_html, is_html_escape.
#ifndef IS_REPORTS_HTML_H
#define IS_REPORTS_HTML_H

#include <cjson/cJSON.h>

#include "base/strbuf.h"
#include "reports/compare.h" // defines: is_compare_row, is_compare_opts

// The page of a bench, profile, kernels or serve document (malloc'd, NUL-terminated).
char *is_results_to_html(const cJSON *doc);
// The page of a comparison: a forest plot of NEW/BASE per point with its interval,
// the threshold band and the verdict's colour, then is_compare_to_md's table.
// base and nw: the two documents (their environments head the page).
char *is_compare_to_html(const is_compare_row *rows, int n, const is_compare_opts *o, const cJSON *base,
                         const cJSON *nw);
// Appends s with & < > " ' escaped.
void is_html_escape(is_strbuf *b, const char *s);

#endif
