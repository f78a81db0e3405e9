/* The drift statistics, by the name the config uses. Adding one is one file and one line. */
#include <string.h>

#include "drift_op.h"

extern const struct drift_stat_ops drift_stat_psi;
extern const struct drift_stat_ops drift_stat_ks;
extern const struct drift_stat_ops drift_stat_kl;
extern const struct drift_stat_ops drift_stat_js;
extern const struct drift_stat_ops drift_stat_hellinger;
extern const struct drift_stat_ops drift_stat_linf;
extern const struct drift_stat_ops drift_stat_unseen;
extern const struct drift_stat_ops drift_stat_chi2;
extern const struct drift_stat_ops drift_stat_wasserstein;
extern const struct drift_stat_ops drift_stat_cvm;
extern const struct drift_stat_ops drift_stat_anderson;

const struct drift_stat_ops *const drift_stats[] = {
    &drift_stat_psi,  &drift_stat_ks,     &drift_stat_kl,   &drift_stat_js,
    &drift_stat_hellinger, &drift_stat_linf, &drift_stat_unseen, &drift_stat_chi2,
    &drift_stat_wasserstein, &drift_stat_cvm, &drift_stat_anderson, NULL};

const struct drift_stat_ops *drift_stat_find(const char *name)
{
    for (int i = 0; drift_stats[i] != NULL; i++) {
        if (strcmp(drift_stats[i]->name, name) == 0) {
            return drift_stats[i];
        }
    }
    return NULL;
}
