// cuda_backend.cu — the CUDA backend: create/destroy, tensor memory and uploads,
// sync and errors, chunk uploads and CUDA graphs, device facts and the copy probe.
//
// Tensors live in device memory; every op is queued on one stream. A forward
// chunk's host arrays (ids, positions, slots, block tables, tiles, logit rows)
// cross to the device in one copy from pinned memory at batch_begin. A chunk
// shape seen a second time is recorded as a graph (the copy included) and
// replayed from the third time on: its launches then cost one graph launch.
#include "kernels/cuda/cuda_internal.cuh" // defines: cuda_backend, CUDA_OK, the ops
#include "kernels/cuda/cuda_probe.h"      // defines: is_cuda_graph_counts

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CUDA_STAGE_BYTES (64u << 20)  // pinned staging for uploads and downloads
#define CUDA_GRAPH_CAP 64             // recorded graphs kept (least recently used evicted)
#define CUDA_GRAPH_MAX_TOKENS 256     // chunks up to this many tokens are recorded (decode, verify)
#define CUDA_PROBE_REPS 5

// ---- errors ----------------------------------------------------------------

void cuda_note_msg(cuda_backend *cb, const char *file, int line, const char *fmt, ...) {
    if (cb->failed) return;
    cb->failed = true;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cb->errmsg, sizeof cb->errmsg, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    if (n >= 0 && (size_t)n < sizeof cb->errmsg)
        snprintf(cb->errmsg + n, sizeof cb->errmsg - (size_t)n, " (%s:%d)", base ? base + 1 : file, line);
}

bool cuda_note(cuda_backend *cb, cudaError_t e, const char *what, const char *file, int line) {
    if (e == cudaSuccess) return true;
    // not sticky errors (out of memory, bad arguments) are cleared so later calls see their own
    (void)cudaGetLastError();
    cuda_note_msg(cb, file, line, "CUDA error in %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return false;
}

int cuda_take_error(cuda_backend *cb, is_err *err) {
    if (!cb->failed) return 0;
    cb->failed = false;
    return is_errf(err, "cuda device %d: %s", cb->device, cb->errmsg);
}

bool cuda_grow(cuda_backend *cb, void **p, size_t *cap_bytes, size_t bytes, const char *what) {
    if (bytes <= *cap_bytes) return true;
    size_t cap = *cap_bytes + *cap_bytes / 2;
    if (cap < bytes) cap = bytes;
    if (cb->capturing) {
        cuda_note_msg(cb, __FILE__, __LINE__, "%s: buffer growth to %zu bytes inside a graph recording", what, cap);
        return false;
    }
    cuda_graphs_invalidate(cb); // graphs hold the old pointer
    if (*p && !CUDA_OK(cb, cudaFree(*p))) return false;
    *p = NULL;
    *cap_bytes = 0;
    if (!CUDA_OK(cb, cudaMalloc(p, cap))) {
        *p = NULL;
        return false;
    }
    *cap_bytes = cap;
    return true;
}

// ---- memory ----------------------------------------------------------------
// A tensor is rows x is_dtype_row_bytes(dtype, cols) bytes, row after row: cols x the
// element size for F32, F16, BF16; the blocks (or the scale and the values) of each
// row for the quantized formats (base/quant.h).

static int cuda_tensor_alloc(is_backend *be, is_tensor *t, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(t->rows >= 0 && t->cols >= 0);
    IS_ASSERT(!cb->capturing);
    if (is_dtype_quantized(t->dtype) && t->cols % is_dtype_block(t->dtype) != 0)
        return is_errf(err, "cannot hold a %lld x %lld tensor in %s on cuda device %d: its rows are whole blocks of "
                       "%lld elements, and %lld columns are not", (long long)t->rows, (long long)t->cols,
                       is_dtype_name(t->dtype), cb->device, (long long)is_dtype_block(t->dtype), (long long)t->cols);
    IS_ASSERT(is_dtype_row_bytes(t->dtype, t->cols) > 0 || t->cols == 0);
    size_t bytes = cuda_tensor_bytes(t);
    double mib = (double)bytes / 1048576.0;
    // the first quantized tensor checks the device quantizer; each one makes sure the
    // dequantization scratch of the matmul holds a chunk of its rows (cuda_quant.cu)
    if (is_dtype_quantized(t->dtype) && cuda_quant_prepare(cb, t, err)) return -1;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 256);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        (void)cudaMemGetInfo(&free_b, &total_b);
        (void)cudaGetLastError();
        return is_errf(err, "cannot allocate %.1f MiB for a %lld x %lld %s tensor on cuda device %d "
                       "(%.0f MiB free of %.0f MiB): %s", mib, (long long)t->rows, (long long)t->cols,
                       is_dtype_name(t->dtype), cb->device, free_b / 1048576.0, total_b / 1048576.0,
                       cudaGetErrorString(e));
    }
    t->data = p;
    t->owned = true;
    return 0;
}

