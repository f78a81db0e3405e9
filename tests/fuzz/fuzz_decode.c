/* libFuzzer target: the message decoder (engine/decode.c) on arbitrary bytes, through a real
 * pipeline's batch and decoder: numeric, categorical, label, prediction, id and time fields. */
#include <apr_general.h>
#include <apr_pools.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stream.h"

static struct drift_pipeline *p;

static struct drift_feature_conf feats[] = {
    {"a", DRIFT_FEATURE_NUMERIC, {0, 0}},
    {"b", DRIFT_FEATURE_NUMERIC, {0, 0}},
    {"c", DRIFT_FEATURE_CATEGORICAL, {0, 0}},
};

static void setup(void)
{
    static struct drift_stream_conf sc;
    apr_pool_t *pool;
    apr_initialize();
    apr_pool_create(&pool, NULL);
    sc.name = "s";
    sc.topic = "t";
    sc.features = feats;
    sc.nfeatures = 3;
    sc.label = "y";
    sc.prediction = "p";
    sc.id_field = "id";
    sc.time_field = "ts";
    sc.max_message_bytes = 4096;
    sc.window.size = 100;
    sc.reference.size = 100;
    sc.reference.bins = 10;
    sc.drift.share = 0.5;
    char err[256];
    struct drift_pipeline_hooks h = {0};
    p = drift_pipeline_create(pool, &sc, 64, ".", &h, err, sizeof(err));
    if (p == NULL) {
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (p == NULL) {
        setup();
    }
    struct drift_batch *b = drift_pipeline_batch(p);
    if (b->n == b->cap) {
        b->n = 0; /* the rows are not needed: only the decoding is under test */
    }
    size_t before = b->n;
    int bad = -1;
    const char *detail = NULL;
    int rc = drift_decode(drift_pipeline_decoder(p), (const char *)data, size, b, &bad, &detail);
    /* the contract: a failure names a reason and a detail and adds no row; a success adds one */
    if (rc != 0 && (b->n != before || bad < 0 || bad >= DRIFT_BAD_COUNT || detail == NULL)) {
        __builtin_trap();
    }
    if (rc == 0 && b->n != before + 1) {
        __builtin_trap();
    }
    return 0;
}
