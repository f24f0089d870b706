// test_tokenizer_limits.c — hostile tokenizer files: every input the fuzzers
// found (tests/fuzz/regress/) is refused with a message naming the file, in
// bounded memory (the address space of each test is capped: an allocation sized
// by a hostile number fails and aborts the test); the limits of tokenizer.h
// (ids, merges, JSON values, file size) hold; the fuzzers' seeds
// (tests/fuzz/corpus/) load.
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/strbuf.h"       // defines: is_strbuf, is_sb_printf, is_sb_puts
#include "engine/tokenizer.h"  // defines: is_tok_load_hf, is_tok_load_tiktoken, IS_TOK_MAX_*
#include "support/testutil.h"  // defines: tu_mkdtemp, tu_rm_rf

#define REGRESS_DIR IS_TEST_FIXTURES "/../fuzz/regress"
#define CORPUS_DIR IS_TEST_FIXTURES "/../fuzz/corpus"
// tiktoken files in both folders are read with this encoding (its pattern and special token)
#define TIKTOKEN_ENCODING "r50k_base"

static char tmpdir[256];

// What a test may add to the address space it starts with: the largest input
// here (12 MiB of merges) takes about 250 MB to refuse; a table sized by a
// hostile id (8 GB for 2^30) does not fit.
#define ADDRESS_SPACE_HEADROOM ((rlim_t)1536 << 20)

static void cap_address_space(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f);
    unsigned long pages = 0;
    cr_assert_eq(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ADDRESS_SPACE_HEADROOM;
    struct rlimit rl = {cap, cap};
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
}

static void setup(void) {
    tu_mkdtemp(tmpdir, sizeof tmpdir);
    cap_address_space();
}

static void teardown(void) { tu_rm_rf(tmpdir); }

TestSuite(tokenizer_limits, .init = setup, .fini = teardown, .timeout = 120);

// The regular files of dir, sorted; returns their count (names malloc'd).
static int list_dir(const char *dir, char ***names) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    int n = 0, cap = 0;
    *names = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            *names = realloc(*names, sizeof(char *) * (size_t)cap);
        }
        (*names)[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(*names, (size_t)n, sizeof(char *), (int (*)(const void *, const void *))strcmp);
    return n;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

// The folders of tests/fuzz/regress and tests/fuzz/corpus, named for their loader.
static const char *const kinds[] = {"tokenizer_json", "tiktoken"};

static int load(const char *kind, const char *path, is_tokenizer **t, is_err *err) {
    if (strcmp(kind, "tiktoken") == 0) return is_tok_load_tiktoken(path, TIKTOKEN_ENCODING, t, err);
    return is_tok_load_hf(path, t, err);
}

// Calls fn(kind, path) on every file of root/KIND, for each kind; returns how many.
static int each_file(const char *root, void (*fn)(const char *kind, const char *path)) {
    int total = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", root, kinds[k]);
        char **names;
        int n = list_dir(dir, &names);
        cr_assert_gt(n, 0, "%s holds no files", dir);
        for (int i = 0; i < n; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            fn(kinds[k], path);
        }
        total += n;
        free_names(names, n);
    }
    return total;
}

// Loads path, expecting a refusal whose message names the file and holds needle.
static void expect_refused(const char *kind, const char *path, const char *needle) {
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    int rc = load(kind, path, &t, &err);
    cr_assert_neq(rc, 0, "%s: loaded; a regression input must be refused", path);
    cr_assert_null(t, "%s: refused but returned a tokenizer", path);
    cr_assert(strstr(err.msg, path), "%s: the message '%s' does not name the file", path, err.msg);
    if (needle) cr_assert(strstr(err.msg, needle), "%s: the message '%s' lacks '%s'", path, err.msg, needle);
}

// ---- the fuzzers' findings -------------------------------------------------------

static void refused(const char *kind, const char *path) { expect_refused(kind, path, NULL); }

Test(tokenizer_limits, every_regression_input_is_refused) {
    cr_log_info("%d regression inputs refused", each_file(REGRESS_DIR, refused));
}

