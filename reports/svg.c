// svg.c — chart primitives: axes with round or per-setting ticks, lines with
// gaps, dots with intervals, bars in category bands, reference lines, a legend.
#include "reports/svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"     // defines: IS_ASSERT, is_xmalloc
#include "reports/html.h"   // defines: is_html_escape

#define SVG_WIDTH 640
#define SVG_PLOT_H 240      // x-y plot height, px
#define SVG_CHAR_W 6.5      // mean width of a character at the chart font size (11 px)
#define SVG_AXIS_H 40       // under the plot: tick labels and the axis title
#define SVG_LEGEND_ROW 16

static const char *const palette[IS_SVG_PALETTE] = {"#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2",
                                                    "#edc948", "#9c755f", "#ff9da7", "#17becf", "#bcbd22"};

const char *is_svg_colour(int k) { return k >= 0 && k < IS_SVG_PALETTE ? palette[k] : "#9a9a9a"; }

// ---- numbers -----------------------------------------------------------------------

// A coordinate: finite by construction (every primitive drops what does not map).
static void num(is_strbuf *b, double v) {
    IS_ASSERT(isfinite(v));
    is_sb_printf(b, "%.1f", fabs(v) < 0.05 ? 0.0 : v);
}

// One of 1, 2, 5 times a power of ten, near x.
static double nice_step(double x) {
    double e = pow(10, floor(log10(x))), f = x / e;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * e;
}

static void tick_text(char *buf, size_t n, double v, double step) {
    if (step > 0 && fabs(v) < step * 1e-6) v = 0;
    if (fabs(v) >= 1e7 || (v != 0 && fabs(v) < 1e-4)) snprintf(buf, n, "%.3g", v);
    else if (step > 0) snprintf(buf, n, "%.*f", step >= 1 ? 0 : (int)fmin(6, ceil(-log10(step) - 1e-9)), v);
    else snprintf(buf, n, "%.6g", v);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void add_tick(is_svg_axis *a, double v, double step) {
    if (a->n_ticks == IS_SVG_MAX_TICKS) return;
    a->tick[a->n_ticks] = v;
    tick_text(a->tick_text[a->n_ticks], sizeof a->tick_text[0], v, step);
    a->n_ticks++;
}

// Round ticks over [lo, hi], widening the range to whole steps.
static void round_ticks(is_svg_axis *a, double lo, double hi, bool widen) {
    double step = nice_step((hi - lo) / 5);
    if (widen) {
        a->lo = floor(lo / step + 1e-9) * step;
        a->hi = ceil(hi / step - 1e-9) * step;
    }
    double first = ceil(a->lo / step - 1e-9) * step;
    for (int i = 0; first + i * step <= a->hi + step * 1e-9; i++) add_tick(a, first + i * step, step);
}

void is_svg_axis_fit(is_svg_axis *a, const char *title, const double *v, int n, bool from_zero, bool discrete) {
    memset(a, 0, sizeof *a);
    a->title = title;
    double *u = is_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *u);
    int nu = 0;
    bool positive = true;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            u[nu++] = v[i];
            positive = positive && v[i] > 0;
        }
    if (nu == 0) { // nothing to show: an empty frame
        a->lo = 0, a->hi = 1;
        round_ticks(a, 0, 1, true);
        free(u);
        return;
    }
    qsort(u, (size_t)nu, sizeof *u, cmp_double);
    double lo = u[0], hi = u[nu - 1];
    if (!discrete) {
        if (from_zero) lo = fmin(lo, 0), hi = fmax(hi, 0);
        if (hi == lo) hi = lo + (lo != 0 ? fabs(lo) : 1);
        round_ticks(a, lo, hi, true);
        free(u);
        return;
    }
    int distinct = 0;
    for (int i = 0; i < nu; i++)
        if (i == 0 || u[i] != u[distinct - 1]) u[distinct++] = u[i];
    a->log = positive && hi / lo >= 16;
    if (a->log) { // a margin of 6% of the span (in log2), a whole step for one value
        double l = log2(lo), h = log2(hi), pad = h > l ? 0.06 * (h - l) : 1;
        a->lo = exp2(l - pad), a->hi = exp2(h + pad);
    } else {
        double pad = hi > lo ? 0.06 * (hi - lo) : (lo != 0 ? fabs(lo) * 0.5 : 1);
        a->lo = lo - pad, a->hi = hi + pad;
        if (lo >= 0 && a->lo < 0 && from_zero) a->lo = 0;
    }
    if (distinct <= 12) {
        for (int i = 0; i < distinct; i++) add_tick(a, u[i], 0);
    } else if (a->log) { // powers of two, every k-th so that 12 at most remain
        int e0 = (int)ceil(log2(a->lo)), e1 = (int)floor(log2(a->hi)), stride = (e1 - e0) / 12 + 1;
        for (int e = e0; e <= e1; e += stride) add_tick(a, exp2(e), 0);
    } else {
        round_ticks(a, a->lo, a->hi, false);
    }
    free(u);
}

