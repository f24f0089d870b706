// html.c — a result file as one self-contained HTML page: the environment lines
// of report.md, SVG charts (reports/svg.h) per kind, then report.md's tables
// converted to HTML. The page has no script and names no other file.
#include "reports/html.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"         // defines: IS_ASSERT, is_xmalloc, is_xcalloc
#include "reports/profile_md.h" // defines: is_results_point_label
#include "reports/results.h"    // defines: is_results_to_md, is_results_config_fields, is_results_point_ok
#include "reports/svg.h"        // defines: is_svg_chart, is_svg_axis_fit, is_svg_begin, is_svg_dot, ...
#include "reports/text.h"       // defines: is_json_get, is_json_num, is_json_str

#define HTML_MAX_FIELDS 32      // config fields of any kind (reports/schema.h)
#define HTML_KEY 192            // a series name: the varying config fields
#define HTML_MAX_PER_POINT 12   // charts of one point each (time series, kernel shares) drawn at most
#define HTML_MAX_SHAPES 60      // kernels: shapes drawn (one time chart each, a band in the peak chart)
#define HTML_TOP_KERNELS 8      // kernels named in a phase's stacked bar; the rest are "other"
#define HTML_LABELS_MAX 40      // MBU / MFU labels beside the dots up to this many points (tooltips always)

// ---- escaping and Markdown -------------------------------------------------------------

static void escape_n(is_strbuf *b, const char *s, size_t n) {
    size_t run = 0; // bytes copied as they are, written in one piece
    for (size_t i = 0; i < n; i++) {
        const char *e = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;"
                        : s[i] == '"' ? "&quot;" : s[i] == '\'' ? "&#39;" : NULL;
        if (!e) continue;
        is_sb_putn(b, s + run, i - run);
        is_sb_puts(b, e);
        run = i + 1;
    }
    is_sb_putn(b, s + run, n - run);
}

void is_html_escape(is_strbuf *b, const char *s) { escape_n(b, s ? s : "", s ? strlen(s) : 0); }

// Inline Markdown of our writers: `code` spans (fenced by a run of backticks, as
// md_env writes a command holding backticks) and **bold**; the rest escaped.
static void md_inline(is_strbuf *b, const char *s, size_t n) {
    size_t i = 0, text = 0;
    while (i < n) {
        if (s[i] == '`') {
            size_t k = 0;
            while (i + k < n && s[i + k] == '`') k++;
            size_t j = i + k; // a closing run of exactly k backticks
            while (j < n) {
                size_t r = 0;
                while (j + r < n && s[j + r] == '`') r++;
                if (r == k) break;
                j += r ? r : 1;
            }
            if (j >= n) { // unclosed: literal backticks
                i += k;
                continue;
            }
            escape_n(b, s + text, i - text);
            size_t c0 = i + k, c1 = j;
            if (c1 - c0 >= 2 && s[c0] == ' ' && s[c1 - 1] == ' ') c0++, c1--;
            is_sb_puts(b, "<code>");
            escape_n(b, s + c0, c1 - c0);
            is_sb_puts(b, "</code>");
            i = text = j + k;
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '*') {
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < n && !end; j++)
                if (s[j] == '*' && s[j + 1] == '*') end = s + j;
            if (!end) {
                i += 2;
                continue;
            }
            escape_n(b, s + text, i - text);
            is_sb_puts(b, "<strong>");
            escape_n(b, s + i + 2, (size_t)(end - s) - i - 2);
            is_sb_puts(b, "</strong>");
            i = text = (size_t)(end - s) + 2;
        } else {
            i++;
        }
    }
    escape_n(b, s + text, n - text);
}

// The cells of one table line "| a | b \\| c |": trimmed, "\\|" read as "|".
static int md_cells(const char *s, size_t n, is_strbuf *cells, int max) {
    int nc = 0;
    for (size_t i = 1; nc < max;) { // i: after a '|'
        size_t j = i;
        while (j < n && s[j] != '|') j += s[j] == '\\' && j + 1 < n && s[j + 1] == '|' ? 2 : 1;
        if (j >= n) break; // text after the last '|' is no cell
        size_t a = i, z = j;
        while (a < z && s[a] == ' ') a++;
        while (z > a && s[z - 1] == ' ') z--;
        is_sb_clear(&cells[nc]);
        is_sb_putn(&cells[nc], "", 0);
        for (size_t k = a; k < z; k++) {
            if (s[k] == '\\' && k + 1 < z && s[k + 1] == '|') k++;
            is_sb_putn(&cells[nc], s + k, 1);
        }
        nc++;
        i = j + 1;
    }
    return nc;
}

#define MD_MAX_COLS 64

// A block of table lines: header, alignment row, rows.
static void md_table_html(is_strbuf *b, const char *const *line, const size_t *len, int n_lines) {
    is_strbuf *cells = is_xcalloc(MD_MAX_COLS, sizeof *cells);
    bool right[MD_MAX_COLS] = {false};
    if (n_lines >= 2) { // the alignment row: "---:" right-aligned
        int nc = md_cells(line[1], len[1], cells, MD_MAX_COLS);
        for (int c = 0; c < nc; c++) right[c] = cells[c].n && cells[c].p[cells[c].n - 1] == ':';
    }
    is_sb_puts(b, "<div class=\"table\"><table>\n");
    for (int r = 0; r < n_lines; r++) {
        if (r == 1) continue;
        int nc = md_cells(line[r], len[r], cells, MD_MAX_COLS);
        is_sb_puts(b, r == 0 ? "<thead><tr>" : "<tr>");
        for (int c = 0; c < nc; c++) {
            const char *tag = r == 0 ? "th" : "td";
            is_sb_printf(b, "<%s%s>", tag, right[c] ? " class=\"num\"" : "");
            is_html_escape(b, cells[c].p);
            is_sb_printf(b, "</%s>", tag);
        }
        is_sb_puts(b, r == 0 ? "</tr></thead>\n<tbody>\n" : "</tr>\n");
    }
    is_sb_puts(b, n_lines ? "</tbody></table></div>\n" : "</table></div>\n");
    for (int c = 0; c < MD_MAX_COLS; c++) free(cells[c].p);
    free(cells);
}

// report.md (or compare's table) as HTML: "#" headings (level + shift), "- " list
// items, pipe tables, paragraphs (their lines kept apart by <br>).
static void md_to_html(is_strbuf *b, const char *md, size_t n, int shift) {
    enum { NONE, LIST, PARA } open = NONE;
    const char *end = md + n;
    for (const char *s = md; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = (size_t)((nl ? nl : end) - s);
        const char *next = nl ? nl + 1 : end;
        int hashes = 0;
        while (hashes < (int)len && s[hashes] == '#') hashes++;
        bool heading = hashes > 0 && hashes < 6 && hashes < (int)len && s[hashes] == ' ';
        bool item = len >= 2 && s[0] == '-' && s[1] == ' ';
        bool table = len > 0 && s[0] == '|';
        if ((open == LIST && !item) || (open == PARA && (len == 0 || heading || item || table))) {
            is_sb_puts(b, open == LIST ? "</ul>\n" : "</p>\n");
            open = NONE;
        }
        if (heading) {
            int level = hashes + shift > 6 ? 6 : hashes + shift;
            is_sb_printf(b, "<h%d>", level);
            md_inline(b, s + hashes + 1, len - (size_t)hashes - 1);
            is_sb_printf(b, "</h%d>\n", level);
        } else if (item) {
            if (open != LIST) is_sb_puts(b, "<ul>\n");
            open = LIST;
            is_sb_puts(b, "<li>");
            md_inline(b, s + 2, len - 2);
            is_sb_puts(b, "</li>\n");
        } else if (table) {
            int cap = 16, k = 0;
            const char **lines = is_xmalloc((size_t)cap * sizeof *lines);
            size_t *lens = is_xmalloc((size_t)cap * sizeof *lens);
            while (s < end && *s == '|') {
                nl = memchr(s, '\n', (size_t)(end - s));
                if (k == cap) {
                    cap *= 2;
                    lines = is_xrealloc(lines, (size_t)cap * sizeof *lines);
                    lens = is_xrealloc(lens, (size_t)cap * sizeof *lens);
                }
                lines[k] = s;
                lens[k++] = (size_t)((nl ? nl : end) - s);
                s = nl ? nl + 1 : end;
            }
            md_table_html(b, lines, lens, k);
            free(lines);
            free(lens);
            next = s;
        } else if (len > 0) {
            is_sb_puts(b, open == PARA ? "<br>\n" : "<p>");
            open = PARA;
            md_inline(b, s, len);
        }
        s = next;
    }
    if (open != NONE) is_sb_puts(b, open == LIST ? "</ul>\n" : "</p>\n");
}

