/* Unit tests for the message decoder: every documented rule, the input bounds (category values,
 * event times), the checkpoints, and the exact number parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <apr_general.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "stream.h"

static apr_pool_t *pool;
static struct drift_feature_conf feats[] = {
    {"amount", DRIFT_FEATURE_NUMERIC, {0, 0}},
    {"country", DRIFT_FEATURE_CATEGORICAL, {0, 0}},
    {"risk", DRIFT_FEATURE_NUMERIC, {0, 0}},
};
static struct drift_stream_conf sc;
static struct drift_batch b;
static double x[2 * 8], lab[8], ts[8];
static int32_t cat[8], part[8];
static int64_t off[8];
static unsigned char st_jump[1 << 12];

static int setup(void **state)
{
    apr_pool_create(&pool, NULL);
    memset(&sc, 0, sizeof(sc));
    sc.name = "s";
    sc.features = feats;
    sc.nfeatures = 3;
    sc.label = "y";
    sc.time_field = "ts";
    sc.max_message_bytes = 256;
    b = (struct drift_batch){0, 8, 2, 1, x, cat, lab, ts, part, off, NULL, NULL, NULL};
    return 0;
}

static int teardown(void **state)
{
    apr_pool_destroy(pool);
    return 0;
}

static int decode(struct drift_decoder *dec, const char *s, int *bad)
{
    const char *detail;
    return drift_decode(dec, s, strlen(s), &b, bad, &detail);
}

static void test_full_record(void **state)
{
    struct drift_decoder *dec = drift_decoder_create(pool, &sc);
    int bad = -1;
    b.n = 0;
    assert_int_equal(decode(dec, " {\"amount\": 12.5, \"country\":\"DE\", \"risk\":-1e-3,"
                                 " \"y\": true, \"ts\": 1700000000123,"
                                 " \"extra\": {\"a\":[1,\"}\"]}}\n",
                            &bad),
                     0);
    assert_int_equal(b.n, 1);
    assert_true(x[0] == 12.5);
    assert_true(x[8] == -1e-3);
    assert_int_equal(cat[0], 0);
    assert_true(lab[0] == 1.0);
    assert_true(fabs(ts[0] - 1700000000.123) < 1e-6);
    /* Same category again → same code; another → next code. */
    assert_int_equal(decode(dec, "{\"country\":\"DE\"}", &bad), 0);
    assert_int_equal(cat[1], 0);
    assert_true(isnan(x[1]) && isnan(x[9]));
    assert_int_equal(decode(dec, "{\"country\":\"F\\u0052\",\"amount\":null}", &bad), 0);
    assert_int_equal(cat[2], 1);
    assert_string_equal(drift_decoder_category_name(dec, 0, 1), "FR");
    assert_true(isnan(x[2]));
}

static void test_missing_and_nan(void **state)
{
    struct drift_decoder *dec = drift_decoder_create(pool, &sc);
    int bad;
    b.n = 0;
    assert_int_equal(decode(dec, "{\"amount\": NaN, \"risk\": -Infinity, \"country\": null}", &bad),
                     0);
    assert_true(isnan(x[0]) && isnan(x[8]));
    assert_int_equal(cat[0], -1);
    assert_int_equal(decode(dec, "{\"amount\": Infinity, \"risk\": 1e400}", &bad), 0);
    assert_true(isnan(x[1]) && isnan(x[9]));
    /* Numbers and booleans as categories are spelled as their JSON text. */
    assert_int_equal(decode(dec, "{\"country\": 7}", &bad), 0);
    assert_string_equal(drift_decoder_category_name(dec, 0, cat[2]), "7");
}

