// svg.h — chart primitives of the HTML report (reports/html.c): an x-y plot, or
// bars along a category axis, written as inline SVG text. Every coordinate
// written is finite: a value that is missing (NaN) or off a log axis is not
// drawn, and a line breaks there. Text is escaped (is_html_escape).
// Declares: is_svg_axis, is_svg_chart, is_svg_colour, is_svg_axis_fit,
// is_svg_axis_label, is_svg_begin, is_svg_end, is_svg_series_begin, is_svg_series_end,
// is_svg_line, is_svg_dot, is_svg_text, is_svg_hbar, is_svg_hdot, is_svg_cat_text,
// is_svg_ceiling, is_svg_vline, is_svg_vband.
//
// Use: fit the axes (or set cats for bars), is_svg_begin, then per series
// is_svg_series_begin ... is_svg_series_end (each one <g class="series"
// data-name=...>, a legend entry), then is_svg_end to append the <svg> to a page.
#ifndef IS_REPORTS_SVG_H
#define IS_REPORTS_SVG_H

#include <stdbool.h>

#include "base/strbuf.h" // defines: is_strbuf

#define IS_SVG_MAX_TICKS 16
#define IS_SVG_PALETTE 11    // distinct series colours; the next ones are the grey of "other"
#define IS_SVG_MAX_LEGEND 24 // legend entries kept (series and reference lines)
#define IS_SVG_LABEL_CHARS 56 // longer legend and category labels are cut (the full text is in <title>)

// The colour of series k: IS_SVG_PALETTE distinct ones, then grey.
const char *is_svg_colour(int k);

typedef struct is_svg_axis {
    const char *title;  // with its unit: "batch size", "decode tok/s"
    bool log;           // log2 scale (lo > 0)
    double lo, hi;      // the range drawn, lo < hi
    int n_ticks;
    double tick[IS_SVG_MAX_TICKS];
    char tick_text[IS_SVG_MAX_TICKS][24];
} is_svg_axis;

// Fits a to the finite values of v[0..n) (NaN and infinities are left out; none
// at all: 0..1). from_zero: the range starts at 0 (sizes, rates, times). discrete:
// the values are the settings of a sweep (batch sizes): a log2 scale when all are
// positive and span 16x or more, and a tick at each distinct value when there
// are at most 12; else ticks at round steps.
void is_svg_axis_fit(is_svg_axis *a, const char *title, const double *v, int n, bool from_zero, bool discrete);
// Gives the tick at value v the label text (adds a tick there when none is).
void is_svg_axis_label(is_svg_axis *a, double v, const char *text);

typedef struct is_svg_legend_entry {
    char name[IS_SVG_LABEL_CHARS * 4 + 4]; // UTF-8
    const char *colour;
    char mark; // 'l' line and dot, 'd' dashed line, 'b' bar, 'c' reference line, 'a' shaded band
} is_svg_legend_entry;

typedef struct is_svg_chart {
    // set before is_svg_begin
    is_svg_axis x, y;        // y unused with categories
    const char *const *cats; // bars: one band per category, top to bottom (NULL: an x-y plot)
    int n_cats;
    int n_slots;             // bars side by side in a band (grouped bars; 1: one bar or a stack)
    const char *aria;        // what the chart shows, for screen readers
    int width;               // px; 0: 640
    // kept by the primitives
    is_strbuf body;
    double left, right, top, bottom; // the plot area, px
    int label_chars; // category labels cut to this many characters (to fit the margin)
    int n_series;
    bool in_series, dashed;
    is_svg_legend_entry legend[IS_SVG_MAX_LEGEND];
    int n_legend;
} is_svg_chart;

// Draws the frame, grid, ticks and axis titles (the caller has set the axes).
void is_svg_begin(is_svg_chart *c);
// Appends the <svg> (frame, series, legend under the plot) to out and frees c's text.
void is_svg_end(is_svg_chart *c, is_strbuf *out);

// Opens <g class="series" data-name="name"> in colour (is_svg_colour); dashed:
// its lines dashed (a second statistic of the series before: p99 beside p50).
void is_svg_series_begin(is_svg_chart *c, const char *name, const char *colour, bool dashed, char legend_mark);
void is_svg_series_end(is_svg_chart *c);

// A line through (x[i], y[i]), broken at each point that is not drawn.
void is_svg_line(is_svg_chart *c, const double *x, const double *y, int n);
// A dot at (x, y) with a vertical bar from lo to hi (NaN: none), tip its <title>.
void is_svg_dot(is_svg_chart *c, double x, double y, double lo, double hi, const char *tip);
// A small label beside the point (x, y).
void is_svg_text(is_svg_chart *c, double x, double y, const char *text);

// Bars: a bar in band cat, slot slot, from x0 to x1, with a horizontal interval
// [lo, hi] (NaN: none); tip its <title>.
void is_svg_hbar(is_svg_chart *c, int cat, int slot, double x0, double x1, double lo, double hi, const char *tip);
// A dot at x in band cat with a horizontal interval [lo, hi] (a forest plot's row).
void is_svg_hdot(is_svg_chart *c, int cat, double x, double lo, double hi, const char *tip);
// Text in band cat, slot slot, starting at x (a NaN x: the left edge of the plot).
void is_svg_cat_text(is_svg_chart *c, int cat, int slot, double x, const char *text);

// Reference lines, outside any series: a dashed horizontal ceiling at y with a
// legend entry label (a peak); a vertical line at x; a shaded vertical band from
// x0 to x1 with a legend entry label.
void is_svg_ceiling(is_svg_chart *c, double y, const char *label);
void is_svg_vline(is_svg_chart *c, double x);
void is_svg_vband(is_svg_chart *c, double x0, double x1, const char *label);

#endif
