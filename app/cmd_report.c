// cmd_report.c — `inferscope report DIR|FILE.json [--out FILE] [--format F]`: the
// page (or table) of a result file written by bench, profile, kernels or
// serve-bench, of this version of the schema or an earlier one, so old runs can
// be viewed.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app.h"
#include "base/fileio.h"     // defines: is_write_file_atomic
#include "reports/results.h" // defines: is_results_load, is_results_to_format

static const char *report_help =
    "usage: inferscope report DIR|FILE.json [--out FILE] [--format html|md|csv|json]\n"
    "\n"
    "Renders a result file of bench, profile, kernels or serve-bench (DIR: its results.json).\n"
    "  --format F   html (default): one self-contained page, charts as inline SVG, every table of\n"
    "               report.md below them; it opens offline from disk. md, csv, json: as --out writes them\n"
    "  --out FILE   where to write it (written whole or not at all); '-' for stdout. Default: report.html\n"
    "               (report.md, results.csv, results.json) beside the results file\n"
    "Exit status: 0, 1 the file could not be written, 2 bad usage or a file that is not a result file.\n";

int is_cmd_report(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *format = "html";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(report_help, stdout);
            return 0;
        }
        if (!strcmp(a, "--out") || !strcmp(a, "-o") || !strcmp(a, "--format")) {
            if (i + 1 >= argc) return is_app_usage("report", "flag %s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--format")) {
                if (strcmp(v, "html") && strcmp(v, "md") && strcmp(v, "csv") && strcmp(v, "json"))
                    return is_app_usage("report", "--format '%s': expected html, md, csv or json", v);
                format = v;
            } else {
                out = v;
            }
            continue;
        }
        if (a[0] == '-' && a[1]) return is_app_usage("report", "unknown flag '%s'", a);
        if (in) return is_app_usage("report", "unexpected argument '%s': give one result file or directory", a);
        in = a;
    }
    if (!in) return is_app_usage("report", "a result file (results.json) or the directory holding one is needed");
    char path[4096], dir[4096];
    struct stat st;
    if (stat(in, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(path, sizeof path, "%s/results.json", in);
        snprintf(dir, sizeof dir, "%s", in);
    } else {
        snprintf(path, sizeof path, "%s", in);
        const char *slash = strrchr(in, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - in) : 1, slash ? in : ".");
    }
    is_err err = {{0}};
    cJSON *doc = NULL;
    if (is_results_load(path, &doc, &err)) {
        fprintf(stderr, "inferscope report: %s\n", err.msg);
        return IS_EXIT_USAGE;
    }
    char *text = is_results_to_format(doc, format);
    cJSON_Delete(doc);
    int rc = 0;
    if (out && !strcmp(out, "-")) {
        fputs(text, stdout);
    } else {
        char def[4200];
        const char *name = !strcmp(format, "html") ? "report.html" : !strcmp(format, "md") ? "report.md"
                           : !strcmp(format, "csv") ? "results.csv" : "results.json";
        snprintf(def, sizeof def, "%s/%s", dir, name);
        const char *dst = out ? out : def;
        if (!out && !strcmp(name, "results.json") && !strcmp(def, path)) {
            dst = NULL; // rendering a file as itself: nothing to write
            fputs(text, stdout);
        }
        if (dst && is_write_file_atomic(dst, text, strlen(text), &err)) {
            fprintf(stderr, "inferscope report: %s\n", err.msg);
            rc = 1;
        } else if (dst) {
            fprintf(stderr, "report: %s\n", dst);
        }
    }
    free(text);
    return rc;
}
