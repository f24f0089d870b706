// tokenizer_save.c — writing a tokenizer as a Hugging Face tokenizer.json (is_tok_save_hf).
#include "engine/tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"  // defines: is_xmalloc
#include "base/fileio.h" // defines: is_write_file_atomic
#include "base/strbuf.h" // defines: is_strbuf, is_sb_putn, is_sb_puts, is_sb_printf

// ---- saving as tokenizer.json ----------------------------------------------------

// A JSON string literal of UTF-8 text (bytes >= 0x80 are copied as they are).
static void sb_json(is_strbuf *b, const char *s, size_t n) {
    is_sb_putn(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            is_sb_putn(b, e, 2);
        } else if (c < 0x20) {
            is_sb_printf(b, "\\u%04x", c);
        } else {
            is_sb_putn(b, (const char *)&c, 1);
        }
    }
    is_sb_putn(b, "\"", 1);
}

// The token of id in the byte-level alphabet, as a JSON string (tmp: scratch).
static void sb_token(is_strbuf *b, const is_tokenizer *t, int32_t id, is_strbuf *tmp) {
    tmp->n = 0;
    is_tok_bl_encode(tmp, t->bytes + t->tok_off[id], (size_t)t->tok_len[id]);
    sb_json(b, tmp->p, tmp->n);
}

static bool is_model_token(const is_tokenizer *t, int32_t id) {
    if (t->tok_len[id] <= 0) return false;
    return is_tok_bmap_get(t, &t->vocab, t->bytes + t->tok_off[id], (size_t)t->tok_len[id]) == id;
}