// The defects the inputs were named for, each with the field its message names.
Test(tokenizer_limits, regression_messages_name_the_field) {
    static const struct {
        const char *kind, *file, *needle;
    } cases[] = {
        // id 2^31 - 1: id + 1 overflowed and tok_off[id] was written far out of bounds
        {"tokenizer_json", "tokenizer_json/added-id-int-max.json", "added_tokens[0].id: 2147483647 is not a token id"},
        // 2^31 and 1e300 read as INT_MAX through cJSON's valueint
        {"tokenizer_json", "tokenizer_json/added-id-2pow31.json", "added_tokens[0].id: 2147483648"},
        {"tokenizer_json", "tokenizer_json/added-id-1e300.json", "added_tokens[0].id: 1e+300"},
        {"tokenizer_json", "tokenizer_json/added-id-inf.json", "added_tokens[0].id: inf"}, // 1e999
        {"tokenizer_json", "tokenizer_json/added-id-fraction.json", "added_tokens[0].id: 1.5"},
        {"tokenizer_json", "tokenizer_json/added-id-negative.json", "added_tokens[0].id: -1"},
        {"tokenizer_json", "tokenizer_json/added-id-over-limit.json", "IS_TOK_MAX_ID"},
        // tables sized by the largest id: 2^30 asked for 8 GB
        {"tokenizer_json", "tokenizer_json/vocab-id-2pow30.json", "model.vocab['a']: 1073741822"},
        {"tokenizer_json", "tokenizer_json/vocab-id-over-limit.json", "model.vocab['a']: 4194304"},
        {"tokenizer_json", "tokenizer_json/vocab-id-negative.json", "model.vocab['a']: -1"},
        // a negative BOS id was taken as "prepend token -5"
        {"tokenizer_json", "tokenizer_json/bos-id-negative.json", "post_processor.special_tokens['<s>'].ids[0]: -5"},
        {"tokenizer_json", "tokenizer_json/bos-id-int-max.json", "post_processor.special_tokens['<s>'].ids[0]: 2147483648"},
        // a rank near 2^30 allocated 8 GB and loaded
        {"tiktoken", "tiktoken/rank-2pow30.tiktoken", ":1: rank 1073741822 is too large"},
        {"tiktoken", "tiktoken/rank-over-limit.tiktoken", "IS_TOK_MAX_ID"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", REGRESS_DIR, cases[i].file);
        expect_refused(cases[i].kind, path, cases[i].needle);
    }
}

// ---- limits too large for a file in the repository: generated here ---------------

// Writes printf-formatted text to tmpdir/name; returns its path (valid until the next call).
static const char *write_tmp(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *write_tmp(const char *name, const char *fmt, ...) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    cr_assert_eq(fclose(f), 0);
    return path;
}

// A tokenizer.json of the given model.vocab, model.merges and added_tokens (JSON texts).
static const char *write_json(const char *name, const char *vocab, const char *merges, const char *added) {
    return write_tmp(name,
                     "{\"model\":{\"type\":\"BPE\",\"vocab\":%s,\"merges\":%s},\"added_tokens\":%s,"
                     "\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}",
                     vocab, merges, added);
}

static void expect_loads(const char *path) {
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_tok_load_hf(path, &t, &err), 0, "%s", err.msg);
    is_tok_free(t);
}

// JSON array text of n copies of item (malloc'd).
static char *json_repeat(const char *item, long n) {
    is_strbuf b = {0};
    is_sb_puts(&b, "[");
    for (long i = 0; i < n; i++) {
        if (i) is_sb_puts(&b, ",");
        is_sb_puts(&b, item);
    }
    is_sb_puts(&b, "]");
    return b.p;
}

