// test_tokenizer_unicode.c — the tokenizer.json normalizers: the four Unicode
// forms against Unicode's own conformance file (NormalizationTest.txt),
// Lowercase against UnicodeData.txt and SpecialCasing.txt, Strip's whitespace
// against PropList.txt, all from Debian's unicode-data (/usr/share/unicode, or
// IS_UNICODE_DIR); Lowercase, Replace, Prepend, Strip and Sequence against what
// the Hugging Face tokenizers documentation and code say they do; and \s in the
// pre-tokenizer and Replace regexes as Oniguruma reads it.
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"               // defines: is_strbuf, is_sb_putn, is_sb_clear
#include "engine/tokenizer.h"          // defines: is_tok_load_hf, is_tok_free
#include "engine/tokenizer_internal.h" // defines: is_tok_norm_step, is_tok_norm_apply, is_tok_normalize
#include "support/testutil.h"          // defines: tu_mkdtemp, tu_rm_rf, tu_write_file

static char tmpdir[256];
static void setup(void) { tu_mkdtemp(tmpdir, sizeof tmpdir); }
static void teardown(void) { tu_rm_rf(tmpdir); }

TestSuite(tokenizer_unicode, .init = setup, .fini = teardown, .timeout = 300);

// ---- Unicode's data files ----------------------------------------------------------

static const char *unicode_dir(void) {
    const char *d = getenv("IS_UNICODE_DIR");
    return d && *d ? d : "/usr/share/unicode";
}

// Opens a file of the Unicode Character Database, or its .bz2 (Debian ships
// NormalizationTest.txt compressed) through bzip2; fails the test when neither is there.
static FILE *ucd_open(const char *name, bool *piped) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", unicode_dir(), name);
    FILE *f = fopen(path, "r");
    *piped = false;
    if (f) return f;
    char bz[520];
    snprintf(bz, sizeof bz, "%s.bz2", path);
    FILE *probe = fopen(bz, "r");
    cr_assert_not_null(probe,
                       "%s (or %s.bz2) is missing: install Debian's unicode-data (apt-get install unicode-data), "
                       "or point IS_UNICODE_DIR at a folder holding the Unicode Character Database",
                       path, name);
    fclose(probe);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "bzip2 -dc '%s'", bz);
    *piped = true;
    f = popen(cmd, "r");
    cr_assert_not_null(f, "cannot run '%s' (install bzip2)", cmd);
    return f;
}

static void ucd_close(FILE *f, bool piped, const char *name) {
    if (piped)
        cr_assert_eq(pclose(f), 0, "bzip2 failed on %s.bz2 (is bzip2 installed?)", name);
    else
        fclose(f);
}

// Code points as UTF-8, written here on purpose (not through the code under test).
static void put_utf8(is_strbuf *b, long c) {
    char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xC0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xE0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    is_sb_putn(b, u, n);
}

// "0044 0307" -> UTF-8 in b (emptied first); returns the number of code points.
static int hex_to_utf8(const char *s, is_strbuf *b) {
    is_sb_clear(b);
    is_sb_putn(b, "", 0);
    int n = 0;
    for (;;) {
        char *end;
        long c = strtol(s, &end, 16);
        if (end == s) return n;
        put_utf8(b, c);
        n++;
        s = end;
    }
}

#define MAX_CP 0x10FFFF
static bool is_surrogate(long c) { return c >= 0xD800 && c <= 0xDFFF; }

// The code points UnicodeData.txt assigns (its <..., First>/<..., Last> pairs are
// ranges), with field 13 of each, the simple lowercase mapping (-1: none).
static long *unicode_data(bool **assigned) {
    bool piped;
    FILE *f = ucd_open("UnicodeData.txt", &piped);
    long *lower = malloc(sizeof(long) * (MAX_CP + 1));
    *assigned = calloc(MAX_CP + 1, 1);
    for (long c = 0; c <= MAX_CP; c++) lower[c] = -1;
    char line[1024];
    long first = -1;
    while (fgets(line, sizeof line, f)) {
        char *fields[15] = {0};
        int nf = 0;
        for (char *p = line, *q; nf < 15 && (q = strsep(&p, ";"));) fields[nf++] = q;
        cr_assert_geq(nf, 14, "UnicodeData.txt: short line");
        long c = strtol(fields[0], NULL, 16);
        if (strstr(fields[1], ", First>")) {
            first = c;
            continue;
        }
        for (long x = strstr(fields[1], ", Last>") ? first : c; x <= c; x++) (*assigned)[x] = true;
        if (fields[13][0]) lower[c] = strtol(fields[13], NULL, 16);
    }
    ucd_close(f, piped, "UnicodeData.txt");
    return lower;
}