// Where report.md's head (title, environment and probe lines) ends: at the first
// table, second-level heading or "No points." line.
static size_t md_head_len(const char *md) {
    for (const char *s = md; *s;) {
        if (s != md && (*s == '|' || strncmp(s, "## ", 3) == 0 || strncmp(s, "No points.", 10) == 0))
            return (size_t)(s - md);
        const char *nl = strchr(s, '\n');
        if (!nl) break;
        s = nl + 1;
    }
    return strlen(md);
}

// ---- the page ----------------------------------------------------------------------

static const char page_style[] =
    "body{font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;"
    "color:#222;background:#fff;margin:24px auto;max-width:1400px;padding:0 16px}\n"
    "h1{font-size:1.45em;margin:0 0 .4em}h2{font-size:1.2em;margin:1.4em 0 .4em}h3{font-size:1.05em}\n"
    "code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,\"Liberation Mono\",monospace;"
    "background:#f3f3f3;padding:1px 3px;border-radius:3px;overflow-wrap:anywhere}\n"
    "header ul{padding-left:1.2em;margin:.3em 0}header li{overflow-wrap:anywhere}\n"
    ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(540px,100%),1fr));"
    "gap:14px;margin:16px 0;align-items:start}\n"
    "figure.chart{margin:0;border:1px solid #ddd;border-radius:6px;padding:8px 10px}\n"
    "figcaption{font-weight:600;margin-bottom:4px}\n"
    "figure svg{width:100%;height:auto;display:block}\n"
    "figure[data-wide]{grid-column:1/-1}figure[data-wide] svg{max-width:960px}\n"
    "svg text{font:11px system-ui,-apple-system,\"Segoe UI\",Roboto,Arial,sans-serif;fill:#333;stroke:none}\n"
    "svg .title{font-weight:600}svg .grid{stroke:#ececec}svg .frame{fill:none;stroke:#999}\n"
    "svg .line{fill:none;stroke-width:1.8}svg .dashed{stroke-dasharray:5 3}\n"
    "svg .err{fill:none;stroke-width:1.2}svg .whisker{fill:none;stroke:#222;stroke-width:1.2}\n"
    "svg .ceiling{stroke:#555;stroke-width:1.5;stroke-dasharray:6 4}svg .ref{stroke:#333}\n"
    "svg .band{fill:#d9d9d9;fill-opacity:.7;stroke:none}svg .swatch{stroke:none}\n"
    "p.gap{color:#7a5d1e;background:#fcf6e3;padding:8px;border-radius:4px}\n"
    "p.note{color:#666;font-size:12px;margin:4px 0 0}\n"
    ".table{overflow-x:auto}table{border-collapse:collapse;font-size:12.5px;margin:8px 0}\n"
    "th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;white-space:nowrap}th{background:#f5f5f5}\n"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}tbody tr:nth-child(even){background:#fafafa}\n";

// The figures of a page, counted for <body data-charts>.
typedef struct page {
    is_strbuf charts;
    int n_charts;
} page;

static void fig_head(page *pg, const char *name, int n_series, const char *extra, const char *caption) {
    is_sb_puts(&pg->charts, "<figure class=\"chart\" data-chart=\"");
    is_html_escape(&pg->charts, name);
    is_sb_printf(&pg->charts, "\" data-series=\"%d\"%s>\n<figcaption>", n_series, extra ? extra : "");
    is_html_escape(&pg->charts, caption);
    is_sb_puts(&pg->charts, "</figcaption>\n");
    pg->n_charts++;
}

// A drawn chart (is_svg_end frees c's text); note: a line under it (NULL: none).
static void fig_chart(page *pg, const char *name, const char *caption, is_svg_chart *c, const char *note,
                      const char *extra) {
    fig_head(pg, name, c->n_series, extra, caption);
    is_svg_end(c, &pg->charts);
    if (note && *note) {
        is_sb_puts(&pg->charts, "<p class=\"note\">");
        is_html_escape(&pg->charts, note);
        is_sb_puts(&pg->charts, "</p>\n");
    }
    is_sb_puts(&pg->charts, "</figure>\n");
}

// A chart with nothing to draw: why, in its place.
static void fig_gap(page *pg, const char *name, const char *caption, const char *why) {
    fig_head(pg, name, 0, NULL, caption);
    is_sb_puts(&pg->charts, "<p class=\"gap\">no data: ");
    is_html_escape(&pg->charts, why);
    is_sb_puts(&pg->charts, "</p>\n</figure>\n");
}

static void note_line(page *pg, const char *text) {
    is_sb_puts(&pg->charts, "<p class=\"note\">");
    is_html_escape(&pg->charts, text);
    is_sb_puts(&pg->charts, "</p>\n");
}

// The page: title, head (env) converted from Markdown, the charts, the tables.
static char *page_finish(page *pg, const char *kind, const char *title, const char *head_html, const char *md_rest) {
    is_strbuf b = {0};
    is_sb_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    is_html_escape(&b, title);
    is_sb_printf(&b, "</title>\n<style>\n%s</style>\n</head>\n<body data-kind=\"%s\" data-charts=\"%d\">\n<header>\n",
                 page_style, kind, pg->n_charts);
    is_sb_puts(&b, head_html);
    is_sb_puts(&b, "</header>\n<section class=\"charts\">\n");
    if (pg->charts.p) is_sb_puts(&b, pg->charts.p);
    is_sb_puts(&b, "</section>\n<section class=\"tables\">\n");
    md_to_html(&b, md_rest, strlen(md_rest), 1);
    is_sb_puts(&b, "</section>\n</body>\n</html>\n");
    free(pg->charts.p);
    return is_sb_take(&b);
}

// ---- reading points ----------------------------------------------------------------

// A config value as text ("" when absent).
static void cfg_text(const cJSON *config, const char *name, char *buf, size_t n) {
    const cJSON *v = is_json_get(config, name);
    if (cJSON_IsString(v)) snprintf(buf, n, "%s", v->valuestring);
    else if (cJSON_IsNumber(v)) snprintf(buf, n, "%.15g", v->valuedouble);
    else buf[0] = 0;
}

// vary[f]: whether config field f reads differently in two of the points.
static void fields_varying(const cJSON *points, const is_schema_field *fields, int nf, bool *vary) {
    char first[HTML_MAX_FIELDS][HTML_KEY];
    IS_ASSERT(nf <= HTML_MAX_FIELDS);
    const cJSON *p0 = cJSON_GetArrayItem(points, 0);
    for (int f = 0; f < nf; f++) {
        vary[f] = false;
        cfg_text(is_json_get(p0, "config"), fields[f].name, first[f], HTML_KEY);
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        for (int f = 0; f < nf; f++) {
            if (vary[f]) continue;
            char v[HTML_KEY];
            cfg_text(is_json_get(p, "config"), fields[f].name, v, sizeof v);
            vary[f] = strcmp(v, first[f]) != 0;
        }
    }
}

// "prompt=64 gen=16": the fields of config with use[f], in table order ("" when none).
static void config_key(const cJSON *config, const is_schema_field *fields, int nf, const bool *use, char *buf,
                       size_t n) {
    size_t k = 0;
    buf[0] = 0;
    for (int f = 0; f < nf && k < n; f++) {
        if (!use[f]) continue;
        char v[HTML_KEY];
        cfg_text(config, fields[f].name, v, sizeof v);
        k += (size_t)snprintf(buf + k, n - k, "%s%s=%s", k ? " " : "", fields[f].name, v);
    }
}

static int field_index(const is_schema_field *fields, int nf, const char *name) {
    for (int f = 0; f < nf; f++)
        if (strcmp(fields[f].name, name) == 0) return f;
    return -1;
}

// A field of point["stats"][metric] of an ok point, else NaN; ci: its 95% interval.
static double stat(const cJSON *p, const char *metric, const char *field) {
    if (!is_results_point_ok(p)) return NAN;
    return is_json_num(is_json_get(is_json_get(p, "stats"), metric), field);
}

static void stat_ci(const cJSON *p, const char *metric, double *lo, double *hi) {
    const cJSON *ci = is_json_get(is_json_get(is_json_get(p, "stats"), metric), "ci95");
    const cJSON *a = cJSON_GetArrayItem(ci, 0), *b = cJSON_GetArrayItem(ci, 1);
    bool ok = is_results_point_ok(p) && cJSON_GetArraySize(ci) == 2 && cJSON_IsNumber(a) && cJSON_IsNumber(b);
    *lo = ok ? a->valuedouble : NAN;
    *hi = ok ? b->valuedouble : NAN;
}

static double derived(const cJSON *p, const char *key) {
    return is_results_point_ok(p) ? is_json_num(is_json_get(p, "derived"), key) : NAN;
}

// Natural order: digit runs compare as numbers ("prompt=64" before "prompt=512").
static int natcmp(const char *a, const char *b) {
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
            if (la != lb) return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c) return c;
            a += la, b += lb;
        } else {
            if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++, b++;
        }
    }
    return (unsigned char)*a - (unsigned char)*b;
}

