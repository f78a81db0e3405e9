/*
 * The commands that read the SQLite store, from a running daemon's file too (WAL lets a reader
 * in): `driftd model`, `driftd events` and `driftd status`.
 *
 * `driftd model list|show|export STREAM (--db FILE | --config CONFIG) [--version V]`: the model
 * registry. Every model update a stream's learner publishes is also kept in the SQLite store
 * (table models, by stream and version); these commands read it, from a running daemon's file
 * too (WAL lets a reader in). `export` prints a version exactly as it was published, the format
 * a serving process loads (docs/models.md); `show` prints it for people; `list` the versions.
 */
#include <apr_getopt.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "drift_op.h"
#include "log.h"
#include "store.h"
#include "stream.h"

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

/* The store of --db FILE or of --config CONFIG's store.path (one of them); cfg_out gets the
 * config when there is one. NULL with *rc (2 usage, 1 cannot open) after saying why. */
static struct drift_store *open_store(apr_pool_t *pool, const char *cmd, const char *db,
                                      const char *config, const char **db_out,
                                      struct drift_config **cfg_out, int *rc)
{
    if ((db == NULL) == (config == NULL)) {
        fprintf(stderr, "%s: give the store: --db FILE or --config CONFIG (one of them)\n", cmd);
        *rc = 2;
        return NULL;
    }
    if (config != NULL) {
        struct drift_config *cfg = NULL;
        int errors = 0;
        if (drift_config_load(pool, config, &cfg, NULL, &errors) != 0) {
            fprintf(stderr, "%s: %s is not a valid config (driftd check %s says why)\n", cmd,
                    config, config);
            *rc = 2;
            return NULL;
        }
        db = cfg->store.path ? cfg->store.path : "driftd.db";
        if (cfg_out != NULL) {
            *cfg_out = cfg;
        }
    }
    char err[256];
    struct drift_store *s = drift_store_open(db, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "%s: cannot open %s: %s\n", cmd, db, err);
        *rc = 1;
    }
    *db_out = db;
    return s;
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
    int rc0 = 0;
    struct drift_store *s = open_store(pool, "model", db, config, &db, NULL, &rc0);
    if (s == NULL) {
        return rc0;
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

/* ---------------------------------------------------------------------------------------------
 * driftd events
 * -------------------------------------------------------------------------------------------*/
/* --since: epoch seconds, an RFC 3339 UTC time (2026-11-23T10:00:00Z), or an age such as 90s,
 * 30m, 2h, 7d. Returns epoch ms, or -1. */
static int64_t parse_since(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end != s && *end == '\0' && v >= 0) {
        return (int64_t)(v * 1000);
    }
    if (end != s && end[1] == '\0' && v >= 0 && strchr("smhd", *end) != NULL) {
        double unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 86400;
        return (int64_t)drift_wall_ms() - (int64_t)(v * unit * 1000);
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest != NULL && (*rest == 'Z' || *rest == '\0')) {
        return (int64_t)timegm(&tm) * 1000;
    }
    return -1;
}

struct events_out {
    int json, n;
};

static void print_event(void *ctx, const struct drift_trigger_info *t)
{
    struct events_out *e = ctx;
    char when[32];
    iso(when, sizeof(when), t->created_ms);
    if (e->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i}}", "time", when,
                              "stream", t->stream, "rule", t->rule, "kind", t->kind,
                              "idempotency_key", t->idem_key, "deliveries", "done", t->done,
                              "pending", t->pending, "dead", t->dead);
        json_t *p = json_loads(t->payload, 0, NULL);
        if (p != NULL) {
            json_object_set_new(o, "payload", p);
        }
        char *js = json_dumps(o, JSON_COMPACT);
        printf("%s\n", js ? js : "{}");
        free(js);
        json_decref(o);
    } else {
        if (e->n == 0) {
            printf("%-20s %-12s %-12s %-20s %-10s %s\n", "time", "stream", "kind", "rule",
                   "delivered", "key");
        }
        char dl[32];
        snprintf(dl, sizeof(dl), "%d/%d%s", t->done, t->done + t->pending + t->dead,
                 t->dead ? " dead" : t->pending ? " ..." : "");
        printf("%-20s %-12s %-12s %-20s %-10s %s\n", when, t->stream, t->kind, t->rule, dl,
               t->idem_key);
    }
    e->n++;
}

/* Shared argument parsing of events and status: --db, --config, --since, --stream, --format. */
struct inspect_args {
    const char *db, *config, *stream;
    int64_t since_ms;
    int json;
};

