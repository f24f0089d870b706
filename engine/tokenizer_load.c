// tokenizer_load.c — loading tiktoken rank files and Hugging Face tokenizer.json; is_tok_load's spec.
#include "engine/tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"  // defines: is_errf, is_xmalloc, is_xrealloc, is_xstrdup
#include "base/fileio.h" // defines: is_read_file
#include "base/strbuf.h" // defines: is_strbuf, is_sb_putn, is_sb_puts

// ---- encodings -------------------------------------------------------------------
// Patterns as js-tiktoken 1.0.21 ships them.

#define PAT_R50K                                                                       \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define PAT_CL100K                                                                     \
    "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)|"      \
    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"        \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define O200K_CONTR "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?"
#define PAT_O200K                                                                      \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" \
    O200K_CONTR                                                                        \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" \
    O200K_CONTR                                                                        \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct {
    const char *text;
    int id;
} special_def;

typedef struct {
    const char *name;
    const char *pattern;
    special_def specials[6];
} encoding_def;

static const encoding_def encodings[] = {
    {"r50k_base", PAT_R50K, {{"<|endoftext|>", 50256}, {NULL, 0}}},
    {"gpt2", PAT_R50K, {{"<|endoftext|>", 50256}, {NULL, 0}}},
    {"p50k_base", PAT_R50K, {{"<|endoftext|>", 50256}, {NULL, 0}}},
    {"cl100k_base",
     PAT_CL100K,
     {{"<|endoftext|>", 100257},
      {"<|fim_prefix|>", 100258},
      {"<|fim_middle|>", 100259},
      {"<|fim_suffix|>", 100260},
      {"<|endofprompt|>", 100276},
      {NULL, 0}}},
    {"o200k_base", PAT_O200K, {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}, {NULL, 0}}},
};

static const encoding_def *find_encoding(const char *name) {
    for (size_t i = 0; i < sizeof encodings / sizeof encodings[0]; i++)
        if (strcmp(encodings[i].name, name) == 0) return &encodings[i];
    return NULL;
}

const char *is_tok_encoding_pattern(const char *encoding) {
    const encoding_def *e = find_encoding(encoding);
    return e ? e->pattern : NULL;
}

// ---- the pre-tokenizer regex -----------------------------------------------------

char *is_tok_regex_white_space(const char *pat) {
    is_strbuf b = {0};
    is_sb_putn(&b, "", 0);
    for (const char *p = pat; *p; p++) {
        if (p[0] != '\\' || !p[1]) {
            is_sb_putn(&b, p, 1);
        } else if (p[1] == 's' || p[1] == 'S') {
            is_sb_puts(&b, p[1] == 's' ? "\\p{White_Space}" : "\\P{White_Space}");
            p++;
        } else if (p[1] == 'Q') { // quoted up to \E: copied as it is
            const char *e = strstr(p + 2, "\\E");
            size_t n = e ? (size_t)(e + 2 - p) : strlen(p);
            is_sb_putn(&b, p, n);
            p += n - 1;
        } else { // another escape (\\ among them): both characters as they are
            is_sb_putn(&b, p, 2);
            p++;
        }
    }
    return b.p;
}

int is_tok_compile_pattern(is_tokenizer *t, const char *pat, const char *where, is_err *err) {
    int ec;
    PCRE2_SIZE eo;
    char *ws = is_tok_regex_white_space(pat);
    t->re = pcre2_compile((PCRE2_SPTR)ws, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                          &ec, &eo, NULL);
    free(ws);
    if (!t->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return is_errf(err, "%s: pre-tokenizer regex does not compile: %s at offset %zu", where,
                       (const char *)msg, (size_t)eo);
    }
    t->pattern = is_xstrdup(pat);
    t->jit = pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE) == 0;
    t->md = pcre2_match_data_create_from_pattern(t->re, NULL);
    t->mctx = pcre2_match_context_create(NULL);
    if (t->jit) {
        t->jstack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
        if (t->jstack) pcre2_jit_stack_assign(t->mctx, NULL, t->jstack);
    }
    return 0;
}

