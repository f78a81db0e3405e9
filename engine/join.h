/*
 * Pending predictions waiting for their labels: the join of a prediction stream with a label
 * stream that arrives later, keyed by an id, in memory fixed at creation.
 *
 * A prediction waits until its label arrives (drift_join_take), until it is older than the
 * time-to-live (drift_join_expire), or until max_pending newer predictions have arrived after it
 * (then the oldest is dropped to make room: "overflow"). Nothing leaves without being counted:
 * matched, expired, overflowed, duplicate ids, labels with no pending prediction, ids too long.
 * Insert, take and expire are O(1) (amortised for expire) and never allocate.
 */
#ifndef DRIFT_JOIN_H
#define DRIFT_JOIN_H

#include <stddef.h>
#include <stdint.h>

#define DRIFT_JOIN_MAX_ID 64 /* bytes of an id; longer ids are refused and counted */

struct drift_join;

struct drift_join_stats {
    uint64_t pending;    /* predictions waiting now */
    uint64_t inserted;   /* predictions accepted */
    uint64_t matched;    /* labels that found their prediction */
    uint64_t expired;    /* predictions dropped after the time-to-live */
    uint64_t overflowed; /* predictions dropped for max_pending newer ones */
    uint64_t duplicates; /* predictions whose id was already pending (the first one is kept) */
    uint64_t unmatched;  /* labels with no pending prediction (never seen, expired, dropped) */
    uint64_t id_too_long; /* predictions or labels whose id exceeds DRIFT_JOIN_MAX_ID */
};

/* Creates a join holding at most max_pending (>= 1) predictions for ttl_ms (> 0); NULL when
 * memory runs out. */
struct drift_join *drift_join_create(size_t max_pending, int64_t ttl_ms);
void drift_join_destroy(struct drift_join *j);

/* Adds the prediction for id at time now_ms (a clock that does not go backwards). Returns 0, or
 * DRIFT_EEXIST (id already pending; counted, the first kept) or DRIFT_ERANGE (id too long). */
int drift_join_put(struct drift_join *j, const char *id, size_t idlen, double prediction,
                   int64_t now_ms);
/* Takes the pending prediction for id: 0 with *prediction and *t_ms (when it was put), or
 * DRIFT_ENOENT (counted unmatched) or DRIFT_ERANGE (id too long). */
int drift_join_take(struct drift_join *j, const char *id, size_t idlen, double *prediction,
                    int64_t *t_ms);
/* Drops the predictions put at or before now_ms - ttl_ms; returns how many. */
size_t drift_join_expire(struct drift_join *j, int64_t now_ms);

void drift_join_stats(const struct drift_join *j, struct drift_join_stats *out);

/* State to bytes (checkpoints): the pending predictions in arrival order with their ids, values
 * and times, and the counters. Returns the size needed; writes only when len is large enough.
 * The bytes are a function of the state alone (equal joins give equal bytes). */
size_t drift_join_save(const struct drift_join *j, void *buf, size_t len);
/* Replaces j's pending predictions and counters with the saved ones. Checks every field first
 * (ids within DRIFT_JOIN_MAX_ID, no duplicate pending id, times in arrival order, finite
 * predictions, consistent counters) and leaves j unchanged on DRIFT_ESTATE (or DRIFT_ENOMEM: the
 * check allocates scratch in proportion to len, freed before returning). j's max_pending and ttl
 * stay its own: saved entries beyond its max_pending are the oldest, dropped and counted as
 * overflowed. Each entry keeps its place among the newer arrivals (taken ones included), so it
 * overflows after the same number of further puts as it would have without the restart. */
int drift_join_load(struct drift_join *j, const void *buf, size_t len);

#endif
