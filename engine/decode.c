/*
 * The message decoder: one flat JSON object → one row of a column-major batch.
 *
 * This is the hottest code in driftd (every event of every stream passes here), so it is a
 * single forward scan with no allocation and no tree: keys are looked up in a small
 * open-addressing table of the schema's fields, unknown keys are skipped (their values may be
 * nested), numbers go through an exact fast path (Clinger: a mantissa below 2^53 scaled by an
 * exact power of ten is correctly rounded) and fall back to strtod otherwise.
 *
 * Rules (docs/config.md, "Messages"): a missing or null feature is a missing value; NaN,
 * Infinity and -Infinity (as Python's json writes them) are missing values; true/false are 1/0
 * for numeric features and the label; numbers and booleans for a categorical feature are
 * categories spelled as their JSON text; a string for a numeric feature is a wrong_type error;
 * the last occurrence of a duplicated key wins; a message with none of the schema's features is
 * skipped as no_features.
 *
 * Input bounds, because everything here comes from whoever can produce to the topic. A category
 * value must be UTF-8 without NUL and at most DRIFT_CATEGORY_MAX_BYTES long (wrong_type
 * otherwise): it becomes a feature name in JSON payloads and published models, and it is kept
 * for the life of the process. An event time must lie in 1970-01-01..9999-12-31 (bad_time): a
 * huge one overflows every conversion to a calendar date or to milliseconds. With
 * max_lateness_s, one event far ahead would also become the latest time and make every event
 * after it too late; so a time more than max(max_lateness_s, TIME_JUMP_MIN_S) ahead of the
 * latest is refused as bad_time unless it is confirmed: the next event with a time is also that
 * far ahead and within that distance of it (the stream really moved on: a gap, a replay that
 * jumps). A lone stray time cannot move the latest; the first event after a long silence costs
 * one refused event. The rule depends on the stream alone, never on the wall clock, so a replay
 * and a restored checkpoint decide exactly as the original run did.
 */
#include <apr_strings.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "drift_op.h"
#include "join.h"
#include "log.h"
#include "stream.h"

const char *const drift_bad_names[DRIFT_BAD_COUNT] = {
    "invalid_json", "not_an_object", "wrong_type", "too_large", "empty",
    "no_features",  "bad_label",     "too_late",   "duplicate", "bad_time",
};

#define TIME_MAX_S 253402300799.0 /* 9999-12-31T23:59:59Z, the last time RFC 3339 can write */
#define TIME_JUMP_MIN_S 3600      /* with max_lateness_s: a jump further ahead than this (or than
                                   * the lateness, when larger) needs the next event to agree */

enum { F_NONE = 0, F_NUM, F_CAT, F_LABEL, F_TIME, F_ID, F_PRED };

struct field {
    const char *name;
    size_t len;
    uint32_t hash;
    int kind;
    int idx;
};

struct catdict {
    int n;                 /* codes in use */
    int frozen;
    uint32_t slots_mask;   /* open addressing over codes+1 (0 = empty) */
    int32_t *slots;
    char **names;          /* DRIFT_MAX_CATEGORIES */
    size_t *lens;
    apr_pool_t *pool;
};

struct drift_decoder {
    const struct drift_stream_conf *sc;
    struct field *table;   /* open addressing, size mask+1 */
    uint32_t mask;
    int d, k;
    int *num_of_feature;   /* feature index → numeric column or -1 */
    int *cat_of_feature;
    struct catdict *dicts; /* k */
    int frozen;
    size_t max_bytes;
    char detail[160];
    double max_ts;          /* latest event time seen (epoch s), NaN before the first */
    double jump_ts;         /* the last time refused for being far ahead of max_ts, NaN when
                             * the last timed event was not: a jump waiting for confirmation */
    struct drift_join *seen; /* the last `dedup` ids (a join with no labels), or NULL */
    int64_t seen_clock;     /* its clock: one tick per admitted id */
    char keybuf[256];      /* unescaped key */
    char valbuf[1024];     /* unescaped string value */
};

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static void table_put(struct drift_decoder *dec, const char *name, int kind, int idx)
{
    if (name == NULL) {
        return;
    }
    size_t len = strlen(name);
    uint32_t h = fnv1a(name, len);
    for (uint32_t i = h & dec->mask;; i = (i + 1) & dec->mask) {
        if (dec->table[i].kind == F_NONE) {
            dec->table[i] = (struct field){name, len, h, kind, idx};
            return;
        }
    }
}

static const struct field *table_get(const struct drift_decoder *dec, const char *s, size_t n)
{
    uint32_t h = fnv1a(s, n);
    for (uint32_t i = h & dec->mask;; i = (i + 1) & dec->mask) {
        const struct field *f = &dec->table[i];
        if (f->kind == F_NONE) {
            return NULL;
        }
        if (f->hash == h && f->len == n && memcmp(f->name, s, n) == 0) {
            return f;
        }
    }
}

static apr_status_t seen_cleanup(void *data)
{
    drift_join_destroy(data);
    return APR_SUCCESS;
}