// ---- our normalizer ------------------------------------------------------------------

// One step of kind applied to s (n bytes) into out.
static void apply1(is_tok_norm_step st, const char *s, size_t n, is_strbuf *out) {
    is_err err = {{0}};
    cr_assert_eq(is_tok_norm_apply(&st, 1, s, n, out, &err), 0, "%s", err.msg);
}

static const struct {
    const char *name;
    is_tok_norm_kind kind;
} forms[4] = {{"NFC", IS_TOK_NORM_NFC}, {"NFD", IS_TOK_NORM_NFD}, {"NFKC", IS_TOK_NORM_NFKC}, {"NFKD", IS_TOK_NORM_NFKD}};

// ---- NormalizationTest.txt -------------------------------------------------------------

// The conformance rules of the file's header, by form (0 NFC ... 3 NFKD): the
// column each input column must become (columns 1..5; 0: not checked).
static const int rules[4][6] = {
    {0, 2, 2, 2, 4, 4}, // NFC:  c2 == toNFC(c1) == toNFC(c2) == toNFC(c3); c4 == toNFC(c4) == toNFC(c5)
    {0, 3, 3, 3, 5, 5}, // NFD:  c3 == toNFD(c1..c3); c5 == toNFD(c4) == toNFD(c5)
    {0, 4, 4, 4, 4, 4}, // NFKC: c4 == toNFKC(c1..c5)
    {0, 5, 5, 5, 5, 5}, // NFKD: c5 == toNFKD(c1..c5)
};

Test(tokenizer_unicode, normalization_test_conformance) {
    bool piped;
    FILE *f = ucd_open("NormalizationTest.txt", &piped);
    bool *part1 = calloc(MAX_CP + 1, 1);
    is_strbuf col[6] = {{0}}, got = {0};
    char line[4096], version[128] = "?";
    bool in_part1 = false;
    long lines = 0, checks = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') {
            if (version[0] == '?') sscanf(line, "# %127s", version);
            continue;
        }
        if (line[0] == '@') {
            in_part1 = strncmp(line, "@Part1", 6) == 0;
            continue;
        }
        char *p = line;
        for (int c = 1; c <= 5; c++) {
            char *field = strsep(&p, ";");
            cr_assert_not_null(field, "NormalizationTest.txt: fewer than 5 columns in '%s'", line);
            int ncp = hex_to_utf8(field, &col[c]);
            if (c == 1 && in_part1 && ncp == 1) part1[strtol(field, NULL, 16)] = true;
        }
        lines++;
        for (int form = 0; form < 4; form++)
            for (int c = 1; c <= 5; c++) {
                int want = rules[form][c];
                apply1((is_tok_norm_step){.kind = forms[form].kind}, col[c].p, col[c].n, &got);
                cr_assert(got.n == col[want].n && memcmp(got.p, col[want].p, got.n) == 0,
                          "%s(c%d) != c%d on line '%s'", forms[form].name, c, want, line);
                checks++;
            }
    }
    ucd_close(f, piped, "NormalizationTest.txt");
    cr_assert_gt(lines, 10000, "NormalizationTest.txt: only %ld test lines", lines);
    // Part 2: every assigned code point not listed in Part 1 is its own form, in all four
    bool *assigned;
    free(unicode_data(&assigned));
    long invariant = 0;
    for (long c = 0; c <= MAX_CP; c++) {
        if (!assigned[c] || part1[c] || is_surrogate(c)) continue;
        is_strbuf x = {0};
        put_utf8(&x, c);
        for (int form = 0; form < 4; form++) {
            apply1((is_tok_norm_step){.kind = forms[form].kind}, x.p, x.n, &got);
            cr_assert(got.n == x.n && memcmp(got.p, x.p, x.n) == 0, "%s(U+%04lX) is not U+%04lX", forms[form].name,
                      c, c);
            checks++;
        }
        free(x.p);
        invariant++;
    }
    cr_log_info("%s: %ld lines (%ld checks of the four forms, 20 a line), and %ld code points that are their own "
                "form in all four (Part 2); %ld checks in all",
                version, lines, lines * 20, invariant, checks);
    for (int c = 0; c < 6; c++) free(col[c].p);
    free(got.p);
    free(part1);
    free(assigned);
}

