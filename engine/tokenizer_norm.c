// tokenizer_norm.c — tokenizer.json's normalizer: parsed from its JSON into a list
// of steps (is_tok_norm_parse) and applied to the text between added tokens
// before pre-tokenization (is_tok_norm_apply), as Hugging Face tokenizers does
// (tokenizers/src/normalizers/: unicode.rs, utils.rs, replace.rs, prepend.rs,
// strip.rs). The Unicode forms and case mappings come from utf8proc.
#include "engine/tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/error.h"  // defines: is_errf, is_err_prefix, is_xrealloc, is_xstrdup, IS_ASSERT
#include "base/strbuf.h" // defines: is_strbuf, is_sb_putn, is_sb_clear

// ---- parsing ---------------------------------------------------------------------

static const char supported[] = "NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Strip or Sequence";

static is_tok_norm_step *add_step(is_tokenizer *t, is_tok_norm_kind kind) {
    t->norm = is_xrealloc(t->norm, sizeof(is_tok_norm_step) * (size_t)(t->n_norm + 1));
    is_tok_norm_step *st = &t->norm[t->n_norm++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    return st;
}

// The string field k of o, or NULL.
static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int parse_replace(is_tokenizer *t, const cJSON *o, const char *field, is_err *err) {
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const char *lit = jstr(pat, "String"), *rx = jstr(pat, "Regex");
    const char *content = jstr(o, "content");
    if (!cJSON_IsObject(pat) || cJSON_GetArraySize(pat) != 1 || (!lit && !rx))
        return is_errf(err, "%s: %s.pattern: expected {\"String\": ...} or {\"Regex\": ...}", t->src, field);
    if (!content) return is_errf(err, "%s: %s.content: expected a string", t->src, field);
    // a String pattern matches itself (Hugging Face escapes it into a regex)
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (lit ? PCRE2_LITERAL : PCRE2_UCP);
    int ec;
    PCRE2_SIZE eo;
    char *ws = lit ? NULL : is_tok_regex_white_space(rx);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(lit ? lit : ws), PCRE2_ZERO_TERMINATED, opts, &ec, &eo, NULL);
    free(ws);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return is_errf(err, "%s: %s.pattern: the regex does not compile: %s at offset %zu", t->src, field,
                       (const char *)msg, (size_t)eo);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); // when it fails, pcre2_match interprets
    is_tok_norm_step *st = add_step(t, IS_TOK_NORM_REPLACE);
    st->re = re;
    st->md = pcre2_match_data_create_from_pattern(re, NULL);
    st->text = is_xstrdup(content);
    st->text_len = strlen(content);
    return 0;
}

// One normalizer object at field (e.g. "normalizer.normalizers[2]").
static int parse_step(is_tokenizer *t, const cJSON *o, const char *field, is_err *err) {
    const char *ty = jstr(o, "type");
    if (!ty) return is_errf(err, "%s: %s: expected an object with a type (%s)", t->src, field, supported);
    if (t->n_norm >= IS_TOK_MAX_NORM_STEPS)
        return is_errf(err, "%s: %s: more than %d normalizer steps", t->src, field, IS_TOK_MAX_NORM_STEPS);
    static const struct {
        const char *name;
        is_tok_norm_kind kind;
    } plain[] = {{"NFC", IS_TOK_NORM_NFC},
                 {"NFD", IS_TOK_NORM_NFD},
                 {"NFKC", IS_TOK_NORM_NFKC},
                 {"NFKD", IS_TOK_NORM_NFKD},
                 {"Lowercase", IS_TOK_NORM_LOWERCASE}};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (strcmp(ty, plain[i].name) == 0) {
            add_step(t, plain[i].kind);
            return 0;
        }
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "normalizers");
        if (!cJSON_IsArray(arr)) return is_errf(err, "%s: %s.normalizers: expected an array", t->src, field);
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", field, i++);
            if (parse_step(t, e, sub, err) < 0) return -1;
        }
        return 0;
    }
    if (strcmp(ty, "Replace") == 0) return parse_replace(t, o, field, err);
    if (strcmp(ty, "Prepend") == 0) {
        const char *p = jstr(o, "prepend");
        if (!p) return is_errf(err, "%s: %s.prepend: expected a string", t->src, field);
        is_tok_norm_step *st = add_step(t, IS_TOK_NORM_PREPEND);
        st->text = is_xstrdup(p);
        st->text_len = strlen(p);
        return 0;
    }
    if (strcmp(ty, "Strip") == 0) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "strip_left");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "strip_right");
        if (!cJSON_IsBool(l) || !cJSON_IsBool(r))
            return is_errf(err, "%s: %s: expected strip_left and strip_right, true or false", t->src, field);
        is_tok_norm_step *st = add_step(t, IS_TOK_NORM_STRIP);
        st->left = cJSON_IsTrue(l);
        st->right = cJSON_IsTrue(r);
        return 0;
    }
    return is_errf(err, "%s: %s: unsupported type '%s' (expected %s)", t->src, field, ty, supported);
}