// ---- x-y charts: a line per series, points ordered along x -------------------------

typedef struct xy_pt {
    char key[HTML_KEY];         // its series: the varying config fields but the x axis
    double x;                   // +inf: right of the others, labelled "inf"
    double y[2], lo[2], hi[2];  // per statistic; y NaN: a gap in the line
    double pct;                 // MBU or MFU in %, beside the dot (NaN: none)
} xy_pt;

typedef struct xy_spec {
    const char *chart, *caption;
    const char *x_title, *y_title;  // with their units
    bool x_discrete;                // x is a sweep axis (batch sizes): ticks at its settings
    int n_stats;                    // 1, or 2: the second dashed
    const char *stat_name[2];       // with 2: "p50", "p99", after the series name
    const char *one_name;           // the series name when no other config field varies
    const char *pct_name;           // "MBU", "MFU" (NULL: no labels)
    double ceiling;                 // a peak drawn as a line (NaN: none)
    const char *ceiling_label;
    const char *no_data;            // why nothing is drawn when no point has a value
    const char *note;               // under the chart (NULL: none)
} xy_spec;

static int xy_cmp(const void *pa, const void *pb) {
    const xy_pt *a = pa, *b = pb;
    int c = natcmp(a->key, b->key);
    if (c) return c;
    bool na = isnan(a->x), nb = isnan(b->x);
    if (na || nb) return (int)na - (int)nb; // NaN last
    return (a->x > b->x) - (a->x < b->x);
}

// One series' line and dots: pts[i0..i1) of statistic k.
static void xy_draw(is_svg_chart *c, const xy_spec *s, const xy_pt *pts, const double *xs, int i0, int i1, int k,
                    bool labels, double *ybuf) {
    for (int i = i0; i < i1; i++) ybuf[i - i0] = pts[i].y[k];
    is_svg_line(c, xs + i0, ybuf, i1 - i0);
    for (int i = i0; i < i1; i++) {
        const xy_pt *q = &pts[i];
        if (!isfinite(q->y[k])) continue;
        char tip[512], xv[32];
        if (q->x == INFINITY) snprintf(xv, sizeof xv, "inf");
        else snprintf(xv, sizeof xv, "%.6g", q->x);
        int t = snprintf(tip, sizeof tip, "%s%s%s %s: %.4g %s%s%s", q->key, *q->key ? "; " : "", s->x_title, xv,
                         q->y[k], s->y_title, s->n_stats > 1 ? " " : "", s->n_stats > 1 ? s->stat_name[k] : "");
        if (isfinite(q->lo[k]) && isfinite(q->hi[k]) && t > 0 && (size_t)t < sizeof tip)
            t += snprintf(tip + t, sizeof tip - (size_t)t, " (95%% CI %.4g to %.4g)", q->lo[k], q->hi[k]);
        if (s->pct_name && isfinite(q->pct) && t > 0 && (size_t)t < sizeof tip)
            snprintf(tip + t, sizeof tip - (size_t)t, "; %s %.1f%%", s->pct_name, q->pct);
        is_svg_dot(c, xs[i], q->y[k], q->lo[k], q->hi[k], tip);
        if (labels && s->pct_name && isfinite(q->pct)) {
            char lab[48];
            snprintf(lab, sizeof lab, "%.0f%%", q->pct);
            is_svg_text(c, xs[i], q->y[k], lab);
        }
    }
}

// The chart of pts (sorted here): a series per key (and statistic), the first
// ones named, the rest drawn grey as one "other" series.
static void xy_chart(page *pg, const xy_spec *s, xy_pt *pts, int n) {
    bool any = false;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < s->n_stats; k++) any = any || isfinite(pts[i].y[k]);
    if (!any) {
        fig_gap(pg, s->chart, s->caption, s->no_data);
        return;
    }
    qsort(pts, (size_t)n, sizeof *pts, xy_cmp);
    double xmax = -INFINITY;
    bool has_inf = false;
    for (int i = 0; i < n; i++) {
        if (isfinite(pts[i].x)) xmax = fmax(xmax, pts[i].x);
        has_inf = has_inf || pts[i].x == INFINITY;
    }
    double x_inf = !isfinite(xmax) ? 1 : xmax > 0 ? xmax * 2 : xmax + 1;
    double *xs = is_xmalloc((size_t)n * sizeof *xs), *ys = is_xmalloc(((size_t)n * 6 + 1) * sizeof *ys);
    int ny = 0;
    for (int i = 0; i < n; i++) {
        xs[i] = pts[i].x == INFINITY ? x_inf : pts[i].x;
        for (int k = 0; k < s->n_stats; k++) ys[ny++] = pts[i].y[k], ys[ny++] = pts[i].lo[k], ys[ny++] = pts[i].hi[k];
    }
    if (isfinite(s->ceiling)) ys[ny++] = s->ceiling * 1.04;
    is_svg_chart c = {.aria = s->caption};
    is_svg_axis_fit(&c.x, s->x_title, xs, n, true, s->x_discrete);
    is_svg_axis_fit(&c.y, s->y_title, ys, ny, true, false);
    if (has_inf) is_svg_axis_label(&c.x, x_inf, "inf");
    is_svg_begin(&c);

    int n_groups = 0;
    for (int i = 0; i < n; i++) n_groups += i == 0 || strcmp(pts[i].key, pts[i - 1].key) != 0;
    int named = IS_SVG_PALETTE / s->n_stats;
    if (n_groups == named + 1) named++; // no "other" of one series
    bool labels = n <= HTML_LABELS_MAX;
    int *start = is_xmalloc(((size_t)n_groups + 1) * sizeof *start), g = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(pts[i].key, pts[i - 1].key) != 0) start[g++] = i;
    start[n_groups] = n;
    if (n_groups > named) // first: under the named series
        for (int k = 0; k < s->n_stats; k++) {
            char name[64];
            snprintf(name, sizeof name, "other (%d series)%s%s", n_groups - named, s->n_stats > 1 ? " " : "",
                     s->n_stats > 1 ? s->stat_name[k] : "");
            is_svg_series_begin(&c, name, is_svg_colour(IS_SVG_PALETTE), k == 1, 'l');
            for (g = named; g < n_groups; g++) xy_draw(&c, s, pts, xs, start[g], start[g + 1], k, false, ys);
            is_svg_series_end(&c);
        }
    for (g = 0; g < n_groups && g < named; g++)
        for (int k = 0; k < s->n_stats; k++) {
            char name[HTML_KEY + 16];
            const char *key = *pts[start[g]].key ? pts[start[g]].key : s->one_name;
            if (s->n_stats > 1) snprintf(name, sizeof name, "%s %s", key, s->stat_name[k]);
            else snprintf(name, sizeof name, "%s", key);
            is_svg_series_begin(&c, name, is_svg_colour(g % IS_SVG_PALETTE), k == 1, 'l');
            xy_draw(&c, s, pts, xs, start[g], start[g + 1], k, labels, ys);
            is_svg_series_end(&c);
        }
    if (isfinite(s->ceiling)) is_svg_ceiling(&c, s->ceiling, s->ceiling_label);
    char note[512] = "";
    if (n_groups > named)
        snprintf(note, sizeof note,
                 "%d series past the first %d are drawn grey as \"other\" (the table below has every point). ",
                 n_groups - named, named);
    if (s->note) snprintf(note + strlen(note), sizeof note - strlen(note), "%s", s->note);
    fig_chart(pg, s->chart, s->caption, &c, note, NULL);
    free(start);
    free(xs);
    free(ys);
}