static void cuda_tensor_free(is_backend *be, is_tensor *t) {
    cuda_backend *cb = cuda_impl(be);
    if (!t) return;
    if (t->owned && t->data) CUDA_OK(cb, cudaFree(t->data));
    t->data = NULL;
    t->owned = false;
}

// Copies bytes host bytes to device dst through the pinned stage.
static void stage_copy_raw(cuda_backend *cb, char *dst, const char *src, size_t bytes) {
    for (size_t off = 0; off < bytes && !cb->failed; off += cb->stage_bytes) {
        size_t c = bytes - off < cb->stage_bytes ? bytes - off : cb->stage_bytes;
        memcpy(cb->h_stage, src + off, c);
        CUDA_OK(cb, cudaMemcpyAsync(dst + off, cb->h_stage, c, cudaMemcpyHostToDevice, cb->stream));
        CUDA_OK(cb, cudaStreamSynchronize(cb->stream)); // the stage is reused next round
    }
}

// tensor_set where t or src is quantized (and the dtypes differ): row by row on the
// host. Each source row becomes F32 (is_dequantize_row: a plain dtype converted, a
// quantized one dequantized; F32 used in place), then is quantized with the reference
// quantizer into the pinned stage (t quantized) or goes there as F32 (t plain:
// converted on the device). A chunk of rows fills the stage, is copied, and the copy
// is waited for before the stage is reused. Host memory: the stage and one F32 row.
static int tensor_set_rows(cuda_backend *cb, is_tensor *t, const void *src, is_dtype src_dtype, is_err *err) {
    int64_t cols = t->cols;
    size_t src_rb = is_dtype_row_bytes(src_dtype, cols), dst_rb = cuda_row_bytes(t);
    if (src_rb == 0 || dst_rb == 0)
        return is_errf(err, "cannot convert a %lld x %lld tensor from %s to %s: rows of %s are whole blocks of %lld "
                       "elements", (long long)t->rows, (long long)cols, is_dtype_name(src_dtype),
                       is_dtype_name(t->dtype), is_dtype_name(is_dtype_quantized(src_dtype) ? src_dtype : t->dtype),
                       (long long)is_dtype_block(is_dtype_quantized(src_dtype) ? src_dtype : t->dtype));
    bool quant_dst = is_dtype_quantized(t->dtype);
    size_t stage_rb = quant_dst ? dst_rb : (size_t)cols * sizeof(float); // bytes a row takes in the stage
    if (stage_rb > cb->stage_bytes)
        return is_errf(err, "cannot convert a %lld x %lld tensor from %s to %s: one row (%zu bytes) exceeds the %zu "
                       "byte staging buffer", (long long)t->rows, (long long)cols, is_dtype_name(src_dtype),
                       is_dtype_name(t->dtype), stage_rb, cb->stage_bytes);
    int64_t chunk = (int64_t)(cb->stage_bytes / stage_rb);
    float *row = (float *)is_xmalloc((size_t)cols * sizeof(float) + sizeof(float));
    for (int64_t r0 = 0; r0 < t->rows && !cb->failed; r0 += chunk) {
        int64_t c = t->rows - r0 < chunk ? t->rows - r0 : chunk;
        for (int64_t i = 0; i < c; i++) {
            const char *s = (const char *)src + (size_t)(r0 + i) * src_rb;
            char *st = (char *)cb->h_stage + (size_t)i * stage_rb;
            const float *x;
            if (src_dtype == IS_DTYPE_F32 && (uintptr_t)s % sizeof(float) == 0) {
                x = (const float *)s; // read in place
            } else if (src_dtype == IS_DTYPE_F32) {
                memcpy(row, s, (size_t)cols * sizeof(float)); // a row at an odd address (a file's tensor)
                x = row;
            } else {
                is_dequantize_row(src_dtype, s, quant_dst ? row : (float *)st, cols);
                x = quant_dst ? row : (float *)st;
            }
            if (quant_dst) is_quantize_row(t->dtype, x, st, cols);
            else if (x != (const float *)st) memcpy(st, x, (size_t)cols * sizeof(float));
        }
        size_t bytes = (size_t)c * stage_rb;
        if (quant_dst || t->dtype == IS_DTYPE_F32) {
            CUDA_OK(cb, cudaMemcpyAsync((char *)t->data + (size_t)r0 * dst_rb, cb->h_stage, bytes,
                                        cudaMemcpyHostToDevice, cb->stream));
        } else if (CUDA_OK(cb, cudaMemcpyAsync(cb->d_stage, cb->h_stage, bytes, cudaMemcpyHostToDevice, cb->stream))) {
            cuda_convert(cb, (char *)t->data + (size_t)r0 * dst_rb, t->dtype, cb->d_stage, IS_DTYPE_F32,
                         (size_t)(c * cols));
        }
        CUDA_OK(cb, cudaStreamSynchronize(cb->stream)); // the stage is reused next round
    }
    free(row);
    return cuda_take_error(cb, err);
}

