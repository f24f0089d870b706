// profile_md.h — the profile sections of report.md: kernel tables per phase and
// DRAM counters of each point (bench/profile.h), and one line per reason they
// are missing ("kernel tables: CUPTI unavailable: backend is cpu").
// Declares: is_results_profile_md.
#ifndef IS_REPORTS_PROFILE_MD_H
#define IS_REPORTS_PROFILE_MD_H

#include <cjson/cJSON.h>

#include "reports/text.h" // defines: is_strbuf

// Appends the sections of doc's points to b (nothing when no point has them).
void is_results_profile_md(is_strbuf *b, const cJSON *doc);

#endif
