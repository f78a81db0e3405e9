/*
 * Synthetic feature streams with a known abrupt drift, for the demo, the tests and the
 * benchmark. Deterministic for a given seed.
 */
#ifndef DRIFT_GEN_H
#define DRIFT_GEN_H

#include <stddef.h>
#include <stdint.h>

struct drift_gen {
    uint64_t s[4];
    int dims;           /* 0: the demo's payments schema; >0: f0..f{dims-1} numeric */
    uint64_t drift_at;  /* first drifted event (0-based); UINT64_MAX = never */
    uint64_t i;         /* next event index */
    int corr_flip;      /* dims >= 2: at drift_at the correlation of f0 and f1 turns from +0.8 to
                         * -0.8 while every feature's own distribution stays N(0, 1) */
};

void drift_gen_init(struct drift_gen *g, uint64_t seed, int dims, uint64_t drift_at);
/* Writes the next event as one JSON object (no newline) into buf; ts is its event time in epoch
 * milliseconds. Returns the length, or 0 if buf is too small. */
size_t drift_gen_next(struct drift_gen *g, char *buf, size_t len, double ts_ms);
/* What drifts at drift_at, in words (for the demo). */
const char *drift_gen_describe(const struct drift_gen *g);

#endif