// Copies rows*cols host elements of src_dtype into t through the pinned stage,
// converting on the device (plain dtypes), copying as they are (the same dtype), or
// row by row on the host (a quantized t or src: tensor_set_rows).
static int cuda_tensor_set(is_backend *be, is_tensor *t, const void *src, is_dtype src_dtype, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(!cb->capturing);
    if (src_dtype == t->dtype) {
        stage_copy_raw(cb, (char *)t->data, (const char *)src, cuda_tensor_bytes(t));
        return cuda_take_error(cb, err);
    }
    if (is_dtype_quantized(t->dtype) || is_dtype_quantized(src_dtype)) return tensor_set_rows(cb, t, src, src_dtype, err);
    size_t n = (size_t)cuda_numel(t), ss = is_dtype_size(src_dtype), ds = is_dtype_size(t->dtype);
    size_t chunk = cb->stage_bytes / 4; // elements: room for any dtype
    for (size_t off = 0; off < n && !cb->failed; off += chunk) {
        size_t c = n - off < chunk ? n - off : chunk;
        memcpy(cb->h_stage, (const char *)src + off * ss, c * ss);
        char *dst = (char *)t->data + off * ds;
        if (CUDA_OK(cb, cudaMemcpyAsync(cb->d_stage, cb->h_stage, c * ss, cudaMemcpyHostToDevice, cb->stream)))
            cuda_convert(cb, dst, t->dtype, cb->d_stage, src_dtype, c);
        CUDA_OK(cb, cudaStreamSynchronize(cb->stream)); // the stage is reused next round
    }
    return cuda_take_error(cb, err);
}

// The device cannot use host memory in place: a copy (of any dtype, quantized ones as they are).
static int cuda_tensor_wrap(is_backend *be, is_tensor *t, const void *src, is_err *err) {
    if (cuda_tensor_alloc(be, t, err)) return -1;
    if (cuda_tensor_set(be, t, src, t->dtype, err)) {
        cuda_tensor_free(be, t);
        return -1;
    }
    return 0;
}

// Converts on the device into the stage (quantized rows: dequantized there, as
// is_dequantize_row does), then copies to the host.
static int cuda_tensor_get_f32(is_backend *be, const is_tensor *t, int64_t n_rows, float *dst, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(n_rows >= 0 && n_rows <= t->rows);
    IS_ASSERT(!cb->capturing);
    if (is_dtype_quantized(t->dtype)) {
        int64_t cols = t->cols, chunk = cols ? (int64_t)(cb->stage_bytes / sizeof(float)) / cols : n_rows;
        if (cols && chunk < 1) {
            return is_errf(err, "cannot download a %lld x %lld %s tensor: one row of F32 exceeds the %zu byte staging "
                           "buffer", (long long)t->rows, (long long)cols, is_dtype_name(t->dtype), cb->stage_bytes);
        }
        for (int64_t r0 = 0; r0 < n_rows && cols && !cb->failed; r0 += chunk) {
            int64_t c = n_rows - r0 < chunk ? n_rows - r0 : chunk;
            size_t bytes = (size_t)(c * cols) * sizeof(float);
            cuda_quant_dequant_f32(cb, (float *)cb->d_stage, t, r0, c);
            if (CUDA_OK(cb, cudaMemcpyAsync(cb->h_stage, cb->d_stage, bytes, cudaMemcpyDeviceToHost, cb->stream)) &&
                CUDA_OK(cb, cudaStreamSynchronize(cb->stream)) && !cb->failed)
                memcpy(dst + r0 * cols, cb->h_stage, bytes);
        }
        return cuda_take_error(cb, err);
    }
    size_t n = (size_t)(n_rows * t->cols), es = is_dtype_size(t->dtype);
    size_t chunk = cb->stage_bytes / sizeof(float);
    for (size_t off = 0; off < n && !cb->failed; off += chunk) {
        size_t c = n - off < chunk ? n - off : chunk;
        const char *src = (const char *)t->data + off * es;
        if (t->dtype != IS_DTYPE_F32) {
            cuda_convert(cb, cb->d_stage, IS_DTYPE_F32, src, t->dtype, c);
            src = (const char *)cb->d_stage;
        }
        if (CUDA_OK(cb, cudaMemcpyAsync(cb->h_stage, src, c * sizeof(float), cudaMemcpyDeviceToHost, cb->stream)) &&
            CUDA_OK(cb, cudaStreamSynchronize(cb->stream)))
            memcpy(dst + off, cb->h_stage, c * sizeof(float));
    }
    return cuda_take_error(cb, err);
}