int is_tok_save_hf(const is_tokenizer *t, const char *path, is_err *err) {
    is_strbuf b = {0}, tmp = {0};
    // merges: stored (HF) or derived from the ranks (tiktoken)
    int32_t *ml = t->merge_l, *mr = t->merge_r;
    int nm = t->n_merges;
    bool own = false;
    if (t->mode == IS_TOK_TIKTOKEN) {
        is_tokenizer w = *t; // private scratch for is_tok_bpe()
        w.s_nxt = w.s_prv = w.s_tok = NULL;
        w.s_alive = NULL;
        w.s_heap = NULL;
        w.s_cap = w.s_heapcap = 0;
        ml = is_xmalloc(sizeof(int32_t) * (size_t)t->vocab_size);
        mr = is_xmalloc(sizeof(int32_t) * (size_t)t->vocab_size);
        own = true;
        nm = 0;
        for (int32_t id = 0; id < t->vocab_size; id++) {
            if (t->tok_len[id] < 2 || !is_model_token(t, id)) continue;
            const unsigned char *p = t->bytes + t->tok_off[id];
            if (is_tok_bpe(&w, p, t->tok_len[id], id, NULL) < 0) continue;
            int second = w.s_nxt[0];
            if (second >= t->tok_len[id] || w.s_nxt[second] != t->tok_len[id]) continue; // not 2 parts
            ml[nm] = w.s_tok[0];
            mr[nm] = w.s_tok[second];
            nm++;
        }
        free(w.s_nxt);
        free(w.s_prv);
        free(w.s_tok);
        free(w.s_alive);
        free(w.s_heap);
    }
    is_sb_puts(&b, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [");
    // added tokens in id order
    {
        int *order = is_xmalloc(sizeof(int) * (size_t)(t->n_added + 1));
        for (int i = 0; i < t->n_added; i++) order[i] = i;
        for (int i = 1; i < t->n_added; i++) { // insertion sort: few tokens
            int v = order[i], j = i - 1;
            while (j >= 0 && t->added[order[j]].id > t->added[v].id) {
                order[j + 1] = order[j];
                j--;
            }
            order[j + 1] = v;
        }
        for (int i = 0; i < t->n_added; i++) {
            const is_tok_added *a = &t->added[order[i]];
            is_sb_puts(&b, i ? ",\n    {\"id\": " : "\n    {\"id\": ");
            is_sb_printf(&b, "%d", a->id);
            is_sb_puts(&b, ", \"content\": ");
            sb_json(&b, (const char *)t->bytes + a->off, a->len);
            is_sb_puts(&b, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": ");
            is_sb_puts(&b, a->normalized ? "true" : "false");
            is_sb_puts(&b, ", \"special\": ");
            is_sb_puts(&b, a->special ? "true}" : "false}");
        }
        free(order);
    }
    is_sb_puts(&b, "\n  ],\n  \"normalizer\": ");
    is_sb_puts(&b, t->norm_json ? t->norm_json : "null"); // as tokenizer.json gave it
    is_sb_puts(&b, ",\n  \"pre_tokenizer\": ");
    if (t->bl_regex) {
        is_sb_puts(&b, "{\"type\": \"ByteLevel\", \"add_prefix_space\": ");
        is_sb_puts(&b, t->add_prefix_space ? "true" : "false");
        is_sb_puts(&b, ", \"trim_offsets\": true, \"use_regex\": true}");
    } else {
        is_sb_puts(&b, "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": ");
        sb_json(&b, t->pattern, strlen(t->pattern));
        is_sb_puts(&b, "}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
                   "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}");
    }
    is_sb_puts(&b, ",\n  \"post_processor\": ");
    const is_tok_added *bos = NULL;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == t->bos) bos = &t->added[i];
    if (bos) {
        is_strbuf nm_ = {0};
        sb_json(&nm_, (const char *)t->bytes + bos->off, bos->len);
        is_sb_puts(&b, "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": ");
        is_sb_puts(&b, nm_.p);
        is_sb_puts(&b, ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": "
                   "[{\"SpecialToken\": {\"id\": ");
        is_sb_puts(&b, nm_.p);
        is_sb_puts(&b, ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": "
                   "{\"id\": ");
        is_sb_puts(&b, nm_.p);
        is_sb_puts(&b, ", \"type_id\": 1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], \"special_tokens\": {");
        is_sb_puts(&b, nm_.p);
        is_sb_puts(&b, ": {\"id\": ");
        is_sb_puts(&b, nm_.p);
        is_sb_printf(&b, ", \"ids\": [%d], \"tokens\": [", t->bos);
        is_sb_puts(&b, nm_.p);
        is_sb_puts(&b, "]}}}");
        free(nm_.p);
    } else {
        is_sb_puts(&b, "null");
    }
    is_sb_puts(&b, ",\n  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, "
               "\"use_regex\": true},\n  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    "
               "\"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": "
               "null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": ");
    is_sb_puts(&b, t->ignore_merges ? "true" : "false");
    is_sb_puts(&b, ",\n    \"vocab\": {");
    bool first = true;
    for (int32_t id = 0; id < t->vocab_size; id++) {
        if (!is_model_token(t, id)) continue;
        is_sb_puts(&b, first ? "\n      " : ",\n      ");
        first = false;
        sb_token(&b, t, id, &tmp);
        is_sb_printf(&b, ": %d", id);
    }
    is_sb_puts(&b, "\n    },\n    \"merges\": [");
    for (int i = 0; i < nm; i++) {
        is_sb_puts(&b, i ? ",\n      " : "\n      ");
        // "left right": byte-level strings never contain a space
        tmp.n = 0;
        is_tok_bl_encode(&tmp, t->bytes + t->tok_off[ml[i]], (size_t)t->tok_len[ml[i]]);
        is_sb_puts(&tmp, " ");
        is_tok_bl_encode(&tmp, t->bytes + t->tok_off[mr[i]], (size_t)t->tok_len[mr[i]]);
        sb_json(&b, tmp.p, tmp.n);
    }
    is_sb_puts(&b, "\n    ]\n  }\n}\n");
    free(tmp.p);
    if (own) {
        free(ml);
        free(mr);
    }
    int rc = is_write_file_atomic(path, b.p, b.n, err);
    free(b.p);
    return rc;
}
