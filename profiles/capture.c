// capture.c — the in-process NVTX tool: a static injection that hooks the
// domain range callbacks, per-thread range stacks, and a store of finished ranges.
#define _GNU_SOURCE
#include "profiles/capture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h" // defines: is_xmalloc, is_xrealloc
#include "base/nvtx.h"  // defines: is_prof_set_sink (a build without the NVTX headers)

#define IS_PROF_MAX_DEPTH 64
#define IS_PROF_MAX_EVENTS (1u << 21) // ~100 MB of ranges; more are counted as dropped

typedef struct open_range {
    const char *name, *domain;
    uint32_t category;
    uint64_t payload;
    int64_t t0_ns;
    bool keep; // recording was on when it opened
} open_range;

static _Thread_local open_range tl_stack[IS_PROF_MAX_DEPTH];
static _Thread_local int tl_depth;
static _Thread_local uint64_t tl_tid;

static atomic_bool cap_enabled;
static pthread_mutex_t cap_lock = PTHREAD_MUTEX_INITIALIZER;
static is_prof_event *cap_events;
static size_t cap_n, cap_cap, cap_dropped, cap_unbalanced;
static _Atomic(is_prof_range_hook) cap_hook;

int64_t is_prof_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t is_prof_thread_id(void) {
    if (!tl_tid) tl_tid = (uint64_t)syscall(SYS_gettid);
    return tl_tid;
}

void is_prof_capture_push(const char *domain, const char *name, uint32_t category, uint64_t payload) {
    int d = tl_depth++;
    if (d >= IS_PROF_MAX_DEPTH) return; // too deep to keep; the pop still balances
    tl_stack[d] = (open_range){.name = name ? name : "", .domain = domain ? domain : "", .category = category,
                               .payload = payload, .t0_ns = is_prof_now_ns(),
                               .keep = atomic_load_explicit(&cap_enabled, memory_order_relaxed)};
    is_prof_range_hook h = atomic_load_explicit(&cap_hook, memory_order_acquire);
    if (h) h(tl_stack[d].name, true);
}

void is_prof_capture_pop(void) {
    int64_t t1 = is_prof_now_ns();
    if (tl_depth == 0) {
        pthread_mutex_lock(&cap_lock);
        cap_unbalanced++;
        pthread_mutex_unlock(&cap_lock);
        return;
    }
    int d = --tl_depth;
    is_prof_range_hook h = atomic_load_explicit(&cap_hook, memory_order_acquire);
    if (h && d < IS_PROF_MAX_DEPTH) h(tl_stack[d].name, false);
    bool on = atomic_load_explicit(&cap_enabled, memory_order_relaxed);
    if (d >= IS_PROF_MAX_DEPTH || !tl_stack[d].keep || !on) {
        if (on && d >= IS_PROF_MAX_DEPTH) {
            pthread_mutex_lock(&cap_lock);
            cap_dropped++;
            pthread_mutex_unlock(&cap_lock);
        }
        return;
    }
    const open_range *r = &tl_stack[d];
    is_prof_event e = {.name = r->name, .domain = r->domain, .category = r->category, .payload = r->payload,
                       .tid = is_prof_thread_id(), .depth = d, .t0_ns = r->t0_ns, .t1_ns = t1};
    pthread_mutex_lock(&cap_lock);
    if (cap_n >= IS_PROF_MAX_EVENTS) {
        cap_dropped++;
    } else {
        if (cap_n == cap_cap) {
            cap_cap = cap_cap ? 2 * cap_cap : 4096;
            cap_events = is_xrealloc(cap_events, cap_cap * sizeof *cap_events);
        }
        cap_events[cap_n++] = e;
    }
    pthread_mutex_unlock(&cap_lock);
}

bool is_prof_capture_active(void) { return atomic_load(&cap_enabled); }

void is_prof_capture_end(void) { atomic_store(&cap_enabled, false); }

void is_prof_capture_take(is_prof_capture *out) {
    pthread_mutex_lock(&cap_lock);
    *out = (is_prof_capture){.events = cap_events, .n = cap_n, .dropped = cap_dropped,
                             .unbalanced = cap_unbalanced};
    cap_events = NULL;
    cap_n = cap_cap = cap_dropped = cap_unbalanced = 0;
    pthread_mutex_unlock(&cap_lock);
}