static void test_bad_messages(void **state)
{
    struct drift_decoder *dec = drift_decoder_create(pool, &sc);
    struct {
        const char *msg;
        int reason;
    } cases[] = {
        {"", DRIFT_BAD_EMPTY},
        {"   ", DRIFT_BAD_EMPTY},
        {"[1,2]", DRIFT_BAD_NOT_OBJECT},
        {"42", DRIFT_BAD_NOT_OBJECT},
        {"hello", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1,}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\" 1}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1} x", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": \"12\"}", DRIFT_BAD_WRONG_TYPE},
        {"{\"country\": {\"a\":1}}", DRIFT_BAD_WRONG_TYPE},
        {"{\"other\": 1}", DRIFT_BAD_NO_FEATURES},
        {"{}", DRIFT_BAD_NO_FEATURES},
        {"{\"amount\": 1, \"y\": 2}", DRIFT_BAD_BAD_LABEL},
        {"{\"amount\": 1, \"y\": \"yes\"}", DRIFT_BAD_BAD_LABEL},
        {"{\"amount\": 1, \"ts\": \"2024-01-01\"}", DRIFT_BAD_WRONG_TYPE},
    };
    b.n = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int bad = -1;
        const char *detail = NULL;
        int rc = drift_decode(dec, cases[i].msg, strlen(cases[i].msg), &b, &bad, &detail);
        if (rc != DRIFT_EPARSE || bad != cases[i].reason) {
            fail_msg("case %zu '%s': rc %d reason %d, want %d", i, cases[i].msg, rc, bad,
                     cases[i].reason);
        }
        assert_non_null(detail);
        assert_int_equal(b.n, 0);
    }
    /* Too large. */
    char big[400];
    memset(big, ' ', sizeof(big));
    memcpy(big, "{\"amount\":1}", 12);
    int bad;
    const char *detail;
    assert_int_equal(drift_decode(dec, big, sizeof(big), &b, &bad, &detail), DRIFT_EPARSE);
    assert_int_equal(bad, DRIFT_BAD_TOO_LARGE);
    /* A wrong-type detail names the field. */
    drift_decode(dec, "{\"amount\": \"x\"}", 15, &b, &bad, &detail);
    assert_non_null(strstr(detail, "amount"));
}

static void test_frozen_dictionary(void **state)
{
    struct drift_decoder *dec = drift_decoder_create(pool, &sc);
    assert_int_equal(drift_decoder_category(dec, 0, "a", 1), 0);
    assert_int_equal(drift_decoder_category(dec, 0, "b", 1), 1);
    drift_decoder_freeze(dec);
    assert_int_equal(drift_decoder_category(dec, 0, "b", 1), 1);
    assert_int_equal(drift_decoder_category(dec, 0, "c", 1), DRIFT_MAX_CATEGORIES);
    assert_int_equal(drift_decoder_ncategories(dec, 0), 2);
}

/* Decodes msg with dec into b; returns 0 or the reason + 1, and the detail in *detail. */
static int verdict(struct drift_decoder *dec, const char *msg, size_t len, const char **detail)
{
    int bad = -1;
    size_t before = b.n;
    int rc = drift_decode(dec, msg, len, &b, &bad, detail);
    if (b.n == b.cap) {
        b.n = 0;
    }
    if (rc != 0) {
        assert_int_equal(b.n, before);
        return bad + 1;
    }
    return 0;
}

/* Regression (security review M6, L4): a category value became a feature name whatever its
 * bytes: a lone surrogate (\uD800) or raw invalid UTF-8 made jansson drop the name from a
 * published model, so names and weights no longer lined up, and a value of any length was kept
 * for the life of the process. Such a message is now wrong_type, naming the field, and the value
 * never enters the dictionary; a surrogate pair is one character, valid UTF-8. */
