// cupti_activity.c — CUPTI activity records (cupti_activity.h), every call
// through a pointer looked up in the loaded library and checked: kernels
// (CONCURRENT_KERNEL, so kernels on several streams keep running concurrently),
// copies, sets, and the runtime and driver API calls that launched them.
//
// Clock: CUPTI is handed is_prof_now_ns as its timestamp source
// (cuptiActivityRegisterTimestampCallback, before the first kind is enabled), so
// device and API records land on the capture's clock with no offset to
// estimate; CUPTI itself maps GPU timestamps onto that clock. Where the callback
// cannot be registered, the offset between cuptiGetTimestamp and is_prof_now_ns
// is taken at each start (two reads of each clock around each other, the middle
// one kept) and added to every record.
// Threads: CUPTI is told to report OS thread ids (gettid), the ids the capture uses.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cupti.h>

#include "profiles/capture.h"      // defines: is_prof_now_ns
#include "profiles/cupti.h"
#include "profiles/kernel_table.h" // defines: is_prof_activity, is_prof_activity_add_*

#define ACT_BUFFER_BYTES ((size_t)8 << 20)
#define ACT_BUFFER_ALIGN 8

typedef struct act_api {
    __typeof__(&cuptiActivityEnable) enable;
    __typeof__(&cuptiActivityDisable) disable;
    __typeof__(&cuptiActivityRegisterCallbacks) register_callbacks;
    __typeof__(&cuptiActivityRegisterTimestampCallback) register_clock;
    __typeof__(&cuptiActivityFlushAll) flush_all;
    __typeof__(&cuptiActivityGetNextRecord) next_record;
    __typeof__(&cuptiActivityGetNumDroppedRecords) num_dropped;
    __typeof__(&cuptiSetThreadIdType) thread_id_type;
    __typeof__(&cuptiGetTimestamp) timestamp;
    __typeof__(&cuptiGetResultString) result_string;
} act_api;

static const CUpti_ActivityKind act_kinds[] = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
                                               CUPTI_ACTIVITY_KIND_MEMSET, CUPTI_ACTIVITY_KIND_RUNTIME,
                                               CUPTI_ACTIVITY_KIND_DRIVER};
#define N_ACT_KINDS (sizeof act_kinds / sizeof act_kinds[0])

static pthread_mutex_t act_lock = PTHREAD_MUTEX_INITIALIZER;
static act_api api;
static bool act_ready, act_running;
static int64_t act_offset_ns;  // added to CUPTI timestamps (0 with our clock registered)
static bool act_own_clock;
static is_prof_activity act_store; // filled by the buffer callbacks
static size_t act_enabled;     // kinds enabled by the current start
static CUptiResult act_read_error; // the first failure reading a buffer (its later records are lost)

static int fail(CUptiResult r, const char *what, char *why, size_t why_len) {
    const char *s = NULL;
    if (!api.result_string || api.result_string(r, &s) != CUPTI_SUCCESS || !s) s = "unknown error";
    if (r == CUPTI_ERROR_INSUFFICIENT_PRIVILEGES)
        snprintf(why, why_len, "no permission to profile (%s: CUPTI_ERROR_INSUFFICIENT_PRIVILEGES; the driver "
                 "restricts GPU performance counters to admin users)", what);
    else snprintf(why, why_len, "%s: %s (%d)", what, s, (int)r);
    return -1;
}

static uint64_t CUPTIAPI act_clock(void) { return (uint64_t)is_prof_now_ns(); }

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records) {
    *buffer = aligned_alloc(ACT_BUFFER_ALIGN, ACT_BUFFER_BYTES);
    *size = *buffer ? ACT_BUFFER_BYTES : 0; // no buffer: CUPTI drops records and counts them
    *max_records = 0;                        // as many as fit
}

static const char *memcpy_name(uint8_t kind) {
    switch (kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD: return "memcpy HtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH: return "memcpy DtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD: return "memcpy DtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH: return "memcpy HtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP: return "memcpy PtoP";
    default: return "memcpy (array)";
    }
}

