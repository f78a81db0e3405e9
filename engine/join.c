/*
 * Pending predictions: a ring of max_pending slots in arrival order (so the oldest is always at
 * the head, for expiry and overflow) and an open-addressing hash table (linear probing,
 * backward-shift deletion, at most half full) from id to ring slot. A label takes its slot out
 * of the table and marks it dead; dead slots are skipped when they reach the head.
 */
#include "join.h"

#include <math.h>
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

/* ---------------------------------------------------------------------------------------------
 * Checkpoints
 *
 * Layout (host byte order): magic u32, version u32, count u64, the counters inserted, matched,
 * expired, overflowed, duplicates, unmatched, id_too_long (u64 each; pending is count), then
 * count entries, oldest first: t_ms i64, prediction f64, age u32, idlen u8, the id's bytes.
 *
 * An entry's age is how many predictions were put after it (pending or taken since; fewer than
 * max_pending, or it would have overflowed). Taken slots are not saved, but they still count:
 * a prediction leaves when max_pending newer ones have arrived, whether or not those were
 * matched since. Saving the age keeps that promise across a restart, and it is a function of
 * the logical state (slot positions and dead slots ahead of the oldest pending one are not).
 * -------------------------------------------------------------------------------------------*/
#define JOIN_MAGIC 0x314e4f4au /* "JON1" */
#define JOIN_VERSION 1u
#define JOIN_HEADER 72          /* magic, version, count, 7 counters */
#define JOIN_ENTRY_MIN 21       /* t_ms, prediction, age, idlen */
#define JOIN_MAX_AGE (1u << 30) /* = the largest max_pending drift_join_create accepts */

size_t drift_join_save(const struct drift_join *j, void *buf, size_t len)
{
    size_t need = JOIN_HEADER;
    uint64_t live = 0;
    for (size_t i = 0; i < j->used; i++) {
        const struct slot *s = &j->ring[(j->head + i) % j->cap];
        need += s->live ? JOIN_ENTRY_MIN + s->idlen : 0;
        live += s->live;
    }
    if (buf == NULL || len < need) {
        return need;
    }
    unsigned char *p = buf;
    uint32_t hdr[2] = {JOIN_MAGIC, JOIN_VERSION};
    uint64_t cnt[8] = {live,
                       j->st.inserted,
                       j->st.matched,
                       j->st.expired,
                       j->st.overflowed,
                       j->st.duplicates,
                       j->st.unmatched,
                       j->st.id_too_long};
    memcpy(p, hdr, 8);
    memcpy(p + 8, cnt, 64);
    size_t o = JOIN_HEADER;
    for (size_t i = 0; i < j->used; i++) {
        const struct slot *s = &j->ring[(j->head + i) % j->cap];
        if (!s->live) {
            continue;
        }
        uint32_t age = (uint32_t)(j->used - 1 - i);
        uint8_t idlen = (uint8_t)s->idlen;
        memcpy(p + o, &s->t_ms, 8);
        memcpy(p + o + 8, &s->prediction, 8);
        memcpy(p + o + 16, &age, 4);
        memcpy(p + o + 20, &idlen, 1);
        memcpy(p + o + 21, s->id, s->idlen);
        o += JOIN_ENTRY_MIN + s->idlen;
    }
    return need;
}

/* One saved entry, as the load reads it (id points into the caller's bytes). */
struct saved {
    int64_t t_ms;
    double prediction;
    uint32_t age;
    uint8_t idlen;
    const unsigned char *id;
    uint64_t hash;
};

/* Reads the entries at p[0..len) into e[count]: DRIFT_ESTATE unless they are well formed
 * (ids within DRIFT_JOIN_MAX_ID, finite predictions, ages decreasing, no byte left over). */
static int parse_entries(const unsigned char *p, size_t len, struct saved *e, size_t count)
{
    size_t o = 0;
    for (size_t i = 0; i < count; i++) {
        if (len - o < JOIN_ENTRY_MIN) {
            return DRIFT_ESTATE;
        }
        memcpy(&e[i].t_ms, p + o, 8);
        memcpy(&e[i].prediction, p + o + 8, 8);
        memcpy(&e[i].age, p + o + 16, 4);
        e[i].idlen = p[o + 20];
        o += JOIN_ENTRY_MIN;
        if (e[i].idlen > DRIFT_JOIN_MAX_ID || len - o < e[i].idlen || !isfinite(e[i].prediction) ||
            e[i].age >= JOIN_MAX_AGE) {
            return DRIFT_ESTATE;
        }
        /* (times may go down: they come from the wall clock, which can be set back) */
        if (i > 0 && e[i].age >= e[i - 1].age) {
            return DRIFT_ESTATE;
        }
        e[i].id = p + o;
        e[i].hash = hash_id((const char *)e[i].id, e[i].idlen);
        o += e[i].idlen;
    }
    return o == len ? 0 : DRIFT_ESTATE;
}