static void test_category_values_bounded(void **state)
{
    struct drift_stream_conf sc2 = sc;
    sc2.max_message_bytes = 1 << 16;
    struct drift_decoder *dec = drift_decoder_create(pool, &sc2);
    b.n = 0;
    const char *detail;
    static const struct {
        const char *msg;
        const char *why;
    } refused[] = {
        {"{\"country\":\"\\uD800\"}", "not valid UTF-8"},
        {"{\"country\":\"a\\udc00b\"}", "not valid UTF-8"},
        {"{\"country\":\"\\uD83Dx\"}", "not valid UTF-8"}, /* a high surrogate alone */
        {"{\"country\":\"\xff\xfe\"}", "not valid UTF-8"},
        {"{\"country\":\"\xc0\xaf\"}", "not valid UTF-8"},  /* overlong '/' */
        {"{\"country\":\"\xed\xa0\x80\"}", "not valid UTF-8"}, /* a raw surrogate */
        {"{\"country\":\"\xf4\x90\x80\x80\"}", "not valid UTF-8"}, /* past U+10FFFF */
        {"{\"country\":\"\xc3\"}", "not valid UTF-8"},      /* cut short */
        {"{\"country\":\"a\\u0000b\"}", "NUL"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int v = verdict(dec, refused[i].msg, strlen(refused[i].msg), &detail);
        if (v != DRIFT_BAD_WRONG_TYPE + 1 || strstr(detail, refused[i].why) == NULL ||
            strstr(detail, "'country'") == NULL) {
            fail_msg("case %zu: verdict %d, detail %s", i, v, v ? detail : "-");
        }
    }
    assert_int_equal(drift_decoder_ncategories(dec, 0), 0);

    /* Length: 256 bytes is a category, 257 is not, escaped or not. */
    static char msg[8192];
    int n = snprintf(msg, sizeof(msg), "{\"country\":\"");
    memset(msg + n, 'a', 256);
    snprintf(msg + n + 256, sizeof(msg) - (size_t)n - 256, "\"}");
    assert_int_equal(verdict(dec, msg, strlen(msg), &detail), 0);
    assert_int_equal(strlen(drift_decoder_category_name(dec, 0, 0)), 256);
    memset(msg + n, 'b', 257);
    snprintf(msg + n + 257, sizeof(msg) - (size_t)n - 257, "\"}");
    assert_int_equal(verdict(dec, msg, strlen(msg), &detail), DRIFT_BAD_WRONG_TYPE + 1);
    assert_non_null(strstr(detail, "longer than 256 bytes in 'country'"));
    for (int k = 0; k < 129; k++) { /* 258 bytes once unescaped */
        memcpy(msg + n + 6 * k, "\\u00e9", 6);
    }
    snprintf(msg + n + 6 * 129, sizeof(msg) - (size_t)n - 6 * 129, "\"}");
    assert_int_equal(verdict(dec, msg, strlen(msg), &detail), DRIFT_BAD_WRONG_TYPE + 1);
    for (int k = 0; k < 1100; k++) { /* past the unescaping buffer: was invalid_json */
        memcpy(msg + n + 6 * k, "\\u0041", 6);
    }
    snprintf(msg + n + 6 * 1100, sizeof(msg) - (size_t)n - 6 * 1100, "\"}");
    assert_int_equal(verdict(dec, msg, strlen(msg), &detail), DRIFT_BAD_WRONG_TYPE + 1);
    assert_non_null(strstr(detail, "longer than 256 bytes"));
    assert_int_equal(drift_decoder_ncategories(dec, 0), 1);

    /* Valid UTF-8 is kept as it is; a surrogate pair becomes its one 4-byte character. */
    const char *pair = "{\"country\":\"\\uD83D\\uDE00\"}";
    assert_int_equal(verdict(dec, pair, strlen(pair), &detail), 0);
    assert_string_equal(drift_decoder_category_name(dec, 0, 1), "\xf0\x9f\x98\x80");
    const char *raw = "{\"country\":\"M\xc3\xbcnchen \xe2\x82\xac \xf0\x9f\x98\x80\"}";
    assert_int_equal(verdict(dec, raw, strlen(raw), &detail), 0);
    assert_string_equal(drift_decoder_category_name(dec, 0, 2),
                        "M\xc3\xbcnchen \xe2\x82\xac \xf0\x9f\x98\x80");
    /* The dictionary itself never takes such a value (reference files come this way). */
    assert_int_equal(drift_decoder_category(dec, 0, "\xff", 1), DRIFT_MAX_CATEGORIES);
    assert_int_equal(drift_decoder_category(dec, 0, "a\0b", 3), DRIFT_MAX_CATEGORIES);
    assert_int_equal(drift_decoder_ncategories(dec, 0), 3);
}

/* Regression (security review M5): any finite number was an event time. One event at 1e300 (or
 * any far future) became the latest time, and with max_lateness_s every event after it was
 * too_late; the same value overflowed the date conversions. A time outside 1970..9999 is now
 * bad_time, and with a lateness bound a jump far ahead counts only once the next event with a
 * time confirms it. */
static void test_event_time_bounded(void **state)
{
    struct drift_decoder *dec = drift_decoder_create(pool, &sc);
    const char *detail;
    b.n = 0;
    static const struct {
        const char *ts;
        int want; /* 0 accepted, else reason + 1 */
    } plain[] = {
        {"1e300", DRIFT_BAD_BAD_TIME + 1},
        {"-5", DRIFT_BAD_BAD_TIME + 1},
        {"253402300800000", DRIFT_BAD_BAD_TIME + 1}, /* ms: 10000-01-01 */
        {"253402300799000", 0},                      /* ms: 9999-12-31T23:59:59 */
        {"0", 0},
        {"1013", 0}, /* no lateness bound: order is free, and there is no jump rule */
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        char msg[96];
        snprintf(msg, sizeof(msg), "{\"amount\":1,\"ts\":%s}", plain[i].ts);
        int v = verdict(dec, msg, strlen(msg), &detail);
        if (v != plain[i].want) {
            fail_msg("ts %s: verdict %d, want %d", plain[i].ts, v, plain[i].want);
        }
        if (v != 0) {
            assert_non_null(strstr(detail, "outside 1970-01-01..9999-12-31 in 'ts'"));
        }
    }

    struct drift_stream_conf lsc = sc;
    lsc.max_lateness_s = 60;
    struct drift_decoder *l = drift_decoder_create(pool, &lsc), *c = NULL;
    static const struct {
        double ts;
        int want;
    } seq[] = {
        {1000, 0},
        {1e9, DRIFT_BAD_BAD_TIME + 1},    /* a lone stray time far ahead */
        {1010, 0},                        /* not too late: the latest did not move */
        {1020, 0},
        {5e8, DRIFT_BAD_BAD_TIME + 1},    /* far ahead again */
        {9e8, DRIFT_BAD_BAD_TIME + 1},    /* far ahead, but far from 5e8 too: a new candidate */
        {9e8 + 10, 0},                    /* agrees with it: the stream moved on */
        {1030, DRIFT_BAD_TOO_LATE + 1},   /* and now the old times are late */
        {9e8 + 5, 0},                     /* out of order within the lateness */
        {9e8 + 3700, DRIFT_BAD_BAD_TIME + 1}, /* more than an hour ahead */
        {9e8 + 20, 0},                    /* in line: the candidate is dropped */
        {9e8 + 3710, DRIFT_BAD_BAD_TIME + 1},
        {9e8 + 3720, 0},                  /* confirmed */
    };
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        char msg[96];
        snprintf(msg, sizeof(msg), "{\"amount\":1,\"ts\":%.0f}", seq[i].ts);
        int v = verdict(l, msg, strlen(msg), &detail);
        if (v != seq[i].want) {
            fail_msg("step %zu, ts %.0f: verdict %d, want %d", i, seq[i].ts, v, seq[i].want);
        }
        if (v == DRIFT_BAD_BAD_TIME + 1) {
            assert_non_null(strstr(detail, "ahead of the latest"));
        }
        if (i == 4) {
            /* a jump waiting for confirmation survives a checkpoint */
            c = drift_decoder_create(pool, &lsc);
            size_t len = drift_decoder_save(l, st_jump, sizeof(st_jump));
            assert_true(len <= sizeof(st_jump));
            assert_int_equal(drift_decoder_load(c, st_jump, len), 0);
            snprintf(msg, sizeof(msg), "{\"amount\":1,\"ts\":%.0f}", 5e8 + 10);
            assert_int_equal(verdict(c, msg, strlen(msg), &detail), 0); /* confirms 5e8 */
        }
    }
}

