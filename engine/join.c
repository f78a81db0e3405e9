/*
 * Pending predictions: a ring of max_pending slots in arrival order (so the oldest is always at
 * the head, for expiry and overflow) and an open-addressing hash table (linear probing,
 * backward-shift deletion, at most half full) from id to ring slot. A label takes its slot out
 * of the table and marks it dead; dead slots are skipped when they reach the head.
 */
#include "join.h"

#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

struct slot {
    uint64_t hash;
    int64_t t_ms;
    double prediction;
    uint16_t idlen;
    uint8_t live;
    char id[DRIFT_JOIN_MAX_ID];
};

struct drift_join {
    size_t cap;        /* ring slots = max_pending */
    size_t head, used; /* oldest slot; slots in the ring, live or dead */
    int64_t ttl_ms;
    struct slot *ring;
    uint32_t *table;   /* ring index + 1; 0 = empty */
    size_t mask;       /* table size - 1 (a power of two >= 2 * cap) */
    struct drift_join_stats st;
};

static uint64_t hash_id(const char *id, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, 64-bit */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)id[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct drift_join *drift_join_create(size_t max_pending, int64_t ttl_ms)
{
    if (max_pending < 1 || max_pending > (1u << 30) || ttl_ms <= 0) {
        return NULL;
    }
    struct drift_join *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return NULL;
    }
    size_t tsize = 2;
    while (tsize < 2 * max_pending) {
        tsize <<= 1;
    }
    j->cap = max_pending;
    j->ttl_ms = ttl_ms;
    j->mask = tsize - 1;
    j->ring = calloc(max_pending, sizeof(struct slot));
    j->table = calloc(tsize, sizeof(uint32_t));
    if (j->ring == NULL || j->table == NULL) {
        drift_join_destroy(j);
        return NULL;
    }
    return j;
}

void drift_join_destroy(struct drift_join *j)
{
    if (j != NULL) {
        free(j->ring);
        free(j->table);
        free(j);
    }
}

/* The table position holding ring slot r's entry, or the empty position where id would go. */
static size_t find(const struct drift_join *j, uint64_t h, const char *id, size_t n, int *found)
{
    size_t pos = (size_t)h & j->mask;
    for (;;) {
        uint32_t v = j->table[pos];
        if (v == 0) {
            *found = 0;
            return pos;
        }
        const struct slot *s = &j->ring[v - 1];
        if (s->hash == h && s->idlen == n && memcmp(s->id, id, n) == 0) {
            *found = 1;
            return pos;
        }
        pos = (pos + 1) & j->mask;
    }
}

/* Removes table position pos, shifting back the entries of its probe run (no tombstones). */
static void table_delete(struct drift_join *j, size_t pos)
{
    size_t hole = pos, next = (pos + 1) & j->mask;
    while (j->table[next] != 0) {
        size_t home = (size_t)j->ring[j->table[next] - 1].hash & j->mask;
        /* The entry at next may move to the hole if its home is not in (hole, next]. */
        int between = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
        if (!between) {
            j->table[hole] = j->table[next];
            hole = next;
        }
        next = (next + 1) & j->mask;
    }
    j->table[hole] = 0;
}

/* Drops the ring's head (live: out of the table too). */
static void pop_head(struct drift_join *j, uint64_t *counter)
{
    struct slot *s = &j->ring[j->head];
    if (s->live) {
        int found;
        size_t pos = find(j, s->hash, s->id, s->idlen, &found);
        if (found) {
            table_delete(j, pos);
        }
        s->live = 0;
        j->st.pending--;
        (*counter)++;
    }
    j->head = (j->head + 1) % j->cap;
    j->used--;
}

int drift_join_put(struct drift_join *j, const char *id, size_t idlen, double prediction,
                   int64_t now_ms)
{
    if (idlen > DRIFT_JOIN_MAX_ID) {
        j->st.id_too_long++;
        return DRIFT_ERANGE;
    }
    uint64_t h = hash_id(id, idlen);
    int found;
    find(j, h, id, idlen, &found);
    if (found) {
        j->st.duplicates++;
        return DRIFT_EEXIST;
    }
    if (j->used == j->cap) {
        pop_head(j, &j->st.overflowed);
    }
    size_t r = (j->head + j->used) % j->cap;
    struct slot *s = &j->ring[r];
    s->hash = h;
    s->t_ms = now_ms;
    s->prediction = prediction;
    s->idlen = (uint16_t)idlen;
    s->live = 1;
    memcpy(s->id, id, idlen);
    j->used++;
    /* After a pop the position may have moved: look it up again. */
    size_t pos = find(j, h, id, idlen, &found);
    j->table[pos] = (uint32_t)r + 1;
    j->st.pending++;
    j->st.inserted++;
    return 0;
}

int drift_join_take(struct drift_join *j, const char *id, size_t idlen, double *prediction,
                    int64_t *t_ms)
{
    if (idlen > DRIFT_JOIN_MAX_ID) {
        j->st.id_too_long++;
        return DRIFT_ERANGE;
    }
    int found;
    size_t pos = find(j, hash_id(id, idlen), id, idlen, &found);
    if (!found) {
        j->st.unmatched++;
        return DRIFT_ENOENT;
    }
    struct slot *s = &j->ring[j->table[pos] - 1];
    *prediction = s->prediction;
    *t_ms = s->t_ms;
    s->live = 0;
    table_delete(j, pos);
    j->st.pending--;
    j->st.matched++;
    /* Dead slots at the head free their room now. */
    while (j->used > 0 && !j->ring[j->head].live) {
        j->head = (j->head + 1) % j->cap;
        j->used--;
    }
    return 0;
}

size_t drift_join_expire(struct drift_join *j, int64_t now_ms)
{
    size_t n = 0;
    while (j->used > 0) {
        struct slot *s = &j->ring[j->head];
        if (s->live && s->t_ms > now_ms - j->ttl_ms) {
            break;
        }
        n += s->live;
        pop_head(j, &j->st.expired);
    }
    return n;
}

void drift_join_stats(const struct drift_join *j, struct drift_join_stats *out)
{
    *out = j->st;
}
