// kernel_table.c — see kernel_table.h. Attribution is one sweep per thread over
// the captured ranges and the API records in time order, with the stack of
// ranges open at each moment; then device records find their API record by
// correlation id (binary search).
#include "profiles/kernel_table.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"  // defines: is_xmalloc, is_xrealloc, is_xstrdup
#include "base/nvtx.h" // defines: is_prof_category

// ---- the collection ----------------------------------------------------------------

void is_prof_activity_add_dev(is_prof_activity *a, const is_prof_device_event *e) {
    if (a->n_dev == a->cap_dev) {
        a->cap_dev = a->cap_dev ? 2 * a->cap_dev : 1024;
        a->dev = is_xrealloc(a->dev, a->cap_dev * sizeof *a->dev);
    }
    is_prof_device_event *d = &a->dev[a->n_dev++];
    *d = *e;
    d->name = is_xstrdup(e->name ? e->name : "");
}

void is_prof_activity_add_api(is_prof_activity *a, const is_prof_api_record *r) {
    if (a->n_api == a->cap_api) {
        a->cap_api = a->cap_api ? 2 * a->cap_api : 1024;
        a->api = is_xrealloc(a->api, a->cap_api * sizeof *a->api);
    }
    a->api[a->n_api++] = *r;
}

void is_prof_activity_free(is_prof_activity *a) {
    for (size_t i = 0; i < a->n_dev; i++) free(a->dev[i].name);
    free(a->dev);
    free(a->api);
    memset(a, 0, sizeof *a);
}

// ---- attribution -----------------------------------------------------------------------

static bool is_phase(const is_prof_event *e) {
    if (strcmp(e->domain, "inferscope")) return false;
    return e->category == IS_PROF_CAT_TOKENIZER || e->category == IS_PROF_CAT_PREFILL ||
           e->category == IS_PROF_CAT_DECODE || e->category == IS_PROF_CAT_SAMPLE;
}

// One step of the sweep: a range opening, or an API call (at its start).
typedef struct sweep_item {
    uint64_t tid;
    int64_t t;
    int depth;                 // ranges: the parent first at equal times; API calls: after every range
    const is_prof_event *range; // NULL for an API call
    size_t api;                // index into the API records
} sweep_item;

static int cmp_item(const void *a, const void *b) {
    const sweep_item *x = a, *y = b;
    if (x->tid != y->tid) return x->tid < y->tid ? -1 : 1;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return (x->depth > y->depth) - (x->depth < y->depth);
}

typedef struct open_entry {
    const is_prof_event *range;
    const is_prof_event *phase; // the outermost phase range at or below this entry
} open_entry;

// The launch context of each API record (range_of, phase_of: NULL when none)
// and, per outermost phase range, a callback to sum its wall time.
typedef void (*phase_range_fn)(void *user, const is_prof_event *phase);

static void sweep(const is_prof_activity *a, const is_prof_capture *host, const char **range_of,
                  const char **phase_of, phase_range_fn on_phase, void *user) {
    size_t nh = host ? host->n : 0, n = nh + a->n_api;
    sweep_item *items = is_xmalloc((n ? n : 1) * sizeof *items);
    for (size_t i = 0; i < nh; i++) {
        const is_prof_event *e = &host->events[i];
        items[i] = (sweep_item){.tid = e->tid, .t = e->t0_ns, .depth = e->depth, .range = e};
    }
    for (size_t i = 0; i < a->n_api; i++)
        items[nh + i] = (sweep_item){.tid = a->api[i].tid, .t = a->api[i].t0_ns, .depth = 1 << 30, .api = i};
    qsort(items, n, sizeof *items, cmp_item);
    open_entry *stack = is_xmalloc((nh + 1) * sizeof *stack);
    size_t top = 0;
    for (size_t i = 0; i < n; i++) {
        const sweep_item *it = &items[i];
        if (i > 0 && items[i - 1].tid != it->tid) top = 0;
        while (top > 0 && stack[top - 1].range->t1_ns < it->t) top--; // ended before this moment
        if (it->range) {
            // the capture's depths give the nesting: siblings that touch are not parents
            while (top > 0 && stack[top - 1].range->depth >= it->range->depth) top--;
            const is_prof_event *below = top > 0 ? stack[top - 1].phase : NULL;
            const is_prof_event *ph = below ? below : is_phase(it->range) ? it->range : NULL;
            if (!below && ph && on_phase) on_phase(user, ph);
            stack[top++] = (open_entry){it->range, ph};
        } else {
            range_of[it->api] = top > 0 ? stack[top - 1].range->name : NULL;
            phase_of[it->api] = top > 0 && stack[top - 1].phase ? stack[top - 1].phase->name : NULL;
        }
    }
    free(stack);
    free(items);
}