/* The fast path must give exactly what strtod gives. */
static void test_numbers_exact(void **state)
{
    const char *cases[] = {"0",       "-0",        "1",           "12.5",     "-3.14159",
                           "1e10",    "1E-5",      "0.1",         "0.3",      "123456789012345678",
                           "1.7976931348623157e308", "4.9e-324",  "2.2250738585072014e-308",
                           "9007199254740993",       "0.000001234", "123.456e-7", "1e22", "1e23",
                           "8.589973e9", "3.0000000000000004"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double v;
        size_t n = drift_parse_number(cases[i], strlen(cases[i]), &v);
        assert_int_equal(n, strlen(cases[i]));
        double want = strtod(cases[i], NULL);
        if (memcmp(&v, &want, sizeof(v)) != 0) {
            fail_msg("%s: got %.17g want %.17g", cases[i], v, want);
        }
    }
    /* Random decimal strings against strtod. */
    srand(7);
    for (int i = 0; i < 200000; i++) {
        char s[64];
        double r = ((double)rand() / RAND_MAX - 0.5) * pow(10, rand() % 30 - 15);
        snprintf(s, sizeof(s), "%.*g", 1 + rand() % 17, r);
        double v;
        drift_parse_number(s, strlen(s), &v);
        double want = strtod(s, NULL);
        if (memcmp(&v, &want, sizeof(v)) != 0) {
            fail_msg("%s: got %.17g want %.17g", s, v, want);
        }
    }
    double v;
    assert_int_equal(drift_parse_number("-", 1, &v), 0);
    assert_int_equal(drift_parse_number("1e", 2, &v), 0);
}