struct drift_decoder *drift_decoder_create(apr_pool_t *pool, const struct drift_stream_conf *sc)
{
    struct drift_decoder *dec = apr_pcalloc(pool, sizeof(*dec));
    dec->sc = sc;
    dec->max_ts = NAN;
    dec->jump_ts = NAN;
    if (sc->dedup > 0 && sc->id_field != NULL) {
        /* a bounded memory of ids: the join's ring drops the oldest beyond `dedup` */
        dec->seen = drift_join_create((size_t)sc->dedup, INT64_MAX / 4);
        if (dec->seen != NULL) {
            apr_pool_cleanup_register(pool, dec->seen, seen_cleanup, apr_pool_cleanup_null);
        }
    }
    int nf = sc->nfeatures;
    uint32_t size = 16;
    while (size < (uint32_t)(nf + 3) * 4) {
        size <<= 1;
    }
    dec->mask = size - 1;
    dec->table = apr_pcalloc(pool, size * sizeof(struct field));
    dec->num_of_feature = apr_pcalloc(pool, (size_t)nf * sizeof(int) + 1);
    dec->cat_of_feature = apr_pcalloc(pool, (size_t)nf * sizeof(int) + 1);
    for (int i = 0; i < nf; i++) {
        if (sc->features[i].type == DRIFT_FEATURE_NUMERIC) {
            dec->num_of_feature[i] = dec->d;
            dec->cat_of_feature[i] = -1;
            table_put(dec, sc->features[i].name, F_NUM, dec->d++);
        } else {
            dec->num_of_feature[i] = -1;
            dec->cat_of_feature[i] = dec->k;
            table_put(dec, sc->features[i].name, F_CAT, dec->k++);
        }
    }
    table_put(dec, sc->label, F_LABEL, 0);
    table_put(dec, sc->time_field, F_TIME, 0);
    table_put(dec, sc->id_field, F_ID, 0);
    table_put(dec, sc->prediction, F_PRED, 0);
    dec->dicts = apr_pcalloc(pool, (size_t)dec->k * sizeof(struct catdict) + 1);
    for (int j = 0; j < dec->k; j++) {
        struct catdict *cd = &dec->dicts[j];
        cd->pool = pool;
        cd->slots_mask = 4 * DRIFT_MAX_CATEGORIES - 1;
        cd->slots = apr_pcalloc(pool, 4 * DRIFT_MAX_CATEGORIES * sizeof(int32_t));
        cd->names = apr_pcalloc(pool, DRIFT_MAX_CATEGORIES * sizeof(char *));
        cd->lens = apr_pcalloc(pool, DRIFT_MAX_CATEGORIES * sizeof(size_t));
    }
    dec->max_bytes = sc->max_message_bytes > 0 ? (size_t)sc->max_message_bytes : (1u << 20);
    return dec;
}

/* What is wrong with s[0..len) as a category value (the text of a detail, completed by the
 * field's name), or NULL when nothing is. */
static const char *category_fault(const char *s, size_t len)
{
    if (len > DRIFT_CATEGORY_MAX_BYTES) {
        return "category value longer than 256 bytes in"; /* DRIFT_CATEGORY_MAX_BYTES */
    }
    for (size_t i = 0; i < len;) {
        if (s[i] == '\0') {
            return "category value holds a NUL character in";
        }
        size_t k = (unsigned char)s[i] < 0x80 ? 1 : drift_utf8_len(s + i, len - i);
        if (k == 0) {
            return "category value is not valid UTF-8 (or is a lone UTF-16 surrogate) in";
        }
        i += k;
    }
    return NULL;
}

/* The code of value s[0..len) of categorical feature j: a known value's; a new valid one's,
 * added while the dictionary may grow; else DRIFT_MAX_CATEGORIES (unseen). A new value is
 * checked before anything else (known ones were checked when added): when it is not a valid
 * category, *fault says why and -1 is returned. */
static int32_t category_code(struct drift_decoder *dec, int j, const char *s, size_t len,
                             const char **fault)
{
    struct catdict *cd = &dec->dicts[j];
    uint32_t h = fnv1a(s, len);
    uint32_t i = h & cd->slots_mask;
    for (;; i = (i + 1) & cd->slots_mask) {
        int32_t c = cd->slots[i];
        if (c == 0) {
            break;
        }
        c -= 1;
        if (cd->lens[c] == len && memcmp(cd->names[c], s, len) == 0) {
            return c;
        }
    }
    if ((*fault = category_fault(s, len)) != NULL) {
        return -1;
    }
    if (cd->frozen || dec->frozen || cd->n >= DRIFT_MAX_CATEGORIES) {
        return DRIFT_MAX_CATEGORIES;
    }
    int32_t c = cd->n++;
    cd->names[c] = apr_pstrmemdup(cd->pool, s, len);
    cd->lens[c] = len;
    cd->slots[i] = c + 1;
    return c;
}

int32_t drift_decoder_category(struct drift_decoder *dec, int j, const char *s, size_t len)
{
    const char *fault;
    int32_t c = category_code(dec, j, s, len, &fault);
    return c < 0 ? DRIFT_MAX_CATEGORIES : c;
}

void drift_decoder_freeze(struct drift_decoder *dec)
{
    dec->frozen = 1;
}

int drift_decoder_ncategories(const struct drift_decoder *dec, int j)
{
    return dec->dicts[j].n;
}

const char *drift_decoder_category_name(const struct drift_decoder *dec, int j, int32_t code)
{
    if (code >= 0 && code < dec->dicts[j].n) {
        return dec->dicts[j].names[code];
    }
    return "(unseen)";
}