// ---- Lowercase and Strip against the Unicode data -----------------------------------------

// Lowercase is Rust's char::to_lowercase on each code point (tokenizers'
// NormalizedString::lowercase): UnicodeData's simple mapping, or SpecialCasing's
// unconditional mapping where it has one (only U+0130 has a lowercase one);
// the conditional ones (final sigma, Lithuanian, Turkish) never apply.
Test(tokenizer_unicode, lowercase_is_unicode_lowercase_mapping) {
    bool *assigned;
    long *lower = unicode_data(&assigned);
    long sc_cp[256];
    is_strbuf sc_lower[256] = {{0}};
    int nsc = 0;
    bool piped;
    FILE *f = ucd_open("SpecialCasing.txt", &piped);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *fields[6] = {0};
        int nf = 0;
        for (char *p = line, *q; nf < 6 && (q = strsep(&p, ";"));) fields[nf++] = q;
        if (nf != 5) continue; // blank, or with a condition (6 fields)
        cr_assert_lt(nsc, 256);
        sc_cp[nsc] = strtol(fields[0], NULL, 16);
        hex_to_utf8(fields[1], &sc_lower[nsc]);
        nsc++;
    }
    ucd_close(f, piped, "SpecialCasing.txt");
    cr_assert_gt(nsc, 50, "SpecialCasing.txt: only %d unconditional entries", nsc);
    is_strbuf x = {0}, want = {0}, got = {0};
    long checked = 0;
    for (long c = 0; c <= MAX_CP; c++) {
        if (is_surrogate(c)) continue;
        is_sb_clear(&x);
        put_utf8(&x, c);
        is_sb_clear(&want);
        put_utf8(&want, lower[c] >= 0 ? lower[c] : c);
        for (int i = 0; i < nsc; i++)
            if (sc_cp[i] == c) {
                is_sb_clear(&want);
                is_sb_putn(&want, sc_lower[i].p, sc_lower[i].n);
            }
        apply1((is_tok_norm_step){.kind = IS_TOK_NORM_LOWERCASE}, x.p, x.n, &got);
        cr_assert(got.n == want.n && memcmp(got.p, want.p, got.n) == 0, "Lowercase(U+%04lX) differs from Unicode's",
                  c);
        checked++;
    }
    cr_log_info("Lowercase: %ld code points as UnicodeData.txt and SpecialCasing.txt map them", checked);
    for (int i = 0; i < nsc; i++) free(sc_lower[i].p);
    free(x.p);
    free(want.p);
    free(got.p);
    free(lower);
    free(assigned);
}

// The code points PropList.txt gives the White_Space property.
static bool *white_space_property(void) {
    bool piped;
    FILE *f = ucd_open("PropList.txt", &piped);
    bool *ws = calloc(MAX_CP + 1, 1);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        long a, b;
        char prop[64];
        int k = sscanf(line, "%lx..%lx ; %63s", &a, &b, prop); // a range
        if (k == 1) { // one code point
            b = a;
            k = 1 + sscanf(line, "%lx ; %63s", &a, prop);
        }
        if (k == 3 && strcmp(prop, "White_Space") == 0)
            for (long c = a; c <= b; c++, n++) ws[c] = true;
    }
    ucd_close(f, piped, "PropList.txt");
    cr_assert_gt(n, 20, "PropList.txt: only %d White_Space code points", n);
    return ws;
}

