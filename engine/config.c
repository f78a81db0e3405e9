/*
 * The config loader: YAML → node tree with positions → validated structs.
 *
 * libyaml's event parser builds a small tree in which every node remembers where it started
 * (1-based line and column). Validation walks that tree with one table of keys per section, so
 * an unknown key, a wrong type, a value out of range or a missing required key is reported with
 * file:line:column, with the allowed keys and the nearest one when it looks like a typo. Every
 * error is reported, not only the first, and a config with any error is never returned. The tree
 * lives in a subpool destroyed after the structs are built; strings are copied into the caller's
 * pool.
 */
#include "config.h"

#include <apr_strings.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "drift_op.h"

enum { N_SCALAR, N_MAP, N_SEQ };

struct node {
    int type;
    int line, col;
    const char *str; /* scalar */
    int plain;       /* scalar was unquoted */
    struct node **keys, **vals; /* map: keys (scalars) and values; seq: vals */
    int n, cap;
};

struct loader {
    apr_pool_t *pool, *tmp;
    const char *name;
    drift_config_error_fn errfn;
    void *errctx;
    int errors;
    yaml_parser_t parser;
};

static void errat(struct loader *L, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void errat(struct loader *L, int line, int col, const char *fmt, ...)
{
    char msg[1024];
    int o = line > 0 ? snprintf(msg, sizeof(msg), "%s:%d:%d: ", L->name, line, col)
                     : snprintf(msg, sizeof(msg), "%s: ", L->name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + o, sizeof(msg) - (size_t)o, fmt, ap);
    va_end(ap);
    L->errors++;
    if (L->errfn) {
        L->errfn(L->errctx, msg);
    }
}

/* ---------------------------------------------------------------------------------------------
 * YAML → tree
 * -------------------------------------------------------------------------------------------*/
static struct node *node_new(struct loader *L, int type, const yaml_mark_t *m)
{
    struct node *n = apr_pcalloc(L->tmp, sizeof(*n));
    n->type = type;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static void node_push(struct loader *L, struct node *parent, struct node *key, struct node *val)
{
    if (parent->n == parent->cap) {
        int ncap = parent->cap ? parent->cap * 2 : 8;
        struct node **nk = apr_pcalloc(L->tmp, (size_t)ncap * sizeof(*nk));
        struct node **nv = apr_pcalloc(L->tmp, (size_t)ncap * sizeof(*nv));
        if (parent->n) {
            memcpy(nk, parent->keys, (size_t)parent->n * sizeof(*nk));
            memcpy(nv, parent->vals, (size_t)parent->n * sizeof(*nv));
        }
        parent->keys = nk;
        parent->vals = nv;
        parent->cap = ncap;
    }
    parent->keys[parent->n] = key;
    parent->vals[parent->n++] = val;
}

static void yaml_error(struct loader *L)
{
    yaml_parser_t *p = &L->parser;
    if (p->error == YAML_READER_ERROR) {
        errat(L, 0, 0, "cannot read YAML: %s at byte %zu", p->problem ? p->problem : "error",
              p->problem_offset);
    } else if (p->context != NULL) {
        errat(L, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
              "YAML syntax error: %s (%s started at line %d column %d)",
              p->problem ? p->problem : "error", p->context, (int)p->context_mark.line + 1,
              (int)p->context_mark.column + 1);
    } else {
        errat(L, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
              "YAML syntax error: %s", p->problem ? p->problem : "error");
    }
}

/* Parses the next node from the event stream (the first event is given). */
static struct node *parse_node(struct loader *L, yaml_event_t *ev, int depth)
{
    if (depth > 64) {
        errat(L, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
              "nesting too deep");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        struct node *n = node_new(L, N_SCALAR, &ev->start_mark);
        n->str = apr_pstrmemdup(L->tmp, (const char *)ev->data.scalar.value,
                                ev->data.scalar.length);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return n;
    }
    case YAML_ALIAS_EVENT:
        errat(L, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
              "YAML aliases are not supported in driftd configs");
        return NULL;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        struct node *n = node_new(L, is_map ? N_MAP : N_SEQ, &ev->start_mark);
        for (;;) {
            yaml_event_t e;
            if (!yaml_parser_parse(&L->parser, &e)) {
                yaml_error(L);
                return NULL;
            }
            if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&e);
                return n;
            }
            struct node *k = NULL;
            if (is_map) {
                k = parse_node(L, &e, depth + 1);
                yaml_event_delete(&e);
                if (k == NULL) {
                    return NULL;
                }
                if (!yaml_parser_parse(&L->parser, &e)) {
                    yaml_error(L);
                    return NULL;
                }
            }
            struct node *v = parse_node(L, &e, depth + 1);
            yaml_event_delete(&e);
            if (v == NULL) {
                return NULL;
            }
            node_push(L, n, k, v);
        }
    }
    default:
        errat(L, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
              "unexpected YAML event");
        return NULL;
    }
}

