/*
 * The detectors by name.
 */
#include <string.h>

#include "drift_op.h"

extern const struct drift_detector_ops drift_detector_adwin, drift_detector_ddm,
    drift_detector_eddm, drift_detector_hddm_a, drift_detector_hddm_w,
    drift_detector_page_hinkley, drift_detector_cusum, drift_detector_kswin;

const struct drift_detector_ops *const drift_detectors[] = {
    &drift_detector_adwin,
    &drift_detector_ddm,
    &drift_detector_eddm,
    &drift_detector_hddm_a,
    &drift_detector_hddm_w,
    &drift_detector_page_hinkley,
    &drift_detector_cusum,
    &drift_detector_kswin,
    NULL,
};

const struct drift_detector_ops *drift_detector_find(const char *name)
{
    for (int i = 0; drift_detectors[i] != NULL; i++) {
        if (strcmp(drift_detectors[i]->name, name) == 0) {
            return drift_detectors[i];
        }
    }
    return NULL;
}