Test(tokenizer_unicode, strip_removes_unicode_white_space) {
    bool *ws = white_space_property();
    is_strbuf x = {0}, got = {0};
    for (long c = 0; c <= MAX_CP; c++) {
        if (is_surrogate(c)) continue;
        is_sb_clear(&x);
        put_utf8(&x, c);
        apply1((is_tok_norm_step){.kind = IS_TOK_NORM_STRIP, .left = true, .right = true}, x.p, x.n, &got);
        cr_assert_eq(got.n == 0, ws[c], "Strip(U+%04lX): White_Space is %d", c, ws[c]);
    }
    free(x.p);
    free(got.p);
    free(ws);
}

// ---- the normalizers as tokenizer.json gives them -------------------------------------------

// A tokenizer.json of the 256 byte tokens with normalizer (a JSON text) and
// added tokens "<|eot|>" (300, special, raw) and "[TOOL]" (301, normalized).
// Also merges (a JSON array) of tokens in vocab (JSON members after the bytes').
static const char *write_tokenizer_merges(const char *normalizer, const char *vocab, const char *merges) {
    is_strbuf b = {0};
    is_sb_printf(&b, "{\"added_tokens\":[{\"id\":300,\"content\":\"<|eot|>\",\"special\":true,\"normalized\":false},"
                     "{\"id\":301,\"content\":\"[TOOL]\",\"special\":false,\"normalized\":true}],"
                     "\"normalizer\":%s,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"use_regex\":true},"
                     "\"model\":{\"type\":\"BPE\",\"merges\":%s,\"vocab\":{",
                 normalizer, merges);
    for (int c = 0; c < 256; c++) { // byte-level alphabet: GPT-2's bytes_to_unicode
        int k = 0, cp = c;
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) {
            for (int d = 0; d < c; d++) k += !((d >= 33 && d <= 126) || (d >= 161 && d <= 172) || d >= 174);
            cp = 256 + k;
        }
        is_sb_puts(&b, c ? ",\"" : "\"");
        if (cp == '"' || cp == '\\') is_sb_puts(&b, "\\");
        put_utf8(&b, cp);
        is_sb_printf(&b, "\":%d", c);
    }
    is_sb_puts(&b, vocab);
    is_sb_puts(&b, "}}}");
    static char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", tmpdir);
    tu_write_file(tmpdir, "tokenizer.json", b.p, b.n);
    free(b.p);
    return path;
}

static const char *write_tokenizer(const char *normalizer) { return write_tokenizer_merges(normalizer, "", "[]"); }

static is_tokenizer *load_norm(const char *normalizer) {
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_tok_load_hf(write_tokenizer(normalizer), &t, &err), 0, "%s: %s", normalizer, err.msg);
    return t;
}

// The tokenizer's normalizer turns in into want.
static void expect_norm(is_tokenizer *t, const char *in, const char *want) {
    is_strbuf out = {0};
    is_err err = {{0}};
    cr_assert_eq(is_tok_normalize(t, in, strlen(in), &out, &err), 0, "%s", err.msg);
    cr_assert(out.n == strlen(want) && memcmp(out.p, want, out.n) == 0, "'%s' normalizes to '%s', expected '%s'", in,
              out.p, want);
    free(out.p);
}

#define LOWERCASE "{\"type\":\"Lowercase\"}"
#define STRIP(l, r) "{\"type\":\"Strip\",\"strip_left\":" #l ",\"strip_right\":" #r "}"
#define REPLACE(kind, pat, content) \
    "{\"type\":\"Replace\",\"pattern\":{\"" kind "\":\"" pat "\"},\"content\":\"" content "\"}"
#define PREPEND(p) "{\"type\":\"Prepend\",\"prepend\":\"" p "\"}"
#define SEQUENCE(steps) "{\"type\":\"Sequence\",\"normalizers\":[" steps "]}"
#define LOWER_BAR "\xe2\x96\x81" // U+2581, SentencePiece's space