/* ---------------------------------------------------------------------------------------------
 * Checkpoints: a stream with two categorical features, an id (dedup memory of 8) and a lateness
 * bound, decoded into its own batch.
 * -------------------------------------------------------------------------------------------*/
static struct drift_feature_conf cp_feats[] = {
    {"amount", DRIFT_FEATURE_NUMERIC, {0, 0}},
    {"country", DRIFT_FEATURE_CATEGORICAL, {0, 0}},
    {"device", DRIFT_FEATURE_CATEGORICAL, {0, 0}},
};
static struct drift_stream_conf cp_sc;
static double cp_x[4], cp_lab[4], cp_ts[4];
static int32_t cp_cat[2 * 4], cp_part[4];
static int64_t cp_off[4];
static char cp_id[4 * DRIFT_ID_MAX];
static uint8_t cp_idlen[4];
static struct drift_batch cp_b = {
    .cap = 4, .d = 1, .k = 2, .x = cp_x, .cat = cp_cat, .label = cp_lab, .ts = cp_ts,
    .part = cp_part, .off = cp_off, .id = cp_id, .idlen = cp_idlen,
};
static unsigned char st1[1 << 14], st2[1 << 14];

static struct drift_decoder *cp_decoder(int dedup)
{
    cp_sc = sc;
    cp_sc.features = cp_feats;
    cp_sc.nfeatures = 3;
    cp_sc.id_field = "id";
    cp_sc.dedup = dedup;
    cp_sc.max_lateness_s = 60;
    return drift_decoder_create(pool, &cp_sc);
}

/* Message i of a stream where countries, devices and ids recur (an id three messages later) and
 * times go back now and then. */
static int cp_message(int i, char *buf, size_t cap)
{
    static const char *const countries[] = {"DE", "FR", "US", "IT", "ES", "NL", "PL"};
    static const char *const devices[] = {"ios", "android", "web"};
    int t = 1000 + i * 10 - (i % 9 == 4 ? 90 : 0); /* every ninth is 80 s late */
    const char *device = i >= 90 && i % 5 == 0 ? "tv" : devices[i % 3]; /* late newcomer */
    return snprintf(buf, cap, "{\"amount\":%d,\"country\":\"%s\",\"device\":\"%s\",\"id\":\"r%d\","
                    "\"ts\":%d}",
                    i, countries[(i * 5) % 7 % (2 + i / 10)], device,
                    i % 4 == 3 ? i - 3 : i, t);
}

/* Decodes message i with a and, when c is not NULL, with c: same verdict, same codes. Returns the
 * verdict (0 or the bad reason + 1). */
static int cp_decode(struct drift_decoder *a, struct drift_decoder *c, int i)
{
    char msg[256];
    int n = cp_message(i, msg, sizeof(msg));
    const char *detail;
    int bada = -1, badb = -1;
    cp_b.n = 0;
    int rca = drift_decode(a, msg, (size_t)n, &cp_b, &bada, &detail);
    int32_t ca = cp_cat[0], da = cp_cat[4];
    if (c != NULL) {
        cp_b.n = 0;
        int rcb = drift_decode(c, msg, (size_t)n, &cp_b, &badb, &detail);
        assert_int_equal(rca, rcb);
        assert_int_equal(bada, badb);
        assert_int_equal(ca, cp_cat[0]);
        assert_int_equal(da, cp_cat[4]);
    }
    return rca == 0 ? 0 : bada + 1;
}