// pts[i]: the point's series key (the varying fields but x_field) and x; no values yet.
static xy_pt *xy_points(const cJSON *points, const is_schema_field *fields, int nf, const bool *vary,
                        const char *const *not_key, int n_not, const char *x_field) {
    int n = cJSON_GetArraySize(points);
    xy_pt *pts = is_xcalloc((size_t)(n ? n : 1), sizeof *pts);
    bool use[HTML_MAX_FIELDS];
    for (int f = 0; f < nf; f++) {
        use[f] = vary[f] && strcmp(fields[f].name, x_field) != 0;
        for (int k = 0; k < n_not; k++) use[f] = use[f] && strcmp(fields[f].name, not_key[k]) != 0;
    }
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        xy_pt *q = &pts[i++];
        config_key(is_json_get(p, "config"), fields, nf, use, q->key, sizeof q->key);
        char v[HTML_KEY];
        cfg_text(is_json_get(p, "config"), x_field, v, sizeof v);
        q->x = *v ? strtod(v, NULL) : NAN; // "inf" reads as infinity
        for (int k = 0; k < 2; k++) q->y[k] = q->lo[k] = q->hi[k] = NAN;
        q->pct = NAN;
    }
    return pts;
}

// y[k] of every point: the median of metric with its interval (k 0), or field (k 1).
static void xy_metric(xy_pt *pts, const cJSON *points, const char *metric, int k, const char *field) {
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        xy_pt *q = &pts[i++];
        q->y[k] = stat(p, metric, field);
        if (strcmp(field, "median") == 0) stat_ci(p, metric, &q->lo[k], &q->hi[k]);
        else q->lo[k] = q->hi[k] = NAN;
    }
}

// ---- bench and profile -------------------------------------------------------------

static void bench_roofline(page *pg, const cJSON *doc, const cJSON *points, const bool *vary) {
    int nf = is_schema_n_bench_fields;
    const cJSON *probes = is_json_get(doc, "probes");
    const char *skipped = is_json_str(probes, "skipped");
    const cJSON *mem = is_json_get(probes, "mem");
    char label[160], note[512];
    const char *by_x[2] = {"batch", "prompt"};
    for (int r = 0; r < 2; r++) {
        xy_pt *pts = xy_points(points, is_schema_bench_fields, nf, vary, NULL, 0, by_x[r]);
        int i = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, points) {
            pts[i].y[0] = derived(p, r == 0 ? "decode_gbs" : "prefill_gflops");
            double frac = derived(p, r == 0 ? "mbu" : "mfu");
            pts[i++].pct = frac * 100;
        }
        xy_spec s = {.x_discrete = true, .n_stats = 1, .ceiling = NAN, .note = note};
        note[0] = 0;
        if (r == 0) {
            s.chart = "roofline-decode";
            s.caption = "Decode: achieved memory bandwidth against the measured peak (labels: MBU)";
            s.x_title = "batch size";
            s.y_title = "decode GB/s";
            s.one_name = "decode GB/s";
            s.pct_name = "MBU";
            s.no_data = "no point has decode GB/s (derived.decode_gbs)";
            s.ceiling = is_json_num(mem, "peak_gbs");
            const char *of = is_json_str(mem, "peak_of");
            snprintf(label, sizeof label, "measured memory peak %.1f GB/s%s%s%s", s.ceiling, of ? " (" : "", of ? of : "",
                     of ? ")" : "");
            if (!isfinite(s.ceiling))
                snprintf(note, sizeof note, "No memory peak measured%s%s: no ceiling, no MBU.", skipped ? ": " : "",
                         skipped ? skipped : "");
        } else {
            s.chart = "roofline-prefill";
            s.caption = "Prefill: achieved compute rate against the compute peak (labels: MFU)";
            s.x_title = "prompt tokens";
            s.y_title = "prefill GFLOP/s";
            s.one_name = "prefill GFLOP/s";
            s.pct_name = "MFU";
            s.no_data = "no point has prefill GFLOP/s (derived.prefill_gflops)";
            const cJSON *compute = is_json_get(probes, "compute");
            s.ceiling = is_json_num(compute, "peak_gflops");
            const char *unit = is_json_str(compute, "matmul_unit");
            if (isfinite(s.ceiling)) {
                snprintf(label, sizeof label, "compute peak %.1f GFLOP/s%s%s%s", s.ceiling, unit ? " (" : "",
                         unit ? unit : "", unit ? ")" : "");
            } else {
                s.ceiling = is_json_num(is_json_get(probes, "matmul"), "gflops");
                snprintf(label, sizeof label, "achieved matmul %.1f GFLOP/s (the engine's own, not a peak)", s.ceiling);
            }
            if (!isfinite(s.ceiling))
                snprintf(note, sizeof note, "No compute peak measured%s%s: no ceiling, no MFU.", skipped ? ": " : "",
                         skipped ? skipped : "");
        }
        s.ceiling_label = label;
        xy_chart(pg, &s, pts, cJSON_GetArraySize(points));
        free(pts);
    }
}

static void bench_charts(page *pg, const cJSON *doc) {
    const cJSON *points = is_json_get(doc, "points");
    int n = cJSON_GetArraySize(points), nf = is_schema_n_bench_fields;
    bool vary[HTML_MAX_FIELDS];
    fields_varying(points, is_schema_bench_fields, nf, vary);
    static const struct {
        const char *chart, *caption, *x_field, *x_title, *metric, *y_title, *no_data;
    } defs[] = {
        {"decode-tps", "Decode throughput by batch size (median, 95% interval)", "batch", "batch size", "decode_tps",
         "decode tok/s", "no point has a decode tok/s median (failed points, or gen 1)"},
        {"tpot", "Time per output token by batch size (median, 95% interval)", "batch", "batch size", "tpot_ms",
         "TPOT ms", "no point has a TPOT median (failed points, or gen 1)"},
        {"ttft", "Time to first token by prompt length (median, 95% interval)", "prompt", "prompt tokens", "ttft_ms",
         "TTFT ms", "no point has a TTFT median (every point failed)"},
    };
    for (size_t d = 0; d < sizeof defs / sizeof defs[0]; d++) {
        xy_pt *pts = xy_points(points, is_schema_bench_fields, nf, vary, NULL, 0, defs[d].x_field);
        xy_metric(pts, points, defs[d].metric, 0, "median");
        xy_spec s = {.chart = defs[d].chart, .caption = defs[d].caption, .x_title = defs[d].x_title,
                     .y_title = defs[d].y_title, .x_discrete = true, .n_stats = 1, .one_name = defs[d].y_title,
                     .ceiling = NAN, .no_data = defs[d].no_data};
        xy_chart(pg, &s, pts, n);
        free(pts);
    }
    bench_roofline(pg, doc, points, vary);
}

// "prefill (kernels 83% of the wall time)"
static void phase_label(const cJSON *ph, char *buf, size_t n) {
    const char *name = is_json_str(ph, "phase");
    double share = is_json_num(ph, "share");
    if (isfinite(share)) snprintf(buf, n, "%s (kernels %.0f%% of wall)", name ? name : "?", share * 100);
    else snprintf(buf, n, "%s", name ? name : "?");
}

typedef struct kern_total {
    const char *name;
    double ms;
} kern_total;

static int kern_total_cmp(const void *a, const void *b) {
    double x = ((const kern_total *)a)->ms, y = ((const kern_total *)b)->ms;
    return (x < y) - (x > y); // largest first
}

static double phase_kernel_ms(const cJSON *ph) {
    double sum = 0;
    const cJSON *k;
    cJSON_ArrayForEach(k, is_json_get(ph, "kernels")) {
        double t = is_json_num(k, "total_ms");
        if (isfinite(t) && t > 0) sum += t;
    }
    return sum;
}

