// test_resume_torture.c — `inferscope bench --out DIR --resume` interrupted at any
// moment (long runs). One sweep of 12 short points on preset:tiny is started again
// and again with --resume and stopped each time, in turn: SIGKILL after a random
// delay (in start-up, inside a point, between points); SIGKILL right after
// results.json is replaced, or while the temporary file of a write is there (the
// write window); Ctrl-C (the graceful stop: exit 130); Ctrl-C twice (the second
// stops at once). After every stop:
// - every file in --out parses: results.json (is_results_load), results.csv (RFC
//   4180, every row as wide as the header), report.md (its table) and, once a run
//   has finished, the trace (JSON);
// - nothing else is there but, after a kill, at most one temporary of the write in
//   flight; none after a clean exit;
// - every finished point is in results.json once, with status ok, and stays there
//   (points lost: 0); results.csv and report.md hold the same points, or all but
//   the last (they are written after results.json).
// A sweep that completes holds the point set of an uninterrupted run. The delays
// come from a seed printed first: IS_TORTURE_SEED=N draws the same ones again (the
// machine's timing still varies).
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/rng.h"         // defines: is_rng_seed, is_rng_next, is_rng_uniform
#include "reports/results.h"  // defines: is_results_load, is_results_point_key
#include "support/testutil.h"

#define N_TRIALS 120
#define MAX_POINTS 16
#define KEY_LEN 512
#define MAX_FIELDS 128

typedef char point_keys[MAX_POINTS][KEY_LEN];

// The files a finished run leaves in --out (the trace is asked for there).
static const char *const out_files[] = {"results.json", "results.csv", "report.md", "report.html", "trace.json"};
#define N_OUT_FILES 5

typedef enum {
    KILL_AT_RANDOM,  // SIGKILL after a random delay
    KILL_ON_REPLACE, // SIGKILL right after results.json is replaced (a random 0-3 times)
    KILL_ON_TEMP,    // SIGKILL while a temporary file of a write is there
    CTRL_C,          // SIGINT after a random delay
    CTRL_C_TWICE,    // SIGINT, and again 0-3 ms later
    N_KINDS
} trial_kind;

static const char *const kind_names[N_KINDS] = {"SIGKILL at a random moment", "SIGKILL after results.json is replaced",
                                                "SIGKILL while a temporary file is there", "Ctrl-C", "Ctrl-C twice"};
// Two kills at random in every six trials.
static const trial_kind schedule[] = {KILL_AT_RANDOM, KILL_ON_REPLACE, KILL_AT_RANDOM, KILL_ON_TEMP, CTRL_C,
                                      CTRL_C_TWICE};

typedef struct torture {
    char dir[256], out[512], err_path[600];
    uint64_t seed;
    is_rng rng;
    char ctx[256];           // the seed and the trial, for every message
    point_keys ref;          // the uninterrupted run's points
    int n_ref;
    double t_start, t_point; // its start-up (to the first results.json) and time per point, seconds
    point_keys known;        // the points in results.json after the last stop
    int n_known;
    int n_kind[N_KINDS], finished_first, rounds, lost;
    int temps_left, views_behind; // stops that left a temporary file; results.csv or report.md behind
    int at_start, in_write, in_sweep; // where the stops landed: before the run's first write, inside a
                                      // write, inside or between points
} torture;

static torture T;

// ---- running the sweep ------------------------------------------------------------------