/* ---------------------------------------------------------------------------------------------
 * Checkpoints
 *
 * Layout (host byte order): magic u32, version u32, k u32, frozen u32, max_ts f64 (one NaN
 * pattern before the first event), jump_ts f64 (version 2 on; NaN when none; a version 1 state
 * loads with none), seen_clock i64; per categorical feature in config order: its
 * name (length u32, bytes), its frozen flag u8, n u32 and its values in code order (length u32,
 * bytes each); then the dedup memory's length u64 and its drift_join_save bytes (0: none).
 * The names let a load refuse a checkpoint of another schema instead of scrambling codes.
 * -------------------------------------------------------------------------------------------*/
#define DEC_MAGIC 0x31434544u /* "DEC1" */
#define DEC_VERSION 2u

/* Appends n bytes at w->o, or only counts them when w->p is NULL (sizing). */
struct writer {
    unsigned char *p;
    size_t o;
};

static void put(struct writer *w, const void *src, size_t n)
{
    if (w->p != NULL) {
        memcpy(w->p + w->o, src, n);
    }
    w->o += n;
}

static void put_u32(struct writer *w, uint32_t v)
{
    put(w, &v, 4);
}

/* The name of categorical feature j (the j-th categorical one in config order). */
static const char *cat_name(const struct drift_decoder *dec, int j)
{
    for (int i = 0; i < dec->sc->nfeatures; i++) {
        if (dec->cat_of_feature[i] == j) {
            return dec->sc->features[i].name;
        }
    }
    return "";
}

/* Writes the state at p (NULL: only measures it); returns its size. */
static size_t write_state(const struct drift_decoder *dec, unsigned char *p)
{
    struct writer w = {p, 0};
    uint32_t hdr[4] = {DEC_MAGIC, DEC_VERSION, (uint32_t)dec->k, dec->frozen ? 1u : 0u};
    double max_ts = isnan(dec->max_ts) ? NAN : dec->max_ts; /* equal states, equal bytes */
    double jump_ts = isnan(dec->jump_ts) ? NAN : dec->jump_ts;
    put(&w, hdr, 16);
    put(&w, &max_ts, 8);
    put(&w, &jump_ts, 8);
    put(&w, &dec->seen_clock, 8);
    for (int j = 0; j < dec->k; j++) {
        const struct catdict *cd = &dec->dicts[j];
        const char *name = cat_name(dec, j);
        uint8_t frozen = cd->frozen ? 1 : 0;
        put_u32(&w, (uint32_t)strlen(name));
        put(&w, name, strlen(name));
        put(&w, &frozen, 1);
        put_u32(&w, (uint32_t)cd->n);
        for (int c = 0; c < cd->n; c++) {
            put_u32(&w, (uint32_t)cd->lens[c]);
            put(&w, cd->names[c], cd->lens[c]);
        }
    }
    uint64_t jlen = dec->seen != NULL ? drift_join_save(dec->seen, NULL, 0) : 0;
    put(&w, &jlen, 8);
    if (p != NULL && jlen > 0) {
        drift_join_save(dec->seen, p + w.o, (size_t)jlen);
    }
    return w.o + (size_t)jlen;
}

size_t drift_decoder_save(const struct drift_decoder *dec, void *buf, size_t len)
{
    size_t need = write_state(dec, NULL);
    if (buf != NULL && len >= need) {
        write_state(dec, buf);
    }
    return need;
}

/* Checks the saved dictionary of feature j at r: its name, a 0/1 frozen flag, at most
 * DRIFT_MAX_CATEGORIES values, each once. Returns 0 or DRIFT_ESTATE; changes nothing. */
static int check_dict(const struct drift_decoder *dec, int j, struct drift_rd *r)
{
    const char *name = cat_name(dec, j);
    uint32_t nlen = drift_rd_u32(r);
    const unsigned char *saved = drift_rd_get(r, nlen);
    if (saved == NULL || nlen != strlen(name) || memcmp(saved, name, nlen) != 0) {
        return DRIFT_ESTATE;
    }
    uint8_t frozen;
    drift_rd_into(r, &frozen, 1);
    uint32_t n = drift_rd_u32(r);
    if (r->bad || frozen > 1 || n > DRIFT_MAX_CATEGORIES) {
        return DRIFT_ESTATE;
    }
    int32_t slots[4 * DRIFT_MAX_CATEGORIES] = {0}; /* as the dictionary's: value index + 1 */
    const unsigned char *vals[DRIFT_MAX_CATEGORIES];
    uint32_t lens[DRIFT_MAX_CATEGORIES];
    for (uint32_t c = 0; c < n; c++) {
        lens[c] = drift_rd_u32(r);
        vals[c] = drift_rd_get(r, lens[c]);
        if (vals[c] == NULL || category_fault((const char *)vals[c], lens[c]) != NULL) {
            return DRIFT_ESTATE; /* the decoder never keeps such a value */
        }
        uint32_t i = fnv1a((const char *)vals[c], lens[c]) & (4 * DRIFT_MAX_CATEGORIES - 1);
        for (; slots[i] != 0; i = (i + 1) & (4 * DRIFT_MAX_CATEGORIES - 1)) {
            int32_t o = slots[i] - 1;
            if (lens[o] == lens[c] && memcmp(vals[o], vals[c], lens[c]) == 0) {
                return DRIFT_ESTATE;
            }
        }
        slots[i] = (int32_t)c + 1;
    }
    return 0;
}