// A stacked bar per phase: each of the top kernels' share of the phase's kernel time, then "other".
static void kernel_share_chart(page *pg, const cJSON *p, const cJSON *kt) {
    const cJSON *phases = is_json_get(kt, "phases");
    int n_ph = cJSON_GetArraySize(phases), n_k = 0, cap = 64;
    kern_total *tot = is_xmalloc((size_t)cap * sizeof *tot);
    const cJSON *ph, *k;
    cJSON_ArrayForEach(ph, phases) cJSON_ArrayForEach(k, is_json_get(ph, "kernels")) {
        const char *name = is_json_str(k, "name");
        double t = is_json_num(k, "total_ms");
        if (!name || !isfinite(t) || t <= 0) continue;
        int j = 0;
        while (j < n_k && strcmp(tot[j].name, name) != 0) j++;
        if (j == n_k) {
            if (n_k == cap) tot = is_xrealloc(tot, (size_t)(cap *= 2) * sizeof *tot);
            tot[n_k++] = (kern_total){name, 0};
        }
        tot[j].ms += t;
    }
    qsort(tot, (size_t)n_k, sizeof *tot, kern_total_cmp);
    int top = n_k < HTML_TOP_KERNELS ? n_k : HTML_TOP_KERNELS;
    if (n_k == top + 1) top++; // no "other" of one kernel
    char point[256], caption[400];
    is_results_point_label(p, point, sizeof point);
    snprintf(caption, sizeof caption, "Kernels' share of each phase's kernel time: %s", point);
    if (n_ph == 0 || n_k == 0) {
        fig_gap(pg, "kernel-share", caption, "the kernel table has no kernel with device time");
        free(tot);
        return;
    }
    char(*labels)[96] = is_xmalloc((size_t)n_ph * sizeof *labels);
    const char **cats = is_xmalloc((size_t)n_ph * sizeof *cats);
    double *cum = is_xcalloc((size_t)n_ph, sizeof *cum), *sum = is_xmalloc((size_t)n_ph * sizeof *sum);
    int i = 0;
    cJSON_ArrayForEach(ph, phases) {
        phase_label(ph, labels[i], sizeof labels[i]);
        cats[i] = labels[i];
        sum[i++] = phase_kernel_ms(ph);
    }
    is_svg_chart c = {.cats = cats, .n_cats = n_ph, .n_slots = 1, .aria = caption};
    const double range[] = {0, 100};
    is_svg_axis_fit(&c.x, "% of the phase's kernel time", range, 2, true, false);
    is_svg_begin(&c);
    for (int s = 0; s <= top && s < n_k + 1; s++) {
        bool other = s == top;
        if (other && top == n_k) break;
        char name[200];
        if (other) snprintf(name, sizeof name, "other (%d kernels)", n_k - top);
        else snprintf(name, sizeof name, "%s", tot[s].name);
        is_svg_series_begin(&c, name, is_svg_colour(other ? IS_SVG_PALETTE : s), false, 'b');
        i = 0;
        cJSON_ArrayForEach(ph, phases) {
            double t = 0;
            cJSON_ArrayForEach(k, is_json_get(ph, "kernels")) {
                const char *kn = is_json_str(k, "name");
                double kt_ms = is_json_num(k, "total_ms");
                if (!kn || !isfinite(kt_ms) || kt_ms <= 0) continue;
                bool mine = !other && strcmp(kn, tot[s].name) == 0;
                if (mine) t += kt_ms;
                if (other) { // not one of the top kernels
                    int j = 0;
                    while (j < top && strcmp(tot[j].name, kn) != 0) j++;
                    if (j == top) t += kt_ms;
                }
            }
            if (t > 0 && sum[i] > 0) {
                char tip[400];
                double pc = t / sum[i] * 100;
                snprintf(tip, sizeof tip, "%s: %.3f ms, %.1f%% of the phase's kernel time", name, t, pc);
                is_svg_hbar(&c, i, 0, cum[i], cum[i] + pc, NAN, NAN, tip);
                cum[i] += pc;
            }
            i++;
        }
        is_svg_series_end(&c);
    }
    fig_chart(pg, "kernel-share", caption, &c, NULL, NULL);
    free(labels);
    free(cats);
    free(cum);
    free(sum);
    free(tot);
}

// Paired bars per phase: DRAM bytes the counters measured, and the cost model's.
static void dram_chart(page *pg, const cJSON *p, const cJSON *ct) {
    const cJSON *phases = is_json_get(ct, "phases");
    int n_ph = cJSON_GetArraySize(phases);
    char point[256], caption[400];
    is_results_point_label(p, point, sizeof point);
    snprintf(caption, sizeof caption, "DRAM bytes per range, measured (counters) and modelled: %s", point);
    if (n_ph == 0) {
        fig_gap(pg, "dram-bytes", caption, "the counter section has no phase");
        return;
    }
    const char **cats = is_xmalloc((size_t)n_ph * sizeof *cats);
    double *v = is_xmalloc((size_t)n_ph * 2 * sizeof *v);
    int i = 0;
    const cJSON *ph;
    cJSON_ArrayForEach(ph, phases) {
        const char *name = is_json_str(ph, "phase");
        cats[i] = name ? name : "?";
        v[2 * i] = is_json_num(ph, "bytes") / 1e6;
        v[2 * i + 1] = is_json_num(ph, "model_bytes") / 1e6;
        i++;
    }
    is_svg_chart c = {.cats = cats, .n_cats = n_ph, .n_slots = 2, .aria = caption};
    is_svg_axis_fit(&c.x, "MB per range", v, 2 * n_ph, true, false);
    is_svg_begin(&c);
    static const char *const names[] = {"measured (DRAM counters)", "model (bench/costmodel.h)"};
    for (int s = 0; s < 2; s++) {
        is_svg_series_begin(&c, names[s], is_svg_colour(s), false, 'b');
        i = 0;
        cJSON_ArrayForEach(ph, phases) {
            char tip[256];
            snprintf(tip, sizeof tip, "%s, %s: %.3f MB", cats[i], names[s], v[2 * i + s]);
            is_svg_hbar(&c, i, s, 0, v[2 * i + s], NAN, NAN, tip);
            double ratio = is_json_num(ph, "ratio");
            if (s == 0 && isfinite(ratio) && isfinite(v[2 * i])) {
                char lab[48];
                snprintf(lab, sizeof lab, "%.2fx the model", ratio);
                is_svg_cat_text(&c, i, 0, v[2 * i], lab);
            }
            i++;
        }
        is_svg_series_end(&c);
    }
    fig_chart(pg, "dram-bytes", caption, &c, NULL, NULL);
    free(cats);
    free(v);
}

// The kernel tables and DRAM counters of the points that have them; for a
// profile document with none, why (a gap in place of the chart).
static void profile_charts(page *pg, const cJSON *doc, bool is_profile) {
    static const char *const keys[] = {"kernel_table", "counters"};
    static const char *const names[] = {"kernel-share", "dram-bytes"};
    static const char *const captions[] = {"Kernels' share of each phase's kernel time",
                                           "DRAM bytes per range, measured (counters) and modelled"};
    for (int s = 0; s < 2; s++) {
        int drawn = 0, ok = 0;
        const char *why = NULL;
        const cJSON *p;
        cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
            const cJSON *sec = is_json_get(p, keys[s]);
            const char *st = is_json_str(sec, "status");
            if (!st) continue;
            if (strcmp(st, "ok") != 0) {
                if (!why) why = is_json_str(sec, "reason") ? is_json_str(sec, "reason") : st;
                continue;
            }
            if (ok++ >= HTML_MAX_PER_POINT) continue;
            if (s == 0) kernel_share_chart(pg, p, sec);
            else dram_chart(pg, p, sec);
            drawn++;
        }
        if (ok > drawn) {
            char note[160];
            snprintf(note, sizeof note, "%s: the first %d points drawn, %d more in the tables below.", names[s], drawn,
                     ok - drawn);
            note_line(pg, note);
        }
        if (ok == 0 && is_profile) fig_gap(pg, names[s], captions[s], why ? why : "no point has this section");
    }
}

// ---- kernels ---------------------------------------------------------------------------

typedef struct kpoint {
    const cJSON *p;
    char shape[HTML_KEY]; // every config field but the variant
    int order, variant;   // in the document; index among the document's variants
} kpoint;

static int kpoint_cmp(const void *pa, const void *pb) {
    const kpoint *a = pa, *b = pb;
    int c = natcmp(a->shape, b->shape);
    return c ? c : a->order - b->order;
}

