// text.h — what the report writers share: JSON field readers that tolerate
// absent members, and Markdown tables. Declares: is_json_get, is_json_num,
// is_json_str, is_json_describe, is_md_cell_text, is_utf8_width, is_md_table.
#ifndef IS_REPORTS_TEXT_H
#define IS_REPORTS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "base/strbuf.h" // defines: is_strbuf, is_sb_puts, is_sb_printf, is_sb_take

// obj[key] when obj is an object, else NULL; a number member or NaN; a string member or NULL.
const cJSON *is_json_get(const cJSON *obj, const char *key);
double is_json_num(const cJSON *obj, const char *key);
const char *is_json_str(const cJSON *obj, const char *key);
// A short description of a JSON value for the "got ..." part of messages:
// "nothing" (NULL), "null", "true", a number, a quoted string (cut at 40 bytes),
// "an array", "an object". buf (n bytes) holds the text when one is needed.
const char *is_json_describe(const cJSON *v, char *buf, size_t n);

// s as the text of one Markdown table cell in buf: '|' escaped, line breaks as spaces.
void is_md_cell_text(char *buf, size_t n, const char *s);
// Display width of UTF-8 text, in code points ("±" counts as one).
size_t is_utf8_width(const char *s);
// A table: cells[r * nc + c], row 0 the header, each column padded to its widest
// cell and right-aligned where right[c] (numbers), with the alignment row under the header.
void is_md_table(is_strbuf *b, const char *const *cells, int n_rows, int nc, const bool *right);

#endif
