// test_cli.c — the inferscope command as a user runs it: output format, the
// timing line, reproducibility, and a clear message and non-zero exit for
// every kind of bad input.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/cuda/cuda_probe.h"
#include "support/testutil.h"

static char dir[256];

static void setup(void) { tu_mkdtemp(dir, sizeof dir); }
static void teardown(void) { tu_rm_rf(dir); }

TestSuite(cli, .init = setup, .fini = teardown);

#define RUN(...) tu_run_cli((const char *const[]){__VA_ARGS__, NULL})

static int count_ints(const char *line) {
    int n = 0, used, v;
    while (sscanf(line, "%d%n", &v, &used) == 1) {
        n++;
        line += used;
    }
    return n;
}

Test(cli, generate_prints_ids_and_a_timing_line) {
    tu_run r = RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1,2,3,4", "-n", "7", "--print-ids",
                   "--threads", "2");
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert_eq(count_ints(r.out), 7, "stdout: %s", r.out);
    cr_assert_eq(strchr(r.out, '\n') - r.out + 1, (long)strlen(r.out), "one line expected: %s", r.out);
    cr_assert(strstr(r.err, "TTFT") && strstr(r.err, "prefill") && strstr(r.err, "decode"), "stderr: %s", r.err);
    cr_assert(strstr(r.err, "tok/s"), "stderr: %s", r.err);
    tu_run_free(&r);
}

Test(cli, batch_prints_one_line_per_sequence) {
    tu_run r = RUN("generate", "--model", "preset:tiny", "--prompt-ids", "5 6 7", "--prompt-ids", "9",
                   "--prompt-ids", "10,11", "-n", "4", "--print-ids", "--ignore-eos");
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    int lines = 0;
    for (char *p = r.out; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 3, "stdout: %s", r.out);
    tu_run_free(&r);
}

Test(cli, sampling_is_reproducible_with_a_seed) {
    const char *base[] = {"generate", "--model", "preset:tiny", "--prompt-len", "8", "-n", "24",
                          "--temperature", "1.5", "--top-k", "100", "--top-p", "0.95", "--ignore-eos",
                          "--quiet", "--seed"};
    tu_run a = RUN(base[0], base[1], base[2], base[3], base[4], base[5], base[6], base[7], base[8], base[9],
                   base[10], base[11], base[12], base[13], base[14], base[15], "11");
    tu_run b = RUN(base[0], base[1], base[2], base[3], base[4], base[5], base[6], base[7], base[8], base[9],
                   base[10], base[11], base[12], base[13], base[14], base[15], "11");
    tu_run c = RUN(base[0], base[1], base[2], base[3], base[4], base[5], base[6], base[7], base[8], base[9],
                   base[10], base[11], base[12], base[13], base[14], base[15], "12");
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_eq(c.status, 0, "%s", c.err);
    cr_assert_str_eq(a.out, b.out, "same seed, different output");
    cr_assert_str_neq(a.out, c.out, "different seeds gave the same 24 sampled tokens");
    tu_run_free(&a);
    tu_run_free(&b);
    tu_run_free(&c);
}

Test(cli, exported_directory_generates_like_the_preset) {
    char out[300];
    snprintf(out, sizeof out, "%s/tiny", dir);
    tu_run e = RUN("export", "--model", "preset:tiny", "--out", out, "--dtype", "f32", "--seed", "4");
    cr_assert_eq(e.status, 0, "%s", e.err);
    tu_run a = RUN("generate", "--model", "preset:tiny", "--seed", "4", "--dtype", "f32", "--prompt-ids",
                   "3,1,4,1,5", "-n", "12", "--ignore-eos", "--quiet");
    tu_run b = RUN("generate", "--model", out, "--dtype", "f32", "--prompt-ids", "3,1,4,1,5", "-n", "12",
                   "--ignore-eos", "--quiet");
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_assert_str_eq(a.out, b.out);
    tu_run_free(&e);
    tu_run_free(&a);
    tu_run_free(&b);
}