typedef struct api_ref {
    uint32_t correlation;
    size_t index;
} api_ref;

static int cmp_ref(const void *a, const void *b) {
    const api_ref *x = a, *y = b;
    if (x->correlation != y->correlation) return x->correlation < y->correlation ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static void attribute(is_prof_activity *a, const is_prof_capture *host, size_t *no_api, size_t *outside,
                      phase_range_fn on_phase, void *user) {
    size_t na = a->n_api;
    const char **range_of = is_xcalloc(na ? na : 1, sizeof *range_of);
    const char **phase_of = is_xcalloc(na ? na : 1, sizeof *phase_of);
    sweep(a, host, range_of, phase_of, on_phase, user);
    api_ref *refs = is_xmalloc((na ? na : 1) * sizeof *refs);
    for (size_t i = 0; i < na; i++) refs[i] = (api_ref){a->api[i].correlation, i};
    qsort(refs, na, sizeof *refs, cmp_ref);
    size_t missing = 0, out = 0;
    for (size_t i = 0; i < a->n_dev; i++) {
        is_prof_device_event *d = &a->dev[i];
        api_ref key = {d->correlation, 0};
        // the first record with this id (the runtime and the driver may both have one)
        size_t lo = 0, hi = na;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cmp_ref(&refs[mid], &key) < 0) lo = mid + 1;
            else hi = mid;
        }
        d->range = d->phase = NULL;
        if (lo >= na || refs[lo].correlation != d->correlation) {
            missing++;
            continue;
        }
        // prefer the record that has a phase around it (a driver call under a
        // runtime call shares the thread and the moment, so they agree in practice)
        size_t best = refs[lo].index;
        for (size_t k = lo; k < na && refs[k].correlation == d->correlation; k++)
            if (phase_of[refs[k].index]) {
                best = refs[k].index;
                break;
            }
        d->range = range_of[best];
        d->phase = phase_of[best];
        if (!d->phase) out++;
    }
    free(refs);
    free(range_of);
    free(phase_of);
    if (no_api) *no_api = missing;
    if (outside) *outside = out;
}

void is_prof_attribute(is_prof_activity *a, const is_prof_capture *host, size_t *no_api, size_t *outside) {
    attribute(a, host, no_api, outside, NULL, NULL);
}

// ---- the tables --------------------------------------------------------------------------

static is_prof_phase_table *phase_get(is_prof_kernel_tables *t, const char *phase) {
    for (size_t i = 0; i < t->n_phases; i++)
        if (!strcmp(t->phases[i].phase, phase)) return &t->phases[i];
    t->phases = is_xrealloc(t->phases, (t->n_phases + 1) * sizeof *t->phases);
    is_prof_phase_table *p = &t->phases[t->n_phases++];
    memset(p, 0, sizeof *p);
    p->phase = phase;
    return p;
}

static void add_phase_wall(void *user, const is_prof_event *ph) {
    is_prof_phase_table *p = phase_get(user, ph->name);
    p->ranges++;
    p->wall_ns += ph->t1_ns - ph->t0_ns;
}