void is_svg_axis_label(is_svg_axis *a, double v, const char *text) {
    for (int i = 0; i < a->n_ticks; i++)
        if (fabs(a->tick[i] - v) <= 1e-9 * fmax(1, fabs(v))) {
            snprintf(a->tick_text[i], sizeof a->tick_text[i], "%s", text);
            return;
        }
    if (a->n_ticks == IS_SVG_MAX_TICKS) return;
    a->tick[a->n_ticks] = v;
    snprintf(a->tick_text[a->n_ticks++], sizeof a->tick_text[0], "%s", text);
}

// v on axis a, mapped from [lo, hi] to [p0, p1] and held inside it; NaN when v is
// not finite or not on a log axis.
static double map(const is_svg_axis *a, double v, double p0, double p1) {
    if (!isfinite(v) || (a->log && v <= 0)) return NAN;
    double t = a->log ? (log2(v) - log2(a->lo)) / (log2(a->hi) - log2(a->lo)) : (v - a->lo) / (a->hi - a->lo);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return p0 + t * (p1 - p0);
}

static double px(const is_svg_chart *c, double v) { return map(&c->x, v, c->left, c->right); }
static double py(const is_svg_chart *c, double v) { return map(&c->y, v, c->bottom, c->top); }

// ---- text ----------------------------------------------------------------------------

// s cut to max characters (at a UTF-8 boundary, at most IS_SVG_LABEL_CHARS) with "…" when longer.
static void cut_label(char *buf, size_t n, const char *s, int max) {
    size_t k = 0, chars = 0;
    if (max > IS_SVG_LABEL_CHARS) max = IS_SVG_LABEL_CHARS;
    while (s[k] && k + 1 < n - 4) {
        if (((unsigned char)s[k] & 0xC0) != 0x80 && ++chars > (size_t)max) break;
        k++;
    }
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--; // not inside a character
    memcpy(buf, s, k);
    buf[k] = 0;
    if (s[k]) strcat(buf, "\xe2\x80\xa6");
}

static double text_width(const char *s) {
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return (double)w * SVG_CHAR_W;
}

// <text x y [anchor]>s</text>, s escaped; tip: a <title> with the full text.
static void put_text(is_strbuf *b, double x, double y, const char *cls, const char *anchor, const char *s,
                     const char *tip) {
    is_sb_printf(b, "<text class=\"%s\" x=\"", cls);
    num(b, x);
    is_sb_puts(b, "\" y=\"");
    num(b, y);
    is_sb_puts(b, "\"");
    if (anchor) is_sb_printf(b, " text-anchor=\"%s\"", anchor);
    is_sb_puts(b, ">");
    if (tip) {
        is_sb_puts(b, "<title>");
        is_html_escape(b, tip);
        is_sb_puts(b, "</title>");
    }
    is_html_escape(b, s);
    is_sb_puts(b, "</text>");
}