// What each normalizer does, from the Hugging Face tokenizers documentation and,
// where the documentation says less, its code (tokenizers/src/normalizers/).
static const struct {
    const char *normalizer, *in, *want;
} documented[] = {
    // Lowercase. The documentation's example is "HELLO ὈΔΥΣΣΕΎΣ" -> "hello ὀδυσσεύς",
    // the final sigma as Python's str.lower writes it; the code (normalizer.rs,
    // lowercase) maps each character alone with char::to_lowercase, so the last Σ
    // becomes σ. We follow the code, whose ids are the ones to match.
    {LOWERCASE, "HELLO \xe1\xbd\x88\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\x8e\xce\xa3",
     "hello \xe1\xbd\x80\xce\xb4\xcf\x85\xcf\x83\xcf\x83\xce\xb5\xcf\x8d\xcf\x83"},
    // İ -> i + U+0307 (SpecialCasing), ẞ -> ß, invalid bytes kept
    {LOWERCASE, "\xc4\xb0stanbul \xe1\xba\x9e \xff\xc3", "i\xcc\x87stanbul \xc3\x9f \xff\xc3"},
    // the Unicode forms: é precomposed and decomposed; the ﬁ ligature (compatibility); Hangul
    {"{\"type\":\"NFC\"}", "caf" "e\xcc\x81 \xef\xac\x81", "caf\xc3\xa9 \xef\xac\x81"},
    {"{\"type\":\"NFD\"}", "caf\xc3\xa9 \xea\xb0\x80", "cafe\xcc\x81 \xe1\x84\x80\xe1\x85\xa1"},
    {"{\"type\":\"NFKC\"}", "\xef\xac\x81 \xef\xbc\xa8", "fi H"},
    {"{\"type\":\"NFKD\"}", "\xef\xac\x81\xc3\xa9", "fie\xcc\x81"},
    // an invalid byte splits the text: no composition across it, and it is kept
    {"{\"type\":\"NFC\"}", "e\xff\xcc\x81 e\xcc\x81", "e\xff\xcc\x81 \xc3\xa9"},
    // Replace: the documentation's example, Replace("a", "e"): "banana" -> "benene"
    {REPLACE("String", "a", "e"), "banana", "benene"},
    // a String is matched as it is, not as a regex
    {REPLACE("String", ".*", "!"), "a.*b.c", "a!b.c"},
    // Llama 2 / Mistral v0.1: spaces as U+2581
    {REPLACE("String", " ", LOWER_BAR), "a b  c", "a" LOWER_BAR "b" LOWER_BAR LOWER_BAR "c"},
    {REPLACE("Regex", " {2,}", " "), "a   b  c d", "a b c d"},
    // \s as Oniguruma reads it (below): U+0085 is, U+180E is not
    {REPLACE("Regex", "\\\\s+", " "), "a\xc2\x85\t\xe1\xa0\x8e b", "a \xe1\xa0\x8e b"},
    // empty matches as the onig crate's find_iter yields them: not right where the
    // previous match ended ("xax": "x" at 0, the empty match at 1 is skipped, "x" at 2)
    {REPLACE("Regex", "x*", "-"), "abc", "-a-b-c-"},
    {REPLACE("Regex", "x*", "-"), "xax", "-a-"},
    {REPLACE("Regex", "x*", "-"), "", ""}, // no match in an empty text
    // Prepend: not to an empty text
    {PREPEND(LOWER_BAR), "Hey", LOWER_BAR "Hey"},
    {PREPEND(LOWER_BAR), "", ""},
    // Strip: White_Space on the sides asked for (U+3000 and U+0085 are, U+200B and U+FEFF are not)
    {STRIP(true, true), " \t\xe3\x80\x80hi there\xc2\x85\n", "hi there"},
    {STRIP(true, true), "\xe2\x80\x8bhi\xef\xbb\xbf", "\xe2\x80\x8bhi\xef\xbb\xbf"},
    {STRIP(true, true), " \n ", ""},
    {STRIP(true, false), "  hi  ", "hi  "},
    {STRIP(false, true), "  hi  ", "  hi"},
    // Sequence: Llama 2 and Mistral v0.1, [Prepend("▁"), Replace(" ", "▁")]
    {SEQUENCE(PREPEND(LOWER_BAR) "," REPLACE("String", " ", LOWER_BAR)), "Hello world",
     LOWER_BAR "Hello" LOWER_BAR "world"},
    // steps run in order, nested Sequences too
    {SEQUENCE("{\"type\":\"NFKC\"}," SEQUENCE(LOWERCASE "," STRIP(true, true))),
     " \xef\xbc\xa8\xef\xbd\x85\xef\xbd\x8c\xef\xbd\x8c\xef\xbd\x8f ", "hello"},
};

