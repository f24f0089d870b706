// text.c — tolerant JSON readers and Markdown tables for the reports.
#include "reports/text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

const cJSON *is_json_get(const cJSON *obj, const char *key) {
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

double is_json_num(const cJSON *obj, const char *key) {
    const cJSON *v = is_json_get(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

const char *is_json_str(const cJSON *obj, const char *key) {
    const cJSON *v = is_json_get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void is_md_cell_text(char *buf, size_t n, const char *s) {
    size_t k = 0;
    for (; *s && k + 2 < n; s++) {
        if (*s == '|') buf[k++] = '\\', buf[k++] = '|';
        else buf[k++] = (*s == '\n' || *s == '\r') ? ' ' : *s;
    }
    buf[k] = 0;
}

size_t is_utf8_width(const char *s) {
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void md_pad(is_strbuf *b, const char *s, size_t width, bool right) {
    size_t w = is_utf8_width(s), pad = width > w ? width - w : 0;
    if (right) is_sb_printf(b, "%*s", (int)pad, "");
    is_sb_puts(b, s);
    if (!right) is_sb_printf(b, "%*s", (int)pad, "");
}

void is_md_table(is_strbuf *b, const char *const *cells, int n_rows, int nc, const bool *right) {
    size_t *width = is_xcalloc((size_t)nc, sizeof *width);
    for (int c = 0; c < nc; c++) width[c] = 3; // "---" at least
    for (int r = 0; r < n_rows; r++)
        for (int c = 0; c < nc; c++) {
            size_t w = is_utf8_width(cells[r * nc + c]);
            if (w > width[c]) width[c] = w;
        }
    for (int r = 0; r < n_rows; r++) {
        is_sb_puts(b, "|");
        for (int c = 0; c < nc; c++) {
            is_sb_puts(b, " ");
            md_pad(b, cells[r * nc + c], width[c], right[c]);
            is_sb_puts(b, " |");
        }
        is_sb_puts(b, "\n");
        if (r == 0) { // the alignment row
            is_sb_puts(b, "|");
            for (int c = 0; c < nc; c++) {
                is_sb_puts(b, " ");
                for (size_t k = 0; k + 1 < width[c]; k++) is_sb_puts(b, "-");
                is_sb_puts(b, right[c] ? ":" : "-");
                is_sb_puts(b, " |");
            }
            is_sb_puts(b, "\n");
        }
    }
    free(width);
}

const char *is_json_describe(const cJSON *v, char *buf, size_t n) {
    if (!v) return "nothing";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsNumber(v)) {
        snprintf(buf, n, "%.15g", v->valuedouble);
        return buf;
    }
    if (cJSON_IsString(v)) {
        snprintf(buf, n, "\"%.40s%s\"", v->valuestring, strlen(v->valuestring) > 40 ? "..." : "");
        return buf;
    }
    return cJSON_IsArray(v) ? "an array" : "an object";
}