static pid_t sweep_spawn(const char *out, const char *err_path) {
    char trace[700];
    snprintf(trace, sizeof trace, "%s/trace.json", out);
    const char *args[] = {"bench", "--model", "preset:tiny", "-b", "1,2", "-p", "8,16,24", "-n", "2,4", "-r", "2",
                          "--max-time", "0.03", "--max-noise", "0", "--threads", "1", "--no-probe", "--out", out,
                          "--trace", trace, "--resume", NULL};
    return tu_spawn_cli(args, err_path);
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

// Whether pid has exited (its wait status in *st); never blocks.
static bool child_exited(pid_t pid, int *st) {
    pid_t r = waitpid(pid, st, WNOHANG);
    cr_assert_neq(r, -1, "%s: waitpid: no such child", T.ctx);
    return r == pid;
}

// Waits for pid to exit; a run that outlives timeout_s is killed and fails the test.
static int child_wait(pid_t pid, double timeout_s) {
    int st;
    double t0 = is_now_s();
    while (!child_exited(pid, &st)) {
        if (is_now_s() - t0 > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            cr_assert_fail("%s: the run did not end within %.0f s", T.ctx, timeout_s);
        }
        sleep_us(500);
    }
    return st;
}

// Each wait_* returns true when pid exited first (its status in *st).
static bool wait_delay(pid_t pid, double seconds, int *st) {
    for (double until = is_now_s() + seconds; is_now_s() < until; sleep_us(200))
        if (child_exited(pid, st)) return true;
    return false;
}

// A file's identity: whether it is there, its inode, size and time.
typedef struct file_id {
    bool there;
    struct stat st;
} file_id;

static file_id file_id_of(const char *path) {
    file_id f = {0};
    f.there = stat(path, &f.st) == 0;
    return f;
}

// Whether path was replaced (or appeared) between a and b.
static bool file_id_changed(const file_id *a, const file_id *b) {
    if (a->there != b->there) return true;
    return a->there && (a->st.st_ino != b->st.st_ino || a->st.st_size != b->st.st_size ||
                        a->st.st_mtim.tv_sec != b->st.st_mtim.tv_sec || a->st.st_mtim.tv_nsec != b->st.st_mtim.tv_nsec);
}

static bool has_temp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) found = strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return found;
}

// What a trial watches for in --out, polled every 100 us: results.json replaced
// (or appearing), or a temporary file appearing.
typedef struct watch {
    const char *path;  // results.json, or --out for temporaries
    bool temps;        // watch for temporaries
    file_id last;      // results.json as last seen
    bool had_temp;     // a temporary was there at the last look
} watch;

static bool watch_event(watch *w) {
    if (w->temps) {
        bool has = has_temp(w->path), event = has && !w->had_temp;
        w->had_temp = has;
        return event;
    }
    file_id cur = file_id_of(w->path);
    bool event = file_id_changed(&w->last, &cur);
    w->last = cur;
    return event;
}

// Until w has seen more than skip events.
static bool wait_watch(pid_t pid, watch *w, int skip, int *st) {
    watch_event(w); // what is there at the start
    for (int seen = 0;;) {
        if (child_exited(pid, st)) return true;
        if (watch_event(w) && ++seen > skip) return false;
        sleep_us(100);
    }
}

// ---- reading --out --------------------------------------------------------------------------

static bool key_in(const point_keys keys, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i], key)) return true;
    return false;
}

// Appends key, which must not be there yet.
static void key_add(point_keys keys, int *n, const char *key, const char *file) {
    cr_assert(!key_in(keys, *n, key), "%s: %s holds a point twice: %s", T.ctx, file, key);
    cr_assert_lt(*n, MAX_POINTS, "%s: %s holds too many points", T.ctx, file);
    snprintf(keys[(*n)++], KEY_LEN, "%s", key);
}

// A point's key from the text of its config fields (names[c], vals[c]), in the
// order and form of is_results_point_key.
static void key_from_cells(char *const *names, char *const *vals, int ncells, const char *file, char *key) {
    size_t used = 0;
    key[0] = 0;
    for (int f = 0; f < is_schema_n_bench_fields; f++) {
        const char *name = is_schema_bench_fields[f].name;
        int c = 0;
        while (c < ncells && strcmp(names[c], name)) c++;
        cr_assert_lt(c, ncells, "%s: %s has no column %s", T.ctx, file, name);
        used += (size_t)snprintf(key + used, KEY_LEN - used, "%s%s=%s", f ? ";" : "", name, vals[c]);
        cr_assert_lt(used, KEY_LEN);
    }
}

