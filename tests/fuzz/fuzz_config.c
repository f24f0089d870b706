// fuzz_config.c — config.json text: is_config_parse (which validates) gives a
// config within the limits of engine/config.h, or an error. A config it accepts
// serializes and parses back to the same values, and its RoPE frequencies and
// parameter count are computed without overflow.
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    is_config c;
    is_err err = {{0}};
    if (is_config_parse((const char *)data, size, "config.json", &c, &err)) {
        if (!err.msg[0]) abort();
        return 0;
    }
    if (c.n_layers < 1 || c.n_layers > IS_CONFIG_MAX_LAYERS || c.n_heads < 1 || c.n_heads > IS_CONFIG_MAX_HEADS ||
        c.vocab_size < 1 || c.vocab_size > IS_CONFIG_MAX_VOCAB)
        abort();
    double *inv = malloc((size_t)(c.head_dim / 2) * sizeof *inv);
    is_config_rope_inv_freq(&c, inv);
    free(inv);
    (void)is_config_n_params(&c);
    char *json = is_config_to_json(&c, "float32");
    is_config back;
    if (is_config_parse(json, strlen(json), "round trip", &back, &err)) abort();
    if (back.n_layers != c.n_layers || back.hidden_size != c.hidden_size || back.vocab_size != c.vocab_size ||
        back.head_dim != c.head_dim || back.max_pos != c.max_pos)
        abort();
    free(json);
    return 0;
}