/* Replaces dictionary j with the saved one at r (already checked). The old value texts stay in
 * the pool, so names handed out before stay valid. */
static void apply_dict(struct drift_decoder *dec, int j, struct drift_rd *r)
{
    struct catdict *cd = &dec->dicts[j];
    drift_rd_get(r, drift_rd_u32(r));
    uint8_t frozen;
    drift_rd_into(r, &frozen, 1);
    uint32_t n = drift_rd_u32(r);
    memset(cd->slots, 0, (cd->slots_mask + 1) * sizeof(int32_t));
    cd->frozen = frozen;
    cd->n = (int)n;
    for (uint32_t c = 0; c < n; c++) {
        uint32_t len = drift_rd_u32(r);
        const char *v = (const char *)drift_rd_get(r, len);
        cd->names[c] = apr_pstrmemdup(cd->pool, v, len);
        cd->lens[c] = len;
        uint32_t i = fnv1a(v, len) & cd->slots_mask;
        while (cd->slots[i] != 0) {
            i = (i + 1) & cd->slots_mask;
        }
        cd->slots[i] = (int32_t)c + 1;
    }
}

/* Restores the dedup memory from the saved join bytes (len 0: none saved). A saved memory is
 * checked even when this decoder keeps none (it is then dropped); a decoder with a memory and a
 * checkpoint without one starts empty. Returns 0, DRIFT_ESTATE or DRIFT_ENOMEM; on an error
 * dec->seen is unchanged. */
static int load_seen(struct drift_decoder *dec, const unsigned char *saved, size_t len)
{
    if (len > 0 && dec->seen != NULL) {
        return drift_join_load(dec->seen, saved, len);
    }
    if (len == 0 && dec->seen == NULL) {
        return 0;
    }
    struct drift_join *scratch = drift_join_create(1, 1);
    if (scratch == NULL) {
        return DRIFT_ENOMEM;
    }
    int rc;
    if (len > 0) {
        rc = drift_join_load(scratch, saved, len);
    } else {
        unsigned char empty[128];
        size_t n = drift_join_save(scratch, empty, sizeof(empty));
        rc = n <= sizeof(empty) ? drift_join_load(dec->seen, empty, n) : DRIFT_ENOMEM;
    }
    drift_join_destroy(scratch);
    return rc;
}

int drift_decoder_load(struct drift_decoder *dec, const void *buf, size_t len)
{
    if (buf == NULL) {
        return DRIFT_ESTATE;
    }
    struct drift_rd r = {buf, len, 0, 0};
    uint32_t hdr[4];
    double max_ts, jump_ts = NAN;
    int64_t clock;
    drift_rd_into(&r, hdr, 16);
    drift_rd_into(&r, &max_ts, 8);
    if (hdr[1] >= 2) {
        drift_rd_into(&r, &jump_ts, 8);
    }
    drift_rd_into(&r, &clock, 8);
    if (r.bad || hdr[0] != DEC_MAGIC || hdr[1] < 1 || hdr[1] > DEC_VERSION ||
        hdr[2] != (uint32_t)dec->k || hdr[3] > 1 || clock < 0) {
        return DRIFT_ESTATE;
    }
    /* First pass: check everything, change nothing. */
    size_t dicts = r.off;
    for (int j = 0; j < dec->k; j++) {
        if (check_dict(dec, j, &r) != 0) {
            return DRIFT_ESTATE;
        }
    }
    uint64_t jlen;
    drift_rd_into(&r, &jlen, 8);
    const unsigned char *jbuf = jlen <= len ? drift_rd_get(&r, (size_t)jlen) : NULL;
    if (r.bad || jbuf == NULL || r.off != len) {
        return DRIFT_ESTATE;
    }
    /* The dedup memory is the last step that can fail; what follows cannot. */
    int rc = load_seen(dec, jbuf, (size_t)jlen);
    if (rc != 0) {
        return rc;
    }
    r.off = dicts;
    for (int j = 0; j < dec->k; j++) {
        apply_dict(dec, j, &r);
    }
    dec->frozen = (int)hdr[3];
    dec->max_ts = max_ts;
    dec->jump_ts = jump_ts;
    dec->seen_clock = clock;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Numbers
 * -------------------------------------------------------------------------------------------*/
static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

size_t drift_parse_number(const char *s, size_t len, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    /* Digits accumulate while the mantissa is below 10^17; past that they can only matter
     * through the slow path (any mantissa >= 2^53 takes it), so they just scale the exponent. */
    const uint64_t cap = 100000000000000000ull;
    uint64_t m = 0;
    int exp10 = 0, any = 0;
    while (i < len && (unsigned)(s[i] - '0') < 10) {
        if (m < cap) {
            m = m * 10 + (uint64_t)(s[i] - '0');
        } else {
            exp10++;
        }
        any = 1;
        i++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && (unsigned)(s[i] - '0') < 10) {
            if (m < cap) {
                m = m * 10 + (uint64_t)(s[i] - '0');
                exp10--;
            }
            any = 1;
            i++;
        }
    }
    if (!any) {
        return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        int eneg = 0, e = 0, edig = 0;
        if (j < len && (s[j] == '-' || s[j] == '+')) {
            eneg = s[j] == '-';
            j++;
        }
        while (j < len && s[j] >= '0' && s[j] <= '9') {
            if (e < 100000) {
                e = e * 10 + (s[j] - '0');
            }
            edig = 1;
            j++;
        }
        if (!edig) {
            return 0;
        }
        exp10 += eneg ? -e : e;
        i = j;
    }
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return i;
    }
    if (m <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)m;
        v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
        *out = neg ? -v : v;
        return i;
    }
    /* Slow path: exact via strtod on a NUL-terminated copy. */
    char tmp[128];
    if (i >= sizeof(tmp)) {
        return 0;
    }
    memcpy(tmp, s, i);
    tmp[i] = '\0';
    *out = strtod(tmp, NULL);
    return i;
}

