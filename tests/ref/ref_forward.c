// ref_forward.c — the float64 reference forward pass (see ref_forward.h), built
// of the reference ops of kernels/ref.h.
#include "ref/ref_forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref.h" // defines: is_ref_linear, is_ref_rmsnorm, is_ref_rope, is_ref_silu, is_ref_attention_head

typedef struct ref_layer {
    double *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *bo, *ffn_norm, *w_gate, *w_up, *w_down;
} ref_layer;

struct ref_model {
    is_config cfg;
    double *embed, *out_norm, *lm_head; // lm_head == embed when tied
    ref_layer *layers;
    double *inv_freq; // [hd/2]
};

static double *to_double(is_model *m, const is_tensor *t) {
    if (!t->data) return NULL;
    size_t n = (size_t)t->rows * (size_t)t->cols;
    float *f = is_xmalloc(n * sizeof *f);
    is_err err;
    if (m->be->tensor_get_f32(m->be, t, t->rows, f, &err)) is_die(__FILE__, __LINE__, "%s", err.msg);
    double *d = is_xmalloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    free(f);
    return d;
}

ref_model *ref_model_create(is_model *m) {
    ref_model *r = is_xcalloc(1, sizeof *r);
    r->cfg = m->cfg;
    r->embed = to_double(m, &m->embed);
    r->out_norm = to_double(m, &m->out_norm);
    r->lm_head = m->cfg.tie_word_embeddings ? r->embed : to_double(m, &m->lm_head);
    r->layers = is_xcalloc((size_t)m->cfg.n_layers, sizeof *r->layers);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        is_layer *L = &m->layers[l];
        ref_layer *R = &r->layers[l];
        R->attn_norm = to_double(m, &L->attn_norm);
        R->wq = to_double(m, &L->wq);
        R->wk = to_double(m, &L->wk);
        R->wv = to_double(m, &L->wv);
        R->wo = to_double(m, &L->wo);
        R->bq = to_double(m, &L->bq);
        R->bk = to_double(m, &L->bk);
        R->bv = to_double(m, &L->bv);
        R->bo = to_double(m, &L->bo);
        R->ffn_norm = to_double(m, &L->ffn_norm);
        R->w_gate = to_double(m, &L->w_gate);
        R->w_up = to_double(m, &L->w_up);
        R->w_down = to_double(m, &L->w_down);
    }
    r->inv_freq = is_xmalloc((size_t)(m->cfg.head_dim / 2) * sizeof(double));
    is_config_rope_inv_freq(&m->cfg, r->inv_freq);
    return r;
}

void ref_model_free(ref_model *r) {
    if (!r) return;
    for (int l = 0; l < r->cfg.n_layers; l++) {
        ref_layer *R = &r->layers[l];
        double *p[] = {R->attn_norm, R->wq, R->wk, R->wv, R->wo, R->bq, R->bk,
                       R->bv, R->bo, R->ffn_norm, R->w_gate, R->w_up, R->w_down};
        for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
    }
    free(r->layers);
    if (r->lm_head != r->embed) free(r->lm_head);
    free(r->embed);
    free(r->out_norm);
    free(r->inv_freq);
    free(r);
}