void is_prof_capture_copy_since(int64_t since_ns, is_prof_capture *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&cap_lock);
    size_t n = 0;
    for (size_t i = 0; i < cap_n; i++) n += cap_events[i].t0_ns >= since_ns;
    out->events = is_xmalloc((n ? n : 1) * sizeof *out->events);
    for (size_t i = 0; i < cap_n; i++)
        if (cap_events[i].t0_ns >= since_ns) out->events[out->n++] = cap_events[i];
    out->dropped = cap_dropped;
    out->unbalanced = cap_unbalanced;
    pthread_mutex_unlock(&cap_lock);
}

void is_prof_capture_set_hook(is_prof_range_hook hook) { atomic_store_explicit(&cap_hook, hook, memory_order_release); }

void is_prof_capture_free(is_prof_capture *c) {
    free(c->events);
    memset(c, 0, sizeof *c);
}

#if IS_HAVE_NVTX
// ---- the NVTX tool ---------------------------------------------------------------
// NVTX calls InitializeInjectionNvtx2_fnptr on the process's first NVTX call when
// no dynamic tool is named by NVTX_INJECTION64_PATH. Defining it here (a strong
// symbol beside the header's weak one) makes this file the static injection.
#define NVTX_STATIC_INJECTION_IMPL
// declared before the header uses it (the type of NvtxInitializeInjectionNvtxFunc_t)
extern int (*InitializeInjectionNvtx2_fnptr)(const void *(*get_export_table)(uint32_t));
#include <nvtx3/nvToolsExt.h>

// What NVTX hands back as handles: opaque to the application, defined by the tool.
struct nvtxDomainRegistration_st {
    const char *name;
};
struct nvtxStringRegistration_st {
    const char *text;
};

static atomic_bool cap_requested, cap_attached;
static struct nvtxDomainRegistration_st default_domain = {""};

// Interned copies live as long as the process: events point at them.
static const char *intern(const char *s) {
    char *c = is_xmalloc(strlen(s) + 1);
    strcpy(c, s);
    return c;
}

static const char *attr_name(const nvtxEventAttributes_t *a) {
    if (!a) return "";
    if (a->messageType == NVTX_MESSAGE_TYPE_REGISTERED && a->message.registered)
        return a->message.registered->text;
    if (a->messageType == NVTX_MESSAGE_TYPE_ASCII && a->message.ascii)
        return intern(a->message.ascii); // unregistered text: copied (slow, but kept correct)
    return "";
}

static uint64_t attr_payload(const nvtxEventAttributes_t *a) {
    if (!a) return 0;
    switch (a->payloadType) {
    case NVTX_PAYLOAD_TYPE_UNSIGNED_INT64: return a->payload.ullValue;
    case NVTX_PAYLOAD_TYPE_INT64: return (uint64_t)a->payload.llValue;
    case NVTX_PAYLOAD_TYPE_UNSIGNED_INT32: return a->payload.uiValue;
    case NVTX_PAYLOAD_TYPE_INT32: return (uint64_t)(int64_t)a->payload.iValue;
    default: return 0;
    }
}

static int NVTX_API on_domain_push(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a) {
    is_prof_capture_push(d ? d->name : "", attr_name(a), a ? a->category : 0, attr_payload(a));
    return tl_depth - 1;
}

static int NVTX_API on_domain_pop(nvtxDomainHandle_t d) {
    (void)d;
    is_prof_capture_pop();
    return tl_depth;
}

static int NVTX_API on_push_ex(const nvtxEventAttributes_t *a) { return on_domain_push(&default_domain, a); }

static int NVTX_API on_push_a(const char *msg) {
    is_prof_capture_push("", msg ? intern(msg) : "", 0, 0);
    return tl_depth - 1;
}

static int NVTX_API on_pop(void) { return on_domain_pop(&default_domain); }

static nvtxDomainHandle_t NVTX_API on_domain_create(const char *name) {
    struct nvtxDomainRegistration_st *d = is_xmalloc(sizeof *d);
    d->name = intern(name ? name : "");
    return d;
}