Test(cli, presets_lists_the_public_shapes) {
    tu_run r = RUN("presets");
    cr_assert_eq(r.status, 0);
    const char *names[] = {"tiny", "llama-3.2-1b", "llama-3.1-8b", "qwen2.5-0.5b", "tinyllama-1.1b"};
    for (int i = 0; i < 5; i++) cr_assert(strstr(r.out, names[i]), "missing %s in: %s", names[i], r.out);
    tu_run_free(&r);
}

Test(cli, auto_backend_says_why_cuda_is_off) {
    tu_run r = RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "-n", "1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "backend: cpu"), "stderr: %s", r.err);
    tu_run_free(&r);
}

// ---- bad input: one clear message naming the problem, a non-zero exit ----------

static void expect_fail(tu_run r, int status, const char *needle) {
    cr_assert_eq(r.status, status, "exit %d (want %d), stderr: %s", r.status, status, r.err);
    cr_assert(strstr(r.err, needle), "stderr should mention '%s': %s", needle, r.err);
    cr_assert_str_eq(r.out, "", "nothing on stdout on failure: %s", r.out);
    tu_run_free(&r);
}

Test(cli, unknown_flag) { expect_fail(RUN("generate", "--model", "preset:tiny", "--bogus"), 2, "'--bogus'"); }
Test(cli, missing_flag_value) { expect_fail(RUN("generate", "--model"), 2, "--model needs a value"); }
Test(cli, malformed_number) {
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "-n", "12x"), 2, "-n '12x'");
}
// ---- the shared flags: one spelling and one check across commands ------------------

// The flags every command shares are parsed in one place: a bad value is refused
// before anything runs, with the same message, by every command that takes it.
Test(cli, shared_flags_refused_alike_by_every_command) {
    const char *cmds[][2] = {{"generate", "--prompt-ids"}, {"bench", "--no-probe"}, {"profile", "--no-probe"}};
    for (int c = 0; c < 3; c++) {
        const char *cmd = cmds[c][0], *extra = cmds[c][1], *v = c ? NULL : "1";
        // f16 is not a dtype weights are held in: refused at parse time (exit 2), not after loading
        tu_run r = v ? RUN(cmd, "--model", "preset:tiny", extra, v, "--dtype", "f16")
                     : RUN(cmd, "--model", "preset:tiny", extra, "--dtype", "f16");
        expect_fail(r, 2, "--dtype 'f16': expected f32, bf16, int8, q8_0 or q4_0");
        r = v ? RUN(cmd, "--model", "preset:tiny", extra, v, "--threads", "-3")
              : RUN(cmd, "--model", "preset:tiny", extra, "--threads", "-3");
        expect_fail(r, 2, "--threads '-3': expected an integer from 0 (all CPUs) to 1024");
        r = v ? RUN(cmd, "--model", "preset:tiny", extra, v, "--seed", "x")
              : RUN(cmd, "--model", "preset:tiny", extra, "--seed", "x");
        expect_fail(r, 2, "--seed 'x': expected a non-negative integer");
    }
    // export writes F16 files: there f16 is a dtype
    char out[512];
    snprintf(out, sizeof out, "%s/f16", dir);
    tu_run r = RUN("export", "--model", "preset:tiny", "--out", out, "--dtype", "f16");
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    tu_run_free(&r);
}