// results.json's points (each status ok and a point of the sweep); false when
// there is no results.json.
static bool json_keys(const char *out, point_keys keys, int *n) {
    char path[700], key[KEY_LEN];
    snprintf(path, sizeof path, "%s/results.json", out);
    *n = 0;
    struct stat st;
    if (stat(path, &st)) return false;
    cJSON *doc = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_results_load(path, &doc, &err), 0, "%s: %s", T.ctx, err.msg);
    const cJSON *pt;
    cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(doc, "points")) {
        cr_assert_eq(is_results_point_key(pt, key, sizeof key), 0, "%s", T.ctx);
        cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pt, "status")), "ok", "%s: %s", T.ctx,
                         key);
        if (T.n_ref) cr_assert(key_in(T.ref, T.n_ref, key), "%s: not a point of the sweep: %s", T.ctx, key);
        key_add(keys, n, key, "results.json");
    }
    cJSON_Delete(doc);
    return true;
}

// Splits RFC 4180 text at *p into the fields of one record (malloc'd, in f[]);
// asserts that quotes close and the record ends with a line break.
static int csv_record(const char **p, char **f, const char *file) {
    int nf = 0;
    for (;;) {
        cr_assert_lt(nf, MAX_FIELDS, "%s: %s: too many fields", T.ctx, file);
        const char *s = *p;
        size_t cap = strlen(s) + 1, k = 0;
        char *v = malloc(cap);
        if (*s == '"') {
            for (s++;; s++) {
                cr_assert(*s, "%s: %s: a quoted field is not closed", T.ctx, file);
                if (*s == '"' && s[1] == '"') v[k++] = *s++;
                else if (*s == '"') break;
                else v[k++] = *s;
            }
            s++;
        } else {
            while (*s && *s != ',' && *s != '\n' && *s != '"') v[k++] = *s++;
        }
        v[k] = 0;
        f[nf++] = v;
        cr_assert(*s == ',' || *s == '\n', "%s: %s: a field ends in '%c', not a comma or a line break", T.ctx, file,
                  *s ? *s : '0');
        *p = s + 1;
        if (*s == '\n') return nf;
    }
}

static void cells_free(char **c, int n) {
    for (int i = 0; i < n; i++) free(c[i]);
}

// results.csv's points; false when there is none.
static bool csv_keys(const char *out, point_keys keys, int *n) {
    char path[700], key[KEY_LEN];
    snprintf(path, sizeof path, "%s/results.csv", out);
    *n = 0;
    char *text = tu_read_file(path, NULL);
    if (!text) return false;
    char *head[MAX_FIELDS], *row[MAX_FIELDS];
    const char *p = text;
    cr_assert(*p, "%s: results.csv is empty", T.ctx);
    int nh = csv_record(&p, head, "results.csv");
    while (*p) {
        int nr = csv_record(&p, row, "results.csv");
        cr_assert_eq(nr, nh, "%s: results.csv: a row of %d fields under a header of %d", T.ctx, nr, nh);
        key_from_cells(head, row, nh, "results.csv", key);
        key_add(keys, n, key, "results.csv");
        cells_free(row, nr);
    }
    cells_free(head, nh);
    free(text);
    return true;
}

// The cells of a Markdown table row ("| a | b |"), trimmed, in place.
static int md_cells(char *line, char **c) {
    int n = 0;
    char *s = line + 1;
    for (char *bar; (bar = strchr(s, '|')); s = bar + 1) {
        *bar = 0;
        while (*s == ' ') s++;
        for (char *e = bar - 1; e >= s && *e == ' '; e--) *e = 0;
        cr_assert_lt(n, MAX_FIELDS);
        c[n++] = s;
    }
    return n;
}