static struct node *parse_document(struct loader *L, const char *buf, size_t len)
{
    yaml_parser_initialize(&L->parser);
    yaml_parser_set_input_string(&L->parser, (const unsigned char *)buf, len);
    struct node *root = NULL;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&L->parser, &e)) {
            yaml_error(L);
            break;
        }
        if (e.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&e);
            break;
        }
        if (e.type == YAML_STREAM_START_EVENT || e.type == YAML_DOCUMENT_START_EVENT ||
            e.type == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&e);
            continue;
        }
        if (root != NULL) {
            errat(L, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1,
                  "only one YAML document is allowed");
            yaml_event_delete(&e);
            break;
        }
        root = parse_node(L, &e, 0);
        yaml_event_delete(&e);
        if (root == NULL) {
            break;
        }
    }
    yaml_parser_delete(&L->parser);
    return L->errors ? NULL : root;
}

/* ---------------------------------------------------------------------------------------------
 * Typed values
 * -------------------------------------------------------------------------------------------*/
static const char *scalar(struct loader *L, const struct node *n, const char *path)
{
    if (n->type != N_SCALAR) {
        errat(L, n->line, n->col, "%s must be a scalar value, got a %s", path,
              n->type == N_MAP ? "mapping" : "list");
        return NULL;
    }
    return n->str;
}