// ---- base64 ----------------------------------------------------------------------

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Decodes standard base64 (padding optional); returns decoded length or -1.
static long b64decode(const char *s, size_t n, unsigned char *out) {
    while (n > 0 && s[n - 1] == '=') n--;
    if (n % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

// ---- tiktoken loading ------------------------------------------------------------

int is_tok_load_tiktoken_mem(const char *data, size_t len, const char *encoding,
                             const char *source_name, is_tokenizer **out, is_err *err) {
    *out = NULL;
    const char *src = source_name ? source_name : "tiktoken data";
    const encoding_def *enc = find_encoding(encoding ? encoding : "");
    if (!enc)
        return is_errf(err,
                       "%s: unknown tiktoken encoding '%s' (expected r50k_base, gpt2, p50k_base, "
                       "cl100k_base or o200k_base)",
                       src, encoding ? encoding : "");
    is_tokenizer *t = is_tok_new(IS_TOK_TIKTOKEN, src);
    t->ignore_merges = true;
    // sized by the lines, up to the largest vocabularies in use (the map grows past
    // that): a file of empty lines costs no more than a real one
    size_t approx = 0;
    for (size_t i = 0; i < len; i++) approx += data[i] == '\n';
    is_tok_bmap_init(&t->vocab, (approx < (1u << 18) ? approx : (1u << 18)) + 1);
    unsigned char *buf = NULL;
    size_t bufcap = 0;
    size_t pos = 0;
    long line = 0;
    int max_rank = -1;
    while (pos < len) {
        line++;
        const char *ls = data + pos;
        const char *nl = memchr(ls, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - ls) : len - pos;
        pos += ll + (nl ? 1 : 0);
        if (ll > 0 && ls[ll - 1] == '\r') ll--;
        if (ll == 0) continue;
        const char *sp = memchr(ls, ' ', ll);
        if (!sp) {
            is_errf(err, "%s:%ld: expected 'base64-token rank', found no rank", src, line);
            goto fail;
        }
        size_t tl = (size_t)(sp - ls);
        if (tl + 1 > bufcap) {
            bufcap = tl + 64;
            buf = is_xrealloc(buf, bufcap);
        }
        long bl = b64decode(ls, tl, buf);
        if (bl <= 0) {
            is_errf(err, "%s:%ld: token '%.*s' is not valid base64", src, line, (int)(tl < 64 ? tl : 64),
                    ls);
            goto fail;
        }
        const char *rs = sp + 1;
        size_t rl = ll - tl - 1;
        long long rank = 0;
        if (rl == 0 || rl > 10) {
            is_errf(err, "%s:%ld: rank '%.*s' is not a number below the limit IS_TOK_MAX_ID = 2^22", src, line,
                    (int)(rl < 32 ? rl : 32), rs);
            goto fail;
        }
        for (size_t i = 0; i < rl; i++) {
            if (rs[i] < '0' || rs[i] > '9') {
                is_errf(err, "%s:%ld: rank '%.*s' is not a non-negative integer", src, line, (int)rl, rs);
                goto fail;
            }
            rank = rank * 10 + (rs[i] - '0');
        }
        if (rank >= IS_TOK_MAX_ID) {
            is_errf(err, "%s:%ld: rank %lld is too large (expected at most %d: ranks are below the limit "
                    "IS_TOK_MAX_ID = 2^22)", src, line, rank, IS_TOK_MAX_ID - 1);
            goto fail;
        }
        int r = (int)rank;
        is_tok_table_grow(t, r + 1);
        if (t->tok_len[r] >= 0) {
            is_errf(err, "%s:%ld: rank %d appears twice", src, line, r);
            goto fail;
        }
        uint32_t off = is_tok_arena_add(t, buf, (size_t)bl);
        int32_t prev = is_tok_bmap_put(t, &t->vocab, off, (uint32_t)bl, r);
        if (prev >= 0) {
            is_errf(err, "%s:%ld: token '%.*s' appears twice (ranks %d and %d)", src, line, (int)tl, ls,
                    prev, r);
            goto fail;
        }
        t->tok_off[r] = off;
        t->tok_len[r] = (int32_t)bl;
        if (r > max_rank) max_rank = r;
    }
    free(buf);
    buf = NULL;
    if (max_rank < 0) {
        is_errf(err, "%s: no tokens in the rank file", src);
        goto fail;
    }
    for (int i = 0; enc->specials[i].text; i++) {
        int id = enc->specials[i].id;
        if (id < t->vocab_size && t->tok_len[id] >= 0) {
            is_errf(err, "%s: rank %d is also the id of %s's special token %s", src, id, enc->name,
                    enc->specials[i].text);
            goto fail;
        }
        if (is_tok_add_added(t, enc->specials[i].text, strlen(enc->specials[i].text), id, true, false, err) < 0)
            goto fail;
    }
    char where[600];
    snprintf(where, sizeof where, "%s (encoding %s)", src, enc->name);
    if (is_tok_compile_pattern(t, enc->pattern, where, err) < 0 || is_tok_finish(t, err) < 0) goto fail;
    *out = t;
    return 0;
fail:
    free(buf);
    is_tok_free(t);
    return -1;
}

int is_tok_load_tiktoken(const char *path, const char *encoding, is_tokenizer **out, is_err *err) {
    *out = NULL;
    char *data;
    size_t len;
    if (is_read_file(path, IS_TOK_MAX_FILE_BYTES, &data, &len, err) < 0) return -1;
    int rc = is_tok_load_tiktoken_mem(data, len, encoding, path, out, err);
    free(data);
    return rc;
}

// is_tok_load_builtin: engine/tokenizer_builtin.c (the vocabulary compiled in).

// ---- Hugging Face loading --------------------------------------------------------

static const char *jtype(const cJSON *o) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *k, bool dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

// A token id: a JSON integer from 0 to IS_TOK_MAX_ID - 1. The double is checked,
// not valueint, which cJSON clamps (2^31 would read as INT_MAX).
static bool jid(const cJSON *v, int32_t *id) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d < IS_TOK_MAX_ID) || d != (double)(int32_t)d) return false;
    *id = (int32_t)d;
    return true;
}