static int cuda_sync(is_backend *be, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(!cb->capturing);
    CUDA_OK(cb, cudaStreamSynchronize(cb->stream));
    cb->in_batch = false; // the chunk's host arrays may change from here on
    return cuda_take_error(cb, err);
}

// ---- chunks and graphs ------------------------------------------------------

static void graph_exec_destroy(void *exec, void *user) {
    cuda_backend *cb = (cuda_backend *)user;
    CUDA_OK(cb, cudaGraphExecDestroy((cudaGraphExec_t)exec));
}

void cuda_graphs_invalidate(cuda_backend *cb) {
    if (cb->graphs.n == 0) return;
    if (!cb->capturing) CUDA_OK(cb, cudaStreamSynchronize(cb->stream)); // none may be running
    is_graph_cache_drop(&cb->graphs, NULL);
}

static void cuda_graph_drop(is_backend *be, const void *owner) {
    cuda_backend *cb = cuda_impl(be);
    CUDA_OK(cb, cudaStreamSynchronize(cb->stream));
    is_graph_cache_drop(&cb->graphs, owner);
}

// Grows the pinned and device chunk buffers to hold total int32 elements.
static bool batch_reserve(cuda_backend *cb, size_t total) {
    if (total <= cb->batch_cap) return true;
    size_t cap = total + total / 2;
    cuda_graphs_invalidate(cb);
    if (cb->h_batch) CUDA_OK(cb, cudaFreeHost(cb->h_batch));
    if (cb->d_batch) CUDA_OK(cb, cudaFree(cb->d_batch));
    cb->h_batch = NULL;
    cb->d_batch = NULL;
    cb->batch_cap = 0;
    if (!CUDA_OK(cb, cudaMallocHost((void **)&cb->h_batch, cap * sizeof(int32_t))) ||
        !CUDA_OK(cb, cudaMalloc((void **)&cb->d_batch, cap * sizeof(int32_t))))
        return false;
    cb->batch_cap = cap;
    return true;
}

// The chosen variants as a graph key's bits: 4 per op.
static uint32_t variants_key(const cuda_backend *cb) {
    uint32_t key = 0;
    for (int op = 0; op < CUDA_OP_COUNT; op++) key |= (uint32_t)cb->variant[op] << (4 * op);
    return key;
}

// A recording of key failed (the first error is in cb->errmsg): the shape is
// marked to run eagerly from now on, the error is cleared, and the first such
// failure is said on stderr.
static void graph_refused(cuda_backend *cb, const is_graph_key *key) {
    char why[sizeof cb->errmsg];
    snprintf(why, sizeof why, "%s", cb->failed ? cb->errmsg : "the graph could not be made");
    cb->failed = false;
    (void)cudaGetLastError();
    is_graph_cache_refuse(&cb->graphs, key);
    if (!cb->capture_fail_said) {
        cb->capture_fail_said = true;
        fprintf(stderr, "inferscope: CUDA graph recording failed (%s); chunks of that shape run eagerly from now "
                        "on\n", why);
    }
}

static is_batch_mode cuda_batch_begin(is_backend *be, const int32_t *tok, const is_attn_batch *b,
                                      const int32_t *rows, int n_rows, const void *owner) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(!cb->capturing);
    cb->in_batch = false;
    if (cb->failed) return IS_BATCH_ISSUE; // the ops do nothing; sync reports the error
    int n_tiles = is_cuda_plan_tiles(b->seq, b->n_tokens, IS_CUDA_TILE_Q, NULL);
    is_cuda_layout L;
    is_cuda_plan_layout(&L, b->n_tokens, b->n_seqs, n_rows, n_tiles, is_cuda_plan_stride(b->max_blocks));
    if (!batch_reserve(cb, L.total)) return IS_BATCH_ISSUE;
    is_cuda_plan_pack(cb->h_batch, &L, tok, b, rows);
    cb->L = L;
    cb->h_tok = tok;
    cb->h_rows = rows;
    cb->h_b = b;
    cb->in_batch = true;
    if (owner && be->graphs && L.n_tokens <= CUDA_GRAPH_MAX_TOKENS) {
        is_graph_key key = is_cuda_plan_key(owner, &L, variants_key(cb));
        is_graph_entry *e = is_graph_cache_find(&cb->graphs, &key);
        if (e && e->exec) {
            if (CUDA_OK(cb, cudaGraphLaunch((cudaGraphExec_t)e->exec, cb->stream))) cb->graphs.n_replayed++;
            return IS_BATCH_REPLAYED;
        }
        if (e && !e->no_graph) { // second sighting: record it
            if (CUDA_OK(cb, cudaStreamBeginCapture(cb->stream, cudaStreamCaptureModeThreadLocal))) {
                cb->capturing = true;
                cb->cur_key = key;
                if (cb->break_next_capture) { // forbidden while recording: the capture fails
                    cb->break_next_capture = false;
                    CUDA_OK(cb, cudaStreamSynchronize(cb->stream));
                }
            } else {
                graph_refused(cb, &key); // not recording: the ops below run eagerly
            }
        } else if (!e) { // first sighting: run eagerly (buffers grow to this shape), remember it
            is_graph_cache_put(&cb->graphs, &key, NULL);
        }
    }
    CUDA_OK(cb, cudaMemcpyAsync(cb->d_batch, cb->h_batch, L.total * sizeof(int32_t), cudaMemcpyHostToDevice,
                                cb->stream));
    return IS_BATCH_ISSUE;
}