static int get_int(struct loader *L, const struct node *n, const char *path, long lo, long hi,
                   int *out)
{
    const char *s = scalar(L, n, path);
    if (s == NULL) {
        return -1;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || !n->plain) {
        errat(L, n->line, n->col, "%s must be an integer, got \"%s\"", path, s);
        return -1;
    }
    if (v < lo || v > hi) {
        errat(L, n->line, n->col, "%s must be between %ld and %ld, got %ld", path, lo, hi, v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int get_double(struct loader *L, const struct node *n, const char *path, double lo,
                      int lo_open, double hi, int hi_open, double *out)
{
    const char *s = scalar(L, n, path);
    if (s == NULL) {
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(v) || !n->plain) {
        errat(L, n->line, n->col, "%s must be a number, got \"%s\"", path, s);
        return -1;
    }
    if ((lo_open ? v <= lo : v < lo) || (hi_open ? v >= hi : v > hi)) {
        errat(L, n->line, n->col, "%s must be %s %g and %s %g, got %g", path, lo_open ? ">" : ">=",
              lo, hi_open ? "<" : "<=", hi, v);
        return -1;
    }
    *out = v;
    return 0;
}

static int is_false(const struct node *n)
{
    return n->type == N_SCALAR && n->plain && strcmp(n->str, "false") == 0;
}

static int get_bool(struct loader *L, const struct node *n, const char *path, int *out)
{
    const char *s = scalar(L, n, path);
    if (s == NULL) {
        return -1;
    }
    if (n->plain && strcmp(s, "true") == 0) {
        *out = 1;
    } else if (n->plain && strcmp(s, "false") == 0) {
        *out = 0;
    } else {
        errat(L, n->line, n->col, "%s must be true or false, got \"%s\"", path, s);
        return -1;
    }
    return 0;
}

static int get_str(struct loader *L, const struct node *n, const char *path, const char **out)
{
    const char *s = scalar(L, n, path);
    if (s == NULL) {
        return -1;
    }
    if (s[0] == '\0') {
        errat(L, n->line, n->col, "%s must not be empty", path);
        return -1;
    }
    *out = apr_pstrdup(L->pool, s);
    return 0;
}

/* One of a fixed set of words; returns its index. */
static int get_enum(struct loader *L, const struct node *n, const char *path,
                    const char *const *words, int *out)
{
    const char *s = scalar(L, n, path);
    if (s == NULL) {
        return -1;
    }
    char allowed[256];
    size_t o = 0;
    allowed[0] = '\0';
    for (int i = 0; words[i] != NULL; i++) {
        if (strcmp(words[i], s) == 0) {
            *out = i;
            return 0;
        }
        o += (size_t)snprintf(allowed + o, sizeof(allowed) - o, "%s%s", i ? ", " : "", words[i]);
    }
    errat(L, n->line, n->col, "%s must be one of %s, got \"%s\"", path, allowed, s);
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Mappings checked against a key table
 * -------------------------------------------------------------------------------------------*/
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) {
        return 99;
    }
    int d[41][41];
    for (size_t i = 0; i <= la; i++) {
        d[i][0] = (int)i;
    }
    for (size_t j = 0; j <= lb; j++) {
        d[0][j] = (int)j;
    }
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int c = a[i - 1] == b[j - 1] ? 0 : 1;
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) {
                v = d[i][j - 1] + 1;
            }
            if (d[i - 1][j - 1] + c < v) {
                v = d[i - 1][j - 1] + c;
            }
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* Checks that n is a mapping whose keys are all in `allowed` (NULL-terminated) and unique; fills
 * vals[i] with the value of allowed[i] or NULL. Returns 0 if n is a mapping. */
static int check_map(struct loader *L, const struct node *n, const char *path,
                     const char *const *allowed, const struct node **vals)
{
    int na = 0;
    while (allowed[na] != NULL) {
        vals[na++] = NULL;
    }
    if (n->type != N_MAP) {
        errat(L, n->line, n->col, "%s must be a mapping of keys to values", path);
        return -1;
    }
    for (int i = 0; i < n->n; i++) {
        const struct node *k = n->keys[i];
        if (k->type != N_SCALAR) {
            errat(L, k->line, k->col, "keys in %s must be plain words", path);
            continue;
        }
        int found = -1;
        for (int a = 0; a < na; a++) {
            if (strcmp(allowed[a], k->str) == 0) {
                found = a;
            }
        }
        if (found < 0) {
            char list[512];
            size_t o = 0;
            int best = -1, bestd = 99;
            for (int a = 0; a < na; a++) {
                o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", a ? ", " : "",
                                      allowed[a]);
                int dd = edit_distance(k->str, allowed[a]);
                if (dd < bestd) {
                    bestd = dd;
                    best = a;
                }
            }
            if (best >= 0 && bestd <= 2 && bestd < (int)strlen(k->str)) {
                errat(L, k->line, k->col, "unknown key '%s' in %s; did you mean '%s'? (allowed: %s)",
                      k->str, path, allowed[best], list);
            } else {
                errat(L, k->line, k->col, "unknown key '%s' in %s (allowed: %s)", k->str, path,
                      list);
            }
            continue;
        }
        if (vals[found] != NULL) {
            errat(L, k->line, k->col, "duplicate key '%s' in %s", k->str, path);
            continue;
        }
        vals[found] = n->vals[i];
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Sections
 * -------------------------------------------------------------------------------------------*/
static int valid_name(const char *s)
{
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-')) {
            return 0;
        }
    }
    return s[0] != '\0';
}

static void load_kafka(struct loader *L, const struct node *n, struct drift_config *c)
{
    static const char *const keys[] = {"brokers", "group", "offset_reset", "batch_max",
                                       "embedded_brokers", "properties", NULL};
    const struct node *v[7];
    if (check_map(L, n, "kafka", keys, v) != 0) {
        return;
    }
    if (v[0] == NULL) {
        errat(L, n->line, n->col, "kafka.brokers is required (a bootstrap list, or \"embedded\")");
    } else if (get_str(L, v[0], "kafka.brokers", &c->kafka.brokers) == 0) {
        c->kafka.embedded = strcmp(c->kafka.brokers, "embedded") == 0;
    }
    if (v[1]) {
        get_str(L, v[1], "kafka.group", &c->kafka.group);
    }
    if (v[2]) {
        static const char *const w[] = {"earliest", "latest", NULL};
        int i;
        if (get_enum(L, v[2], "kafka.offset_reset", w, &i) == 0) {
            c->kafka.offset_reset = w[i];
        }
    }
    if (v[3]) {
        get_int(L, v[3], "kafka.batch_max", 1, 65536, &c->kafka.batch_max);
    }
    if (v[4]) {
        get_int(L, v[4], "kafka.embedded_brokers", 1, 16, &c->kafka.embedded_brokers);
    }
    if (v[5]) {
        const struct node *p = v[5];
        if (p->type != N_MAP) {
            errat(L, p->line, p->col, "kafka.properties must be a mapping of librdkafka "
                                      "property names to values");
        } else {
            c->kafka.properties = apr_pcalloc(L->pool, (size_t)(p->n + 1) * sizeof(struct drift_kv));
            for (int i = 0; i < p->n; i++) {
                const char *k = scalar(L, p->keys[i], "kafka.properties key");
                const char *val = scalar(L, p->vals[i], "kafka.properties value");
                if (k && val) {
                    c->kafka.properties[c->kafka.nproperties++] =
                        (struct drift_kv){apr_pstrdup(L->pool, k), apr_pstrdup(L->pool, val)};
                }
            }
        }
    }
}

static void load_stream(struct loader *L, const struct node *n, int idx,
                        struct drift_stream_conf *s)
{
    char path[64], p2[128];
    snprintf(path, sizeof(path), "streams[%d]", idx);
    static const char *const keys[] = {"name",      "topic",      "partitions", "features",
                                       "label",     "id_field",   "time_field", "max_message_bytes",
                                       "window",    "reference",  "drift",      "trigger",
                                       "webhook",   "learner",    NULL};
    enum { K_NAME, K_TOPIC, K_PARTS, K_FEATS, K_LABEL, K_ID, K_TIME, K_MAXB, K_WIN, K_REF, K_DRIFT,
           K_TRIG, K_HOOK, K_LEARN };
    const struct node *v[15];
    s->pos = (struct drift_pos){n->line, n->col};
    /* Defaults. */
    s->partitions = 4;
    s->max_message_bytes = 1 << 20;
    s->window.type = DRIFT_WINDOW_TUMBLING;
    s->window.size = 1000;
    s->reference.source = DRIFT_REF_WARMUP;
    s->reference.size = 5000;
    s->reference.bins = 10;
    s->drift.psi = 1;
    s->drift.psi_threshold = 0.2;
    s->drift.ks = 1;
    s->drift.ks_alpha = 0.01;
    s->drift.share = 0.5;
    s->drift.rule = "any";
    s->trigger.consecutive = 2;
    s->trigger.cooldown_windows = 10;
    s->trigger.name = "retrain";
    s->trigger.enabled = 1;
    s->webhook.timeout_ms = 5000;
    s->webhook.max_age_s = 86400;
    s->webhook.backoff_base_ms = 500;
    s->webhook.backoff_max_ms = 60000;
    if (check_map(L, n, path, keys, v) != 0) {
        return;
    }
    if (v[K_NAME] == NULL) {
        errat(L, n->line, n->col, "%s.name is required", path);
    } else if (get_str(L, v[K_NAME], "name", &s->name) == 0 && !valid_name(s->name)) {
        errat(L, v[K_NAME]->line, v[K_NAME]->col,
              "%s.name may use only letters, digits, '_', '.' and '-', got \"%s\"", path, s->name);
    }
    if (v[K_TOPIC] == NULL) {
        errat(L, n->line, n->col, "%s.topic is required", path);
    } else {
        get_str(L, v[K_TOPIC], "topic", &s->topic);
    }
    if (v[K_PARTS]) {
        snprintf(p2, sizeof(p2), "%s.partitions", path);
        get_int(L, v[K_PARTS], p2, 1, 1024, &s->partitions);
    }
    if (v[K_LABEL]) {
        get_str(L, v[K_LABEL], "label", &s->label);
    }
    if (v[K_ID]) {
        get_str(L, v[K_ID], "id_field", &s->id_field);
    }
    if (v[K_TIME]) {
        get_str(L, v[K_TIME], "time_field", &s->time_field);
    }
    if (v[K_MAXB]) {
        snprintf(p2, sizeof(p2), "%s.max_message_bytes", path);
        get_int(L, v[K_MAXB], p2, 64, 64 << 20, &s->max_message_bytes);
    }
    /* Features. */
    const struct node *f = v[K_FEATS];
    if (f == NULL) {
        errat(L, n->line, n->col, "%s.features is required: a mapping of feature names to "
                                  "numeric or categorical", path);
    } else if (f->type != N_MAP || f->n == 0) {
        errat(L, f->line, f->col, "%s.features must be a non-empty mapping of feature names to "
                                  "numeric or categorical", path);
    } else {
        s->features = apr_pcalloc(L->pool, (size_t)f->n * sizeof(*s->features));
        for (int i = 0; i < f->n; i++) {
            const struct node *k = f->keys[i], *t = f->vals[i];
            static const char *const types[] = {"numeric", "categorical", NULL};
            int ty;
            if (k->type != N_SCALAR) {
                errat(L, k->line, k->col, "feature names must be plain words");
                continue;
            }
            snprintf(p2, sizeof(p2), "%s.features.%s", path, k->str);
            if (get_enum(L, t, p2, types, &ty) != 0) {
                continue;
            }
            int dup = 0;
            for (int j = 0; j < s->nfeatures; j++) {
                dup |= strcmp(s->features[j].name, k->str) == 0;
            }
            if (dup) {
                errat(L, k->line, k->col, "duplicate feature '%s' in %s.features", k->str, path);
                continue;
            }
            s->features[s->nfeatures++] = (struct drift_feature_conf){
                apr_pstrdup(L->pool, k->str), ty, {k->line, k->col}};
        }
        for (int j = 0; j < s->nfeatures; j++) {
            const char *nm = s->features[j].name;
            const char *clash = s->label && strcmp(nm, s->label) == 0           ? "label"
                                : s->time_field && strcmp(nm, s->time_field) == 0 ? "time_field"
                                : s->id_field && strcmp(nm, s->id_field) == 0     ? "id_field"
                                                                                  : NULL;
            if (clash) {
                errat(L, s->features[j].pos.line, s->features[j].pos.col,
                      "feature '%s' is also the stream's %s", nm, clash);
            }
        }
    }
    /* Window. */
    int slide_set = 0;
    if (v[K_WIN]) {
        static const char *const wk[] = {"type", "size", "slide", NULL};
        const struct node *w[4];
        if (check_map(L, v[K_WIN], "window", wk, w) == 0) {
            static const char *const types[] = {"tumbling", "sliding", NULL};
            snprintf(p2, sizeof(p2), "%s.window.", path);
            char q[160];
            if (w[0]) {
                snprintf(q, sizeof(q), "%stype", p2);
                get_enum(L, w[0], q, types, &s->window.type);
            }
            if (w[1]) {
                snprintf(q, sizeof(q), "%ssize", p2);
                get_int(L, w[1], q, 10, 10000000, &s->window.size);
            }
            if (w[2]) {
                snprintf(q, sizeof(q), "%sslide", p2);
                if (get_int(L, w[2], q, 1, 10000000, &s->window.slide) == 0) {
                    slide_set = 1;
                }
            }
            if (s->window.type == DRIFT_WINDOW_SLIDING) {
                if (!slide_set) {
                    s->window.slide = s->window.size / 2;
                }
                if (s->window.slide > s->window.size || s->window.size % s->window.slide != 0) {
                    const struct node *at = w[2] ? w[2] : v[K_WIN];
                    errat(L, at->line, at->col, "%s.window.slide (%d) must divide window.size (%d)",
                          path, s->window.slide, s->window.size);
                }
            } else if (slide_set) {
                errat(L, w[2]->line, w[2]->col, "%s.window.slide applies only to sliding windows",
                      path);
            }
        }
    }
    /* Reference. */
    if (v[K_REF]) {
        static const char *const rk[] = {"from", "size", "path", "bins", NULL};
        const struct node *r[5];
        if (check_map(L, v[K_REF], "reference", rk, r) == 0) {
            static const char *const srcs[] = {"warmup", "file", NULL};
            char q[160];
            if (r[0]) {
                snprintf(q, sizeof(q), "%s.reference.from", path);
                get_enum(L, r[0], q, srcs, &s->reference.source);
            }
            if (r[1]) {
                snprintf(q, sizeof(q), "%s.reference.size", path);
                get_int(L, r[1], q, 10, 100000000, &s->reference.size);
            }
            if (r[2]) {
                get_str(L, r[2], "reference.path", &s->reference.path);
            }
            if (r[3]) {
                snprintf(q, sizeof(q), "%s.reference.bins", path);
                get_int(L, r[3], q, 2, 1000, &s->reference.bins);
            }
            if (s->reference.source == DRIFT_REF_FILE && s->reference.path == NULL) {
                errat(L, v[K_REF]->line, v[K_REF]->col,
                      "%s.reference.path is required with reference.from: file", path);
            }
        }
    }
    /* Drift. */
    if (v[K_DRIFT]) {
        static const char *const dk[] = {"psi", "ks_alpha", "share", "rule", NULL};
        const struct node *d[5];
        if (check_map(L, v[K_DRIFT], "drift", dk, d) == 0) {
            char q[160];
            if (d[0]) {
                snprintf(q, sizeof(q), "%s.drift.psi", path);
                if (is_false(d[0])) {
                    s->drift.psi = 0;
                } else {
                    get_double(L, d[0], q, 0, 1, 1e9, 0, &s->drift.psi_threshold);
                }
            }
            if (d[1]) {
                snprintf(q, sizeof(q), "%s.drift.ks_alpha", path);
                if (is_false(d[1])) {
                    s->drift.ks = 0;
                } else {
                    get_double(L, d[1], q, 0, 1, 1, 1, &s->drift.ks_alpha);
                }
            }
            if (d[2]) {
                snprintf(q, sizeof(q), "%s.drift.share", path);
                get_double(L, d[2], q, 0, 1, 1, 0, &s->drift.share);
            }
            if (d[3]) {
                static const char *const rules[] = {"any", "all", NULL};
                int i;
                snprintf(q, sizeof(q), "%s.drift.rule", path);
                if (get_enum(L, d[3], q, rules, &i) == 0) {
                    s->drift.rule = rules[i];
                }
            }
            if (!s->drift.psi && !s->drift.ks) {
                errat(L, v[K_DRIFT]->line, v[K_DRIFT]->col,
                      "%s.drift: at least one of psi and ks_alpha must stay enabled", path);
            }
        }
    }
    /* Trigger. */
    if (v[K_TRIG]) {
        static const char *const tk[] = {"name", "consecutive", "cooldown_windows", "enabled",
                                         NULL};
        const struct node *t[5];
        if (check_map(L, v[K_TRIG], "trigger", tk, t) == 0) {
            char q[160];
            if (t[0] && get_str(L, t[0], "trigger.name", &s->trigger.name) == 0 &&
                !valid_name(s->trigger.name)) {
                errat(L, t[0]->line, t[0]->col,
                      "%s.trigger.name may use only letters, digits, '_', '.' and '-'", path);
            }
            if (t[1]) {
                snprintf(q, sizeof(q), "%s.trigger.consecutive", path);
                get_int(L, t[1], q, 1, 1000000, &s->trigger.consecutive);
            }
            if (t[2]) {
                snprintf(q, sizeof(q), "%s.trigger.cooldown_windows", path);
                get_int(L, t[2], q, 0, 100000000, &s->trigger.cooldown_windows);
            }
            if (t[3]) {
                snprintf(q, sizeof(q), "%s.trigger.enabled", path);
                get_bool(L, t[3], q, &s->trigger.enabled);
            }
        }
    }
    /* Webhook. */
    if (v[K_HOOK]) {
        static const char *const hk[] = {"url", "timeout_ms", "max_attempts", "max_age_s",
                                         "backoff_base_ms", "backoff_max_ms", NULL};
        const struct node *h[7];
        if (check_map(L, v[K_HOOK], "webhook", hk, h) == 0) {
            char q[160];
            if (h[0] == NULL) {
                errat(L, v[K_HOOK]->line, v[K_HOOK]->col, "%s.webhook.url is required", path);
            } else if (get_str(L, h[0], "webhook.url", &s->webhook.url) == 0 &&
                       strncmp(s->webhook.url, "http://", 7) != 0 &&
                       strncmp(s->webhook.url, "https://", 8) != 0) {
                errat(L, h[0]->line, h[0]->col,
                      "%s.webhook.url must start with http:// or https://, got \"%s\"", path,
                      s->webhook.url);
            }
            struct {
                int idx;
                const char *name;
                long lo, hi;
                int *dst;
            } ints[] = {
                {1, "timeout_ms", 10, 600000, &s->webhook.timeout_ms},
                {2, "max_attempts", 0, 1000000, &s->webhook.max_attempts},
                {3, "max_age_s", 1, 31536000, &s->webhook.max_age_s},
                {4, "backoff_base_ms", 1, 3600000, &s->webhook.backoff_base_ms},
                {5, "backoff_max_ms", 1, 86400000, &s->webhook.backoff_max_ms},
            };
            for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
                if (h[ints[i].idx]) {
                    snprintf(q, sizeof(q), "%s.webhook.%s", path, ints[i].name);
                    get_int(L, h[ints[i].idx], q, ints[i].lo, ints[i].hi, ints[i].dst);
                }
            }
        }
    }
    /* Learner. */
    if (v[K_LEARN]) {
        static const char *const lk[] = {"kind", "learning_rate", "l2", "publish_every", "topic",
                                         NULL};
        const struct node *l[6];
        s->learner.kind = "logistic";
        s->learner.learning_rate = 0.05;
        s->learner.publish_every = 1000;
        if (check_map(L, v[K_LEARN], "learner", lk, l) == 0) {
            s->learner.enabled = 1;
            char q[160];
            if (l[0]) {
                static const char *const kinds[] = {"logistic", NULL};
                int i;
                snprintf(q, sizeof(q), "%s.learner.kind", path);
                if (get_enum(L, l[0], q, kinds, &i) == 0) {
                    s->learner.kind = kinds[i];
                }
            }
            if (l[1]) {
                snprintf(q, sizeof(q), "%s.learner.learning_rate", path);
                get_double(L, l[1], q, 0, 1, 100, 0, &s->learner.learning_rate);
            }
            if (l[2]) {
                snprintf(q, sizeof(q), "%s.learner.l2", path);
                get_double(L, l[2], q, 0, 0, 100, 0, &s->learner.l2);
            }
            if (l[3]) {
                snprintf(q, sizeof(q), "%s.learner.publish_every", path);
                get_int(L, l[3], q, 1, 100000000, &s->learner.publish_every);
            }
            if (l[4]) {
                get_str(L, l[4], "learner.topic", &s->learner.topic);
            }
            if (s->label == NULL) {
                errat(L, v[K_LEARN]->line, v[K_LEARN]->col,
                      "%s.learner needs a label: set %s.label to the field holding the 0/1 label",
                      path, path);
            }
            if (s->learner.topic == NULL && s->name != NULL) {
                s->learner.topic = apr_pstrcat(L->pool, s->name, ".model", NULL);
            }
        }
    }
}