// The error for a field that jid() refused; field is printf-formatted.
static int bad_id(is_tokenizer *t, const cJSON *v, is_err *err, const char *field, ...)
    __attribute__((format(printf, 4, 5)));
static int bad_id(is_tokenizer *t, const cJSON *v, is_err *err, const char *field, ...) {
    char where[256], what[64];
    va_list ap;
    va_start(ap, field);
    vsnprintf(where, sizeof where, field, ap);
    va_end(ap);
    if (cJSON_IsNumber(v))
        snprintf(what, sizeof what, "%.15g", v->valuedouble);
    else
        snprintf(what, sizeof what, "%s", v ? "a value that is not a number" : "nothing");
    return is_errf(err, "%s: %s: %s is not a token id (expected an integer from 0 to %d: ids are below "
                        "the limit IS_TOK_MAX_ID = 2^22)",
                   t->src, where, what, IS_TOK_MAX_ID - 1);
}

// An upper bound on the number of values in a JSON text (1 + the commas and
// brackets outside strings): the parsed tree's size, known before parsing.
static size_t json_count_values(const char *s, size_t n) {
    size_t count = 1;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == ',' || c == '[' || c == '{') {
            count++;
        }
    }
    return count;
}

// A ByteLevel pre-tokenizer entry.
static int hf_bytelevel(is_tokenizer *t, const cJSON *o, const char *field, bool *use_regex, is_err *err) {
    *use_regex = jbool(o, "use_regex", true);
    t->add_prefix_space = jbool(o, "add_prefix_space", false) || t->add_prefix_space;
    (void)field;
    (void)err;
    return 0;
}