static int cuda_batch_end(is_backend *be, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    if (!cb->capturing) return cuda_take_error(cb, err);
    cb->capturing = false;
    cudaGraph_t graph = NULL;
    bool ok = CUDA_OK(cb, cudaStreamEndCapture(cb->stream, &graph)) && !cb->failed;
    cudaGraphExec_t exec = NULL;
    if (ok) ok = CUDA_OK(cb, cudaGraphInstantiate(&exec, graph, 0));
    if (graph) CUDA_OK(cb, cudaGraphDestroy(graph));
    if (!ok) { // none of the chunk's ops ran (under capture nothing runs): the caller issues them again
        if (exec) CUDA_OK(cb, cudaGraphExecDestroy(exec));
        graph_refused(cb, &cb->cur_key);
        return IS_BATCH_AGAIN;
    }
    is_graph_cache_put(&cb->graphs, &cb->cur_key, exec);
    cb->graphs.n_recorded++;
    CUDA_OK(cb, cudaGraphLaunch(exec, cb->stream));
    return cuda_take_error(cb, err);
}

// Uploads n ints (an op called outside a chunk: tests, probes) into the ad-hoc
// buffer, on the backend's stream: ordered after the ops that read the buffer
// before and before the op that reads it now. (A cudaMemcpy on the legacy stream
// is not ordered with this non-blocking stream, and from pageable memory it may
// return before its DMA is done.) From pageable memory the copy is staged before
// cudaMemcpyAsync returns, so h may be freed at once.
static const int32_t *adhoc_upload(cuda_backend *cb, const int32_t *h, size_t n) {
    IS_ASSERT(!cb->capturing); // a graph must take its arrays from the chunk's upload
    size_t bytes = n * sizeof(int32_t);
    if (!cuda_grow(cb, (void **)&cb->d_adhoc, &cb->adhoc_cap, bytes ? bytes : 16, "ad-hoc upload")) return NULL;
    if (n && !CUDA_OK(cb, cudaMemcpyAsync(cb->d_adhoc, h, bytes, cudaMemcpyHostToDevice, cb->stream))) return NULL;
    return cb->d_adhoc;
}

const int32_t *cuda_dev_ints(cuda_backend *cb, const int32_t *h, int n) {
    if (cb->in_batch) {
        // the chunk's arrays an op may be given (or a part of, as gather_rows' row ranges)
        const struct {
            const int32_t *host;
            size_t off, len;
        } known[] = {{cb->h_tok, cb->L.off_tok, (size_t)cb->L.n_tokens},
                     {cb->h_b->pos, cb->L.off_pos, (size_t)cb->L.n_tokens},
                     {cb->h_rows, cb->L.off_rows, (size_t)cb->L.n_rows}};
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (known[k].host && h >= known[k].host && h + n <= known[k].host + known[k].len)
                return cb->d_batch + known[k].off + (h - known[k].host);
    }
    return adhoc_upload(cb, h, (size_t)n);
}

const int32_t *cuda_dev_batch(cuda_backend *cb, const is_attn_batch *b, is_cuda_layout *L) {
    if (cb->in_batch && b == cb->h_b) {
        *L = cb->L;
        return cb->d_batch;
    }
    int n_tiles = is_cuda_plan_tiles(b->seq, b->n_tokens, IS_CUDA_TILE_Q, NULL);
    is_cuda_plan_layout(L, b->n_tokens, b->n_seqs, 0, n_tiles, is_cuda_plan_stride(b->max_blocks));
    int32_t *h = (int32_t *)is_xmalloc(L->total * sizeof(int32_t));
    is_cuda_plan_pack(h, L, NULL, b, NULL);
    const int32_t *d = adhoc_upload(cb, h, L->total);
    free(h);
    return d;
}