Test(tokenizer_limits, merges_over_the_limit) {
    // 2^21 + 1 merges of "a a" (12 MiB): refused by count, before the merge table is built
    char *merges = json_repeat("\"a a\"", (long)IS_TOK_MAX_MERGES + 1);
    const char *p = write_json("many_merges.json", "{\"a\":0,\"aa\":1}", merges, "[]");
    free(merges);
    expect_refused("tokenizer_json", p, "model.merges: 2097153 merges, more than the limit of 2097152");
    // below the limit the count passes (the repeated merge is then dropped as a duplicate)
    merges = json_repeat("\"a a\"", 1000);
    expect_loads(write_json("some_merges.json", "{\"a\":0,\"aa\":1}", merges, "[]"));
    free(merges);
}

Test(tokenizer_limits, json_values_over_the_limit) {
    // 2^22 zeros in a field the loader does not read (8 MiB of text, 340 MB once
    // parsed): refused from the text alone
    char *zeros = json_repeat("0", (long)IS_TOK_MAX_JSON_VALUES);
    const char *p = write_tmp("many_values.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                                                  "\"padding\":%s}", zeros);
    free(zeros);
    expect_refused("tokenizer_json", p, "JSON values, more than the limit of 4194304");
    // commas, brackets and escaped quotes inside a string are not values
    is_strbuf b = {0};
    for (long i = 0; i < IS_TOK_MAX_JSON_VALUES; i++) is_sb_puts(&b, i & 1 ? ",[" : "{\\\"");
    expect_loads(write_tmp("string.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                                          "\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"padding\":\"%s\"}", b.p));
    free(b.p);
}

Test(tokenizer_limits, files_over_the_size_limit) {
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const char *p = write_tmp(kinds[k], "%s", "");
        cr_assert_eq(truncate(p, (off_t)IS_TOK_MAX_FILE_BYTES + 1), 0); // sparse: no disk is used
        expect_refused(kinds[k], p, "limit");
    }
}

Test(tokenizer_limits, rank_file_of_empty_lines) {
    // 32 Mi empty lines once sized the rank map by the line count (2.5 GB)
    size_t n = (size_t)32 << 20;
    char *lines = malloc(n + 1);
    cr_assert_not_null(lines);
    memset(lines, '\n', n);
    lines[n] = 0;
    const char *p = write_tmp("empty.tiktoken", "%s", lines);
    free(lines);
    expect_refused("tiktoken", p, "no tokens");
}

Test(tokenizer_limits, many_added_tokens_load_in_linear_time) {
    // 400,000 added tokens: each was compared with all before it (8e10 comparisons)
    long n = 400000;
    is_strbuf b = {0};
    is_sb_puts(&b, "[");
    for (long i = 0; i < n; i++) is_sb_printf(&b, "%s{\"id\":%ld,\"content\":\"<t%ld>\"}", i ? "," : "", i + 1, i);
    is_sb_puts(&b, "]");
    const char *p = write_json("added.json", "{\"a\":0}", "[]", b.p);
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_tok_load_hf(p, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(is_tok_vocab_size(t), n + 1);
    is_tok_free(t);
    // a content given twice is still found
    b.p[b.n - 1] = ','; // was the closing ']'
    is_sb_puts(&b, "{\"id\":7,\"content\":\"<t17>\"}]");
    p = write_json("added_twice.json", "{\"a\":0}", "[]", b.p);
    free(b.p);
    expect_refused("tokenizer_json", p, "'<t17>' appears twice");
}

// ---- the fuzzers' seeds ------------------------------------------------------------

static void loads_and_encodes(const char *kind, const char *path) {
    static const char text[] = "Hello w\xc3\xb6rld, it's 2024!\n\tcaf\x65\xcc\x81 \xe4\xbd\xa0\xe5\xa5\xbd \xff";
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    cr_assert_eq(load(kind, path, &t, &err), 0, "seed %s: %s", path, err.msg);
    int32_t *ids;
    cr_assert_geq(is_tok_encode(t, text, sizeof text - 1, true, &ids, &err), 0, "seed %s: %s", path, err.msg);
    free(ids);
    is_tok_free(t);
}

Test(tokenizer_limits, corpus_seeds_load_and_encode) {
    cr_log_info("%d seeds loaded", each_file(CORPUS_DIR, loads_and_encodes));
}