/* ---------------------------------------------------------------------------------------------
 * The scanner
 * -------------------------------------------------------------------------------------------*/
static inline size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
        i++;
    }
    return i;
}

/* Scans a string starting after its opening quote. Returns the index after the closing quote,
 * or 0 on error; *esc says whether it held escapes. */
static size_t scan_string(const char *s, size_t i, size_t n, int *esc)
{
    *esc = 0;
    while (i < n) {
        const char *q = memchr(s + i, '"', n - i);
        if (q == NULL) {
            return 0;
        }
        size_t j = (size_t)(q - s);
        /* Count backslashes before the quote. */
        size_t b = j;
        while (b > i && s[b - 1] == '\\') {
            b--;
        }
        if (memchr(s + i, '\\', j - i) != NULL) {
            *esc = 1;
        }
        if (((j - b) & 1) == 0) {
            return j + 1;
        }
        i = j + 1;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Unescapes s[0..n) into out (cap bytes). Returns the length, -1 for a bad escape, or -2 when
 * the text does not fit. A \uD800-\uDBFF escape followed by a \uDC00-\uDFFF one is one
 * character (4 bytes of UTF-8); a lone surrogate is kept as its 3 bytes, which are not valid
 * UTF-8, so a category value holding one is refused and a key holding one matches no field. */
static long unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\') {
            if (++i >= n) {
                return -1;
            }
            switch (s[i]) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                if (i + 4 >= n) {
                    return -1;
                }
                unsigned cp = 0;
                for (int k = 1; k <= 4; k++) {
                    int h = hexval(s[i + (size_t)k]);
                    if (h < 0) {
                        return -1;
                    }
                    cp = cp * 16 + (unsigned)h;
                }
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < n && s[i + 1] == '\\' &&
                    s[i + 2] == 'u') {
                    unsigned lo = 0;
                    int k = 3;
                    for (; k <= 6 && hexval(s[i + (size_t)k]) >= 0; k++) {
                        lo = lo * 16 + (unsigned)hexval(s[i + (size_t)k]);
                    }
                    if (k == 7 && lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                if (o + 4 >= cap) {
                    return -2;
                }
                if (cp < 0x80) {
                    out[o++] = (char)cp;
                } else if (cp < 0x800) {
                    out[o++] = (char)(0xC0 | (cp >> 6));
                    out[o++] = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    out[o++] = (char)(0xE0 | (cp >> 12));
                    out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    out[o++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    out[o++] = (char)(0xF0 | (cp >> 18));
                    out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                    out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    out[o++] = (char)(0x80 | (cp & 0x3F));
                }
                continue;
            }
            default:
                return -1;
            }
        }
        if (o + 1 >= cap) {
            return -2;
        }
        out[o++] = c;
    }
    return (long)o;
}

/* Skips a nested value (object or array) starting at s[i] == '{' or '['. Returns the index
 * after it, or 0. */
static size_t skip_nested(const char *s, size_t i, size_t n)
{
    int depth = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            int esc;
            i = scan_string(s, i + 1, n, &esc);
            if (i == 0) {
                return 0;
            }
            continue;
        }
        if (c == '{' || c == '[') {
            if (++depth > 64) {
                return 0;
            }
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                return i + 1;
            }
        }
        i++;
    }
    return 0;
}

static int fail(struct drift_decoder *dec, int reason, int *bad, const char **detail,
                const char *what, const char *field, size_t flen)
{
    *bad = reason;
    if (field != NULL) {
        int fl = flen > 48 ? 48 : (int)flen;
        snprintf(dec->detail, sizeof(dec->detail), "%s '%.*s'", what, fl, field);
    } else {
        snprintf(dec->detail, sizeof(dec->detail), "%s", what);
    }
    *detail = dec->detail;
    return DRIFT_EPARSE;
}

