/*
 * A bounded reader of saved state (checkpoints): every read checks the bytes left; past the
 * end it yields nothing (zeros into a destination) and the reader stays failed, so a loader
 * reads on and checks `bad` once. Values are in host byte order, as the savers write them.
 */
#ifndef DRIFT_BYTES_H
#define DRIFT_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct drift_rd {
    const unsigned char *p;
    size_t len, off;
    int bad;
};

/* The next n bytes, or NULL (and the reader failed) when fewer are left. */
static inline const void *drift_rd_get(struct drift_rd *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = 1;
        return NULL;
    }
    r->off += n;
    return r->p + r->off - n;
}

/* The next n bytes copied to out; zeros when they are not there. */
static inline void drift_rd_into(struct drift_rd *r, void *out, size_t n)
{
    const void *v = drift_rd_get(r, n);
    if (v != NULL) {
        memcpy(out, v, n);
    } else {
        memset(out, 0, n);
    }
}

static inline uint32_t drift_rd_u32(struct drift_rd *r)
{
    uint32_t v;
    drift_rd_into(r, &v, 4);
    return v;
}

static inline uint64_t drift_rd_u64(struct drift_rd *r)
{
    uint64_t v;
    drift_rd_into(r, &v, 8);
    return v;
}

static inline double drift_rd_f64(struct drift_rd *r)
{
    double v;
    drift_rd_into(r, &v, 8);
    return v;
}

#endif