static void add_dev(const char *name, is_prof_device_kind kind, uint32_t device, uint32_t stream, uint64_t t0,
                    uint64_t t1, uint32_t correlation) {
    is_prof_device_event e = {.name = (char *)name, .kind = kind, .device = device, .stream = stream,
                              .t0_ns = (int64_t)t0 + act_offset_ns, .t1_ns = (int64_t)t1 + act_offset_ns,
                              .correlation = correlation};
    is_prof_activity_add_dev(&act_store, &e);
}

// One record into the store (act_lock held).
static void take_record(const CUpti_Activity *rec) {
    switch (rec->kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
        const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)rec;
        add_dev(k->name ? k->name : "(unnamed kernel)", IS_PROF_DEV_KERNEL, k->deviceId, k->streamId, k->start,
                k->end, k->correlationId);
        break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
        const CUpti_ActivityMemcpy6 *m = (const CUpti_ActivityMemcpy6 *)rec;
        add_dev(memcpy_name(m->copyKind), IS_PROF_DEV_MEMCPY, m->deviceId, m->streamId, m->start, m->end,
                m->correlationId);
        break;
    }
    case CUPTI_ACTIVITY_KIND_MEMSET: {
        const CUpti_ActivityMemset4 *m = (const CUpti_ActivityMemset4 *)rec;
        add_dev("memset", IS_PROF_DEV_MEMSET, m->deviceId, m->streamId, m->start, m->end, m->correlationId);
        break;
    }
    case CUPTI_ACTIVITY_KIND_RUNTIME:
    case CUPTI_ACTIVITY_KIND_DRIVER: {
        const CUpti_ActivityAPI *a = (const CUpti_ActivityAPI *)rec;
        is_prof_api_record r = {.correlation = a->correlationId, .tid = a->threadId,
                                .t0_ns = (int64_t)a->start + act_offset_ns, .t1_ns = (int64_t)a->end + act_offset_ns};
        is_prof_activity_add_api(&act_store, &r);
        break;
    }
    default: break; // kinds not enabled by us
    }
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size, size_t valid) {
    (void)size;
    pthread_mutex_lock(&act_lock);
    CUpti_Activity *rec = NULL;
    while (buffer) {
        CUptiResult r = api.next_record(buffer, valid, &rec);
        if (r == CUPTI_ERROR_MAX_LIMIT_REACHED) break; // the end of the buffer
        if (r != CUPTI_SUCCESS) { // an invalid record: the rest of the buffer cannot be read; stop says so
            if (act_read_error == CUPTI_SUCCESS) act_read_error = r;
            break;
        }
        take_record(rec);
    }
    size_t dropped = 0;
    CUptiResult r = api.num_dropped(ctx, stream, &dropped);
    if (r == CUPTI_SUCCESS) act_store.dropped += dropped;
    else if (act_read_error == CUPTI_SUCCESS) act_read_error = r;
    pthread_mutex_unlock(&act_lock);
    free(buffer);
}

#define LOAD(field, name)                                                                    \
    do {                                                                                     \
        if (!(api.field = (__typeof__(api.field))is_prof_cupti_sym(name, why, why_len))) return -1; \
    } while (0)

// Looks the functions up and registers the callbacks, once (act_lock held).
static int act_setup(char *why, size_t why_len) {
    if (act_ready) return 0;
    LOAD(result_string, "cuptiGetResultString");
    LOAD(enable, "cuptiActivityEnable");
    LOAD(disable, "cuptiActivityDisable");
    LOAD(register_callbacks, "cuptiActivityRegisterCallbacks");
    LOAD(register_clock, "cuptiActivityRegisterTimestampCallback");
    LOAD(flush_all, "cuptiActivityFlushAll");
    LOAD(next_record, "cuptiActivityGetNextRecord");
    LOAD(num_dropped, "cuptiActivityGetNumDroppedRecords");
    LOAD(thread_id_type, "cuptiSetThreadIdType");
    LOAD(timestamp, "cuptiGetTimestamp");
    CUptiResult r = api.thread_id_type(CUPTI_ACTIVITY_THREAD_ID_TYPE_SYSTEM);
    if (r != CUPTI_SUCCESS) return fail(r, "cuptiSetThreadIdType", why, why_len);
    act_own_clock = api.register_clock(act_clock) == CUPTI_SUCCESS; // else: an offset per start
    if ((r = api.register_callbacks(buffer_requested, buffer_completed)) != CUPTI_SUCCESS)
        return fail(r, "cuptiActivityRegisterCallbacks", why, why_len);
    act_ready = true;
    return 0;
}