// report.md's points: the rows of its table (none before the first point);
// false when there is no report.md.
static bool md_keys(const char *out, point_keys keys, int *n) {
    char path[700], key[KEY_LEN];
    snprintf(path, sizeof path, "%s/report.md", out);
    *n = 0;
    char *text = tu_read_file(path, NULL);
    if (!text) return false;
    cr_assert(!strncmp(text, "# inferscope bench", 18), "%s: report.md starts with its title", T.ctx);
    char *line = strstr(text, "\n| ");
    char *head[MAX_FIELDS], *sep[MAX_FIELDS], *row[MAX_FIELDS];
    if (line) {
        line++;
        char *next = strchr(line, '\n');
        cr_assert(next, "%s: report.md ends inside its table", T.ctx);
        *next = 0;
        int nh = md_cells(line, head);
        line = next + 1;
        next = strchr(line, '\n');
        cr_assert(next && line[0] == '|', "%s: report.md: no line under the table's header", T.ctx);
        *next = 0;
        cr_assert_eq(md_cells(line, sep), nh, "%s: report.md: the header's underline", T.ctx);
        for (int c = 0; c < nh; c++) cr_assert(strspn(sep[c], "-:") == strlen(sep[c]) && *sep[c], "%s", T.ctx);
        for (line = next + 1; line[0] == '|'; line = next + 1) {
            next = strchr(line, '\n');
            cr_assert(next, "%s: report.md ends inside its table", T.ctx);
            *next = 0;
            int nr = md_cells(line, row);
            cr_assert_eq(nr, nh, "%s: report.md: a row of %d cells under a header of %d", T.ctx, nr, nh);
            key_from_cells(head, row, nh, "report.md", key);
            key_add(keys, n, key, "report.md");
        }
    }
    free(text);
    return true;
}

// The trace parses and holds its events; false when there is none.
static bool trace_parses(const char *out) {
    char path[700];
    snprintf(path, sizeof path, "%s/trace.json", out);
    char *text = tu_read_file(path, NULL);
    if (!text) return false;
    cJSON *doc = cJSON_Parse(text);
    cr_assert_not_null(doc, "%s: trace.json is not JSON", T.ctx);
    cr_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "traceEvents")), "%s: trace.json", T.ctx);
    cJSON_Delete(doc);
    free(text);
    return true;
}

// Counts the temporary files of an interrupted write (NAME.tmp.XXXXXX of a file
// in out_files; their names into names); anything else that is not in out_files
// fails the test. -1: no directory yet.
static int out_temps(const char *out, char *names, size_t n) {
    DIR *d = opendir(out);
    if (!d) return -1;
    int temps = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        bool known = false;
        for (int f = 0; f < N_OUT_FILES && !known; f++) {
            size_t l = strlen(out_files[f]);
            if (!strcmp(e->d_name, out_files[f])) known = true;
            else if (!strncmp(e->d_name, out_files[f], l) && !strncmp(e->d_name + l, ".tmp.", 5) &&
                     strlen(e->d_name + l + 5) == 6) {
                known = true;
                temps++;
                size_t used = strlen(names);
                snprintf(names + used, n - used, " %s", e->d_name);
            }
        }
        cr_assert(known, "%s: unexpected file in --out: %s", T.ctx, e->d_name);
    }
    closedir(d);
    return temps;
}

// A view of results.json (results.csv, report.md): the same points, or all but
// its last one (written before the view when the stop came in between). Returns
// whether it was behind.
static bool view_check(const point_keys json, int n_json, const point_keys view, int n_view, const char *file) {
    for (int i = 0; i < n_view; i++)
        cr_assert(key_in(json, n_json, view[i]), "%s: %s holds a point results.json lacks: %s", T.ctx, file, view[i]);
    cr_assert_geq(n_view, n_json - 1, "%s: %s holds %d points, results.json %d", T.ctx, file, n_view, n_json);
    if (n_view == n_json) return false;
    cr_assert(!key_in(view, n_view, json[n_json - 1]), "%s: %s lacks a point other than the last", T.ctx, file);
    return true;
}