int drift_decode(struct drift_decoder *dec, const char *s, size_t n, struct drift_batch *b,
                 int *bad, const char **detail)
{
    size_t row = b->n;
    const size_t cap = b->cap;
    if (n == 0) {
        return fail(dec, DRIFT_BAD_EMPTY, bad, detail, "empty message", NULL, 0);
    }
    if (n > dec->max_bytes) {
        return fail(dec, DRIFT_BAD_TOO_LARGE, bad, detail, "message larger than max_message_bytes",
                    NULL, 0);
    }
    for (int j = 0; j < dec->d; j++) {
        b->x[(size_t)j * cap + row] = NAN;
    }
    for (int j = 0; j < dec->k; j++) {
        b->cat[(size_t)j * cap + row] = -1;
    }
    b->label[row] = NAN;
    b->ts[row] = NAN;
    if (b->pred != NULL) {
        b->pred[row] = NAN;
    }
    if (b->idlen != NULL) {
        b->idlen[row] = 0;
    }
    int seen = 0;

    size_t i = skip_ws(s, 0, n);
    if (i >= n) {
        return fail(dec, DRIFT_BAD_EMPTY, bad, detail, "blank message", NULL, 0);
    }
    if (s[i] != '{') {
        if (s[i] == '[' || s[i] == '"' || s[i] == '-' || (s[i] >= '0' && s[i] <= '9') ||
            s[i] == 't' || s[i] == 'f' || s[i] == 'n') {
            return fail(dec, DRIFT_BAD_NOT_OBJECT, bad, detail, "message is not a JSON object",
                        NULL, 0);
        }
        return fail(dec, DRIFT_BAD_INVALID_JSON, bad, detail, "invalid JSON at byte 0", NULL, 0);
    }
    i = skip_ws(s, i + 1, n);
    if (i < n && s[i] == '}') {
        i++;
        goto done;
    }
    for (;;) {
        if (i >= n || s[i] != '"') {
            goto invalid;
        }
        int esc;
        size_t kend = scan_string(s, i + 1, n, &esc);
        if (kend == 0) {
            goto invalid;
        }
        const char *key = s + i + 1;
        size_t klen = kend - i - 2;
        if (esc) {
            long u = unescape(key, klen, dec->keybuf, sizeof(dec->keybuf));
            if (u < 0) {
                goto invalid;
            }
            key = dec->keybuf;
            klen = (size_t)u;
        }
        const struct field *f = table_get(dec, key, klen);
        i = skip_ws(s, kend, n);
        if (i >= n || s[i] != ':') {
            goto invalid;
        }
        i = skip_ws(s, i + 1, n);
        if (i >= n) {
            goto invalid;
        }
        char c = s[i];
        double num = NAN;
        int vtype; /* 0 number, 1 string, 2 bool, 3 null, 4 nested, 5 nan/inf */
        const char *sv = NULL;
        size_t svlen = 0;
        if (c == '"') {
            size_t vend = scan_string(s, i + 1, n, &esc);
            if (vend == 0) {
                goto invalid;
            }
            sv = s + i + 1;
            svlen = vend - i - 2;
            if (esc && f != NULL && (f->kind == F_CAT || f->kind == F_ID)) {
                long u = unescape(sv, svlen, dec->valbuf, sizeof(dec->valbuf));
                if (u == -2 && f->kind == F_CAT) {
                    return fail(dec, DRIFT_BAD_WRONG_TYPE, bad, detail,
                                "category value longer than 256 bytes in", f->name, f->len);
                }
                if (u < 0) {
                    goto invalid;
                }
                sv = dec->valbuf;
                svlen = (size_t)u;
            }
            vtype = 1;
            i = vend;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (c == '-' && i + 1 < n && s[i + 1] == 'I') {
                if (n - i >= 9 && memcmp(s + i, "-Infinity", 9) == 0) {
                    vtype = 5;
                    sv = s + i;
                    svlen = 9;
                    i += 9;
                } else {
                    goto invalid;
                }
            } else {
                size_t used = drift_parse_number(s + i, n - i, &num);
                if (used == 0) {
                    goto invalid;
                }
                sv = s + i;
                svlen = used;
                vtype = 0;
                i += used;
            }
        } else if (c == 't' && n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
            vtype = 2;
            num = 1;
            sv = s + i;
            svlen = 4;
            i += 4;
        } else if (c == 'f' && n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
            vtype = 2;
            num = 0;
            sv = s + i;
            svlen = 5;
            i += 5;
        } else if (c == 'n' && n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
            vtype = 3;
            i += 4;
        } else if (c == 'N' && n - i >= 3 && memcmp(s + i, "NaN", 3) == 0) {
            vtype = 5;
            sv = s + i;
            svlen = 3;
            i += 3;
        } else if (c == 'I' && n - i >= 8 && memcmp(s + i, "Infinity", 8) == 0) {
            vtype = 5;
            sv = s + i;
            svlen = 8;
            i += 8;
        } else if (c == '{' || c == '[') {
            i = skip_nested(s, i, n);
            if (i == 0) {
                goto invalid;
            }
            vtype = 4;
        } else {
            goto invalid;
        }
        if (f != NULL) {
            switch (f->kind) {
            case F_NUM:
                seen = 1;
                if (vtype == 0 || vtype == 2) {
                    b->x[(size_t)f->idx * cap + row] = isfinite(num) ? num : NAN;
                } else if (vtype == 1 || vtype == 4) {
                    return fail(dec, DRIFT_BAD_WRONG_TYPE, bad, detail,
                                "expected a number for numeric feature", f->name, f->len);
                }
                break;
            case F_CAT:
                seen = 1;
                if (vtype == 0 || vtype == 1 || vtype == 2) {
                    const char *fault;
                    int32_t code = category_code(dec, f->idx, sv, svlen, &fault);
                    if (code < 0) {
                        return fail(dec, DRIFT_BAD_WRONG_TYPE, bad, detail, fault, f->name,
                                    f->len);
                    }
                    b->cat[(size_t)f->idx * cap + row] = code;
                } else if (vtype == 4) {
                    return fail(dec, DRIFT_BAD_WRONG_TYPE, bad, detail,
                                "expected a string for categorical feature", f->name, f->len);
                }
                break;
            case F_ID:
                if ((vtype == 0 || vtype == 1) && b->idlen != NULL) {
                    if (svlen == 0 || svlen > DRIFT_ID_MAX) {
                        b->idlen[row] = svlen == 0 ? 0 : DRIFT_ID_MAX + 1;
                    } else {
                        memcpy(b->id + row * DRIFT_ID_MAX, sv, svlen);
                        b->idlen[row] = (uint8_t)svlen;
                    }
                }
                break;
            case F_PRED:
                if ((vtype == 0 || vtype == 2) && b->pred != NULL) {
                    b->pred[row] = isfinite(num) ? num : NAN;
                } else if (vtype == 1 || vtype == 4) {
                    return fail(dec, DRIFT_BAD_WRONG_TYPE, bad, detail,
                                "expected a number (score, class or value) for prediction",
                                f->name, f->len);
                }
                break;
            case F_LABEL:
                if (vtype == 0 || vtype == 2) {
                    if (dec->sc->performance.enabled && dec->sc->performance.task == 1) {
                        b->label[row] = isfinite(num) ? num : NAN; /* regression: a value */
                    } else if (num != 0 && num != 1) {
                        return fail(dec, DRIFT_BAD_BAD_LABEL, bad, detail,
                                    "label must be 0 or 1 in field", f->name, f->len);
                    } else {
                        b->label[row] = num;
                    }
                } else if (vtype == 1 || vtype == 4) {
                    return fail(dec, DRIFT_BAD_BAD_LABEL, bad, detail,
                                "label must be 0, 1, true or false in field", f->name, f->len);
                }
                break;
            case F_TIME:
                if (vtype == 0) {
                    /* Epoch seconds, or milliseconds when the value is too large for seconds. */
                    double t = num > 1e11 ? num / 1000.0 : num;
                    if (!(t >= 0 && t <= TIME_MAX_S)) {
                        return fail(dec, DRIFT_BAD_BAD_TIME, bad, detail,
                                    "event time outside 1970-01-01..9999-12-31 in", f->name,
                                    f->len);
                    }
                    b->ts[row] = t;
                } else if (vtype == 1 || vtype == 4 || vtype == 2) {
                    return fail(dec, DRIFT_BAD_WRONG_TYPE, bad, detail,
                                "expected epoch seconds or milliseconds in", f->name, f->len);
                }
                break;
            default:
                break;
            }
        }
        i = skip_ws(s, i, n);
        if (i >= n) {
            goto invalid;
        }
        if (s[i] == ',') {
            i = skip_ws(s, i + 1, n);
            continue;
        }
        if (s[i] == '}') {
            i++;
            break;
        }
        goto invalid;
    }
done:
    i = skip_ws(s, i, n);
    if (i != n && !(i + 1 == n && s[i] == '\0')) {
        return fail(dec, DRIFT_BAD_INVALID_JSON, bad, detail, "trailing bytes after the object",
                    NULL, 0);
    }
    if (!seen && dec->sc->nfeatures > 0) {
        return fail(dec, DRIFT_BAD_NO_FEATURES, bad, detail,
                    "none of the stream's features present", NULL, 0);
    }
    /* Admission rules, after the event is known to be well-formed: a very late event time, an
     * unconfirmed jump far ahead (see the top of the file) and a repeated id are skipped
     * (counted, dead-lettered); out-of-order times within the lateness are accepted: windows
     * count events in arrival order. */
    double ts = b->ts[row];
    int lateness = dec->sc->max_lateness_s;
    if (lateness > 0 && !isnan(ts) && !isnan(dec->max_ts)) {
        double jump = lateness > TIME_JUMP_MIN_S ? lateness : TIME_JUMP_MIN_S;
        if (ts > dec->max_ts + jump) {
            if (isnan(dec->jump_ts) || fabs(ts - dec->jump_ts) > jump) {
                dec->jump_ts = ts; /* the next event with a time may confirm it */
                *bad = DRIFT_BAD_BAD_TIME;
                snprintf(dec->detail, sizeof(dec->detail),
                         "event time %.0f is %.0f s ahead of the latest (more than %.0f); "
                         "refused unless the next event's time agrees", ts, ts - dec->max_ts,
                         jump);
                *detail = dec->detail;
                return DRIFT_EPARSE;
            }
            /* confirmed: the stream moved on; the latest time follows once it is admitted */
        } else {
            dec->jump_ts = NAN; /* in line with the latest: a lone far-ahead time stays lone */
        }
        if (ts < dec->max_ts - lateness) {
            *bad = DRIFT_BAD_TOO_LATE;
            snprintf(dec->detail, sizeof(dec->detail),
                     "event time %.0f is %.0f s behind the latest (max_lateness_s %d)", ts,
                     dec->max_ts - ts, lateness);
            *detail = dec->detail;
            return DRIFT_EPARSE;
        }
    }
    if (dec->seen != NULL && b->idlen != NULL && b->idlen[row] > 0 &&
        b->idlen[row] <= DRIFT_ID_MAX) {
        const char *id = b->id + row * DRIFT_ID_MAX;
        if (drift_join_put(dec->seen, id, b->idlen[row], 0, ++dec->seen_clock) == DRIFT_EEXIST) {
            return fail(dec, DRIFT_BAD_DUPLICATE, bad, detail, "id already seen:", id,
                        b->idlen[row]);
        }
    }
    if (!isnan(ts) && (isnan(dec->max_ts) || ts > dec->max_ts)) {
        dec->max_ts = ts;
    }
    if (!isnan(ts)) {
        dec->jump_ts = NAN;
    }
    b->n = row + 1;
    return 0;
invalid:
    *bad = DRIFT_BAD_INVALID_JSON;
    snprintf(dec->detail, sizeof(dec->detail), "invalid JSON at byte %zu", i);
    *detail = dec->detail;
    return DRIFT_EPARSE;
}