static int inspect_args(const char *cmd, int argc, const char *const *argv,
                        struct inspect_args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 2; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--db") == 0) {
            a->db = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--config") == 0) {
            a->config = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--stream") == 0) {
            a->stream = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--since") == 0) {
            a->since_ms = parse_since(argv[++i]);
            if (a->since_ms < 0) {
                fprintf(stderr, "%s: --since takes epoch seconds, an RFC 3339 UTC time or an age "
                        "(90s, 30m, 2h, 7d), got '%s'\n", cmd, argv[i]);
                return 2;
            }
        } else if (i + 1 < argc && strcmp(argv[i], "--format") == 0) {
            i++;
            if (strcmp(argv[i], "json") != 0 && strcmp(argv[i], "table") != 0) {
                fprintf(stderr, "%s: --format is json or table, got '%s'\n", cmd, argv[i]);
                return 2;
            }
            a->json = strcmp(argv[i], "json") == 0;
        } else {
            fprintf(stderr, "usage: driftd %s (--db FILE | --config CONFIG) [--stream NAME]%s"
                    " [--format table|json]\n", cmd,
                    strcmp(cmd, "events") == 0 ? " [--since T]" : "");
            return 2;
        }
    }
    return 0;
}

int drift_events_main(apr_pool_t *pool, int argc, const char *const *argv)
{
    struct inspect_args a;
    int rc = inspect_args("events", argc, argv, &a);
    if (rc != 0) {
        return rc;
    }
    const char *db;
    struct drift_store *s = open_store(pool, "events", a.db, a.config, &db, NULL, &rc);
    if (s == NULL) {
        return rc;
    }
    struct events_out e = {a.json, 0};
    int n = drift_store_triggers(s, a.since_ms, a.stream, print_event, &e);
    drift_store_close(s);
    if (n < 0) {
        fprintf(stderr, "events: cannot read %s: %s\n", db, drift_strerror(n));
        return 1;
    }
    if (n == 0 && !a.json) {
        printf("no triggers recorded%s in %s\n", a.since_ms > 0 ? " since then" : "", db);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * driftd status
 * -------------------------------------------------------------------------------------------*/
#define STATUS_MAX_STREAMS 256

struct status_acc {
    int n;
    struct {
        const char *name;
        int triggers, pending, dead;
        int64_t last_ms;
        char last_kind[32];
    } s[STATUS_MAX_STREAMS];
    apr_pool_t *pool;
};

static int status_slot(struct status_acc *a, const char *name)
{
    for (int i = 0; i < a->n; i++) {
        if (strcmp(a->s[i].name, name) == 0) {
            return i;
        }
    }
    if (a->n == STATUS_MAX_STREAMS) {
        return -1;
    }
    a->s[a->n].name = apr_pstrdup(a->pool, name);
    return a->n++;
}

static void status_trigger(void *ctx, const struct drift_trigger_info *t)
{
    struct status_acc *a = ctx;
    int i = status_slot(a, t->stream);
    if (i < 0) {
        return;
    }
    a->s[i].triggers++;
    a->s[i].pending += t->pending;
    a->s[i].dead += t->dead;
    a->s[i].last_ms = t->created_ms;
    snprintf(a->s[i].last_kind, sizeof(a->s[i].last_kind), "%s", t->kind);
}

static void latest_version(void *ctx, int64_t version, int64_t created_ms, const char *js)
{
    *(int64_t *)ctx = version;
}

/* Checkpoints: one entry per stream and instance, with both parts' sizes. */
struct ckpt_acc {
    json_t *list;
    const char *stream; /* --stream, or NULL */
};

static void status_ckpt(void *ctx, const struct drift_ckpt_info *c)
{
    struct ckpt_acc *a = ctx;
    if (a->stream != NULL && strcmp(a->stream, c->stream) != 0) {
        return;
    }
    json_t *last = json_array_size(a->list) ? json_array_get(a->list, json_array_size(a->list) - 1)
                                            : NULL;
    if (last == NULL || strcmp(json_string_value(json_object_get(last, "stream")), c->stream) ||
        strcmp(json_string_value(json_object_get(last, "instance")), c->instance)) {
        last = json_pack("{s:s, s:s, s:n, s:I, s:I}", "stream", c->stream, "instance",
                         c->instance, "updated", "live_bytes", (json_int_t)0, "reference_bytes",
                         (json_int_t)0);
        json_array_append_new(a->list, last);
    }
    json_object_set_new(last, c->part == DRIFT_STATE_LIVE ? "live_bytes" : "reference_bytes",
                        json_integer((json_int_t)c->bytes));
    if (c->part == DRIFT_STATE_LIVE) { /* written with every checkpoint */
        char when[32];
        iso(when, sizeof(when), c->updated_ms);
        json_object_set_new(last, "updated", json_string(when));
    }
}

static void status_offset(void *ctx, const struct drift_offset_info *o)
{
    char when[32];
    iso(when, sizeof(when), o->updated_ms);
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:i, s:I, s:s, s:s}", "group", o->group,
                                         "topic", o->topic, "partition", (int)o->partition,
                                         "next_offset", (json_int_t)o->next_offset, "instance",
                                         o->instance, "updated", when));
}

/* The checkpoint and offset tables: where each stream's state is, and where a restart (or the
 * next owner of a partition) resumes. */