// "matmul q,o m=64,k=64 batch=1": op, tensor, shape, and the other fields that vary but the variant.
static void kernel_shape_name(const cJSON *p, const bool *vary, char *buf, size_t n) {
    bool use[HTML_MAX_FIELDS];
    for (int f = 0; f < is_schema_n_kernel_fields; f++) {
        const char *nm = is_schema_kernel_fields[f].name;
        use[f] = vary[f] && strcmp(nm, "variant") && strcmp(nm, "op") && strcmp(nm, "tensor") && strcmp(nm, "shape");
    }
    const cJSON *c = is_json_get(p, "config");
    const char *op = is_json_str(c, "op"), *tensor = is_json_str(c, "tensor"), *shape = is_json_str(c, "shape");
    char rest[HTML_KEY];
    config_key(is_json_get(p, "config"), is_schema_kernel_fields, is_schema_n_kernel_fields, use, rest, sizeof rest);
    snprintf(buf, n, "%s %s %s%s%s", op ? op : "?", tensor ? tensor : "?", shape ? shape : "?", *rest ? " " : "", rest);
}

static void kernel_time_chart(page *pg, const kpoint *kp, int n, const char *shape_name) {
    char caption[HTML_KEY + 64];
    snprintf(caption, sizeof caption, "Time per call by variant: %s", shape_name);
    const char **cats = is_xmalloc((size_t)n * sizeof *cats);
    char(*labels)[96] = is_xmalloc((size_t)n * sizeof *labels);
    double *v = is_xmalloc((size_t)n * 3 * sizeof *v);
    bool any = false;
    for (int i = 0; i < n; i++) {
        char var[64];
        cfg_text(is_json_get(kp[i].p, "config"), "variant", var, sizeof var);
        bool win = cJSON_IsTrue(is_json_get(kp[i].p, "winner"));
        snprintf(labels[i], sizeof labels[i], "%s%s", var, win ? " (winner)" : "");
        cats[i] = labels[i];
        v[3 * i] = stat(kp[i].p, "time_us", "median");
        stat_ci(kp[i].p, "time_us", &v[3 * i + 1], &v[3 * i + 2]);
        any = any || isfinite(v[3 * i]);
    }
    if (!any) {
        fig_gap(pg, "kernel-time", caption, "every variant of this shape failed (the table below says why)");
    } else {
        is_svg_chart c = {.cats = cats, .n_cats = n, .n_slots = 1, .aria = caption};
        is_svg_axis_fit(&c.x, "time per call, us (median, 95% interval)", v, 3 * n, true, false);
        is_svg_begin(&c);
        for (int i = 0; i < n; i++) {
            char var[64], tip[256];
            cfg_text(is_json_get(kp[i].p, "config"), "variant", var, sizeof var);
            is_svg_series_begin(&c, var, is_svg_colour(kp[i].variant), false, 'b');
            if (isfinite(v[3 * i])) {
                snprintf(tip, sizeof tip, "%s: %.4g us (95%% CI %.4g to %.4g)", labels[i], v[3 * i], v[3 * i + 1],
                         v[3 * i + 2]);
                is_svg_hbar(&c, i, 0, 0, v[3 * i], v[3 * i + 1], v[3 * i + 2], tip);
            } else {
                bool invalid = is_json_get(kp[i].p, "validation") != NULL;
                is_svg_cat_text(&c, i, 0, NAN, invalid ? "invalid: failed validation" : "error");
            }
            is_svg_series_end(&c);
        }
        fig_chart(pg, "kernel-time", caption, &c, NULL, NULL);
    }
    free(cats);
    free(labels);
    free(v);
}

static void kernels_charts(page *pg, const cJSON *doc) {
    const cJSON *points = is_json_get(doc, "points");
    int n = cJSON_GetArraySize(points), nf = is_schema_n_kernel_fields;
    bool vary[HTML_MAX_FIELDS];
    fields_varying(points, is_schema_kernel_fields, nf, vary);
    kpoint *kp = is_xcalloc((size_t)(n ? n : 1), sizeof *kp);
    const char *variants[IS_SVG_PALETTE];
    int n_var = 0, i = 0;
    bool more_variants = false; // past the palette: drawn grey as "other variants"
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        kp[i].p = p;
        kp[i].order = i;
        kernel_shape_name(p, vary, kp[i].shape, sizeof kp[i].shape);
        const char *var = is_json_str(is_json_get(p, "config"), "variant");
        var = var ? var : "?";
        int v = 0;
        while (v < n_var && strcmp(variants[v], var) != 0) v++;
        if (v == n_var && n_var < IS_SVG_PALETTE) variants[n_var++] = var;
        more_variants = more_variants || v == IS_SVG_PALETTE;
        kp[i++].variant = v;
    }
    qsort(kp, (size_t)n, sizeof *kp, kpoint_cmp);
    int n_shapes = 0;
    for (i = 0; i < n; i++) n_shapes += i == 0 || strcmp(kp[i].shape, kp[i - 1].shape) != 0;
    if (n == 0) fig_gap(pg, "kernel-time", "Time per call by variant", "the file has no points");

    // the peak chart: a band per shape, a bar per variant
    int shown = n_shapes < HTML_MAX_SHAPES ? n_shapes : HTML_MAX_SHAPES;
    const char **cats = is_xmalloc((size_t)(shown ? shown : 1) * sizeof *cats);
    int *cat_of = is_xmalloc((size_t)(n ? n : 1) * sizeof *cat_of);
    double *frac = is_xmalloc((size_t)(n ? n : 1) * sizeof *frac);
    bool any_frac = false;
    int shape = -1;
    for (i = 0; i < n; i++) {
        if (i == 0 || strcmp(kp[i].shape, kp[i - 1].shape) != 0) {
            shape++;
            if (shape < shown) cats[shape] = kp[i].shape;
        }
        cat_of[i] = shape < shown ? shape : -1;
        frac[i] = derived(kp[i].p, "peak_frac") * 100;
        any_frac = any_frac || (cat_of[i] >= 0 && isfinite(frac[i]));
    }
    // the time charts, one per shape
    for (int a = 0, s = 0; a < n && s < shown; s++) {
        int z = a;
        while (z < n && strcmp(kp[z].shape, kp[a].shape) == 0) z++;
        kernel_time_chart(pg, kp + a, z - a, kp[a].shape);
        a = z;
    }
    if (n_shapes > shown) {
        char note[160];
        snprintf(note, sizeof note, "kernel-time: the first %d shapes drawn, %d more in the table below.", shown,
                 n_shapes - shown);
        note_line(pg, note);
    }
    const cJSON *mem = is_json_get(is_json_get(doc, "probes"), "mem");
    double peak = is_json_num(mem, "peak_gbs");
    const char *of = is_json_str(mem, "peak_of");
    char caption[200], x_title[120];
    snprintf(caption, sizeof caption, "Achieved bandwidth as %% of the probed memory peak, by shape and variant");
    if (isfinite(peak))
        snprintf(x_title, sizeof x_title, "%% of the memory peak (%.1f GB/s%s%s)", peak, of ? ", " : "", of ? of : "");
    else snprintf(x_title, sizeof x_title, "%% of the memory peak");
    if (!any_frac) {
        fig_gap(pg, "kernel-peak", caption, "no point has derived.peak_frac (no memory probe, or every point failed)");
    } else {
        is_svg_chart c = {.cats = cats, .n_cats = shown, .n_slots = n_var + more_variants, .aria = caption};
        is_svg_axis_fit(&c.x, x_title, frac, n, true, false);
        is_svg_begin(&c);
        for (int v = 0; v < c.n_slots; v++) {
            is_svg_series_begin(&c, v < n_var ? variants[v] : "other variants", is_svg_colour(v), false, 'b');
            for (i = 0; i < n; i++) {
                if (kp[i].variant != v || cat_of[i] < 0 || !isfinite(frac[i])) continue;
                char tip[HTML_KEY + 128], var[64];
                cfg_text(is_json_get(kp[i].p, "config"), "variant", var, sizeof var);
                snprintf(tip, sizeof tip, "%s, %s: %.4g GB/s, %.1f%% of the peak", kp[i].shape, var,
                         derived(kp[i].p, "gbs"), frac[i]);
                is_svg_hbar(&c, cat_of[i], v, 0, frac[i], NAN, NAN, tip);
            }
            is_svg_series_end(&c);
        }
        char note[160] = "";
        if (n_shapes > shown) snprintf(note, sizeof note, "The first %d shapes drawn, %d more in the table below.", shown,
                                       n_shapes - shown);
        fig_chart(pg, "kernel-peak", caption, &c, note, NULL);
    }
    free(cats);
    free(cat_of);
    free(frac);
    free(kp);
}

