// trace.c — see trace.h. Events are sorted per track by start time (a parent
// before the children that start with it), so timestamps rise along each track.
#include "profiles/trace.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h" // defines: is_write_file_atomic
#include "base/nvtx.h" // defines: is_prof_category_name

#define IS_PID_HOST 1
#define IS_PID_DEVICE 2 // + device index

const char *is_prof_device_kind_name(is_prof_device_kind k) {
    return k == IS_PROF_DEV_KERNEL ? "kernel" : k == IS_PROF_DEV_MEMCPY ? "memcpy" : "memset";
}

static int cmp_host(const void *a, const void *b) {
    const is_prof_event *x = *(const is_prof_event *const *)a, *y = *(const is_prof_event *const *)b;
    if (x->tid != y->tid) return x->tid < y->tid ? -1 : 1;
    if (x->t0_ns != y->t0_ns) return x->t0_ns < y->t0_ns ? -1 : 1;
    if (x->depth != y->depth) return x->depth < y->depth ? -1 : 1; // the parent first
    return (x->t1_ns > y->t1_ns) - (x->t1_ns < y->t1_ns);
}

static int cmp_dev(const void *a, const void *b) {
    const is_prof_device_event *x = *(const is_prof_device_event *const *)a, *y = *(const is_prof_device_event *const *)b;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    if (x->stream != y->stream) return x->stream < y->stream ? -1 : 1;
    return (x->t0_ns > y->t0_ns) - (x->t0_ns < y->t0_ns);
}

static void add_meta(cJSON *events, const char *what, int pid, uint64_t tid, const char *name) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "ph", "M");
    cJSON_AddStringToObject(e, "name", what);
    cJSON_AddNumberToObject(e, "pid", pid);
    cJSON_AddNumberToObject(e, "tid", (double)tid);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "args"), "name", name);
    cJSON_AddItemToArray(events, e);
}

static cJSON *add_span(cJSON *events, const char *name, const char *cat, int pid, uint64_t tid, int64_t t0,
                       int64_t t1, int64_t base) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "cat", cat);
    cJSON_AddStringToObject(e, "ph", "X");
    cJSON_AddNumberToObject(e, "pid", pid);
    cJSON_AddNumberToObject(e, "tid", (double)tid);
    cJSON_AddNumberToObject(e, "ts", (double)(t0 - base) / 1e3); // microseconds
    cJSON_AddNumberToObject(e, "dur", (double)(t1 - t0) / 1e3);
    cJSON_AddItemToArray(events, e);
    return cJSON_AddObjectToObject(e, "args");
}

int is_prof_trace_write(const char *path, const is_prof_capture *host, const is_prof_device_event *dev,
                        size_t n_dev, const char *note, is_err *err) {
    size_t nh = host ? host->n : 0;
    int64_t base = INT64_MAX;
    for (size_t i = 0; i < nh; i++)
        if (host->events[i].t0_ns < base) base = host->events[i].t0_ns;
    for (size_t i = 0; i < n_dev; i++)
        if (dev[i].t0_ns < base) base = dev[i].t0_ns;
    if (base == INT64_MAX) base = 0;

    const is_prof_event **hs = is_xmalloc((nh ? nh : 1) * sizeof *hs);
    for (size_t i = 0; i < nh; i++) hs[i] = &host->events[i];
    qsort(hs, nh, sizeof *hs, cmp_host);
    const is_prof_device_event **ds = is_xmalloc((n_dev ? n_dev : 1) * sizeof *ds);
    for (size_t i = 0; i < n_dev; i++) ds[i] = &dev[i];
    qsort(ds, n_dev, sizeof *ds, cmp_dev);

    cJSON *doc = cJSON_CreateObject();
    cJSON *events = cJSON_AddArrayToObject(doc, "traceEvents");
    add_meta(events, "process_name", IS_PID_HOST, 0, "inferscope host (NVTX ranges)");
    char label[64];
    for (size_t i = 0; i < nh; i++) {
        const is_prof_event *e = hs[i];
        if (i == 0 || hs[i - 1]->tid != e->tid) {
            snprintf(label, sizeof label, "thread %llu", (unsigned long long)e->tid);
            add_meta(events, "thread_name", IS_PID_HOST, e->tid, label);
        }
        bool ours = !strcmp(e->domain, "inferscope");
        const char *cat = ours ? is_prof_category_name((is_prof_category)e->category) : e->domain;
        cJSON *args = add_span(events, e->name, *cat ? cat : "nvtx", IS_PID_HOST, e->tid, e->t0_ns, e->t1_ns, base);
        cJSON_AddNumberToObject(args, "payload", (double)e->payload);
        if (!ours) cJSON_AddStringToObject(args, "domain", e->domain);
    }
    for (size_t i = 0; i < n_dev; i++) {
        const is_prof_device_event *e = ds[i];
        int pid = IS_PID_DEVICE + (int)e->device;
        if (i == 0 || ds[i - 1]->device != e->device) {
            snprintf(label, sizeof label, "CUDA device %u (CUPTI)", e->device);
            add_meta(events, "process_name", pid, 0, label);
        }
        if (i == 0 || ds[i - 1]->device != e->device || ds[i - 1]->stream != e->stream) {
            snprintf(label, sizeof label, "stream %u", e->stream);
            add_meta(events, "thread_name", pid, e->stream, label);
        }
        cJSON *args = add_span(events, e->name, is_prof_device_kind_name(e->kind), pid, e->stream, e->t0_ns,
                               e->t1_ns, base);
        cJSON_AddNumberToObject(args, "correlation", e->correlation);
        if (e->range) cJSON_AddStringToObject(args, "launched_in", e->range);
        if (e->phase) cJSON_AddStringToObject(args, "phase", e->phase);
    }
    cJSON_AddStringToObject(doc, "displayTimeUnit", "ms");
    cJSON *other = cJSON_AddObjectToObject(doc, "otherData");
    cJSON_AddStringToObject(other, "producer", "inferscope " IS_VERSION);
    cJSON_AddNumberToObject(other, "host_ranges", (double)nh);
    cJSON_AddNumberToObject(other, "device_records", (double)n_dev);
    cJSON_AddNumberToObject(other, "ranges_dropped", host ? (double)host->dropped : 0);
    cJSON_AddNumberToObject(other, "ranges_unbalanced", host ? (double)host->unbalanced : 0);
    if (note) cJSON_AddStringToObject(other, "note", note);
    free(hs);
    free(ds);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!text) return is_errf(err, "%s: out of memory while formatting the trace", path);
    int rc = is_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}