/* ---------------------------------------------------------------------------------------------
 * Generic flat-object walk (driftd score's JSON-lines input)
 * -------------------------------------------------------------------------------------------*/

/* Scans a string whose opening quote is at s[i]; on success *out and *olen hold its text (unescaped
 * into scratch at *used when it has escapes) and the index after the closing quote is returned;
 * 0 on error. */
static size_t take_string(const char *s, size_t i, size_t n, char *scratch, size_t cap,
                          size_t *used, const char **out, size_t *olen)
{
    int esc;
    size_t end = scan_string(s, i + 1, n, &esc);
    if (end == 0) {
        return 0;
    }
    if (!esc) {
        *out = s + i + 1;
        *olen = end - i - 2;
        return end;
    }
    long l = unescape(s + i + 1, end - i - 2, scratch + *used, cap - *used);
    if (l < 0) {
        return 0;
    }
    *out = scratch + *used;
    *olen = (size_t)l;
    *used += (size_t)l;
    return end;
}

int drift_json_each(const char *s, size_t n, char *scratch, size_t cap, drift_json_member_fn fn,
                    void *ctx, size_t *errpos, const char **what)
{
    size_t used = 0, i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{') {
        *errpos = i;
        *what = "expected a JSON object";
        return DRIFT_EPARSE;
    }
    i = skip_ws(s, i + 1, n);
    if (i < n && s[i] == '}') {
        i++;
        goto done;
    }
    for (;;) {
        const char *key, *val;
        size_t klen, vlen, start;
        enum drift_json_kind kind;
        if (i >= n || s[i] != '"') {
            *what = "expected a quoted key";
            goto bad;
        }
        start = i;
        if ((i = take_string(s, i, n, scratch, cap, &used, &key, &klen)) == 0) {
            *what = "unterminated or badly escaped key";
            i = start;
            goto bad;
        }
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != ':') {
            *what = "expected ':' after the key";
            goto bad;
        }
        i = skip_ws(s, i + 1, n);
        start = i;
        if (i >= n) {
            *what = "expected a value";
            goto bad;
        }
        if (s[i] == '"') {
            if ((i = take_string(s, i, n, scratch, cap, &used, &val, &vlen)) == 0) {
                *what = "unterminated or badly escaped string";
                i = start;
                goto bad;
            }
            kind = DRIFT_JSON_STRING;
        } else if (s[i] == '{' || s[i] == '[') {
            if ((i = skip_nested(s, i, n)) == 0) {
                *what = "unterminated object or array";
                i = start;
                goto bad;
            }
            kind = DRIFT_JSON_NESTED;
            val = s + start;
            vlen = i - start;
        } else {
            while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ' ' && s[i] != '\t' &&
                   s[i] != '\r' && s[i] != '\n') {
                i++;
            }
            val = s + start;
            vlen = i - start;
            double v;
            if (vlen == 4 && memcmp(val, "null", 4) == 0) {
                kind = DRIFT_JSON_NULL;
            } else if ((vlen == 4 && memcmp(val, "true", 4) == 0) ||
                       (vlen == 5 && memcmp(val, "false", 5) == 0)) {
                kind = DRIFT_JSON_BOOL;
            } else if ((vlen == 3 && memcmp(val, "NaN", 3) == 0) ||
                       (vlen == 8 && memcmp(val, "Infinity", 8) == 0) ||
                       (vlen == 9 && memcmp(val, "-Infinity", 9) == 0) ||
                       (vlen > 0 && drift_parse_number(val, vlen, &v) == vlen)) {
                kind = DRIFT_JSON_NUMBER;
            } else {
                *what = "invalid value";
                i = start;
                goto bad;
            }
        }
        fn(ctx, key, klen, kind, val, vlen);
        i = skip_ws(s, i, n);
        if (i < n && s[i] == ',') {
            i = skip_ws(s, i + 1, n);
            continue;
        }
        if (i < n && s[i] == '}') {
            i++;
            break;
        }
        *what = "expected ',' or '}'";
        goto bad;
    }
done:
    i = skip_ws(s, i, n);
    if (i != n) {
        *what = "text after the object";
        goto bad;
    }
    return 0;
bad:
    *errpos = i;
    return DRIFT_EPARSE;
}

void drift_decoder_forget_stream(struct drift_decoder *dec)
{
    dec->max_ts = NAN;
    dec->jump_ts = NAN;
    if (dec->seen != NULL) { /* an empty memory: the state of a join that saw nothing */
        struct drift_join *empty = drift_join_create(1, 1);
        unsigned char b[256];
        size_t n = empty != NULL ? drift_join_save(empty, b, sizeof(b)) : 0;
        if (n > 0 && n <= sizeof(b)) {
            drift_join_load(dec->seen, b, n);
        }
        drift_join_destroy(empty);
    }
}