// -n/--gen-len is the one spelling of the generated length; the old ones still
// work for a release, each with one line saying what to use instead.
Test(cli, old_spellings_work_with_a_deprecation_line) {
    tu_run a = RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1,2", "--gen-len", "5", "--print-ids",
                   "--quiet", "--ignore-eos");
    tu_run b = RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1,2", "--n-gen", "5", "--print-ids",
                   "--quiet", "--ignore-eos");
    cr_assert_eq(a.status, 0, "stderr: %s", a.err);
    cr_assert_eq(b.status, 0, "stderr: %s", b.err);
    cr_assert_str_eq(a.out, b.out, "the old spelling means the same");
    cr_assert_eq(count_ints(a.out), 5, "stdout: %s", a.out);
    cr_assert_str_eq(a.err, "", "no deprecation line for --gen-len: %s", a.err);
    cr_assert(strstr(b.err, "--n-gen is deprecated: use --gen-len"), "stderr: %s", b.err);
    tu_run_free(&a);
    tu_run_free(&b);
    tu_run c = RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1,2", "-n", "2", "--temp", "0",
                   "--print-ids", "--quiet");
    cr_assert_eq(c.status, 0, "stderr: %s", c.err);
    cr_assert(strstr(c.err, "--temp is deprecated: use --temperature"), "stderr: %s", c.err);
    tu_run_free(&c);
    // bench's --gen is --gen-len too (a bad value names the spelling given)
    expect_fail(RUN("bench", "--model", "preset:tiny", "--gen", "0"), 2, "--gen: 0 in '0' is outside 1..16777216");
}

Test(cli, malformed_ids) {
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1,two,3"), 2, "'two'");
}
Test(cli, unknown_command) { expect_fail(RUN("genrate"), 2, "unknown command 'genrate'"); }
Test(cli, no_prompt) { expect_fail(RUN("generate", "--model", "preset:tiny"), 2, "a prompt is required"); }
Test(cli, text_prompt_ids_past_the_model_vocabulary) {
    // preset:tiny has 512 ids; GPT-2 gives "Hello" the id 15496
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt", "Hello"), 1, "token id 15496");
}
Test(cli, prompt_sources_are_exclusive) {
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt", "hi", "--prompt-ids", "1"), 2,
                "cannot be combined");
}
Test(cli, unknown_preset) {
    expect_fail(RUN("generate", "--model", "preset:gpt-5", "--prompt-ids", "1"), 1, "unknown preset 'gpt-5'");
}
Test(cli, missing_model_directory) {
    expect_fail(RUN("generate", "--model", "/nonexistent/model", "--prompt-ids", "1"), 1, "/nonexistent/model");
}
Test(cli, token_id_out_of_range) {
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1,512"), 1, "token id 512");
}
Test(cli, prompt_longer_than_the_context) {
    // preset:tiny has max_position_embeddings 256
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-len", "300"), 1, "longer than the context");
}
Test(cli, prompt_ids_longer_than_the_context) {
    char ids[2048] = "";
    for (int i = 0; i < 300; i++) strcat(ids, i ? ",7" : "7");
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", ids), 1, "prompt 0 is 300 tokens");
}
Test(cli, prompt_plus_generation_past_the_context) {
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-len", "250", "-n", "10"), 1,
                "exceed the context");
}
Test(cli, batch_larger_than_the_kv_budget) {
    // 8 x 200 tokens of tiny's KV (512 bytes a token) need 0.8 MiB; the budget is 0.25
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-len", "190", "-n", "10", "--batch", "8",
                    "--kv-budget", "0.25"),
                1, "does not fit the KV cache");
}
// A long context does not let --prompt-len ask for unbounded memory: the KV
// cache the tokens need is checked against the budget (or the memory available)
// before any id is drawn; and --batch has a limit.
Test(cli, huge_prompt_len_and_batch_refused_before_allocating) {
    char out[300], path[400];
    snprintf(out, sizeof out, "%s/long", dir);
    tu_run e = RUN("export", "--model", "preset:tiny", "--out", out, "--dtype", "f32");
    cr_assert_eq(e.status, 0, "%s", e.err);
    tu_run_free(&e);
    snprintf(path, sizeof path, "%s/config.json", out);
    size_t len;
    char *cfg = tu_read_file(path, &len);
    char *at = strstr(cfg, "\"max_position_embeddings\": 256,");
    cr_assert_not_null(at, "%s", cfg);
    const char *longer = "\"max_position_embeddings\": 67108864,";
    char *edited = malloc(len + 64);
    snprintf(edited, len + 64, "%.*s%s%s", (int)(at - cfg), cfg, longer, at + strlen("\"max_position_embeddings\": 256,"));
    tu_write_file(out, "config.json", edited, strlen(edited));
    free(edited);
    free(cfg);
    // 65536 x 6e7 tokens of KV: petabytes, more than any machine has
    expect_fail(RUN("generate", "--model", out, "--prompt-len", "60000000", "--batch", "65536", "-n", "1"), 1,
                "more than the memory available");
    expect_fail(RUN("generate", "--model", out, "--prompt-len", "60000000", "--kv-budget", "16", "-n", "1"), 1,
                "more than the KV budget");
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-len", "8", "--batch", "1048576"), 2,
                "from 1 to 65536");
    expect_fail(RUN("bench", "--model", "preset:tiny", "-b", "1,1048576"), 2, "-b");
}