Test(tokenizer_unicode, normalizers_as_documented) {
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++) {
        is_tokenizer *t = load_norm(documented[i].normalizer);
        expect_norm(t, documented[i].in, documented[i].want);
        is_tok_free(t);
    }
}

Test(tokenizer_unicode, normalizer_errors_name_the_field) {
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"type\":\"BertNormalizer\"}", "normalizer: unsupported type 'BertNormalizer'"},
        {"{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Precompiled\"}]}",
         "normalizer.normalizers[1]: unsupported type 'Precompiled'"},
        {"{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"StripAccents\"}]}]}",
         "normalizer.normalizers[0].normalizers[0]: unsupported type 'StripAccents'"},
        {"{\"type\":\"Sequence\"}", "normalizer.normalizers: expected an array"},
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"}}", "normalizer.content: expected a string"},
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\",\"Regex\":\"b\"},\"content\":\"\"}", "normalizer.pattern"},
        {"{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"(\"},\"content\":\"\"}", "does not compile"},
        {"{\"type\":\"Prepend\"}", "normalizer.prepend: expected a string"},
        {"{\"type\":\"Strip\",\"strip_left\":true}", "strip_left and strip_right"},
        {"{\"normalizers\":[]}", "normalizer: expected an object with a type"},
        {"\"NFC\"", "normalizer: expected an object with a type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_tokenizer(cases[i].json);
        is_tokenizer *t = NULL;
        is_err err = {{0}};
        cr_assert_eq(is_tok_load_hf(p, &t, &err), -1, "%s loaded", cases[i].json);
        cr_assert(strstr(err.msg, cases[i].needle), "%s: '%s' lacks '%s'", cases[i].json, err.msg, cases[i].needle);
    }
    // a hostile Replace cannot fill memory: each match of 1 byte becomes 64 KiB
    is_strbuf j = {0};
    is_sb_puts(&j, "{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"");
    for (int i = 0; i < 65536; i++) is_sb_puts(&j, "b");
    is_sb_puts(&j, "\"}");
    is_tokenizer *t = load_norm(j.p);
    free(j.p);
    char text[4096];
    memset(text, 'a', sizeof text);
    is_strbuf out = {0};
    is_err err = {{0}};
    cr_assert_eq(is_tok_normalize(t, text, sizeof text, &out, &err), -1);
    cr_assert(strstr(err.msg, "IS_TOK_NORM_MAX_GROWTH"), "%s", err.msg);
    free(out.p);
    is_tok_free(t);
}

// ---- normalization in encoding --------------------------------------------------------

static int32_t *encode(is_tokenizer *t, const char *s, int *n) {
    int32_t *ids;
    is_err err = {{0}};
    *n = is_tok_encode(t, s, strlen(s), true, &ids, &err);
    cr_assert_geq(*n, 0, "%s", err.msg);
    return ids;
}

static void expect_same_ids(is_tokenizer *t, const char *a, const char *b, bool same) {
    int na, nb;
    int32_t *ia = encode(t, a, &na), *ib = encode(t, b, &nb);
    bool eq = na == nb && memcmp(ia, ib, sizeof(int32_t) * (size_t)na) == 0;
    cr_assert_eq(eq, same, "'%s' and '%s' encode %s", a, b, eq ? "the same" : "differently");
    free(ia);
    free(ib);
}

Test(tokenizer_unicode, nfc_tokenizer_encodes_decomposed_text_as_precomposed) {
    // Qwen2/Qwen3 declare NFC: "é" as e + U+0301 must give the ids of U+00E9
    const char *pre = "caf\xc3\xa9 cr\xc3\xa8me", *dec = "cafe\xcc\x81 cre\xcc\x80me";
    is_tokenizer *t = load_norm("{\"type\":\"NFC\"}");
    expect_same_ids(t, pre, dec, true);
    // and saved, the normalizer goes with it
    char path[512];
    snprintf(path, sizeof path, "%s/saved.json", tmpdir);
    is_err err = {{0}};
    cr_assert_eq(is_tok_save_hf(t, path, &err), 0, "%s", err.msg);
    is_tok_free(t);
    cr_assert_eq(is_tok_load_hf(path, &t, &err), 0, "%s", err.msg);
    expect_same_ids(t, pre, dec, true);
    is_tok_free(t);
    // without a normalizer they differ
    t = load_norm("null");
    expect_same_ids(t, pre, dec, false);
    is_tok_free(t);
}

Test(tokenizer_unicode, added_tokens_raw_and_normalized) {
    // "<|eot|>" (normalized false) is found in the raw text, before Lowercase;
    // "[TOOL]" (normalized true) in the lowercased text, as its lowercased form
    is_tokenizer *t = load_norm("{\"type\":\"Lowercase\"}");
    int n;
    int32_t *ids = encode(t, "A<|eot|>[Tool]", &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], 'a');
    cr_assert_eq(ids[1], 300);
    cr_assert_eq(ids[2], 301);
    free(ids);
    ids = encode(t, "<|EOT|>", &n); // lowercased after the raw pass: text, not the token
    cr_assert_eq(n, 7);
    cr_assert_eq(ids[0], '<');
    free(ids);
    is_tok_free(t);
    // Prepend runs on each piece between raw added tokens, as in Hugging Face
    t = load_norm("{\"type\":\"Prepend\",\"prepend\":\"_\"}");
    ids = encode(t, "a<|eot|>b", &n);
    cr_assert_eq(n, 5);
    int32_t want[] = {'_', 'a', 300, '_', 'b'};
    for (int i = 0; i < 5; i++) cr_assert_eq(ids[i], want[i], "id %d: %d, expected %d", i, ids[i], want[i]);
    free(ids);
    is_tok_free(t);
}