static void put_title(is_strbuf *b, const char *tip) {
    if (!tip) return;
    is_sb_puts(b, "<title>");
    is_html_escape(b, tip);
    is_sb_puts(b, "</title>");
}

static void legend_add(is_svg_chart *c, const char *name, const char *colour, char mark) {
    if (c->n_legend == IS_SVG_MAX_LEGEND) return;
    is_svg_legend_entry *e = &c->legend[c->n_legend++];
    cut_label(e->name, sizeof e->name, name, IS_SVG_LABEL_CHARS);
    e->colour = colour;
    e->mark = mark;
}

// ---- the frame -----------------------------------------------------------------------

static double band_height(const is_svg_chart *c) { return c->n_slots > 1 ? c->n_slots * 8 + 8 : 20; }

static void line_seg(is_strbuf *b, const char *cls, double x1, double y1, double x2, double y2) {
    is_sb_printf(b, "<line class=\"%s\" x1=\"", cls);
    num(b, x1);
    is_sb_puts(b, "\" y1=\"");
    num(b, y1);
    is_sb_puts(b, "\" x2=\"");
    num(b, x2);
    is_sb_puts(b, "\" y2=\"");
    num(b, y2);
    is_sb_puts(b, "\"/>");
}

void is_svg_begin(is_svg_chart *c) {
    c->body = (is_strbuf){0};
    if (c->width <= 0) c->width = SVG_WIDTH;
    c->n_series = c->n_legend = 0;
    c->in_series = false;
    if (c->n_slots < 1) c->n_slots = 1;
    c->top = 12;
    c->right = c->width - 20;
    if (c->cats) { // a margin for the longest label, up to 45% of the width; longer ones cut
        double w = 0, max_w = 0.45 * c->width;
        c->label_chars = (int)((max_w - 16) / SVG_CHAR_W);
        for (int i = 0; i < c->n_cats; i++) {
            char cut[IS_SVG_LABEL_CHARS * 4 + 4];
            cut_label(cut, sizeof cut, c->cats[i], c->label_chars);
            w = fmax(w, text_width(cut));
        }
        c->left = fmin(fmax(w * 1.1 + 16, 64), max_w);
        c->bottom = c->top + band_height(c) * (c->n_cats > 0 ? c->n_cats : 1);
    } else {
        c->left = 64;
        c->bottom = c->top + SVG_PLOT_H;
    }
    is_strbuf *b = &c->body;
    is_sb_puts(b, "<g class=\"axes\">");
    // x ticks: grid line, label (left out where it would overlap the one before)
    double last_end = -1e9;
    for (int i = 0; i < c->x.n_ticks; i++) {
        double x = px(c, c->x.tick[i]);
        if (!isfinite(x)) continue;
        line_seg(b, "grid", x, c->top, x, c->bottom);
        double w = text_width(c->x.tick_text[i]);
        if (x - w / 2 < last_end + 4) continue;
        put_text(b, x, c->bottom + 14, "tick", "middle", c->x.tick_text[i], NULL);
        last_end = x + w / 2;
    }
    if (c->cats) { // category labels, cut, the full text in a <title>
        double bh = band_height(c);
        for (int i = 0; i < c->n_cats; i++) {
            char cut[IS_SVG_LABEL_CHARS * 4 + 4];
            cut_label(cut, sizeof cut, c->cats[i], c->label_chars);
            put_text(b, c->left - 6, c->top + bh * i + bh / 2 + 4, "tick", "end", cut,
                     strcmp(cut, c->cats[i]) ? c->cats[i] : NULL);
            if (i) line_seg(b, "grid", c->left, c->top + bh * i, c->right, c->top + bh * i);
        }
    } else {
        double last_y = 1e9;
        for (int i = 0; i < c->y.n_ticks; i++) {
            double y = py(c, c->y.tick[i]);
            if (!isfinite(y)) continue;
            line_seg(b, "grid", c->left, y, c->right, y);
            if (last_y - y < 12) continue;
            put_text(b, c->left - 6, y + 4, "tick", "end", c->y.tick_text[i], NULL);
            last_y = y;
        }
        if (c->y.title) {
            is_sb_puts(b, "<text class=\"title\" text-anchor=\"middle\" transform=\"translate(14,");
            num(b, (c->top + c->bottom) / 2);
            is_sb_puts(b, ") rotate(-90)\">");
            is_html_escape(b, c->y.title);
            is_sb_puts(b, "</text>");
        }
    }
    is_sb_puts(b, "<rect class=\"frame\" x=\"");
    num(b, c->left);
    is_sb_puts(b, "\" y=\"");
    num(b, c->top);
    is_sb_puts(b, "\" width=\"");
    num(b, c->right - c->left);
    is_sb_puts(b, "\" height=\"");
    num(b, c->bottom - c->top);
    is_sb_puts(b, "\"/>");
    if (c->x.title) put_text(b, (c->left + c->right) / 2, c->bottom + 32, "title", "middle", c->x.title, NULL);
    is_sb_puts(b, "</g>\n");
}