// ---- device facts, probes ---------------------------------------------------

static int cuda_mem_info(is_backend *be, double *free_bytes, double *total_bytes, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    size_t f = 0, t = 0;
    CUDA_OK(cb, cudaMemGetInfo(&f, &t));
    *free_bytes = (double)f;
    *total_bytes = (double)t;
    return cuda_take_error(cb, err);
}

static int cuda_device_info(is_backend *be, is_device_info *out, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    *out = cb->info;
    double f, t;
    if (cuda_mem_info(be, &f, &t, err)) return -1;
    out->mem_free_bytes = f;
    return 0;
}

// Device-to-device copies between two buffers of min(1 GiB, free / 4) each, timed
// with events: (read + write bytes) / time, best of CUDA_PROBE_REPS after a warm-up.
static int cuda_probe_copy(is_backend *be, double *gbs, char *method, size_t method_len, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    size_t f = 0, t = 0;
    if (!CUDA_OK(cb, cudaMemGetInfo(&f, &t))) return cuda_take_error(cb, err);
    size_t bytes = f / 4 < (1u << 30) ? f / 4 : (1u << 30);
    bytes &= ~(size_t)255;
    void *a = NULL, *b = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    float best = 1e30f;
    if (CUDA_OK(cb, cudaMalloc(&a, bytes)) && CUDA_OK(cb, cudaMalloc(&b, bytes)) &&
        CUDA_OK(cb, cudaMemsetAsync(a, 1, bytes, cb->stream)) && CUDA_OK(cb, cudaEventCreate(&e0)) &&
        CUDA_OK(cb, cudaEventCreate(&e1))) {
        for (int r = -1; r < CUDA_PROBE_REPS && !cb->failed; r++) {
            float ms = 0;
            if (CUDA_OK(cb, cudaEventRecord(e0, cb->stream)) &&
                CUDA_OK(cb, cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, cb->stream)) &&
                CUDA_OK(cb, cudaEventRecord(e1, cb->stream)) && CUDA_OK(cb, cudaEventSynchronize(e1)) &&
                CUDA_OK(cb, cudaEventElapsedTime(&ms, e0, e1)) && r >= 0 && ms < best)
                best = ms;
        }
    }
    if (e0) CUDA_OK(cb, cudaEventDestroy(e0));
    if (e1) CUDA_OK(cb, cudaEventDestroy(e1));
    if (a) CUDA_OK(cb, cudaFree(a));
    if (b) CUDA_OK(cb, cudaFree(b));
    if (cuda_take_error(cb, err)) return -1;
    *gbs = 2.0 * (double)bytes / (best * 1e-3) / 1e9;
    snprintf(method, method_len,
             "device-to-device cudaMemcpyAsync of %.0f MiB on %s, (read + write bytes) / event time, best of %d; "
             "attribute peak %.0f GB/s", (double)bytes / 1048576.0, cb->info.name, CUDA_PROBE_REPS,
             cb->info.peak_gbs_attr);
    return 0;
}

// ---- kernel variants (--kernel op=variant) ------------------------------------------
// The ops in CUDA_OP_* order; each op's table of variants (name, check, launcher,
// workspace) is in the op's file.
static const is_kernel_op cuda_kernel_ops[] = {
    {"gemv", cuda_gemv_variants, // CUDA_OP_GEMV
     "matmul at n <= 8 rows, BF16 weights: cublas (GemmEx), custom (our 16-byte-load kernel, split-K when short and "
     "wide); F32 weights or more rows always cuBLAS; quantized weights always their own GEMV", IS_KOP_GEMV},
    {"attn_decode", cuda_attn_decode_variants, // CUDA_OP_ATTN_DECODE
     "decode attention: naive (a block per token x head), split_kv (flash-decoding: context partitions merged by "
     "log-sum-exp, when the grid would under-fill the device)", IS_KOP_ATTN_DECODE},
    {"attn_prefill", cuda_attn_prefill_variants, // CUDA_OP_ATTN_PREFILL
     "prefill attention: tiled (16 queries a block), wide (64 queries a block share each K/V tile; head_dim 64 and "
     "128, others run tiled)", IS_KOP_ATTN_PREFILL},
};
static_assert(sizeof cuda_kernel_ops / sizeof cuda_kernel_ops[0] == CUDA_OP_COUNT, "one row per CUDA_OP_*");

const cuda_variant *cuda_variant_of(const cuda_backend *cb, int op) {
    return (const cuda_variant *)cuda_kernel_ops[op].variants[cb->variant[op]].impl;
}