static int hf_pretok(is_tokenizer *t, const cJSON *pt, const char **pattern, is_err *err) {
    const char *ty = jtype(pt);
    *pattern = NULL;
    if (!ty) return is_errf(err, "%s: pre_tokenizer: missing or null (expected ByteLevel or Sequence)", t->src);
    if (strcmp(ty, "ByteLevel") == 0) {
        bool ur;
        hf_bytelevel(t, pt, "pre_tokenizer", &ur, err);
        if (!ur) return is_errf(err, "%s: pre_tokenizer: ByteLevel with use_regex false and no Split", t->src);
        *pattern = PAT_R50K;
        t->bl_regex = true;
        return 0;
    }
    if (strcmp(ty, "Sequence") != 0)
        return is_errf(err, "%s: pre_tokenizer: unsupported type '%s' (expected ByteLevel or Sequence)",
                       t->src, ty);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
    if (!cJSON_IsArray(arr))
        return is_errf(err, "%s: pre_tokenizer.pretokenizers: expected an array", t->src);
    bool saw_bl = false;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *et = jtype(e);
        if (!et) return is_errf(err, "%s: pre_tokenizer.pretokenizers[%d]: missing type", t->src, i);
        if (strcmp(et, "Split") == 0) {
            if (*pattern || saw_bl)
                return is_errf(err,
                               "%s: pre_tokenizer.pretokenizers[%d]: only one Split before ByteLevel is "
                               "supported",
                               t->src, i);
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "pattern");
            const cJSON *rx = cJSON_GetObjectItemCaseSensitive(p, "Regex");
            if (!cJSON_IsString(rx))
                return is_errf(err, "%s: pre_tokenizer.pretokenizers[%d].pattern: expected {\"Regex\": ...}",
                               t->src, i);
            const cJSON *beh = cJSON_GetObjectItemCaseSensitive(e, "behavior");
            if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") != 0)
                return is_errf(err,
                               "%s: pre_tokenizer.pretokenizers[%d].behavior: '%s' is not supported "
                               "(expected Isolated)",
                               t->src, i, cJSON_IsString(beh) ? beh->valuestring : "?");
            if (jbool(e, "invert", false))
                return is_errf(err, "%s: pre_tokenizer.pretokenizers[%d].invert: true is not supported",
                               t->src, i);
            *pattern = rx->valuestring;
        } else if (strcmp(et, "ByteLevel") == 0) {
            if (saw_bl)
                return is_errf(err, "%s: pre_tokenizer.pretokenizers[%d]: a second ByteLevel", t->src, i);
            bool ur;
            hf_bytelevel(t, e, "pre_tokenizer", &ur, err);
            saw_bl = true;
            if (ur) {
                if (*pattern)
                    return is_errf(err,
                                   "%s: pre_tokenizer.pretokenizers[%d]: ByteLevel with use_regex true "
                                   "after a Split is not supported",
                                   t->src, i);
                *pattern = PAT_R50K;
                t->bl_regex = true;
            }
        } else {
            return is_errf(err, "%s: pre_tokenizer.pretokenizers[%d]: unsupported type '%s'", t->src, i, et);
        }
        i++;
    }
    if (!saw_bl) return is_errf(err, "%s: pre_tokenizer: no ByteLevel step (only byte-level BPE is supported)", t->src);
    if (!*pattern) return is_errf(err, "%s: pre_tokenizer: no regex (Split or ByteLevel use_regex)", t->src);
    if (t->add_prefix_space && !t->bl_regex)
        return is_errf(err, "%s: pre_tokenizer: add_prefix_space with a Split is not supported", t->src);
    return 0;
}

static int hf_bos(is_tokenizer *t, const cJSON *pp, is_err *err) {
    if (!pp || cJSON_IsNull(pp)) return 0;
    const char *ty = jtype(pp);
    if (!ty) return is_errf(err, "%s: post_processor: missing type", t->src);
    if (strcmp(ty, "ByteLevel") == 0) return 0;
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *e, *arr = cJSON_GetObjectItemCaseSensitive(pp, "processors");
        if (!cJSON_IsArray(arr)) return is_errf(err, "%s: post_processor.processors: expected an array", t->src);
        cJSON_ArrayForEach(e, arr) if (hf_bos(t, e, err) < 0) return -1;
        return 0;
    }
    if (strcmp(ty, "TemplateProcessing") != 0)
        return is_errf(err, "%s: post_processor: unsupported type '%s'", t->src, ty);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    if (!cJSON_IsArray(single)) return is_errf(err, "%s: post_processor.single: expected an array", t->src);
    const cJSON *first = cJSON_GetArrayItem(single, 0);
    const cJSON *stok = cJSON_GetObjectItemCaseSensitive(first, "SpecialToken");
    if (!stok) return 0; // starts with the sequence: no BOS
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(stok, "id");
    if (!cJSON_IsString(name)) return is_errf(err, "%s: post_processor.single[0].SpecialToken.id: expected a string", t->src);
    const cJSON *sts = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(sts, name->valuestring);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(st, "ids");
    if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) != 1)
        return is_errf(err, "%s: post_processor.special_tokens['%s'].ids: expected one id", t->src,
                       name->valuestring);
    const cJSON *id0 = cJSON_GetArrayItem(ids, 0);
    int32_t bos;
    if (!jid(id0, &bos)) return bad_id(t, id0, err, "post_processor.special_tokens['%s'].ids[0]", name->valuestring);
    t->bos = bos;
    return 0;
}