void ref_forward(const ref_model *r, const int32_t *tokens, int n, double *out) {
    const is_config *c = &r->cfg;
    int D = c->hidden_size, F = c->intermediate_size, H = c->n_heads, KV = c->n_kv_heads;
    int hd = c->head_dim, V = c->vocab_size, qd = H * hd, kvd = KV * hd;
    double *x = is_xmalloc((size_t)n * D * sizeof *x);
    double *xn = is_xmalloc((size_t)D * sizeof *xn);
    double *q = is_xmalloc((size_t)n * qd * sizeof *q);
    double *k = is_xmalloc((size_t)n * kvd * sizeof *k);
    double *v = is_xmalloc((size_t)n * kvd * sizeof *v);
    double *att = is_xmalloc((size_t)qd * sizeof *att);
    double *proj = is_xmalloc((size_t)(D > F ? D : F) * sizeof *proj);
    double *g = is_xmalloc((size_t)F * sizeof *g);
    double *u = is_xmalloc((size_t)F * sizeof *u);
    double *sc = is_xmalloc((size_t)n * sizeof *sc);
    for (int t = 0; t < n; t++) memcpy(x + (size_t)t * D, r->embed + (size_t)tokens[t] * D, (size_t)D * sizeof *x);
    for (int l = 0; l < c->n_layers; l++) {
        const ref_layer *L = &r->layers[l];
        for (int t = 0; t < n; t++) {
            is_ref_rmsnorm(IS_REF_F64, x + (size_t)t * D, L->attn_norm, D, c->rms_norm_eps, xn);
            double *qt = q + (size_t)t * qd, *kt = k + (size_t)t * kvd;
            is_ref_linear(IS_REF_F64, L->wq, L->bq, xn, D, qd, qt);
            is_ref_linear(IS_REF_F64, L->wk, L->bk, xn, D, kvd, kt);
            is_ref_linear(IS_REF_F64, L->wv, L->bv, xn, D, kvd, v + (size_t)t * kvd);
            is_ref_rope(IS_REF_F64, qt, H, hd, t, r->inv_freq, qt);
            is_ref_rope(IS_REF_F64, kt, KV, hd, t, r->inv_freq, kt);
        }
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < H; h++) {
                int kh = h / (H / KV);
                is_ref_attention_head(IS_REF_F64, q + (size_t)t * qd + (size_t)h * hd, k + (size_t)kh * hd,
                                      v + (size_t)kh * hd, (size_t)kvd, t + 1, hd, sc, att + (size_t)h * hd, NULL);
            }
            is_ref_linear(IS_REF_F64, L->wo, L->bo, att, qd, D, proj);
            for (int i = 0; i < D; i++) x[(size_t)t * D + i] += proj[i];
        }
        for (int t = 0; t < n; t++) {
            double *xt = x + (size_t)t * D;
            is_ref_rmsnorm(IS_REF_F64, xt, L->ffn_norm, D, c->rms_norm_eps, xn);
            is_ref_linear(IS_REF_F64, L->w_gate, NULL, xn, D, F, g);
            is_ref_linear(IS_REF_F64, L->w_up, NULL, xn, D, F, u);
            for (int i = 0; i < F; i++) g[i] = is_ref_silu(g[i]) * u[i];
            is_ref_linear(IS_REF_F64, L->w_down, NULL, g, F, D, proj);
            for (int i = 0; i < D; i++) xt[i] += proj[i];
        }
    }
    for (int t = 0; t < n; t++) {
        is_ref_rmsnorm(IS_REF_F64, x + (size_t)t * D, r->out_norm, D, c->rms_norm_eps, xn);
        is_ref_linear(IS_REF_F64, r->lm_head, NULL, xn, D, V, out + (size_t)t * V);
    }
    free(x);
    free(xn);
    free(q);
    free(k);
    free(v);
    free(att);
    free(proj);
    free(g);
    free(u);
    free(sc);
}

void ref_greedy(const ref_model *r, const int32_t *prompt, int n_prompt, int n_gen, int32_t *out,
                double *top2_gap) {
    int V = r->cfg.vocab_size;
    int32_t *seq = is_xmalloc((size_t)(n_prompt + n_gen) * sizeof *seq);
    memcpy(seq, prompt, (size_t)n_prompt * sizeof *seq);
    double *logits = is_xmalloc((size_t)(n_prompt + n_gen) * V * sizeof *logits);
    double min_gap = INFINITY;
    for (int s = 0; s < n_gen; s++) {
        int n = n_prompt + s;
        ref_forward(r, seq, n, logits);
        const double *lt = logits + (size_t)(n - 1) * V;
        int best = 0;
        for (int i = 1; i < V; i++)
            if (lt[i] > lt[best]) best = i;
        double second = -INFINITY;
        for (int i = 0; i < V; i++)
            if (i != best && lt[i] > second) second = lt[i];
        if (lt[best] - second < min_gap) min_gap = lt[best] - second;
        out[s] = best;
        seq[n] = best;
    }
    if (top2_gap) *top2_gap = min_gap;
    free(seq);
    free(logits);
}