// ---- serve ---------------------------------------------------------------------------

// Whether the arrival process varies among the points with a finite rate (burst
// and closed loops are rate "inf": an arrival that only tells those apart is no
// axis of its own).
static bool serve_arrival_varies(const cJSON *points) {
    const char *first = NULL;
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        const cJSON *c = is_json_get(p, "config");
        const char *rate = is_json_str(c, "rate"), *arr = is_json_str(c, "arrival");
        if (!rate || !arr || !isfinite(strtod(rate, NULL))) continue;
        if (!first) first = arr;
        else if (strcmp(first, arr) != 0) return true;
    }
    return false;
}

// The per-step series of a point as % of their limits: the token budget, the
// sequence limit, the requests, the KV blocks (each series' own maximum where
// the file gives no limit), so that one axis shows them all.
static void timeseries_chart(page *pg, const cJSON *p, const char *caption) {
    const cJSON *ts = is_json_get(p, "timeseries"), *config = is_json_get(p, "config");
    int n = cJSON_GetArraySize(is_json_get(ts, "t_s"));
    static const char *const keys[] = {"prefill_tokens", "decode_tokens", "running", "waiting", "kv_blocks"};
    double *t = is_xmalloc((size_t)n * sizeof *t), *y = is_xmalloc((size_t)n * 4 * sizeof *y);
    const cJSON *v = is_json_get(ts, "t_s")->child, *w[5];
    for (int j = 0; j < 5; j++) w[j] = cJSON_GetArrayItem(is_json_get(ts, keys[j]), 0);
    for (int k = 0; k < n; k++, v = v ? v->next : NULL) {
        double q[5];
        for (int j = 0; j < 5; j++) {
            q[j] = cJSON_IsNumber(w[j]) ? w[j]->valuedouble : NAN;
            w[j] = w[j] ? w[j]->next : NULL;
        }
        t[k] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        y[k] = q[0] + q[1], y[n + k] = q[2], y[2 * n + k] = q[3], y[3 * n + k] = q[4];
    }
    const double limit[4] = {is_json_num(config, "max_batch_tokens"), is_json_num(config, "max_seqs"),
                             is_json_num(config, "requests"), is_json_num(is_json_get(p, "serve"), "kv_blocks_total")};
    static const char *const what[4] = {"tokens per step", "running", "waiting", "KV blocks"};
    static const char *const of[4] = {"max_batch_tokens ", "max_seqs ", "", ""};
    static const char *const after[4] = {"", "", " requests", " in the pool"};
    char names[4][96];
    for (int s = 0; s < 4; s++) {
        double lim = limit[s], max = 0;
        for (int k = 0; k < n; k++)
            if (isfinite(y[s * n + k])) max = fmax(max, y[s * n + k]);
        if (isfinite(lim) && lim > 0) snprintf(names[s], sizeof names[s], "%s (of %s%.0f%s)", what[s], of[s], lim, after[s]);
        else {
            lim = max > 0 ? max : 1;
            snprintf(names[s], sizeof names[s], "%s (of its maximum, %.0f)", what[s], max);
        }
        for (int k = 0; k < n; k++) y[s * n + k] *= 100 / lim;
    }
    is_svg_chart c = {.aria = caption};
    is_svg_axis_fit(&c.x, "time since the first arrival, s", t, n, true, false);
    is_svg_axis_fit(&c.y, "% of the limit", y, 4 * n, true, false);
    is_svg_begin(&c);
    for (int s = 0; s < 4; s++) {
        is_svg_series_begin(&c, names[s], is_svg_colour(s), false, 'l');
        is_svg_line(&c, t, y + (size_t)s * n, n);
        if (n == 1) is_svg_dot(&c, t[0], y[(size_t)s * n], NAN, NAN, names[s]);
        is_svg_series_end(&c);
    }
    fig_chart(pg, "timeseries", caption, &c, NULL, NULL);
    free(t);
    free(y);
}

static void serve_timeseries(page *pg, const cJSON *points, const bool *vary) {
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        if (i++ >= HTML_MAX_PER_POINT) break;
        char key[HTML_KEY], caption[HTML_KEY + 80];
        config_key(is_json_get(p, "config"), is_schema_serve_fields, is_schema_n_serve_fields, vary, key, sizeof key);
        snprintf(caption, sizeof caption, "Scheduler per step (last repetition): %s", *key ? key : "the point");
        if (!is_results_point_ok(p)) {
            const char *e = is_json_str(p, "error");
            fig_gap(pg, "timeseries", caption, e ? e : "the point failed");
        } else if (cJSON_GetArraySize(is_json_get(is_json_get(p, "timeseries"), "t_s")) == 0) {
            fig_gap(pg, "timeseries", caption, "no per-step series in this file");
        } else {
            timeseries_chart(pg, p, caption);
        }
    }
    if (i > HTML_MAX_PER_POINT) {
        char note[160];
        snprintf(note, sizeof note, "timeseries: the first %d points drawn, %d more have theirs in results.json.",
                 HTML_MAX_PER_POINT, cJSON_GetArraySize(points) - HTML_MAX_PER_POINT);
        note_line(pg, note);
    }
}

static void serve_charts(page *pg, const cJSON *doc) {
    const cJSON *points = is_json_get(doc, "points");
    int n = cJSON_GetArraySize(points), nf = is_schema_n_serve_fields;
    bool vary[HTML_MAX_FIELDS];
    fields_varying(points, is_schema_serve_fields, nf, vary);
    int arrival = field_index(is_schema_serve_fields, nf, "arrival");
    bool key_vary[HTML_MAX_FIELDS];
    memcpy(key_vary, vary, sizeof key_vary);
    if (arrival >= 0 && !serve_arrival_varies(points)) key_vary[arrival] = false;
    // the load: every setting of it is a point along the curve
    static const char *const load[] = {"concurrency", "arrival"};
    static const struct {
        const char *chart, *caption, *metric, *name, *y_title, *no_data;
    } lat[] = {
        {"serve-ttft", "TTFT against achieved throughput (p50 with its 95% interval, p99 dashed)", "ttft_ms", "TTFT",
         "TTFT ms", "no point has TTFT (every point failed)"},
        {"serve-tpot", "TPOT against achieved throughput (p50 with its 95% interval, p99 dashed)", "tpot_ms", "TPOT",
         "TPOT ms", "no point has TPOT (failed points, or one-token outputs)"},
    };
    for (int m = 0; m < 2; m++) {
        xy_pt *pts = xy_points(points, is_schema_serve_fields, nf, key_vary, load, 2, "rate");
        xy_metric(pts, points, lat[m].metric, 0, "median");
        xy_metric(pts, points, lat[m].metric, 1, "p99");
        int i = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, points) pts[i++].x = stat(p, "req_per_s", "median");
        xy_spec s = {.chart = lat[m].chart, .caption = lat[m].caption, .x_title = "achieved req/s",
                     .y_title = lat[m].y_title, .n_stats = 2, .stat_name = {"p50", "p99"},
                     .one_name = lat[m].name, .ceiling = NAN, .no_data = lat[m].no_data};
        xy_chart(pg, &s, pts, n);
        free(pts);
    }
    xy_pt *pts = xy_points(points, is_schema_serve_fields, nf, key_vary, NULL, 0, "rate");
    xy_metric(pts, points, "goodput", 0, "median");
    xy_spec s = {.chart = "goodput", .caption = "Goodput against offered load (median, 95% interval)",
                 .x_title = "offered req/s", .y_title = "goodput req/s", .x_discrete = true, .n_stats = 1,
                 .one_name = "goodput", .ceiling = NAN, .no_data = "no point has goodput (every point failed)",
                 .note = "Rate inf (burst, closed loop) is drawn at the right end."};
    xy_chart(pg, &s, pts, n);
    free(pts);
    serve_timeseries(pg, points, vary);
}