static int hf_parse(is_tokenizer *t, const cJSON *root, is_err *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return is_errf(err, "%s: model: missing", t->src);
    const char *mt = jtype(model);
    if (!mt && cJSON_GetObjectItemCaseSensitive(model, "merges")) mt = "BPE";
    if (!mt || strcmp(mt, "BPE") != 0)
        return is_errf(err, "%s: model.type: '%s' is not supported (expected BPE)", t->src, mt ? mt : "(none)");
    if (jbool(model, "byte_fallback", false))
        return is_errf(err, "%s: model.byte_fallback: true is not supported (byte-level BPE only)", t->src);
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    if (cJSON_IsString(cp) && cp->valuestring[0])
        return is_errf(err, "%s: model.continuing_subword_prefix: not supported", t->src);
    const cJSON *ews = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix");
    if (cJSON_IsString(ews) && ews->valuestring[0])
        return is_errf(err, "%s: model.end_of_word_suffix: not supported", t->src);
    t->ignore_merges = jbool(model, "ignore_merges", false);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return is_errf(err, "%s: model.vocab: expected an object", t->src);
    int nv = cJSON_GetArraySize(vocab);
    is_tok_bmap_init(&t->vocab, (size_t)nv);
    unsigned char *buf = NULL;
    size_t cap = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        int32_t id;
        if (!jid(e, &id)) {
            free(buf);
            return bad_id(t, e, err, "model.vocab['%s']", e->string);
        }
        size_t sl = strlen(e->string);
        if (sl + 1 > cap) {
            cap = sl + 64;
            buf = is_xrealloc(buf, cap);
        }
        long bl = is_tok_bl_decode(e->string, buf);
        if (bl <= 0) {
            free(buf);
            return is_errf(err, "%s: model.vocab: token '%s' is not in the byte-level alphabet", t->src, e->string);
        }
        is_tok_table_grow(t, id + 1);
        if (t->tok_len[id] >= 0) {
            free(buf);
            return is_errf(err, "%s: model.vocab: id %d appears twice (at '%s')", t->src, id, e->string);
        }
        uint32_t off = is_tok_arena_add(t, buf, (size_t)bl);
        if (is_tok_bmap_put(t, &t->vocab, off, (uint32_t)bl, id) >= 0) {
            free(buf);
            return is_errf(err, "%s: model.vocab: token '%s' appears twice", t->src, e->string);
        }
        t->tok_off[id] = off;
        t->tok_len[id] = (int32_t)bl;
    }
    // merges
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    int nm = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    if (merges && !cJSON_IsArray(merges) && !cJSON_IsNull(merges)) {
        free(buf);
        return is_errf(err, "%s: model.merges: expected an array", t->src);
    }
    if (nm > IS_TOK_MAX_MERGES) {
        free(buf);
        return is_errf(err, "%s: model.merges: %d merges, more than the limit of %d (IS_TOK_MAX_MERGES = 2^21)",
                       t->src, nm, IS_TOK_MAX_MERGES);
    }
    is_tok_pmap_init(&t->pairs, (size_t)nm);
    t->merge_l = is_xmalloc(sizeof(int32_t) * (size_t)(nm + 1));
    t->merge_r = is_xmalloc(sizeof(int32_t) * (size_t)(nm + 1));
    int rank = 0;
    cJSON_ArrayForEach(e, merges) {
        char *a = NULL, *b = NULL, *tmp = NULL;
        if (cJSON_IsString(e)) {
            tmp = is_xstrdup(e->valuestring);
            char *sp = strchr(tmp, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                free(tmp);
                free(buf);
                return is_errf(err, "%s: model.merges[%d]: '%s' is not 'left right'", t->src, rank, e->valuestring);
            }
            *sp = 0;
            a = tmp;
            b = sp + 1;
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring;
            b = cJSON_GetArrayItem(e, 1)->valuestring;
        } else {
            free(buf);
            return is_errf(err, "%s: model.merges[%d]: expected \"a b\" or [\"a\", \"b\"]", t->src, rank);
        }
        size_t la = strlen(a), lb = strlen(b);
        if (la + lb + 1 > cap) {
            cap = la + lb + 64;
            buf = is_xrealloc(buf, cap);
        }
        long ba = is_tok_bl_decode(a, buf);
        int32_t ia = ba > 0 ? is_tok_bmap_get(t, &t->vocab, buf, (size_t)ba) : -1;
        size_t oa = ba > 0 ? (size_t)ba : 0;
        long bb = is_tok_bl_decode(b, buf + oa);
        int32_t ib = bb > 0 ? is_tok_bmap_get(t, &t->vocab, buf + oa, (size_t)bb) : -1;
        int32_t im = (ia >= 0 && ib >= 0) ? is_tok_bmap_get(t, &t->vocab, buf, oa + (size_t)bb) : -1;
        if (ia < 0 || ib < 0 || im < 0) {
            int rc = is_errf(err, "%s: model.merges[%d]: '%s' is not in the vocabulary", t->src, rank,
                             ia < 0 ? a : ib < 0 ? b : "(the merged token)");
            if (ia >= 0 && ib >= 0)
                is_errf(err, "%s: model.merges[%d]: the merge of '%s' and '%s' is not in the vocabulary", t->src,
                        rank, a, b);
            free(tmp);
            free(buf);
            return rc;
        }
        free(tmp);
        if (is_tok_pmap_put(&t->pairs, ia, ib, rank, im)) {
            t->merge_l[t->n_merges] = ia;
            t->merge_r[t->n_merges] = ib;
            t->n_merges++;
        }
        rank++;
    }
    free(buf);
    // added tokens
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return is_errf(err, "%s: added_tokens: expected an array", t->src);
    int ai = 0;
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(content))
            return is_errf(err, "%s: added_tokens[%d]: expected id and content", t->src, ai);
        int32_t ival;
        if (!jid(id, &ival)) return bad_id(t, id, err, "added_tokens[%d].id", ai);
        bool special = jbool(e, "special", false);
        bool normalized = jbool(e, "normalized", !special); // Hugging Face's default
        if (is_tok_add_added(t, content->valuestring, strlen(content->valuestring), ival, special, normalized,
                             err) < 0)
            return -1;
        ai++;
    }
    if (is_tok_norm_parse(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err) < 0) return -1;
    const char *pattern;
    if (hf_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &pattern, err) < 0) return -1;
    if (hf_bos(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), err) < 0) return -1;
    if (t->bos >= t->vocab_size) return is_errf(err, "%s: post_processor: BOS id %d is not a token", t->src, t->bos);
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (dec && !cJSON_IsNull(dec)) {
        const char *dt = jtype(dec);
        if (!dt || strcmp(dt, "ByteLevel") != 0)
            return is_errf(err, "%s: decoder: unsupported type '%s' (expected ByteLevel)", t->src, dt ? dt : "?");
    }
    if (is_tok_compile_pattern(t, pattern, t->src, err) < 0) return -1;
    return is_tok_finish(t, err);
}