Test(cli, kv_budget_below_one_block) {
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--kv-budget", "0.001"), 1,
                "smaller than one KV block");
}
Test(cli, bad_dtype) {
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--dtype", "int4"), 2, "--dtype 'int4'");
}
Test(cli, bad_backend) {
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--backend", "tpu"), 2,
                "--backend 'tpu'");
}

Test(cli, cuda_backend_runs_or_says_why_not) {
    char why[512];
    if (is_cuda_probe(why, sizeof why) > 0) { // a device: the CUDA backend runs the request
        tu_run r = RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--backend", "cuda", "--print-ids");
        cr_assert_eq(r.status, 0, "%s", r.err);
        cr_assert(strstr(r.err, "cuda") != NULL, "the timing line names the backend: %s", r.err);
        tu_run_free(&r);
        return;
    }
    // none: --backend cuda is refused with the probe's reason, auto runs on the CPU and says why
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--backend", "cuda"), 1, why);
    tu_run r = RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--backend", "auto", "--print-ids");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "backend: cpu (CUDA off: ") && strstr(r.err, why), "stderr: %s", r.err);
    tu_run_free(&r);
}

Test(cli, kv_fraction_flags) {
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--kv-frac", "1.5"), 2, "--kv-frac '1.5'");
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--kv-frac", "0.5", "--kv-budget", "8"),
                1, "cannot be combined");
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--device", "-1"), 2, "--device '-1'");
    tu_run r = RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1,2", "-n", "4", "--kv-frac", "0.0001",
                   "--print-ids", "--backend", "cpu");
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
}

// --kernel selects a variant before the model loads; the CPU's matmul paths are
// all F32 with fp32 sums, so greedy ids on preset:tiny (top-2 logit gaps far above
// their rounding differences) agree between them.
Test(cli, kernel_variant_flag) {
    tu_run a = RUN("generate", "--model", "preset:tiny", "--prompt-len", "8", "-n", "6", "--print-ids", "--quiet",
                   "--backend", "cpu");
    tu_run b = RUN("generate", "--model", "preset:tiny", "--prompt-len", "8", "-n", "6", "--print-ids", "--quiet",
                   "--backend", "cpu", "--kernel", "matmul=gemm");
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_assert_eq(count_ints(b.out), 6, "stdout: %s", b.out);
    cr_assert_str_eq(a.out, b.out);
    tu_run_free(&a);
    tu_run_free(&b);
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--backend", "cpu", "--kernel",
                    "matmul=bogus"),
                1, "no variant 'bogus'");
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--backend", "cpu", "--kernel",
                    "gemv=custom"),
                1, "no op 'gemv'");
    expect_fail(RUN("generate", "--model", "preset:tiny", "--prompt-ids", "1", "--kernel", ""), 2, "--kernel");
}