static int load_tree(struct loader *L, const struct node *root, struct drift_config *c)
{
    static const char *const keys[] = {"kafka", "store", "log", "streams", NULL};
    const struct node *v[5];
    c->kafka.group = "driftd";
    c->kafka.offset_reset = "earliest";
    c->kafka.batch_max = 1024;
    c->kafka.embedded_brokers = 1;
    c->store.path = "driftd.db";
    c->log.level = DRIFT_LOG_INFO;
    if (root == NULL || (root->type == N_SCALAR && root->str[0] == '\0')) {
        errat(L, 0, 0, "the config is empty; it needs at least kafka and streams");
        return -1;
    }
    if (check_map(L, root, "the config", keys, v) != 0) {
        return -1;
    }
    if (v[0] == NULL) {
        errat(L, root->line, root->col, "the kafka section is required (kafka.brokers)");
    } else {
        load_kafka(L, v[0], c);
    }
    if (v[1]) {
        static const char *const sk[] = {"path", NULL};
        const struct node *s[2];
        if (check_map(L, v[1], "store", sk, s) == 0 && s[0]) {
            get_str(L, s[0], "store.path", &c->store.path);
        }
    }
    if (v[2]) {
        static const char *const lk[] = {"level", "format", NULL};
        const struct node *l[3];
        if (check_map(L, v[2], "log", lk, l) == 0) {
            static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
            static const char *const formats[] = {"logfmt", "json", NULL};
            if (l[0]) {
                get_enum(L, l[0], "log.level", levels, &c->log.level);
            }
            if (l[1]) {
                get_enum(L, l[1], "log.format", formats, &c->log.json);
            }
        }
    }
    const struct node *st = v[3];
    if (st == NULL) {
        errat(L, root->line, root->col, "the streams section is required: a list of streams");
    } else if (st->type != N_SEQ || st->n == 0) {
        errat(L, st->line, st->col, "streams must be a non-empty list of streams");
    } else {
        c->streams = apr_pcalloc(L->pool, (size_t)st->n * sizeof(*c->streams));
        c->nstreams = st->n;
        for (int i = 0; i < st->n; i++) {
            load_stream(L, st->vals[i], i, &c->streams[i]);
            for (int j = 0; j < i; j++) {
                if (c->streams[i].name && c->streams[j].name &&
                    strcmp(c->streams[i].name, c->streams[j].name) == 0) {
                    errat(L, st->vals[i]->line, st->vals[i]->col,
                          "streams[%d].name '%s' is already used by streams[%d]", i,
                          c->streams[i].name, j);
                }
            }
        }
    }
    return L->errors ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Entry points
 * -------------------------------------------------------------------------------------------*/
int drift_config_load_buffer(apr_pool_t *pool, const char *name, const char *buf, size_t len,
                             struct drift_config **out, drift_config_error_fn errfn,
                             void *errctx)
{
    struct loader L = {0};
    L.pool = pool;
    L.name = name;
    L.errfn = errfn;
    L.errctx = errctx;
    *out = NULL;
    if (apr_pool_create(&L.tmp, pool) != APR_SUCCESS) {
        errat(&L, 0, 0, "out of memory");
        return -1;
    }
    struct node *root = parse_document(&L, buf, len);
    struct drift_config *c = apr_pcalloc(pool, sizeof(*c));
    c->path = apr_pstrdup(pool, name);
    if (L.errors == 0) {
        load_tree(&L, root, c);
    }
    apr_pool_destroy(L.tmp);
    if (L.errors) {
        return -L.errors;
    }
    *out = c;
    return 0;
}

int drift_config_load(apr_pool_t *pool, const char *path, struct drift_config **out,
                      drift_config_error_fn errfn, void *errctx)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (f != NULL) {
        size_t cap = 0;
        for (;;) {
            if (len + 4096 > cap) {
                cap = cap ? cap * 2 : 16384;
                char *nb = realloc(buf, cap);
                if (nb == NULL) {
                    break;
                }
                buf = nb;
            }
            size_t n = fread(buf + len, 1, cap - len, f);
            len += n;
            if (n == 0) {
                break;
            }
        }
        int bad = ferror(f);
        fclose(f);
        if (bad) {
            free(buf);
            buf = NULL;
        }
    }
    if (buf == NULL && f == NULL) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s: cannot read: %s", path, strerror(errno));
        if (errfn) {
            errfn(errctx, msg);
        }
        return -1;
    }
    int rc = drift_config_load_buffer(pool, path, buf ? buf : "", len, out, errfn, errctx);
    free(buf);
    return rc;
}