// The prefill matmul: cuBLAS on the tensor cores, BF16 operands, fp32 compute.
static void cuda_gemm_info(is_backend *be, is_gemm_info *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->impl, sizeof out->impl, "cuBLAS cublasGemmEx, BF16 x BF16 -> F32, CUBLAS_COMPUTE_32F "
             "(F32 weights: F32; quantized: dequantized to BF16); gemv at n <= %d", IS_CUDA_GEMV_MAX_N);
    snprintf(out->blas, sizeof out->blas, "cuBLAS loaded from %s", cuda_blas_path(cuda_impl(be)));
    snprintf(out->unit, sizeof out->unit, "tensor_bf16");
    snprintf(out->chosen_by, sizeof out->chosen_by, "the CUDA backend's only GEMM (cuBLAS picks its kernel)");
}

// Stores the choice, drops recorded graphs (they hold the old variant's kernels)
// and reserves the workspace the chosen variants need at most on this device.
static void cuda_kernel_select(is_backend *be, int op_index, int variant_index) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(!cb->capturing);
    IS_ASSERT(op_index >= 0 && op_index < CUDA_OP_COUNT && variant_index >= 0 && variant_index < 16);
    for (int v = 0; v <= variant_index; v++) IS_ASSERT(cuda_kernel_ops[op_index].variants[v].name);
    if (cb->variant[op_index] != variant_index) cuda_graphs_invalidate(cb);
    cb->variant[op_index] = variant_index;
    size_t need = 0;
    for (int op = 0; op < CUDA_OP_COUNT; op++) {
        const cuda_variant *v = cuda_variant_of(cb, op);
        if (v->work_max && v->work_max(cb->info.sm_count) > need) need = v->work_max(cb->info.sm_count);
    }
    if (need) cuda_grow(cb, &cb->d_work, &cb->work_cap, need * sizeof(float), "kernel variant workspace");
}

// ---- create / destroy ---------------------------------------------------------

__global__ void cuda_image_check_kernel(int *p) {
    if (p) *p = 1;
}

static void cuda_destroy(is_backend *be) {
    if (!be) return;
    cuda_backend *cb = cuda_impl(be);
    if (cb) {
        if (cb->stream) CUDA_OK(cb, cudaStreamSynchronize(cb->stream));
        is_graph_cache_free(&cb->graphs);
        cuda_blas_close(cb);
        cuda_timing_free(cb);
        void *dev[] = {cb->d_stage, cb->d_batch, cb->d_adhoc, cb->d_act16, cb->d_req, cb->d_ids, cb->d_work,
                       cb->d_deq};
        for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
            if (dev[i]) CUDA_OK(cb, cudaFree(dev[i]));
        void *host[] = {cb->h_stage, cb->h_batch, cb->h_req, cb->h_ids};
        for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
            if (host[i]) CUDA_OK(cb, cudaFreeHost(host[i]));
        if (cb->stream) CUDA_OK(cb, cudaStreamDestroy(cb->stream));
        free(cb);
    }
    free(be);
}

static int device_facts(cuda_backend *cb, is_err *err) {
    is_device_info *d = &cb->info;
    cudaDeviceProp p;
    if (!CUDA_OK(cb, cudaGetDeviceProperties(&p, cb->device))) return cuda_take_error(cb, err);
    snprintf(d->name, sizeof d->name, "%.127s", p.name);
    d->ordinal = cb->device;
    d->cc_major = p.major;
    d->cc_minor = p.minor;
    d->sm_count = p.multiProcessorCount;
    d->mem_total_bytes = (double)p.totalGlobalMem;
    d->l2_bytes = p.l2CacheSize;
    // CUDA 13 removed the clock fields from cudaDeviceProp: ask for the attributes
    CUDA_OK(cb, cudaDeviceGetAttribute(&d->sm_clock_khz, cudaDevAttrClockRate, cb->device));
    CUDA_OK(cb, cudaDeviceGetAttribute(&d->mem_clock_khz, cudaDevAttrMemoryClockRate, cb->device));
    CUDA_OK(cb, cudaDeviceGetAttribute(&d->mem_bus_bits, cudaDevAttrGlobalMemoryBusWidth, cb->device));
    CUDA_OK(cb, cudaDriverGetVersion(&d->driver_version));
    CUDA_OK(cb, cudaRuntimeGetVersion(&d->runtime_version));
    d->peak_gbs_attr = 2.0 * d->mem_clock_khz * 1e3 * (d->mem_bus_bits / 8.0) / 1e9;
    if (cuda_take_error(cb, err)) return -1;
    if (p.major < 8)
        return is_errf(err, "cuda device %d (%s) has compute capability %d.%d; the CUDA backend needs 8.0 or "
                       "newer (BF16 arithmetic)", cb->device, p.name, p.major, p.minor);
    cudaFuncAttributes fa;
    cudaError_t e = cudaFuncGetAttributes(&fa, cuda_image_check_kernel);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return is_errf(err, "cuda device %d (%s, sm_%d%d): this binary has no kernels it can run (%s); rebuild "
                       "with -DCMAKE_CUDA_ARCHITECTURES=%d%d", cb->device, p.name, p.major, p.minor,
                       cudaGetErrorString(e), p.major, p.minor);
    }
    return 0;
}