// The legend under the plot, entries left to right, wrapping.
static void legend(is_svg_chart *c, is_strbuf *b, double y0, double *height) {
    double x = 8, y = y0;
    for (int i = 0; i < c->n_legend; i++) {
        const is_svg_legend_entry *e = &c->legend[i];
        double w = 26 + text_width(e->name) + 14;
        if (x > 8 && x + w > c->width - 8) x = 8, y += SVG_LEGEND_ROW;
        is_sb_printf(b, "<g class=\"key\" stroke=\"%s\" fill=\"%s\">", e->colour, e->colour);
        double my = y - 4;
        if (e->mark == 'b' || e->mark == 'a') {
            is_sb_printf(b, "<rect class=\"%s\" x=\"", e->mark == 'a' ? "band" : "swatch");
            num(b, x + 4);
            is_sb_puts(b, "\" y=\"");
            num(b, my - 5);
            is_sb_puts(b, "\" width=\"12\" height=\"10\"/>");
        } else {
            line_seg(b, e->mark == 'l' ? "line" : e->mark == 'd' ? "line dashed" : "ceiling", x, my, x + 20, my);
            if (e->mark == 'l') {
                is_sb_puts(b, "<circle r=\"3\" cx=\"");
                num(b, x + 10);
                is_sb_puts(b, "\" cy=\"");
                num(b, my);
                is_sb_puts(b, "\"/>");
            }
        }
        put_text(b, x + 26, y, "key", NULL, e->name, NULL);
        is_sb_puts(b, "</g>");
        x += w;
    }
    *height = c->n_legend ? y - y0 + SVG_LEGEND_ROW : 0;
}

void is_svg_end(is_svg_chart *c, is_strbuf *out) {
    IS_ASSERT(!c->in_series);
    is_strbuf leg = {0};
    double lh;
    legend(c, &leg, c->bottom + SVG_AXIS_H + 12, &lh);
    int height = (int)ceil(c->bottom + SVG_AXIS_H + lh + 6);
    is_sb_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\"",
                 c->width, height, c->width, height);
    is_sb_puts(out, " role=\"img\"");
    if (c->aria) {
        is_sb_puts(out, " aria-label=\"");
        is_html_escape(out, c->aria);
        is_sb_puts(out, "\"");
    }
    is_sb_puts(out, ">\n");
    if (c->body.p) is_sb_puts(out, c->body.p);
    if (leg.p) is_sb_puts(out, leg.p);
    is_sb_puts(out, "</svg>\n");
    free(leg.p);
    free(c->body.p);
    c->body = (is_strbuf){0};
}