// Everything the header promises of --out after a stop. clean: the run exited
// (0 or 130) rather than being killed. Returns whether the stop came inside a
// write (a temporary file left, or a view behind results.json).
static bool out_check(bool clean) {
    char names[1024] = "";
    int temps = out_temps(T.out, names, sizeof names);
    if (temps < 0) { // killed before its first write
        cr_assert_eq(T.n_known, 0, "%s: --out is gone", T.ctx);
        return false;
    }
    cr_assert_leq(temps, clean ? 0 : 1, "%s: temporary files in --out after %s:%s", T.ctx,
                  clean ? "a clean exit" : "a kill", names);
    T.temps_left += temps > 0;

    static point_keys keys, csv, md;
    int n = 0, n_csv = 0, n_md = 0;
    if (!json_keys(T.out, keys, &n)) cr_assert_eq(T.n_known, 0, "%s: results.json is gone", T.ctx);
    for (int i = 0; i < T.n_known; i++)
        if (!key_in(keys, n, T.known[i])) {
            T.lost++;
            cr_assert_fail("%s: a finished point is no longer in results.json: %s", T.ctx, T.known[i]);
        }
    memcpy(T.known, keys, sizeof keys);
    T.n_known = n;
    csv_keys(T.out, csv, &n_csv);
    md_keys(T.out, md, &n_md);
    bool behind = view_check(keys, n, csv, n_csv, "results.csv");
    behind |= view_check(keys, n, md, n_md, "report.md");
    T.views_behind += behind;
    trace_parses(T.out);
    return temps > 0 || behind;
}

// After a run that exited 0: the uninterrupted run's points, in every file.
static void out_check_complete(void) {
    static point_keys keys;
    int n = 0;
    char names[1024] = "";
    cr_assert_eq(out_temps(T.out, names, sizeof names), 0, "%s: temporary files in --out:%s", T.ctx, names);
    cr_assert(json_keys(T.out, keys, &n), "%s", T.ctx);
    cr_assert_eq(n, T.n_ref, "%s: %d points, the uninterrupted run has %d", T.ctx, n, T.n_ref);
    cr_assert(csv_keys(T.out, keys, &n) && n == T.n_ref, "%s: results.csv holds %d points", T.ctx, n);
    cr_assert(md_keys(T.out, keys, &n) && n == T.n_ref, "%s: report.md holds %d points", T.ctx, n);
    cr_assert(trace_parses(T.out), "%s: no trace.json", T.ctx);
}

static char *err_text(void) {
    char *e = tu_read_file(T.err_path, NULL);
    return e ? e : strdup("");
}

// ---- the trials -----------------------------------------------------------------------------

// The uninterrupted run: its points, start-up time and time per point.
static void reference_run(void) {
    snprintf(T.ctx, sizeof T.ctx, "seed %llu, the uninterrupted run", (unsigned long long)T.seed);
    char out[600];
    snprintf(out, sizeof out, "%s/reference", T.dir);
    double t0 = is_now_s();
    pid_t pid = sweep_spawn(out, T.err_path);
    char path[700];
    snprintf(path, sizeof path, "%s/results.json", out);
    struct stat st;
    int ws;
    bool exited = false;
    while (stat(path, &st) && !(exited = child_exited(pid, &ws))) sleep_us(200);
    T.t_start = is_now_s() - t0;
    if (!exited) ws = child_wait(pid, 120);
    double t_all = is_now_s() - t0;
    char *e = err_text();
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the uninterrupted run: status %d: %s", ws, e);
    free(e);
    int n = 0;
    json_keys(out, T.ref, &n); // T.n_ref is 0 while it reads: any point is one of the sweep
    T.n_ref = n;
    cr_assert_eq(T.n_ref, 12, "the sweep has 12 points");
    T.t_point = (t_all - T.t_start) / T.n_ref;
    tu_rm_rf(out);
}