extern "C" is_backend *is_cuda_backend_create(int device, is_err *err) {
    cuda_backend *cb = (cuda_backend *)is_xcalloc(1, sizeof *cb);
    is_backend *be = (is_backend *)is_xcalloc(1, sizeof *be);
    be->impl = cb;
    cb->device = device;
    is_graph_cache_init(&cb->graphs, CUDA_GRAPH_CAP, graph_exec_destroy, cb);
    if (!CUDA_OK(cb, cudaSetDevice(device))) {
        cuda_take_error(cb, err);
        goto fail;
    }
    if (device_facts(cb, err)) goto fail;
    cb->stage_bytes = CUDA_STAGE_BYTES;
    if (!CUDA_OK(cb, cudaStreamCreateWithFlags(&cb->stream, cudaStreamNonBlocking)) ||
        !CUDA_OK(cb, cudaMallocHost(&cb->h_stage, cb->stage_bytes)) ||
        !CUDA_OK(cb, cudaMalloc(&cb->d_stage, cb->stage_bytes)) || !cuda_attention_init(cb)) {
        cuda_take_error(cb, err);
        goto fail;
    }
    if (cuda_blas_open(cb, err)) goto fail;
    // the batch-invariant matmul runs the custom gemv whatever gemv variant is
    // chosen: its split-K workspace is there from the start (a graph recording
    // cannot allocate)
    if (!cuda_grow(cb, &cb->d_work, &cb->work_cap, is_cuda_plan_gemv_work_max(cb->info.sm_count) * sizeof(float),
                   "gemv workspace")) {
        cuda_take_error(cb, err);
        goto fail;
    }

    be->name = "cuda";
    be->n_threads = 0;
    be->kv_dtype = IS_DTYPE_BF16;
    be->bf16_gemm = true;
    be->destroy = cuda_destroy;
    be->tensor_alloc = cuda_tensor_alloc;
    be->tensor_free = cuda_tensor_free;
    be->tensor_set = cuda_tensor_set;
    be->tensor_wrap = cuda_tensor_wrap;
    be->tensor_get_f32 = cuda_tensor_get_f32;
    be->tensor_fill_normal = cuda_fill_normal;
    be->tensor_fill_const = cuda_fill_const;
    be->embed = cuda_embed;
    be->rmsnorm = cuda_rmsnorm;
    be->matmul = cuda_matmul;
    be->rope = cuda_rope;
    be->kv_store = cuda_kv_store;
    be->kv_copy_blocks = cuda_kv_copy_blocks;
    be->attention = cuda_attention;
    be->swiglu = cuda_swiglu;
    be->add = cuda_add;
    be->gather_rows = cuda_gather_rows;
    be->add_rmsnorm = cuda_add_rmsnorm;
    be->sync = cuda_sync;
    be->batch_begin = cuda_batch_begin;
    be->batch_end = cuda_batch_end;
    be->graph_drop = cuda_graph_drop;
    be->graphs = true;
    be->sample = cuda_sample;
    be->mem_info = cuda_mem_info;
    be->device_info = cuda_device_info;
    be->gemm_info = cuda_gemm_info;
    be->probe_copy = cuda_probe_copy;
    be->timer_begin = cuda_timer_begin;
    be->timer_end = cuda_timer_end;
    be->flush_cache = cuda_flush_cache;
    be->kernel_ops = cuda_kernel_ops;
    be->n_kernel_ops = CUDA_OP_COUNT;
    be->kernel_select = cuda_kernel_select;
    return be;
fail:
    cuda_destroy(be);
    return NULL;
}

extern "C" void is_cuda_graph_counts(const struct is_backend *be, long *recorded, long *replayed) {
    *recorded = *replayed = 0;
    if (!be || strcmp(be->name, "cuda") != 0) return;
    const cuda_backend *cb = cuda_impl(be);
    *recorded = cb->graphs.n_recorded;
    *replayed = cb->graphs.n_replayed;
}

extern "C" long is_cuda_graph_failed(const struct is_backend *be) {
    if (!be || strcmp(be->name, "cuda") != 0) return 0;
    return cuda_impl(be)->graphs.n_failed;
}

extern "C" void is_cuda_break_next_capture(struct is_backend *be) {
    if (be && !strcmp(be->name, "cuda")) cuda_impl(be)->break_next_capture = true;
}