static void assert_same_decoders(const struct drift_decoder *a, const struct drift_decoder *c)
{
    size_t na = drift_decoder_save(a, st1, sizeof(st1));
    size_t nb = drift_decoder_save(c, st2, sizeof(st2));
    assert_true(na <= sizeof(st1));
    assert_int_equal(na, nb);
    assert_memory_equal(st1, st2, na);
}

/* A decoder loaded from a checkpoint gives the original's codes, duplicate and too_late verdicts
 * on the messages that follow, frozen or not, and saves to the same bytes. */
static void test_state_round_trip(void **state)
{
    struct drift_decoder *a = cp_decoder(8);
    int verdicts[DRIFT_BAD_COUNT + 1] = {0};
    for (int i = 0; i < 40; i++) {
        verdicts[cp_decode(a, NULL, i)]++;
    }
    for (int frozen = 0; frozen < 2; frozen++) {
        struct drift_decoder *c = cp_decoder(8);
        assert_int_equal(drift_decoder_category(c, 1, "junk", 4), 0); /* replaced by the load */
        size_t n = drift_decoder_save(a, NULL, 0);
        assert_int_equal(drift_decoder_save(a, st1, n - 1), n);
        assert_int_equal(drift_decoder_save(a, st1, sizeof(st1)), n);
        assert_int_equal(drift_decoder_load(c, st1, n), 0);
        assert_same_decoders(a, c);
        assert_int_equal(drift_decoder_ncategories(c, 0), drift_decoder_ncategories(a, 0));
        for (int i = 40 + 40 * frozen; i < 80 + 40 * frozen; i++) {
            verdicts[cp_decode(a, c, i)]++;
        }
        assert_same_decoders(a, c);
        drift_decoder_freeze(a);
    }
    print_message("decoder checkpoint: %d accepted, %d duplicate, %d too_late\n", verdicts[0],
                  verdicts[DRIFT_BAD_DUPLICATE + 1], verdicts[DRIFT_BAD_TOO_LATE + 1]);
    assert_true(verdicts[DRIFT_BAD_DUPLICATE + 1] > 5 && verdicts[DRIFT_BAD_TOO_LATE + 1] > 5);
    assert_int_equal(drift_decoder_ncategories(a, 0), 7);
    assert_int_equal(drift_decoder_ncategories(a, 1), 3);
}

/* Loads bad[0..n) into dec: DRIFT_ESTATE, and dec saves to the same bytes as before. */
static void assert_decoder_refuses(struct drift_decoder *dec, const unsigned char *bad, size_t n)
{
    size_t n1 = drift_decoder_save(dec, st1, sizeof(st1));
    assert_int_equal(drift_decoder_load(dec, bad, n), DRIFT_ESTATE);
    size_t n2 = drift_decoder_save(dec, st2, sizeof(st2));
    assert_int_equal(n1, n2);
    assert_memory_equal(st1, st2, n1);
}

/* Another schema's checkpoint, or bytes cut short, corrupted or with a value twice, are refused
 * with the decoder left as it was. */