static void NVTX_API on_domain_destroy(nvtxDomainHandle_t d) {
    (void)d; // events keep pointing at its name: kept
}

static nvtxStringHandle_t NVTX_API on_register_string(nvtxDomainHandle_t d, const char *s) {
    (void)d;
    struct nvtxStringRegistration_st *h = is_xmalloc(sizeof *h);
    h->text = intern(s ? s : "");
    return h;
}

static void NVTX_API on_name_category(nvtxDomainHandle_t d, uint32_t category, const char *name) {
    (void)d, (void)category, (void)name; // categories are ids; is_prof_category_name names ours
}

// Puts fn into slot id of an NVTX callback table; 0 when the table is too short.
static int hook(NvtxFunctionTable table, unsigned int size, unsigned int id, NvtxFunctionPointer fn) {
    if (id >= size || !table[id]) return 0;
    *table[id] = fn;
    return 1;
}

static int NVTX_API capture_attach(NvtxGetExportTableFunc_t get_table) {
    if (!atomic_load(&cap_requested)) return 0; // not asked for: NVTX stays a no-op
    const NvtxExportTableCallbacks *cb = get_table ? (const NvtxExportTableCallbacks *)get_table(NVTX_ETID_CALLBACKS)
                                                   : NULL;
    if (!cb || cb->struct_size < sizeof *cb || !cb->GetModuleFunctionTable) return 0;
    NvtxFunctionTable core2 = NULL, core = NULL;
    unsigned int n2 = 0, n1 = 0;
    if (!cb->GetModuleFunctionTable(NVTX_CB_MODULE_CORE2, &core2, &n2) || !core2) return 0;
    int ok = hook(core2, n2, NVTX_CBID_CORE2_DomainRangePushEx, (NvtxFunctionPointer)on_domain_push) &
             hook(core2, n2, NVTX_CBID_CORE2_DomainRangePop, (NvtxFunctionPointer)on_domain_pop) &
             hook(core2, n2, NVTX_CBID_CORE2_DomainCreateA, (NvtxFunctionPointer)on_domain_create) &
             hook(core2, n2, NVTX_CBID_CORE2_DomainDestroy, (NvtxFunctionPointer)on_domain_destroy) &
             hook(core2, n2, NVTX_CBID_CORE2_DomainRegisterStringA, (NvtxFunctionPointer)on_register_string) &
             hook(core2, n2, NVTX_CBID_CORE2_DomainNameCategoryA, (NvtxFunctionPointer)on_name_category);
    if (!ok) return 0;
    // ranges in the default domain (libraries using plain nvtxRangePush), when present
    if (cb->GetModuleFunctionTable(NVTX_CB_MODULE_CORE, &core, &n1) && core) {
        hook(core, n1, NVTX_CBID_CORE_RangePushEx, (NvtxFunctionPointer)on_push_ex);
        hook(core, n1, NVTX_CBID_CORE_RangePushA, (NvtxFunctionPointer)on_push_a);
        hook(core, n1, NVTX_CBID_CORE_RangePop, (NvtxFunctionPointer)on_pop);
    }
    atomic_store(&cap_attached, true);
    return 1;
}

NvtxInitializeInjectionNvtxFunc_t InitializeInjectionNvtx2_fnptr = capture_attach;

int is_prof_capture_begin(char *why, size_t why_len) {
    const char *tool = getenv("NVTX_INJECTION64_PATH");
    if (tool && *tool) {
        snprintf(why, why_len, "NVTX_INJECTION64_PATH is set (%s): that tool receives the NVTX ranges", tool);
        return -1;
    }
    atomic_store(&cap_requested, true);
    nvtxInitialize(NULL); // attaches now if this is the first NVTX call of the process
    if (!atomic_load(&cap_attached)) {
        snprintf(why, why_len, "NVTX was initialized before the capture started, without it");
        return -1;
    }
    atomic_store(&cap_enabled, true);
    return 0;
}
#else
// Built without the NVTX headers: the ranges reach the capture through the sink.
int is_prof_capture_begin(char *why, size_t why_len) {
    (void)why, (void)why_len;
    is_prof_set_sink(is_prof_capture_push, is_prof_capture_pop);
    atomic_store(&cap_enabled, true);
    return 0;
}
#endif