static int cmp_row(const void *a, const void *b) {
    const is_prof_kernel_row *x = a, *y = b;
    if (x->total_ns != y->total_ns) return x->total_ns > y->total_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_phase(const void *a, const void *b) {
    const is_prof_phase_table *x = a, *y = b;
    bool ox = !strcmp(x->phase, IS_PROF_OUTSIDE), oy = !strcmp(y->phase, IS_PROF_OUTSIDE);
    if (ox != oy) return ox ? 1 : -1;
    if (x->kernel_ns != y->kernel_ns) return x->kernel_ns > y->kernel_ns ? -1 : 1;
    if (x->wall_ns != y->wall_ns) return x->wall_ns > y->wall_ns ? -1 : 1;
    return strcmp(x->phase, y->phase);
}

static int cmp_dev_phase_start(const void *a, const void *b) {
    const is_prof_device_event *x = *(const is_prof_device_event *const *)a;
    const is_prof_device_event *y = *(const is_prof_device_event *const *)b;
    const char *px = x->phase ? x->phase : IS_PROF_OUTSIDE, *py = y->phase ? y->phase : IS_PROF_OUTSIDE;
    int c = strcmp(px, py);
    if (c) return c;
    return (x->t0_ns > y->t0_ns) - (x->t0_ns < y->t0_ns);
}

void is_prof_kernel_tables_build(is_prof_activity *a, const is_prof_capture *host, is_prof_kernel_tables *out) {
    memset(out, 0, sizeof *out);
    attribute(a, host, &out->no_api, &out->outside, add_phase_wall, out);
    out->records = a->n_dev;
    out->dropped = a->dropped;
    // records grouped by phase, in start order within one: busy time is the union
    const is_prof_device_event **ds = is_xmalloc((a->n_dev ? a->n_dev : 1) * sizeof *ds);
    for (size_t i = 0; i < a->n_dev; i++) ds[i] = &a->dev[i];
    qsort(ds, a->n_dev, sizeof *ds, cmp_dev_phase_start);
    is_prof_phase_table *p = NULL;
    int64_t busy_end = INT64_MIN;
    for (size_t i = 0; i < a->n_dev; i++) {
        const is_prof_device_event *d = ds[i];
        const char *ph = d->phase ? d->phase : IS_PROF_OUTSIDE;
        if (!p || strcmp(p->phase, ph)) {
            p = phase_get(out, ph);
            busy_end = INT64_MIN;
        }
        int64_t dur = d->t1_ns > d->t0_ns ? d->t1_ns - d->t0_ns : 0;
        p->kernel_ns += dur;
        int64_t from = d->t0_ns > busy_end ? d->t0_ns : busy_end;
        if (d->t1_ns > from) p->busy_ns += d->t1_ns - from;
        if (d->t1_ns > busy_end) busy_end = d->t1_ns;
        is_prof_kernel_row *r = NULL;
        for (size_t k = 0; k < p->n_rows && !r; k++)
            if (p->rows[k].kind == d->kind && !strcmp(p->rows[k].name, d->name)) r = &p->rows[k];
        if (!r) {
            p->rows = is_xrealloc(p->rows, (p->n_rows + 1) * sizeof *p->rows);
            r = &p->rows[p->n_rows++];
            *r = (is_prof_kernel_row){.name = d->name, .kind = d->kind};
        }
        r->calls++;
        r->total_ns += dur;
        if (dur > r->max_ns) r->max_ns = dur;
    }
    free(ds);
    for (size_t i = 0; i < out->n_phases; i++)
        qsort(out->phases[i].rows, out->phases[i].n_rows, sizeof *out->phases[i].rows, cmp_row);
    qsort(out->phases, out->n_phases, sizeof *out->phases, cmp_phase);
}

void is_prof_kernel_tables_free(is_prof_kernel_tables *t) {
    for (size_t i = 0; i < t->n_phases; i++) free(t->phases[i].rows);
    free(t->phases);
    memset(t, 0, sizeof *t);
}

cJSON *is_prof_kernel_tables_json(const is_prof_kernel_tables *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "records", (double)t->records);
    cJSON_AddNumberToObject(o, "dropped_records", (double)t->dropped);
    cJSON_AddNumberToObject(o, "no_api_record", (double)t->no_api);
    cJSON_AddNumberToObject(o, "outside_ranges", (double)t->outside);
    cJSON *phases = cJSON_AddArrayToObject(o, "phases");
    for (size_t i = 0; i < t->n_phases; i++) {
        const is_prof_phase_table *p = &t->phases[i];
        cJSON *pj = cJSON_CreateObject();
        cJSON_AddStringToObject(pj, "phase", p->phase);
        cJSON_AddNumberToObject(pj, "ranges", (double)p->ranges);
        cJSON_AddNumberToObject(pj, "wall_ms", (double)p->wall_ns / 1e6);
        cJSON_AddNumberToObject(pj, "kernel_ms", (double)p->kernel_ns / 1e6);
        cJSON_AddNumberToObject(pj, "busy_ms", (double)p->busy_ns / 1e6);
        if (p->wall_ns > 0) cJSON_AddNumberToObject(pj, "share", (double)p->kernel_ns / (double)p->wall_ns);
        cJSON *ks = cJSON_AddArrayToObject(pj, "kernels");
        for (size_t k = 0; k < p->n_rows; k++) {
            const is_prof_kernel_row *r = &p->rows[k];
            char shortname[256];
            is_prof_kernel_short_name(r->name, shortname, sizeof shortname);
            cJSON *kj = cJSON_CreateObject();
            cJSON_AddStringToObject(kj, "name", shortname);
            if (strcmp(shortname, r->name)) cJSON_AddStringToObject(kj, "symbol", r->name);
            cJSON_AddStringToObject(kj, "kind", is_prof_device_kind_name(r->kind));
            cJSON_AddNumberToObject(kj, "calls", (double)r->calls);
            cJSON_AddNumberToObject(kj, "total_ms", (double)r->total_ns / 1e6);
            cJSON_AddNumberToObject(kj, "mean_ms", (double)r->total_ns / 1e6 / (double)r->calls);
            cJSON_AddNumberToObject(kj, "max_ms", (double)r->max_ns / 1e6);
            if (p->wall_ns > 0) cJSON_AddNumberToObject(kj, "share", (double)r->total_ns / (double)p->wall_ns);
            cJSON_AddItemToArray(ks, kj);
        }
        cJSON_AddItemToArray(phases, pj);
    }
    return o;
}

