// stoprule.c — see stoprule.h.
#include "bench/stoprule.h"

#include <math.h>

#include "base/stats.h" // defines: is_rel_noise

double is_stop_noise(const double *v, int n) { return n >= 2 ? is_rel_noise(v, n) / sqrt((double)n) : INFINITY; }

const char *is_stop_rule_check(const is_stop_rule *r, int count, double noise, double elapsed_s) {
    if (count >= r->min_n) {
        if (noise <= r->max_noise) return "noise";
        if (elapsed_s >= r->max_time_s) return "max_time";
    }
    return count >= r->max_n ? r->max_n_stop : 0;
}