int is_tok_load_hf(const char *path, is_tokenizer **out, is_err *err) {
    *out = NULL;
    char *data;
    size_t len;
    if (is_read_file(path, IS_TOK_MAX_FILE_BYTES, &data, &len, err) < 0) return -1;
    size_t nvalues = json_count_values(data, len);
    if (nvalues > IS_TOK_MAX_JSON_VALUES) {
        free(data);
        return is_errf(err, "%s: about %zu JSON values, more than the limit of %d (IS_TOK_MAX_JSON_VALUES = 2^22)",
                       path, nvalues, IS_TOK_MAX_JSON_VALUES);
    }
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        long at = (ep && ep >= data && ep <= data + len) ? (long)(ep - data) : -1;
        free(data);
        return is_errf(err, "%s: not valid JSON (near byte %ld)", path, at);
    }
    free(data);
    is_tokenizer *t = is_tok_new(IS_TOK_HF, path);
    int rc = hf_parse(t, root, err);
    cJSON_Delete(root);
    if (rc < 0) {
        is_tok_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

// ---- the spec --------------------------------------------------------------------

int is_tok_load(const char *spec, is_tokenizer **out, is_err *err) {
    *out = NULL;
    if (!spec || !*spec) return is_errf(err, "tokenizer: empty spec");
    if (strcmp(spec, "builtin") == 0) return is_tok_load_builtin(out, err);
    const char *colon = strchr(spec, ':');
    if (colon) {
        char enc[64];
        size_t n = (size_t)(colon - spec);
        if (n < sizeof enc) {
            memcpy(enc, spec, n);
            enc[n] = 0;
            if (find_encoding(enc)) return is_tok_load_tiktoken(colon + 1, enc, out, err);
        }
    }
    size_t sl = strlen(spec);
    if (sl >= 5 && strcmp(spec + sl - 5, ".json") == 0) return is_tok_load_hf(spec, out, err);
    struct stat st;
    if (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t pl = sl + sizeof "/tokenizer.json";
        char *p = is_xmalloc(pl);
        snprintf(p, pl, "%s/tokenizer.json", spec);
        int rc = is_tok_load_hf(p, out, err);
        free(p);
        return rc;
    }
    return is_errf(err,
                   "tokenizer '%s': expected 'builtin', a tokenizer.json, a directory holding one, or "
                   "ENCODING:PATH (r50k_base, p50k_base, cl100k_base, o200k_base)",
                   spec);
}