// ---- names -------------------------------------------------------------------------------

// Reads <length><identifier> at *s; returns the identifier's length (0: none).
static size_t source_name(const char **s, const char **id) {
    size_t len = 0;
    const char *p = *s;
    if (!isdigit((unsigned char)*p)) return 0;
    while (isdigit((unsigned char)*p)) {
        len = len * 10 + (size_t)(*p - '0');
        if (len > 4096) return 0;
        p++;
    }
    if (strnlen(p, len) < len) return 0;
    *id = p;
    *s = p + len;
    return len;
}

void is_prof_kernel_short_name(const char *name, char *buf, size_t n) {
    if (!n) return;
    snprintf(buf, n, "%s", name ? name : "");
    if (!name || strncmp(name, "_Z", 2)) return;
    const char *s = name + 2, *id;
    bool nested = *s == 'N';
    if (nested) {
        s++;
        while (*s == 'K' || *s == 'V' || *s == 'r') s++; // cv-qualifiers of a member function
    }
    char out[512];
    size_t used = 0, len;
    out[0] = 0;
    while ((len = source_name(&s, &id)) > 0) {
        int k = snprintf(out + used, sizeof out - used, "%s%.*s", used ? "::" : "", (int)len, id);
        if (k < 0 || (size_t)k >= sizeof out - used) return; // too long: the symbol as it is
        used += (size_t)k;
        if (!nested) break;
    }
    if (used) snprintf(buf, n, "%s", out);
}