static void status_state(struct drift_store *s, const struct inspect_args *a, json_t *out)
{
    struct ckpt_acc ca = {json_array(), a->stream};
    json_t *offs = json_array();
    drift_store_checkpoints_list(s, status_ckpt, &ca);
    drift_store_offsets_list(s, status_offset, offs);
    if (a->json) {
        json_object_set_new(out, "checkpoints", ca.list);
        json_object_set_new(out, "offsets", offs);
        return;
    }
    size_t i;
    json_t *v;
    printf("\n%-16s %-12s %-22s %10s %10s\n", "checkpoint of", "instance", "updated", "live B",
           "ref B");
    json_array_foreach(ca.list, i, v) {
        const char *up = json_string_value(json_object_get(v, "updated"));
        printf("%-16s %-12s %-22s %10lld %10lld\n",
               json_string_value(json_object_get(v, "stream")),
               json_string_value(json_object_get(v, "instance")), up ? up : "-",
               (long long)json_integer_value(json_object_get(v, "live_bytes")),
               (long long)json_integer_value(json_object_get(v, "reference_bytes")));
    }
    if (json_array_size(ca.list) == 0) {
        printf("(none yet)\n");
    }
    printf("\n%-16s %-16s %9s %12s %-12s %s\n", "group", "topic", "partition", "resumes at",
           "written by", "updated");
    json_array_foreach(offs, i, v) {
        printf("%-16s %-16s %9d %12lld %-12s %s\n",
               json_string_value(json_object_get(v, "group")),
               json_string_value(json_object_get(v, "topic")),
               (int)json_integer_value(json_object_get(v, "partition")),
               (long long)json_integer_value(json_object_get(v, "next_offset")),
               json_string_value(json_object_get(v, "instance")),
               json_string_value(json_object_get(v, "updated")));
    }
    if (json_array_size(offs) == 0) {
        printf("(none yet)\n");
    }
    json_decref(ca.list);
    json_decref(offs);
}

int drift_status_main(apr_pool_t *pool, int argc, const char *const *argv)
{
    struct inspect_args a;
    int rc = inspect_args("status", argc, argv, &a);
    if (rc != 0) {
        return rc;
    }
    const char *db;
    struct drift_config *cfg = NULL;
    struct drift_store *s = open_store(pool, "status", a.db, a.config, &db, &cfg, &rc);
    if (s == NULL) {
        return rc;
    }
    struct status_acc *acc = apr_pcalloc(pool, sizeof(*acc));
    acc->pool = pool;
    for (int i = 0; cfg != NULL && i < cfg->nstreams; i++) {
        status_slot(acc, cfg->streams[i].name); /* configured streams, even without triggers */
    }
    int n = drift_store_triggers(s, 0, a.stream, status_trigger, acc);
    int pending = drift_store_outbox_count(s, "pending"), dead = drift_store_outbox_count(s, "dead");
    json_t *out = json_object(), *streams = json_array();
    if (!a.json) {
        printf("store %s: %d trigger%s; outbox %d pending, %d dead\n", db, n < 0 ? 0 : n,
               n == 1 ? "" : "s", pending, dead);
        printf("%-16s %-9s %-22s %-12s %-8s %s\n", "stream", "triggers", "last trigger", "kind",
               "model", "deliveries pending/dead");
    }
    for (int i = 0; i < acc->n; i++) {
        if (a.stream != NULL && strcmp(acc->s[i].name, a.stream) != 0) {
            continue;
        }
        int64_t version = 0;
        drift_store_models(s, acc->s[i].name, 0, latest_version, &version);
        char when[32] = "-";
        if (acc->s[i].last_ms > 0) {
            iso(when, sizeof(when), acc->s[i].last_ms);
        }
        if (a.json) {
            json_array_append_new(streams, json_pack(
                "{s:s, s:i, s:s?, s:s?, s:o, s:i, s:i}", "stream", acc->s[i].name, "triggers",
                acc->s[i].triggers, "last_trigger", acc->s[i].last_ms > 0 ? when : NULL,
                "last_kind", acc->s[i].last_ms > 0 ? acc->s[i].last_kind : NULL,
                "model_version", version > 0 ? json_integer((json_int_t)version) : json_null(),
                "deliveries_pending", acc->s[i].pending, "deliveries_dead", acc->s[i].dead));
        } else {
            char ver[24] = "-";
            if (version > 0) {
                snprintf(ver, sizeof(ver), "v%lld", (long long)version);
            }
            printf("%-16s %-9d %-22s %-12s %-8s %d/%d\n", acc->s[i].name, acc->s[i].triggers,
                   when, acc->s[i].last_ms > 0 ? acc->s[i].last_kind : "-", ver,
                   acc->s[i].pending, acc->s[i].dead);
        }
    }
    status_state(s, &a, out);
    if (a.json) {
        json_object_set_new(out, "store", json_string(db));
        json_object_set_new(out, "triggers", json_integer(n < 0 ? 0 : n));
        json_object_set_new(out, "outbox", json_pack("{s:i, s:i}", "pending", pending, "dead",
                                                     dead));
        json_object_set_new(out, "streams", streams);
        char *js = json_dumps(out, JSON_INDENT(2));
        printf("%s\n", js ? js : "{}");
        free(js);
    } else {
        json_decref(streams);
    }
    json_decref(out);
    drift_store_close(s);
    if (n < 0) {
        fprintf(stderr, "status: cannot read %s: %s\n", db, drift_strerror(n));
        return 1;
    }
    return 0;
}
