/*
 * detect-bench: the cost of one update of each change detector, in CPU time.
 *
 * usage: detect-bench [N]   (default 10,000,000 updates per detector)
 *
 * Each detector is fed the same N values from memory: a Bernoulli stream (p = 0.1, 1 = error)
 * whose rate jumps to 0.3 halfway for the binary detectors (ddm, eddm, hddm_a, hddm_w), a
 * Gaussian stream whose mean moves by 1 halfway for the others. In the same run a baseline loop
 * (a running mean over the same values) measures what reading the values costs. Prints one JSON
 * object per line: detector, updates, cpu_s, ns_per_update, updates_per_cpu_s, detections.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drift_op.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x243f6a8885a308d3ull;

static double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static int binary(const char *name)
{
    return strcmp(name, "ddm") == 0 || strcmp(name, "eddm") == 0 ||
           strcmp(name, "hddm_a") == 0 || strcmp(name, "hddm_w") == 0;
}

static void report(const char *name, size_t n, double cpu, long detections)
{
    printf("{\"detector\": \"%s\", \"updates\": %zu, \"cpu_s\": %.6f, \"ns_per_update\": %.2f, "
           "\"updates_per_cpu_s\": %.0f, \"detections\": %ld}\n",
           name, n, cpu, cpu / (double)n * 1e9, (double)n / cpu, detections);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 10000000;
    if (n < 2) {
        fprintf(stderr, "usage: detect-bench [N >= 2]\n");
        return 2;
    }
    double *bern = malloc(n * sizeof(double)), *gauss = malloc(n * sizeof(double));
    if (bern == NULL || gauss == NULL) {
        fprintf(stderr, "detect-bench: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        bern[i] = unif() < (i < n / 2 ? 0.1 : 0.3) ? 1.0 : 0.0;
        double u1 = unif(), u2 = unif();
        gauss[i] = sqrt(-2 * log(u1 + 1e-300)) * cos(2 * M_PI * u2) + (i < n / 2 ? 0 : 1);
    }
    /* Baseline: a running mean over the Gaussian values (the floor of any per-value work). */
    double t0 = cpu_now(), mean = 0;
    for (size_t i = 0; i < n; i++) {
        mean += (gauss[i] - mean) / (double)(i + 1);
        __asm__ volatile("" : : "g"(&mean) : "memory");
    }
    report("baseline_running_mean", n, cpu_now() - t0, 0);
    for (int k = 0; drift_detectors[k] != NULL; k++) {
        const struct drift_detector_ops *ops = drift_detectors[k];
        char err[256];
        struct drift_detector *d = ops->create(NULL, 0, err, sizeof(err));
        if (d == NULL) {
            fprintf(stderr, "detect-bench: %s: %s\n", ops->name, err);
            return 1;
        }
        const double *x = binary(ops->name) ? bern : gauss;
        long det = 0;
        t0 = cpu_now();
        for (size_t i = 0; i < n; i++) {
            det += (ops->update(d, x[i]) & DRIFT_DETECT_DRIFT) != 0;
        }
        double cpu = cpu_now() - t0;
        report(ops->name, n, cpu, det);
        ops->destroy(d);
    }
    free(bern);
    free(gauss);
    return 0;
}
