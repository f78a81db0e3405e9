/*
 * `driftd model list|show|export STREAM (--db FILE | --config CONFIG) [--version V]`: the model
 * registry. Every model update a stream's learner publishes is also kept in the SQLite store
 * (table models, by stream and version); these commands read it, from a running daemon's file
 * too (WAL lets a reader in). `export` prints a version exactly as it was published, the format
 * a serving process loads (docs/models.md); `show` prints it for people; `list` the versions.
 */
#include <apr_getopt.h>
#include <apr_pools.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "drift_op.h"
#include "store.h"

static void model_usage(FILE *f)
{
    fprintf(f, "usage: driftd model list STREAM (--db FILE | --config CONFIG)\n"
               "       driftd model show|export STREAM (--db FILE | --config CONFIG)"
               " [--version V]\n"
               "  list    the stored versions of a stream's model\n"
               "  show    one version (default: the latest) for people\n"
               "  export  one version as published: JSON, the format a serving process loads\n");
}

static void iso(char *buf, size_t len, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct listing {
    const char *mode;
    int found;
};

static void print_one(void *ctx, int64_t version, int64_t created_ms, const char *js)
{
    struct listing *l = ctx;
    l->found++;
    if (strcmp(l->mode, "export") == 0) {
        printf("%s\n", js);
        return;
    }
    json_t *o = json_loads(js, 0, NULL);
    char when[32];
    iso(when, sizeof(when), created_ms);
    json_t *met = json_object_get(o, "metrics");
    double loss = json_number_value(json_object_get(met, "prequential_log_loss"));
    if (strcmp(l->mode, "list") == 0) {
        if (l->found == 1) {
            printf("%-8s %-20s %-10s %-10s %s\n", "version", "published", "updates", "examples",
                   "prequential loss");
        }
        printf("%-8lld %-20s %-10lld %-10lld %.6g\n", (long long)version, when,
               (long long)json_integer_value(json_object_get(o, "updates")),
               (long long)json_integer_value(json_object_get(met, "examples")), loss);
    } else {
        printf("stream   %s\nmodel    %s\nversion  %lld (published %s)\nupdates  %lld\n"
               "trained through event %lld\n",
               json_string_value(json_object_get(o, "stream")),
               json_string_value(json_object_get(o, "model")), (long long)version, when,
               (long long)json_integer_value(json_object_get(o, "updates")),
               (long long)json_integer_value(json_object_get(o, "trained_through_event")));
        printf("%-24s %s\n", "feature", "weight");
        json_t *names = json_object_get(o, "features"), *w = json_object_get(o, "weights");
        for (size_t i = 0; i < json_array_size(names); i++) {
            printf("%-24s % .8g\n", json_string_value(json_array_get(names, i)),
                   json_number_value(json_array_get(w, i)));
        }
        printf("%-24s % .8g\n", "(bias)", json_number_value(json_object_get(o, "bias")));
        printf("prequential loss %.6g over %lld examples\n", loss,
               (long long)json_integer_value(json_object_get(met, "examples")));
    }
    json_decref(o);
}

int drift_model_main(apr_pool_t *pool, int argc, const char *const *argv)
{
    if (argc < 4 || (strcmp(argv[2], "list") != 0 && strcmp(argv[2], "show") != 0 &&
                     strcmp(argv[2], "export") != 0)) {
        model_usage(stderr);
        return 2;
    }
    const char *mode = argv[2], *stream = argv[3], *db = NULL, *config = NULL;
    long long version = 0;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            db = argv[++i];
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc) {
            char *end;
            version = strtoll(argv[++i], &end, 10);
            if (*end != '\0' || version < 1) {
                fprintf(stderr, "model: --version needs a positive integer, got '%s'\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "model: unknown argument '%s'\n", argv[i]);
            model_usage(stderr);
            return 2;
        }
    }
    if ((db == NULL) == (config == NULL)) {
        fprintf(stderr, "model: give the store: --db FILE or --config CONFIG (one of them)\n");
        return 2;
    }
    if (config != NULL) {
        struct drift_config *cfg = NULL;
        int errors = 0;
        if (drift_config_load(pool, config, &cfg, NULL, &errors) != 0) {
            fprintf(stderr, "model: %s is not a valid config (driftd check %s says why)\n",
                    config, config);
            return 2;
        }
        db = cfg->store.path ? cfg->store.path : "driftd.db";
    }
    char err[256];
    struct drift_store *s = drift_store_open(db, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "model: cannot open %s: %s\n", db, err);
        return 1;
    }
    struct listing l = {mode, 0};
    int rc = drift_store_models(s, stream, strcmp(mode, "list") == 0 ? -1 : version, print_one,
                                &l);
    drift_store_close(s);
    if (rc < 0) {
        fprintf(stderr, "model: cannot read %s: %s\n", db, drift_strerror(rc));
        return 1;
    }
    if (l.found == 0) {
        if (version > 0) {
            fprintf(stderr, "model: stream %s has no version %lld in %s\n", stream, version, db);
        } else {
            fprintf(stderr, "model: stream %s has no stored model in %s\n", stream, db);
        }
        return 1;
    }
    return 0;
}