Test(cli, corrupt_safetensors_header) {
    char out[300], path[400];
    snprintf(out, sizeof out, "%s/m", dir);
    tu_run e = RUN("export", "--model", "preset:tiny", "--out", out);
    cr_assert_eq(e.status, 0, "%s", e.err);
    tu_run_free(&e);
    // keep the file's size, claim a header far longer than it
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    FILE *f = fopen(path, "r+b");
    unsigned char len[8] = {0, 0, 0, 0x10, 0, 0, 0, 0};
    fwrite(len, 1, 8, f);
    fclose(f);
    expect_fail(RUN("generate", "--model", out, "--prompt-ids", "1"), 1, "model.safetensors");
}

Test(cli, export_to_a_bad_place_writes_nothing) {
    expect_fail(RUN("export", "--model", "preset:tiny", "--out", "/proc/inferscope-no"), 1, "cannot create directory");
    char out[300];
    snprintf(out, sizeof out, "%s/x", dir);
    expect_fail(RUN("export", "--model", "preset:nope", "--out", out), 1, "unknown preset");
    struct stat st;
    cr_assert_neq(stat(out, &st), 0, "a failed export created %s", out);
}

// ---- text: tokenizer and generate --prompt ------------------------------------------

Test(cli, tokenize_builtin_round_trip) {
    // GPT-2 encodes "Hello world" as 15496 ("Hello") and 995 (" world")
    tu_run r = RUN("tokenize", "--tokenizer", "builtin", "--text", "Hello world");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "15496 995\n");
    tu_run d = RUN("tokenize", "--decode", "--tokenizer", "builtin", "--ids", "15496 995");
    cr_assert_eq(d.status, 0, "%s", d.err);
    cr_assert_str_eq(d.out, "Hello world\n");
    tu_run_free(&r);
    tu_run_free(&d);
}

Test(cli, tokenize_special_tokens_and_no_special) {
    tu_run a = RUN("tokenize", "--tokenizer", "builtin", "--text", "<|endoftext|>");
    tu_run b = RUN("tokenize", "--tokenizer", "builtin", "--text", "<|endoftext|>", "--no-special");
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_str_eq(a.out, "50256\n");
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_assert(count_ints(b.out) > 1, "--no-special should encode the text: %s", b.out);
    tu_run_free(&a);
    tu_run_free(&b);
}

Test(cli, tokenize_decode_out_of_range) {
    expect_fail(RUN("tokenize", "--decode", "--tokenizer", "builtin", "--ids", "1 50257"), 1, "50257");
}

Test(cli, tokenize_bad_tokenizer) {
    expect_fail(RUN("tokenize", "--tokenizer", "/nonexistent/tokenizer.json", "--text", "x"), 1,
                "/nonexistent/tokenizer.json");
}

Test(cli, generate_text_prompt_streams_text) {
    tu_run r = RUN("generate", "--model", "preset:smollm2-135m", "--prompt", "Hello world", "-n", "6",
                   "--ignore-eos");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strlen(r.out) > 1, "no text: %s", r.out);
    cr_assert(strstr(r.err, "prefill 2 tok"), "the prompt should be 2 tokens: %s", r.err);
    tu_run_free(&r);
}

Test(cli, export_writes_a_tokenizer_that_loads) {
    char out[300], tj[400];
    snprintf(out, sizeof out, "%s/tiny", dir);
    tu_run e = RUN("export", "--model", "preset:tiny", "--out", out);
    cr_assert_eq(e.status, 0, "%s", e.err);
    snprintf(tj, sizeof tj, "%s/tokenizer.json", out);
    tu_run a = RUN("tokenize", "--tokenizer", tj, "--text", "Hello world, it's 2026!");
    tu_run b = RUN("tokenize", "--tokenizer", "builtin", "--text", "Hello world, it's 2026!");
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_str_eq(a.out, b.out);
    tu_run_free(&e);
    tu_run_free(&a);
    tu_run_free(&b);
}