int is_tok_norm_parse(is_tokenizer *t, const struct cJSON *norm, is_err *err) {
    if (!norm || cJSON_IsNull(norm)) return 0;
    if (parse_step(t, norm, "normalizer", err) < 0) return -1;
    t->norm_json = cJSON_PrintUnformatted(norm);
    IS_ASSERT(t->norm_json);
    return 0;
}

void is_tok_norm_free(is_tokenizer *t) {
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].text);
        if (t->norm[i].md) pcre2_match_data_free(t->norm[i].md);
        if (t->norm[i].re) pcre2_code_free(t->norm[i].re);
    }
    free(t->norm);
    cJSON_free(t->norm_json);
    free(t->norm_out.p);
}

// ---- the steps -------------------------------------------------------------------

// The length of the UTF-8 character at p (n > 0 bytes left) and its code point,
// or -1 for an invalid sequence (overlong, surrogate, past U+10FFFF, cut short).
static int next_char(const unsigned char *p, size_t n, int32_t *cp) {
    utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)(n < 4 ? n : 4), cp);
    return k > 0 ? (int)k : -1;
}

// Unicode's White_Space property (PropList.txt; Rust's char::is_whitespace, which
// Strip uses, and \s in Oniguruma and in the regex crate).
static bool white_space(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

static bool all_ascii(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80) return false;
    return true;
}

// A Unicode form over each run of valid UTF-8 (invalid bytes are copied between runs).
static int unicode_form(is_tok_norm_kind kind, const unsigned char *s, size_t n, is_strbuf *out, is_err *err) {
    if (all_ascii(s, n)) { // every form leaves ASCII as it is
        is_sb_putn(out, (const char *)s, n);
        return 0;
    }
    utf8proc_option_t opts = UTF8PROC_STABLE;
    opts |= (kind == IS_TOK_NORM_NFC || kind == IS_TOK_NORM_NFKC) ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
    if (kind == IS_TOK_NORM_NFKC || kind == IS_TOK_NORM_NFKD) opts |= UTF8PROC_COMPAT;
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        int32_t cp;
        int k;
        while (run < n && (k = next_char(s + run, n - run, &cp)) > 0) run += (size_t)k;
        if (run > i) {
            utf8proc_uint8_t *dst = NULL;
            utf8proc_ssize_t m = utf8proc_map(s + i, (utf8proc_ssize_t)(run - i), &dst, opts);
            if (m < 0) return is_errf(err, "normalizer: utf8proc: %s", utf8proc_errmsg(m));
            is_sb_putn(out, (const char *)dst, (size_t)m);
            free(dst);
        }
        if (run < n) is_sb_putn(out, (const char *)s + run, 1); // an invalid byte
        i = run + 1;
    }
    return 0;
}

// Rust's char::to_lowercase, code point by code point (no context: a final sigma
// stays σ): UnicodeData's simple mapping, and SpecialCasing's one unconditional
// lowercase mapping to more than one code point, U+0130 -> U+0069 U+0307.
static void lowercase(const unsigned char *s, size_t n, is_strbuf *out) {
    for (size_t i = 0; i < n;) {
        int32_t cp = s[i];
        int k = cp < 0x80 ? 1 : next_char(s + i, n - i, &cp);
        if (k < 0) { // an invalid byte: copied
            is_sb_putn(out, (const char *)s + i, 1);
            i++;
            continue;
        }
        if (cp == 0x130) {
            is_sb_putn(out, "i\xcc\x87", 3);
        } else {
            utf8proc_uint8_t u[4];
            utf8proc_ssize_t m = utf8proc_encode_char(cp < 0x80 ? (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp)
                                                                : utf8proc_tolower(cp),
                                                      u);
            is_sb_putn(out, (const char *)u, (size_t)m);
        }
        i += (size_t)k;
    }
}

