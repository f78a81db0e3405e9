/* The drift statistics, by the name the config uses. Adding one is one file and one line. */
#include <string.h>

#include "drift_op.h"

extern const struct drift_stat_ops drift_stat_psi;
extern const struct drift_stat_ops drift_stat_ks;

const struct drift_stat_ops *const drift_stats[] = {&drift_stat_psi, &drift_stat_ks, NULL};

const struct drift_stat_ops *drift_stat_find(const char *name)
{
    for (int i = 0; drift_stats[i] != NULL; i++) {
        if (strcmp(drift_stats[i]->name, name) == 0) {
            return drift_stats[i];
        }
    }
    return NULL;
}