// ---- \s in the pre-tokenizer and Replace regexes -------------------------------------------

// \s as Oniguruma reads it in a UTF-8 pattern (what Hugging Face tokenizers uses
// for the pre-tokenizer's Split and ByteLevel regexes and for Replace, through the
// onig crate): ONIGENC_CTYPE_SPACE, whose Unicode table is CR_Space in
// oniguruma's src/unicode_property_data.c ("PROPERTY: 'Space'", and
// CR_White_Space is defined as CR_Space), the same in the version the onig crate
// bundles (onig_sys 69.9, oniguruma 6.9.9+) and in oniguruma's master:
static const long onig_cr_space[][2] = {
    {0x0009, 0x000d}, {0x0020, 0x0020}, {0x0085, 0x0085}, {0x00a0, 0x00a0}, {0x1680, 0x1680},
    {0x2000, 0x200a}, {0x2028, 0x2029}, {0x202f, 0x202f}, {0x205f, 0x205f}, {0x3000, 0x3000},
};
// Its doc/RE says the same: "\s ... Unicode case: U+0009, U+000A, U+000B, U+000C,
// U+000D, U+0085(NEL), General_Category -- Line_Separator, Paragraph_Separator,
// Space_Separator". So of the three code points where regex engines disagree,
// Oniguruma's \s matches U+0085 (NEL), and not U+180E (MONGOLIAN VOWEL SEPARATOR,
// a format character since Unicode 6.3) nor U+FEFF (ZERO WIDTH NO-BREAK SPACE).
// tiktoken's regexes (the regex crate, through fancy-regex) read \s as
// White_Space too: the same set. PCRE2 (10.42) with UCP matches U+180E as well
// (its \s includes \h, which lists U+180E); JavaScript's \s matches U+FEFF and
// not U+0085. We chose Oniguruma's: every \s and \S of a pattern is compiled as
// \p{White_Space} and \P{White_Space} (is_tok_regex_white_space), so our pieces
// and ids are Hugging Face's on text holding these characters.
static bool onig_space(long c) {
    for (size_t i = 0; i < sizeof onig_cr_space / sizeof onig_cr_space[0]; i++)
        if (c >= onig_cr_space[i][0] && c <= onig_cr_space[i][1]) return true;
    return false;
}

