/* The online learners, by the name the config uses. */
#include <string.h>

#include "drift_op.h"

extern const struct drift_learner_ops drift_learner_logistic;
extern const struct drift_learner_ops drift_learner_linear;
extern const struct drift_learner_ops drift_learner_rls;

static const struct drift_learner_ops *const learners[] = {
    &drift_learner_logistic,
    &drift_learner_linear,
    &drift_learner_rls,
    NULL,
};

const struct drift_learner_ops *drift_learner_find(const char *name)
{
    for (int i = 0; learners[i] != NULL; i++) {
        if (strcmp(learners[i]->name, name) == 0) {
            return learners[i];
        }
    }
    return NULL;
}