// ---- the pages -------------------------------------------------------------------------

char *is_results_to_html(const cJSON *doc) {
    is_results_kind kind = is_results_kind_of(doc);
    const cJSON *sweep = is_json_get(doc, "sweep");
    const char *cmd = is_json_str(sweep, "command"), *model = is_json_str(sweep, "model");
    bool profile = kind == IS_RESULTS_KIND_BENCH && cmd && strcmp(cmd, "profile") == 0;
    const char *kind_name = profile ? "profile" : is_results_kind_name(kind);
    page pg = {0};
    switch (kind) {
    case IS_RESULTS_KIND_KERNELS: kernels_charts(&pg, doc); break;
    case IS_RESULTS_KIND_SERVE: serve_charts(&pg, doc); break;
    case IS_RESULTS_KIND_BENCH:
        bench_charts(&pg, doc);
        profile_charts(&pg, doc, profile);
        break;
    }
    char *md = is_results_to_md(doc);
    size_t head = md_head_len(md);
    is_strbuf h = {0};
    md_to_html(&h, md, head, 0);
    char title[512];
    snprintf(title, sizeof title, "inferscope %s%s%s", cmd ? cmd : kind_name, model ? ": " : "", model ? model : "");
    char *out = page_finish(&pg, kind_name, title, is_sb_take(&h), md + head);
    free(h.p);
    free(md);
    return out;
}

// A row's label: the config fields that differ between rows (the kind's main
// ones when none does).
static void compare_labels(const is_compare_row *rows, int n, char (*label)[HTML_KEY]) {
    is_results_kind kind = n > 0 ? rows[0].kind : IS_RESULTS_KIND_BENCH;
    int nf;
    const is_schema_field *fields = is_results_config_fields(kind, &nf);
    IS_ASSERT(nf <= HTML_MAX_FIELDS);
    bool use[HTML_MAX_FIELDS] = {false}, any = false;
    for (int f = 0; f < nf; f++) {
        char first[HTML_KEY], v[HTML_KEY];
        cfg_text(rows[0].config, fields[f].name, first, sizeof first);
        for (int r = 1; r < n && !use[f]; r++) {
            cfg_text(rows[r].config, fields[f].name, v, sizeof v);
            use[f] = strcmp(first, v) != 0;
        }
        any = any || use[f];
    }
    static const char *const main_fields[] = {"batch", "prompt", "tensor", "shape", "variant", "rate", "policy"};
    for (int f = 0; f < nf && !any; f++)
        for (size_t k = 0; k < sizeof main_fields / sizeof main_fields[0]; k++)
            use[f] = use[f] || strcmp(fields[f].name, main_fields[k]) == 0;
    for (int r = 0; r < n; r++) { // "q,o m=2048,k=2048 batch=1 auto": numbers named, strings as they are
        size_t k = 0;
        label[r][0] = 0;
        for (int f = 0; f < nf && k < HTML_KEY; f++) {
            if (!use[f]) continue;
            char v[HTML_KEY];
            cfg_text(rows[r].config, fields[f].name, v, sizeof v);
            bool named = !fields[f].is_string;
            k += (size_t)snprintf(label[r] + k, HTML_KEY - k, "%s%s%s%s", k ? " " : "", named ? fields[f].name : "",
                                  named ? "=" : "", v);
        }
        if (!*label[r]) snprintf(label[r], HTML_KEY, "point %d", r + 1);
    }
}

static void forest_chart(page *pg, const is_compare_row *rows, int n, const is_compare_opts *o) {
    char caption[256];
    const char *metric = o->metric ? o->metric : is_results_kind_default_metric(n ? rows[0].kind : IS_RESULTS_KIND_BENCH);
    snprintf(caption, sizeof caption, "%s: NEW / BASE per point with its 95%% interval", metric);
    if (n == 0) {
        fig_gap(pg, "forest", caption, "no point to compare");
        return;
    }
    char(*label)[HTML_KEY] = is_xmalloc((size_t)n * sizeof *label);
    compare_labels(rows, n, label);
    const char **cats = is_xmalloc((size_t)n * sizeof *cats);
    double *v = is_xmalloc(((size_t)n * 3 + 2) * sizeof *v);
    for (int r = 0; r < n; r++) {
        cats[r] = label[r];
        v[3 * r] = rows[r].ratio, v[3 * r + 1] = rows[r].ci_lo, v[3 * r + 2] = rows[r].ci_hi;
    }
    double t = o->threshold;
    v[3 * n] = 1 - t, v[3 * n + 1] = 1 + t;
    is_svg_chart c = {.cats = cats, .n_cats = n, .n_slots = 1, .aria = caption, .width = 960};
    is_svg_axis_fit(&c.x, "NEW / BASE", v, 3 * n + 2, false, false);
    is_svg_begin(&c);
    char band[64];
    snprintf(band, sizeof band, "threshold: within %.3g%% is the same", t * 100);
    is_svg_vband(&c, 1 - t, 1 + t, band);
    is_svg_vline(&c, 1);
    static const is_verdict order[] = {IS_VERDICT_FASTER, IS_VERDICT_SLOWER, IS_VERDICT_SAME, IS_VERDICT_UNCLEAR,
                                       IS_VERDICT_NONE};
    static const char *const colour[] = {[IS_VERDICT_SAME] = "#4e79a7", [IS_VERDICT_FASTER] = "#2e7d32",
                                         [IS_VERDICT_SLOWER] = "#c62828", [IS_VERDICT_UNCLEAR] = "#e69f00",
                                         [IS_VERDICT_NONE] = "#9a9a9a"};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        is_verdict vd = order[k];
        bool present = false;
        for (int r = 0; r < n && !present; r++) present = rows[r].verdict == vd;
        if (!present) continue;
        is_svg_series_begin(&c, vd == IS_VERDICT_NONE ? "not compared" : is_verdict_name(vd), colour[vd], false, 'l');
        for (int r = 0; r < n; r++) {
            if (rows[r].verdict != vd) continue;
            char tip[HTML_KEY + 300];
            if (isfinite(rows[r].ratio)) {
                snprintf(tip, sizeof tip, "%s: %.3f (95%% CI %.3f to %.3f), %s%s%s", label[r], rows[r].ratio,
                         rows[r].ci_lo, rows[r].ci_hi, is_verdict_name(vd), *rows[r].note ? "; " : "", rows[r].note);
                is_svg_hdot(&c, r, rows[r].ratio, rows[r].ci_lo, rows[r].ci_hi, tip);
            } else {
                snprintf(tip, sizeof tip, "not compared%s%s", *rows[r].note ? ": " : "", rows[r].note);
                is_svg_cat_text(&c, r, 0, NAN, tip);
            }
        }
        is_svg_series_end(&c);
    }
    char extra[48];
    snprintf(extra, sizeof extra, " data-rows=\"%d\" data-wide=\"1\"", n);
    fig_chart(pg, "forest", caption, &c, NULL, extra);
    free(label);
    free(cats);
    free(v);
}

// The head (title and environment lines) of doc's report.md, its title a level down.
static void compare_env(is_strbuf *b, const char *which, const cJSON *doc) {
    if (!doc) return;
    is_sb_printf(b, "<h2>%s</h2>\n", which);
    char *md = is_results_to_md(doc);
    md_to_html(b, md, md_head_len(md), 2);
    free(md);
}

char *is_compare_to_html(const is_compare_row *rows, int n, const is_compare_opts *o, const cJSON *base,
                         const cJSON *nw) {
    page pg = {0};
    forest_chart(&pg, rows, n, o);
    is_strbuf h = {0};
    const char *model = is_json_str(is_json_get(base, "sweep"), "model");
    is_sb_puts(&h, "<h1>inferscope compare");
    if (model) {
        is_sb_puts(&h, ": ");
        is_html_escape(&h, model);
    }
    is_sb_puts(&h, "</h1>\n");
    compare_env(&h, "BASE", base);
    compare_env(&h, "NEW", nw);
    char title[512];
    snprintf(title, sizeof title, "inferscope compare%s%s", model ? ": " : "", model ? model : "");
    char *md = is_compare_to_md(rows, n, o);
    char *out = page_finish(&pg, "compare", title, is_sb_take(&h), md);
    free(h.p);
    free(md);
    return out;
}