static pcre2_code *compile_ours(const char *pat) {
    char *ws = is_tok_regex_white_space(pat);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)ws, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    cr_assert_not_null(re, "'%s' (as '%s') does not compile", pat, ws);
    free(ws);
    return re;
}

Test(tokenizer_unicode, regex_s_is_oniguruma_s) {
    // the list is Unicode's White_Space
    bool *ws = white_space_property();
    for (long c = 0; c <= MAX_CP; c++) cr_assert_eq(onig_space(c), ws[c], "U+%04lX", c);
    free(ws);
    // \s, \S, and both inside classes, on every code point
    static const struct {
        const char *pat;
        bool is_space; // the pattern matches exactly the \s characters, or exactly the others
    } pats[] = {{"\\s", true}, {"[\\s]", true}, {"[^\\S]", true}, {"\\S", false}, {"[^\\s]", false}, {"[\\S]", false}};
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    long checked = 0;
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        pcre2_code *re = compile_ours(pats[i].pat);
        is_strbuf x = {0};
        for (long c = 0; c <= MAX_CP; c++) {
            if (is_surrogate(c)) continue;
            checked++;
            is_sb_clear(&x);
            put_utf8(&x, c);
            bool m = pcre2_match(re, (PCRE2_SPTR)x.p, x.n, 0, PCRE2_ANCHORED, md, NULL) > 0;
            cr_assert_eq(m, onig_space(c) == pats[i].is_space, "'%s' on U+%04lX", pats[i].pat, c);
        }
        free(x.p);
        pcre2_code_free(re);
    }
    pcre2_match_data_free(md);
    cr_log_info("\\s and \\S: %ld code points as Oniguruma reads them", checked);
    // only \s and \S are rewritten: not an escaped backslash before s, nor \Q...\E
    static const char *const same[] = {"\\\\s", "\\Qa\\sb\\E", "\\p{L}\\d\\n", "s\\"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        char *w = is_tok_regex_white_space(same[i]);
        cr_assert_str_eq(w, same[i]);
        free(w);
    }
}

Test(tokenizer_unicode, pretokenizer_s_in_encoding) {
    // ByteLevel's regex ends " ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+": a character that is
    // not \s joins the "!" after it in one piece, where the merge of its last byte
    // with "!" applies; one that is \s is a piece of its own. Merges: 0x85 + "!"
    // (U+0085 is c2 85), 0x8e + "!" (U+180E is e1 a0 8e), 0xbf + "!" (U+FEFF is
    // ef bb bf); byte 0x85 is "ħ" in the byte-level alphabet, 0x8e "İ", 0xbf "¿".
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    const char *p = write_tokenizer_merges("null", ",\"\xc4\xa7!\":256,\"\xc4\xb0!\":257,\"\xc2\xbf!\":258",
                                           "[\"\xc4\xa7 !\",\"\xc4\xb0 !\",\"\xc2\xbf !\"]");
    cr_assert_eq(is_tok_load_hf(p, &t, &err), 0, "%s", err.msg);
    int n;
    int32_t *ids = encode(t, "\xc2\x85!", &n); // U+0085 is \s: no merge
    cr_assert(n == 3 && ids[0] == 0xc2 && ids[1] == 0x85 && ids[2] == '!', "U+0085 joined the '!'");
    free(ids);
    ids = encode(t, "\xe1\xa0\x8e!", &n); // U+180E is not (PCRE2's own \s would say it is)
    cr_assert(n == 3 && ids[0] == 0xe1 && ids[1] == 0xa0 && ids[2] == 257, "U+180E did not join the '!'");
    free(ids);
    ids = encode(t, "\xef\xbb\xbf!", &n); // U+FEFF is not
    cr_assert(n == 3 && ids[0] == 0xef && ids[1] == 0xbb && ids[2] == 258, "U+FEFF did not join the '!'");
    free(ids);
    is_tok_free(t);
}
