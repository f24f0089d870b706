// profile_md.h — the profile sections of report.md: kernel tables per phase and
// DRAM counters of each point (bench/profile.h), and one line per reason they
// are missing ("kernel tables: CUPTI unavailable: backend is cpu").
// Declares: is_results_profile_md, is_results_point_label, is_results_note_once.
#ifndef IS_REPORTS_PROFILE_MD_H
#define IS_REPORTS_PROFILE_MD_H

#include <cjson/cJSON.h>

#include "reports/text.h" // defines: is_strbuf

// Appends the sections of doc's points to b (nothing when no point has them).
void is_results_profile_md(is_strbuf *b, const cJSON *doc);

// "b=1 p=512 n=128 d=0 greedy default" of a bench point's config (section titles).
void is_results_point_label(const cJSON *p, char *buf, size_t n);
// Adds "- WHAT: REASON" to lines unless an equal line is there already.
void is_results_note_once(is_strbuf *lines, const char *what, const char *reason);

#endif