static void test_state_refuses_mismatch(void **state)
{
    static unsigned char good[1 << 12], bad[1 << 12];
    struct drift_decoder *a = cp_decoder(8), *dec = cp_decoder(8);
    for (int i = 0; i < 12; i++) {
        cp_decode(a, NULL, i);
        cp_decode(dec, NULL, 100 + i);
    }
    size_t n = drift_decoder_save(a, good, sizeof(good));
    assert_true(n <= sizeof(good));
    assert_decoder_refuses(dec, NULL, 0);
    for (size_t len = 0; len < n; len++) {
        assert_decoder_refuses(dec, good, len);
    }
    memcpy(bad, good, n);
    assert_decoder_refuses(dec, bad, n + 1); /* trailing byte */
    for (size_t i = 0; i < 16; i++) {        /* the header */
        memcpy(bad, good, n);
        bad[i] ^= 0x04;
        assert_decoder_refuses(dec, bad, n);
    }
    /* The first value of "country" (after the header, max_ts, jump_ts, the clock and the name)
     * made equal to the second: "DE" and "FR" are both two bytes. */
    size_t v0 = 40 + 4 + 7 + 1 + 4 + 4, v1 = v0 + 2 + 4;
    memcpy(bad, good, n);
    memcpy(bad + v0, bad + v1, 2);
    assert_true(memcmp(good + v0, "DE", 2) == 0 || memcmp(good + v0, "FR", 2) == 0);
    assert_decoder_refuses(dec, bad, n);
    /* Other categorical names, or another number of them. */
    static struct drift_feature_conf other[] = {
        {"amount", DRIFT_FEATURE_NUMERIC, {0, 0}},
        {"country", DRIFT_FEATURE_CATEGORICAL, {0, 0}},
        {"os", DRIFT_FEATURE_CATEGORICAL, {0, 0}},
    };
    struct drift_stream_conf osc = cp_sc;
    osc.features = other;
    struct drift_decoder *o = drift_decoder_create(pool, &osc);
    assert_decoder_refuses(o, good, n);
    osc.nfeatures = 2;
    o = drift_decoder_create(pool, &osc);
    assert_decoder_refuses(o, good, n);
    assert_int_equal(drift_decoder_load(dec, good, n), 0);
    assert_same_decoders(a, dec);
}

/* A checkpoint of the first decoder state format (no jump_ts) still loads, with no jump
 * pending. */
static void test_state_version1_loads(void **state)
{
    static unsigned char v2[1 << 12], v1[1 << 12];
    struct drift_decoder *a = cp_decoder(8), *c = cp_decoder(8);
    for (int i = 0; i < 12; i++) {
        cp_decode(a, NULL, i);
    }
    size_t n = drift_decoder_save(a, v2, sizeof(v2));
    assert_true(n <= sizeof(v2));
    uint32_t version;
    memcpy(&version, v2 + 4, 4);
    assert_int_equal(version, 2);
    /* version 1: the same bytes without jump_ts (header 16, max_ts 8, then jump_ts 8) */
    memcpy(v1, v2, 24);
    memcpy(v1 + 24, v2 + 32, n - 32);
    version = 1;
    memcpy(v1 + 4, &version, 4);
    assert_int_equal(drift_decoder_load(c, v1, n - 8), 0);
    assert_same_decoders(a, c);
}

/* The dedup memory is restored only where there is one: a decoder without dedup ignores the
 * saved ids, and one with dedup loading a checkpoint without ids starts with an empty memory. */
static void test_state_dedup_presence(void **state)
{
    struct drift_decoder *with = cp_decoder(8), *without = cp_decoder(0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cp_decode(with, NULL, i), 0);
        assert_int_equal(cp_decode(without, NULL, i), 0);
    }
    size_t n = drift_decoder_save(with, st1, sizeof(st1));
    struct drift_decoder *plain = cp_decoder(0);
    assert_int_equal(drift_decoder_load(plain, st1, n), 0);
    assert_true(drift_decoder_save(plain, NULL, 0) < n);
    assert_int_equal(cp_decode(plain, NULL, 3), 0); /* id r0 again, but no memory */
    n = drift_decoder_save(without, st1, sizeof(st1));
    assert_int_equal(cp_decode(with, NULL, 3), DRIFT_BAD_DUPLICATE + 1);
    assert_int_equal(drift_decoder_load(with, st1, n), 0);
    assert_int_equal(cp_decode(with, NULL, 3), 0); /* r0 forgotten */
    assert_int_equal(cp_decode(with, NULL, 3), DRIFT_BAD_DUPLICATE + 1);
}

int main(void)
{
    apr_initialize();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_record),      cmocka_unit_test(test_missing_and_nan),
        cmocka_unit_test(test_bad_messages),     cmocka_unit_test(test_frozen_dictionary),
        cmocka_unit_test(test_numbers_exact),    cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_refuses_mismatch),
        cmocka_unit_test(test_state_version1_loads),
        cmocka_unit_test(test_category_values_bounded),
        cmocka_unit_test(test_event_time_bounded),
        cmocka_unit_test(test_state_dedup_presence),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    apr_terminate();
    return rc;
}