static void strip(const is_tok_norm_step *st, const unsigned char *s, size_t n, is_strbuf *out) {
    size_t a = 0, b = n;
    int32_t cp;
    int k;
    while (st->left && a < n && (k = next_char(s + a, n - a, &cp)) > 0 && white_space(cp)) a += (size_t)k;
    while (st->right && b > a) {
        size_t c = b - 1; // the start of the last character
        while (c > a && b - c < 4 && (s[c] & 0xC0) == 0x80) c--;
        if ((k = next_char(s + c, b - c, &cp)) <= 0 || (size_t)k != b - c || !white_space(cp)) break;
        b = c;
    }
    is_sb_putn(out, (const char *)s + a, b - a);
}

static int grew(size_t len, is_err *err) {
    return is_errf(err, "normalizer: %zu bytes of text normalize to more than %d times as many (the limit "
                        "IS_TOK_NORM_MAX_GROWTH)",
                   len, IS_TOK_NORM_MAX_GROWTH);
}

// Every match of the step's pattern replaced by its content, matches found as the
// onig crate's find_iter finds them (tokenizers' Replace): leftmost, not
// overlapping, and an empty match right where the previous match ended is skipped.
static int replace(is_tok_norm_step *st, const unsigned char *s, size_t n, size_t most, is_strbuf *out,
                   is_err *err) {
    if (n == 0) return 0; // Hugging Face finds no match in an empty text
    size_t from = 0, copied = 0, last_end = 0;
    bool matched = false;
    while (from <= n) {
        int rc = pcre2_match(st->re, s, n, from, 0, st->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return is_errf(err, "normalizer: Replace pattern failed at byte %zu: %s", from, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
        size_t ms = ov[0], me = ov[1];
        if (ms == me && matched && me == last_end) {
            int32_t cp;
            int k = from < n ? next_char(s + from, n - from, &cp) : 1;
            from += k > 0 ? (size_t)k : 1;
            continue;
        }
        if (out->n + (ms - copied) + st->text_len > most) return grew(n, err);
        is_sb_putn(out, (const char *)s + copied, ms - copied);
        is_sb_putn(out, st->text, st->text_len);
        copied = from = last_end = me;
        matched = true;
    }
    is_sb_putn(out, (const char *)s + copied, n - copied);
    return 0;
}

static int apply_step(is_tok_norm_step *st, const unsigned char *s, size_t n, size_t most, is_strbuf *out,
                      is_err *err) {
    switch (st->kind) {
    case IS_TOK_NORM_NFC:
    case IS_TOK_NORM_NFD:
    case IS_TOK_NORM_NFKC:
    case IS_TOK_NORM_NFKD:
        return unicode_form(st->kind, s, n, out, err);
    case IS_TOK_NORM_LOWERCASE:
        lowercase(s, n, out);
        return 0;
    case IS_TOK_NORM_REPLACE:
        return replace(st, s, n, most, out, err);
    case IS_TOK_NORM_PREPEND:
        if (n > 0) is_sb_putn(out, st->text, st->text_len); // not to an empty text
        is_sb_putn(out, (const char *)s, n);
        return 0;
    case IS_TOK_NORM_STRIP:
        strip(st, s, n, out);
        return 0;
    }
    IS_ASSERT(!"unknown normalizer step");
    return -1;
}

int is_tok_norm_apply(is_tok_norm_step *steps, int n, const char *s, size_t len, is_strbuf *out, is_err *err) {
    is_sb_clear(out);
    is_sb_putn(out, s, len);
    is_strbuf tmp = {0};
    size_t most = len * IS_TOK_NORM_MAX_GROWTH + 65536; // a Replace checks as it goes, the rest grow less
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        is_sb_clear(&tmp);
        is_sb_putn(&tmp, "", 0); // tmp.p set: an empty result is a valid string
        rc = apply_step(&steps[i], (const unsigned char *)out->p, out->n, most, &tmp, err);
        is_strbuf swap = *out;
        *out = tmp;
        tmp = swap;
        if (rc == 0 && out->n > most) rc = grew(len, err);
    }
    free(tmp.p);
    return rc;
}

int is_tok_normalize(is_tokenizer *t, const char *s, size_t len, is_strbuf *out, is_err *err) {
    if (is_tok_norm_apply(t->norm, t->n_norm, s, len, out, err) < 0) {
        is_err_prefix(err, "%s", t->src);
        return -1;
    }
    return 0;
}
