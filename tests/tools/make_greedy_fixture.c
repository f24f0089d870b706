// make_greedy_fixture.c — writes tests/fixtures/tiny_greedy.txt: the greedy
// continuation of a prompt on preset:tiny (F32 weights), computed by the
// float64 reference (full recompute at every step), never by the engine's
// fast path. Run: make_greedy_fixture SEED N_PROMPT N_GEN > tiny_greedy.txt
#include <stdio.h>
#include <stdlib.h>

#include "base/rng.h"
#include "ref/ref_forward.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: make_greedy_fixture SEED N_PROMPT N_GEN\n");
        return 2;
    }
    unsigned long long seed = strtoull(argv[1], NULL, 10);
    int n_prompt = atoi(argv[2]), n_gen = atoi(argv[3]);
    if (n_prompt < 1 || n_gen < 1 || n_prompt > 256 || n_gen > 256) {
        fprintf(stderr, "N_PROMPT and N_GEN must be in 1..256\n");
        return 2;
    }
    is_err err;
    is_backend *be = is_cpu_backend_create(0, &err);
    is_model *m;
    is_model_opts o = {.dtype = IS_DTYPE_F32, .seed = seed};
    if (!be || is_model_load("preset:tiny", &o, be, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ref_model *r = ref_model_create(m);
    int32_t prompt[256], out[256];
    is_rng rng;
    is_rng_seed(&rng, seed + 1000);
    for (int i = 0; i < n_prompt; i++) prompt[i] = (int32_t)(is_rng_next(&rng) % (uint64_t)m->cfg.vocab_size);
    double gap;
    ref_greedy(r, prompt, n_prompt, n_gen, out, &gap);
    printf("preset tiny f32 seed %llu prompt %d gen %d min_top2_gap %.6g\n", seed, n_prompt, n_gen, gap);
    for (int i = 0; i < n_prompt; i++) printf(i ? " %d" : "%d", prompt[i]);
    printf("\n");
    for (int i = 0; i < n_gen; i++) printf(i ? " %d" : "%d", out[i]);
    printf("\n");
    ref_model_free(r);
    is_model_free(m);
    be->destroy(be);
    return 0;
}