// ---- series ------------------------------------------------------------------------

void is_svg_series_begin(is_svg_chart *c, const char *name, const char *colour, bool dashed, char legend_mark) {
    IS_ASSERT(!c->in_series);
    c->in_series = true;
    c->dashed = dashed;
    c->n_series++;
    is_sb_puts(&c->body, "<g class=\"series\" data-name=\"");
    is_html_escape(&c->body, name);
    is_sb_printf(&c->body, "\" stroke=\"%s\" fill=\"%s\">", colour, colour);
    legend_add(c, name, colour, dashed && legend_mark == 'l' ? 'd' : legend_mark);
}

void is_svg_series_end(is_svg_chart *c) {
    IS_ASSERT(c->in_series);
    c->in_series = false;
    is_sb_puts(&c->body, "</g>\n");
}

void is_svg_line(is_svg_chart *c, const double *x, const double *y, int n) {
    is_strbuf *b = &c->body;
    bool open = false, pen_down = false;
    for (int i = 0; i < n; i++) {
        double X = px(c, x[i]), Y = py(c, y[i]);
        if (!isfinite(X) || !isfinite(Y)) {
            pen_down = false; // a gap: the next point starts a new stretch
            continue;
        }
        if (!open) {
            is_sb_printf(b, "<path class=\"line%s\" d=\"", c->dashed ? " dashed" : "");
            open = true;
        }
        is_sb_puts(b, pen_down ? "L" : "M");
        num(b, X);
        is_sb_puts(b, " ");
        num(b, Y);
        pen_down = true;
    }
    if (open) is_sb_puts(b, "\"/>");
}

// An interval drawn as a bar with end caps: along y at X (vertical) or along x at Y.
static void interval(is_strbuf *b, const char *cls, double a0, double a1, double at, bool vertical) {
    is_sb_printf(b, "<path class=\"%s\" d=\"M", cls);
    if (vertical) {
        num(b, at), is_sb_puts(b, " "), num(b, a0), is_sb_puts(b, "V"), num(b, a1);
        is_sb_puts(b, "M"), num(b, at - 3), is_sb_puts(b, " "), num(b, a0), is_sb_puts(b, "h6");
        is_sb_puts(b, "M"), num(b, at - 3), is_sb_puts(b, " "), num(b, a1), is_sb_puts(b, "h6");
    } else {
        num(b, a0), is_sb_puts(b, " "), num(b, at), is_sb_puts(b, "H"), num(b, a1);
        is_sb_puts(b, "M"), num(b, a0), is_sb_puts(b, " "), num(b, at - 3), is_sb_puts(b, "v6");
        is_sb_puts(b, "M"), num(b, a1), is_sb_puts(b, " "), num(b, at - 3), is_sb_puts(b, "v6");
    }
    is_sb_puts(b, "\"/>");
}

void is_svg_dot(is_svg_chart *c, double x, double y, double lo, double hi, const char *tip) {
    double X = px(c, x), Y = py(c, y);
    if (!isfinite(X) || !isfinite(Y)) return;
    double L = py(c, lo), H = py(c, hi);
    if (isfinite(L) && isfinite(H) && fabs(L - H) >= 1) interval(&c->body, "err", L, H, X, true);
    is_sb_puts(&c->body, "<circle r=\"3\" cx=\"");
    num(&c->body, X);
    is_sb_puts(&c->body, "\" cy=\"");
    num(&c->body, Y);
    is_sb_puts(&c->body, "\">");
    put_title(&c->body, tip);
    is_sb_puts(&c->body, "</circle>");
}

void is_svg_text(is_svg_chart *c, double x, double y, const char *text) {
    double X = px(c, x), Y = py(c, y);
    if (!isfinite(X) || !isfinite(Y)) return;
    put_text(&c->body, X + 5, Y - 5, "label", NULL, text, NULL);
}