/* DRIFT_ESTATE when two entries share an id, DRIFT_ENOMEM, or 0. */
static int check_unique(const struct saved *e, size_t count)
{
    size_t tsize = 2;
    while (tsize < 2 * count) {
        tsize <<= 1;
    }
    size_t *table = calloc(tsize, sizeof(size_t)); /* entry index + 1; 0 = empty */
    if (table == NULL) {
        return DRIFT_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        size_t pos = (size_t)e[i].hash & (tsize - 1);
        for (; table[pos] != 0; pos = (pos + 1) & (tsize - 1)) {
            const struct saved *o = &e[table[pos] - 1];
            if (o->hash == e[i].hash && o->idlen == e[i].idlen &&
                memcmp(o->id, e[i].id, e[i].idlen) == 0) {
                rc = DRIFT_ESTATE;
                break;
            }
        }
        table[pos] = i + 1;
    }
    free(table);
    return rc;
}

/* The counters are consistent: every accepted prediction is pending, matched, expired or
 * overflowed (and none of the sums wraps). */
static int counters_consistent(const uint64_t cnt[8])
{
    for (int i = 0; i < 8; i++) {
        if (cnt[i] > (UINT64_C(1) << 62)) {
            return 0; /* no stream gets there; counting on must not wrap */
        }
    }
    uint64_t sum = cnt[0];
    for (int i = 2; i <= 4; i++) {
        if (__builtin_add_overflow(sum, cnt[i], &sum)) {
            return 0;
        }
    }
    return sum == cnt[1];
}

/* Replaces j's ring and table with the entries young enough for j's max_pending. */
static void rebuild(struct drift_join *j, const struct saved *e, size_t count,
                    const uint64_t cnt[8])
{
    size_t first = 0; /* the oldest entry that fits: ages decrease, so a prefix is dropped */
    while (first < count && e[first].age >= j->cap) {
        first++;
    }
    memset(j->ring, 0, j->cap * sizeof(struct slot));
    memset(j->table, 0, (j->mask + 1) * sizeof(uint32_t));
    j->head = 0;
    j->used = first < count ? (size_t)e[first].age + 1 : 0;
    for (size_t i = first; i < count; i++) {
        size_t r = j->used - 1 - e[i].age;
        struct slot *s = &j->ring[r];
        s->hash = e[i].hash;
        s->t_ms = e[i].t_ms;
        s->prediction = e[i].prediction;
        s->idlen = e[i].idlen;
        s->live = 1;
        memcpy(s->id, e[i].id, e[i].idlen);
        int found;
        size_t pos = find(j, s->hash, s->id, s->idlen, &found);
        j->table[pos] = (uint32_t)r + 1;
    }
    j->st = (struct drift_join_stats){
        .pending = count - first,
        .inserted = cnt[1],
        .matched = cnt[2],
        .expired = cnt[3],
        .overflowed = cnt[4] + first,
        .duplicates = cnt[5],
        .unmatched = cnt[6],
        .id_too_long = cnt[7],
    };
}

int drift_join_load(struct drift_join *j, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    if (buf == NULL || len < JOIN_HEADER) {
        return DRIFT_ESTATE;
    }
    uint32_t hdr[2];
    uint64_t cnt[8];
    memcpy(hdr, p, 8);
    memcpy(cnt, p + 8, 64);
    /* The count is bounded by the bytes before anything is allocated for it. */
    if (hdr[0] != JOIN_MAGIC || hdr[1] != JOIN_VERSION ||
        cnt[0] > (len - JOIN_HEADER) / JOIN_ENTRY_MIN || !counters_consistent(cnt)) {
        return DRIFT_ESTATE;
    }
    size_t count = (size_t)cnt[0];
    struct saved *e = malloc((count + 1) * sizeof(*e));
    if (e == NULL) {
        return DRIFT_ENOMEM;
    }
    int rc = parse_entries(p + JOIN_HEADER, len - JOIN_HEADER, e, count);
    if (rc == 0) {
        rc = check_unique(e, count);
    }
    if (rc == 0) {
        rebuild(j, e, count, cnt);
    }
    free(e);
    return rc;
}