// is_prof_now_ns - cuptiGetTimestamp, read between two reads of the host clock.
static int act_measure_offset(char *why, size_t why_len) {
    uint64_t c;
    int64_t a = is_prof_now_ns();
    CUptiResult r = api.timestamp(&c);
    int64_t b = is_prof_now_ns();
    if (r != CUPTI_SUCCESS) return fail(r, "cuptiGetTimestamp", why, why_len);
    act_offset_ns = a + (b - a) / 2 - (int64_t)c;
    return 0;
}

// The first failure is returned; every kind is still disabled.
static CUptiResult act_disable_all(void) {
    CUptiResult first = CUPTI_SUCCESS;
    for (size_t k = 0; k < act_enabled; k++) {
        CUptiResult r = api.disable(act_kinds[k]);
        if (r != CUPTI_SUCCESS && first == CUPTI_SUCCESS) first = r;
    }
    act_enabled = 0;
    return first;
}

int is_prof_activity_start(char *why, size_t why_len) {
    pthread_mutex_lock(&act_lock);
    int rc = -1;
    if (act_running) {
        snprintf(why, why_len, "activity recording is already on");
    } else if (act_setup(why, why_len) == 0 && (act_own_clock || act_measure_offset(why, why_len) == 0)) {
        if (act_own_clock) act_offset_ns = 0;
        is_prof_activity_free(&act_store);
        act_read_error = CUPTI_SUCCESS;
        rc = 0;
    }
    pthread_mutex_unlock(&act_lock);
    if (rc) return rc;
    // enabling may hand CUPTI's worker a buffer to complete, and the completion
    // callback takes act_lock: as in stop, no enable or disable while holding it
    for (size_t k = 0; k < N_ACT_KINDS && rc == 0; k++) {
        CUptiResult r = api.enable(act_kinds[k]);
        if (r != CUPTI_SUCCESS) rc = fail(r, "cuptiActivityEnable", why, why_len);
        else act_enabled = k + 1;
    }
    if (rc) {
        (void)act_disable_all(); // the enable failure is the one reported
        return rc;
    }
    pthread_mutex_lock(&act_lock);
    act_running = true;
    pthread_mutex_unlock(&act_lock);
    return 0;
}

int is_prof_activity_stop(is_prof_activity *out, char *why, size_t why_len) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&act_lock);
    bool running = act_running;
    pthread_mutex_unlock(&act_lock);
    if (!running) {
        snprintf(why, why_len, "activity recording is not on");
        return -1;
    }
    // the completion callback takes act_lock: no CUPTI call while holding it
    // (act_enabled and act_running change only here and in start, on one thread)
    CUptiResult r = api.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    CUptiResult rd = act_disable_all();
    pthread_mutex_lock(&act_lock);
    act_running = false;
    pthread_mutex_unlock(&act_lock);
    CUptiResult r2 = api.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED); // what was in flight while disabling
    size_t dropped = 0; // records dropped after the last buffer completed
    CUptiResult r3 = api.num_dropped(NULL, 0, &dropped);
    pthread_mutex_lock(&act_lock);
    *out = act_store;
    out->dropped += dropped;
    CUptiResult rr = act_read_error;
    memset(&act_store, 0, sizeof act_store);
    pthread_mutex_unlock(&act_lock);
    const struct {
        CUptiResult r;
        const char *what;
    } steps[] = {{r, "cuptiActivityFlushAll"},
                 {rd, "cuptiActivityDisable"},
                 {r2, "cuptiActivityFlushAll"},
                 {r3, "cuptiActivityGetNumDroppedRecords"},
                 {rr, "reading a completed activity buffer (cuptiActivityGetNextRecord, "
                      "cuptiActivityGetNumDroppedRecords)"}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (steps[i].r != CUPTI_SUCCESS) {
            is_prof_activity_free(out);
            return fail(steps[i].r, steps[i].what, why, why_len);
        }
    return 0;
}