// ---- bars --------------------------------------------------------------------------

// The top and height of slot slot of band cat.
static void slot_box(const is_svg_chart *c, int cat, int slot, double *y, double *h) {
    double bh = band_height(c);
    *h = (bh - 6) / c->n_slots;
    *y = c->top + bh * cat + 3 + *h * slot;
}

void is_svg_hbar(is_svg_chart *c, int cat, int slot, double x0, double x1, double lo, double hi, const char *tip) {
    double X0 = px(c, x0), X1 = px(c, x1);
    if (!isfinite(X0) || !isfinite(X1) || cat < 0 || cat >= c->n_cats) return;
    double y, h;
    slot_box(c, cat, slot, &y, &h);
    is_strbuf *b = &c->body;
    is_sb_puts(b, "<rect x=\"");
    num(b, fmin(X0, X1));
    is_sb_puts(b, "\" y=\"");
    num(b, y);
    is_sb_puts(b, "\" width=\"");
    num(b, fabs(X1 - X0));
    is_sb_puts(b, "\" height=\"");
    num(b, h);
    is_sb_puts(b, "\">");
    put_title(b, tip);
    is_sb_puts(b, "</rect>");
    double L = px(c, lo), H = px(c, hi);
    if (isfinite(L) && isfinite(H) && fabs(L - H) >= 1) interval(b, "whisker", L, H, y + h / 2, false);
}

void is_svg_hdot(is_svg_chart *c, int cat, double x, double lo, double hi, const char *tip) {
    double X = px(c, x);
    if (!isfinite(X) || cat < 0 || cat >= c->n_cats) return;
    double y = c->top + band_height(c) * (cat + 0.5);
    double L = px(c, lo), H = px(c, hi);
    if (isfinite(L) && isfinite(H)) interval(&c->body, "err", L, H, y, false);
    is_sb_puts(&c->body, "<circle r=\"4\" cx=\"");
    num(&c->body, X);
    is_sb_puts(&c->body, "\" cy=\"");
    num(&c->body, y);
    is_sb_puts(&c->body, "\">");
    put_title(&c->body, tip);
    is_sb_puts(&c->body, "</circle>");
}

void is_svg_cat_text(is_svg_chart *c, int cat, int slot, double x, const char *text) {
    if (cat < 0 || cat >= c->n_cats) return;
    double X = isnan(x) ? c->left : px(c, x);
    if (!isfinite(X)) return;
    double y, h;
    slot_box(c, cat, slot, &y, &h);
    put_text(&c->body, X + 4, y + h / 2 + 4, "label", NULL, text, NULL);
}

// ---- reference lines -----------------------------------------------------------------

void is_svg_ceiling(is_svg_chart *c, double y, const char *label) {
    double Y = py(c, y);
    if (!isfinite(Y)) return;
    line_seg(&c->body, "ceiling", c->left, Y, c->right, Y);
    legend_add(c, label, "#555555", 'c');
}

void is_svg_vline(is_svg_chart *c, double x) {
    double X = px(c, x);
    if (isfinite(X)) line_seg(&c->body, "ref", X, c->top, X, c->bottom);
}

void is_svg_vband(is_svg_chart *c, double x0, double x1, const char *label) {
    double X0 = px(c, x0), X1 = px(c, x1);
    if (!isfinite(X0) || !isfinite(X1)) return;
    is_sb_puts(&c->body, "<rect class=\"band\" x=\"");
    num(&c->body, fmin(X0, X1));
    is_sb_puts(&c->body, "\" y=\"");
    num(&c->body, c->top);
    is_sb_puts(&c->body, "\" width=\"");
    num(&c->body, fabs(X1 - X0));
    is_sb_puts(&c->body, "\" height=\"");
    num(&c->body, c->bottom - c->top);
    is_sb_puts(&c->body, "\"/>");
    legend_add(c, label, "#d9d9d9", 'a');
}