// One run of the sweep with --resume, stopped as kind says, then --out checked.
// Returns true when the run exited 0 (the sweep is complete).
static bool trial(int i, trial_kind kind) {
    // every draw is made up front, so a seed draws the same delays whatever happens
    double u = is_rng_uniform(&T.rng) * 1.1;
    int skip = (int)(is_rng_next(&T.rng) % 4);
    long extra_us = (long)(is_rng_next(&T.rng) % 3000); // after the trigger; a third of KILL_ON_REPLACE: none
    snprintf(T.ctx, sizeof T.ctx, "seed %llu, trial %d (%s)", (unsigned long long)T.seed, i, kind_names[kind]);
    T.n_kind[kind]++;

    char json[700];
    snprintf(json, sizeof json, "%s/results.json", T.out);
    file_id before = file_id_of(json);
    pid_t pid = sweep_spawn(T.out, T.err_path);
    double expected = T.t_start + (T.n_ref - T.n_known) * T.t_point; // what is left of the sweep, seconds
    int st = 0, sig = kind == CTRL_C || kind == CTRL_C_TWICE ? SIGINT : SIGKILL;
    bool exited;
    switch (kind) {
    case KILL_ON_REPLACE:
        exited = wait_watch(pid, &(watch){.path = json}, skip, &st) ||
                 wait_delay(pid, (extra_us % 3 ? extra_us : 0) * 1e-6, &st);
        break;
    case KILL_ON_TEMP: exited = wait_watch(pid, &(watch){.path = T.out, .temps = true}, skip, &st); break;
    default: exited = wait_delay(pid, u * expected, &st); break;
    }
    if (!exited) {
        kill(pid, sig);
        exited = kind == CTRL_C_TWICE && wait_delay(pid, (double)extra_us * 1e-6, &st);
        if (kind == CTRL_C_TWICE && !exited) kill(pid, SIGINT);
        if (!exited) st = child_wait(pid, 60);
    }
    bool killed = WIFSIGNALED(st) && WTERMSIG(st) == sig, ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    bool interrupted = sig == SIGINT && WIFEXITED(st) && WEXITSTATUS(st) == 130;
    char *e = err_text();
    cr_assert(ok || killed || interrupted, "%s: wait status %d: %s", T.ctx, st, e);
    free(e);
    T.finished_first += ok;
    file_id after = file_id_of(json);
    bool in_write = out_check(!killed);
    if (ok) return true;
    if (in_write) T.in_write++;
    else if (!file_id_changed(&before, &after)) T.at_start++;
    else T.in_sweep++;
    return false;
}

Test(resume_torture, killed_at_any_moment_loses_no_point, .timeout = 600) {
    const char *env = getenv("IS_TORTURE_SEED");
    T.seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    fprintf(stderr, "resume torture: seed %llu (IS_TORTURE_SEED=%llu draws the same delays)\n",
            (unsigned long long)T.seed, (unsigned long long)T.seed);
    is_rng_seed(&T.rng, T.seed);
    tu_mkdtemp(T.dir, sizeof T.dir);
    snprintf(T.out, sizeof T.out, "%s/run", T.dir);
    snprintf(T.err_path, sizeof T.err_path, "%s/stderr.txt", T.dir);
    double t0 = is_now_s();
    reference_run();

    for (int i = 0; i < N_TRIALS; i++) {
        if (!trial(i, schedule[i % (int)(sizeof schedule / sizeof schedule[0])])) continue;
        out_check_complete();
        T.rounds++;
        tu_rm_rf(T.out);
        T.n_known = 0;
    }
    snprintf(T.ctx, sizeof T.ctx, "seed %llu, the last resume", (unsigned long long)T.seed);
    struct stat st;
    if (stat(T.out, &st) == 0) { // the sweep in progress, run to its end
        int ws = child_wait(sweep_spawn(T.out, T.err_path), 120);
        char *e = err_text();
        cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s: status %d: %s", T.ctx, ws, e);
        free(e);
        out_check(true);
        out_check_complete();
        T.rounds++;
    }
    fprintf(stderr,
            "resume torture: seed %llu: %d stops (%d %s, %d %s, %d %s, %d %s, %d %s), %d runs finished before "
            "their stop; where they landed: %d before the run's first write, %d inside a write (%d left a "
            "temporary file, %d left results.csv or report.md a point behind), %d inside or between points; %d "
            "sweeps of %d points completed (start-up %.0f ms, %.0f ms a point); points lost: %d; %.1f s\n",
            (unsigned long long)T.seed, N_TRIALS, T.n_kind[0], kind_names[0], T.n_kind[1], kind_names[1],
            T.n_kind[2], kind_names[2], T.n_kind[3], kind_names[3], T.n_kind[4], kind_names[4], T.finished_first,
            T.at_start, T.in_write, T.temps_left, T.views_behind, T.in_sweep, T.rounds, T.n_ref, T.t_start * 1e3,
            T.t_point * 1e3, T.lost, is_now_s() - t0);
    cr_assert_eq(T.lost, 0);
    tu_rm_rf(T.dir);
}
