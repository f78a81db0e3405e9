/*
 * The config loader: YAML text → node tree with positions → validated structs.
 *
 * Two passes, so that every mistake in a file is reported at once and with its place. First,
 * libyaml's event parser builds a small tree of scalars, mappings and sequences in which every
 * node remembers its 1-based line and column; a YAML syntax error stops here as one error at
 * libyaml's problem mark. Second, the tree is checked against one declarative table per section
 * (key, type, default, field offset or setter, help), in the manner of Redis's config table and
 * Fluent Bit's config maps: the tables are the single source of truth for which keys exist, what
 * they accept, where they land in the structs and what they default to. Unknown keys (with the
 * closest known key suggested), duplicate keys, wrong types, out-of-range values and missing
 * required keys are errors with file:line:column; a small check function per section adds the
 * rules that span keys (a sliding window's slide divides its size, a learner needs a label).
 *
 * Memory: the tree and the struct being built live in a scratch subpool. Only when the whole
 * file is valid is the struct deep-copied into the caller's pool (the tables drive that copy, so
 * no string field can be missed) and the subpool destroyed. A failed load therefore leaves
 * nothing behind in the caller's pool, which matters to a daemon that reloads on a signal.
 */
#include "config.h"
#include "drift_op.h"
#include "cron.h"
#include "formats.h"

#include <apr_strings.h>
#include <strings.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CONFIG_MAX_DEPTH 32         /* far deeper than any valid config; stops runaway input */
#define CONFIG_MAX_BYTES (16 << 20) /* a config file is a few KiB; refuse anything absurd */
#define CONFIG_MSG_MAX 2048         /* one error message, truncated beyond this */
#define CONFIG_SHOW_MAX 60          /* characters of an offending value quoted in a message */

/* ---------------------------------------------------------------------------------------------
 * The node tree
 * -------------------------------------------------------------------------------------------*/
enum node_type { NODE_SCALAR, NODE_MAP, NODE_SEQ };

struct node {
    enum node_type type;
    int line, col;    /* 1-based start of the node; 0 for the synthetic nodes of defaults */
    const char *str;  /* scalar text (NUL-terminated; YAML text holding a NUL is refused) */
    int plain;        /* unquoted scalar: only these can be numbers, booleans or null */
    struct node *key; /* mapping entries: the key node of this value */
    struct node *first, *last, *next; /* children in document order (mapping: the values) */
    int n;                            /* number of children */
};

struct loader {
    apr_pool_t *tmp;  /* tree, paths and the struct being built; destroyed at the end */
    const char *name; /* file name used in messages */
    const char *buf;  /* the YAML text, for positions of reader errors */
    size_t len;
    drift_config_error_fn errfn;
    void *errctx;
    int errors;
};

static void errat(struct loader *L, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reports one error as "FILE:LINE:COL: message", or "FILE: message" when line is 0. */
static void errat(struct loader *L, int line, int col, const char *fmt, ...)
{
    char msg[CONFIG_MSG_MAX];
    int o = line > 0 ? snprintf(msg, sizeof(msg), "%s:%d:%d: ", L->name, line, col)
                     : snprintf(msg, sizeof(msg), "%s: ", L->name);
    if (o < 0 || (size_t)o >= sizeof(msg)) {
        o = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + o, sizeof(msg) - (size_t)o, fmt, ap);
    va_end(ap);
    L->errors++;
    if (L->errfn != NULL) {
        L->errfn(L->errctx, msg);
    }
}

static struct node *node_new(struct loader *L, enum node_type type, const yaml_mark_t *m)
{
    struct node *n = apr_pcalloc(L->tmp, sizeof(*n));
    n->type = type;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static void node_append(struct node *parent, struct node *child)
{
    if (parent->last != NULL) {
        parent->last->next = child;
    } else {
        parent->first = child;
    }
    parent->last = child;
    parent->n++;
}

/* A plain empty scalar, "~" or "null": YAML's null, what `key:` with no value gives. */
static int is_null(const struct node *n)
{
    return n->type == NODE_SCALAR && n->plain &&
           (n->str[0] == '\0' || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
            strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0);
}

/* The value of key `name` in mapping m, or NULL. */
static const struct node *map_get(const struct node *m, const char *name)
{
    if (m == NULL || m->type != NODE_MAP) {
        return NULL;
    }
    for (const struct node *v = m->first; v != NULL; v = v->next) {
        if (v->key->type == NODE_SCALAR && strcmp(v->key->str, name) == 0) {
            return v;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * YAML events → tree
 * -------------------------------------------------------------------------------------------*/

/* Line and column (1-based) of a byte offset, for reader errors that carry only an offset. */
static void offset_pos(const struct loader *L, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < L->len; i++) {
        if (L->buf[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)L->buf[i] & 0xC0) != 0x80) {
            (*col)++; /* count characters, not UTF-8 continuation bytes, as libyaml does */
        }
    }
}

static void syntax_error(struct loader *L, const yaml_parser_t *p)
{
    const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
    if (p->error == YAML_MEMORY_ERROR) {
        errat(L, 0, 0, "out of memory while parsing YAML");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        int line, col;
        offset_pos(L, p->problem_offset, &line, &col);
        if (p->problem_value >= 0) {
            errat(L, line, col, "%s (byte 0x%02X)", problem, (unsigned)p->problem_value);
        } else {
            errat(L, line, col, "%s", problem);
        }
        return;
    }
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    const char *hint = "";
    if (p->problem_mark.index < L->len && L->buf[p->problem_mark.index] == '\t') {
        hint = "; indent with spaces, YAML does not allow tabs there";
    }
    if (p->context != NULL) {
        errat(L, line, col, "%s (%s started at line %d column %d)%s", problem, p->context,
              (int)p->context_mark.line + 1, (int)p->context_mark.column + 1, hint);
    } else {
        errat(L, line, col, "%s%s", problem, hint);
    }
}

/* Builds the node of the event ev, pulling further events for collections. Returns 0, or -1
 * when parsing cannot go on (the error is reported). Errors that leave the tree well-formed
 * (an alias) are reported and parsing continues, so all of them are found. */
static int parse_node(struct loader *L, yaml_parser_t *p, const yaml_event_t *ev, int depth,
                      struct node **out)
{
    struct node *n;
    *out = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = node_new(L, NODE_SCALAR, &ev->start_mark);
        if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL) {
            errat(L, n->line, n->col, "a NUL character is not allowed in a value");
        }
        n->str =
            apr_pstrmemdup(L->tmp, (const char *)ev->data.scalar.value, ev->data.scalar.length);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        *out = n;
        return 0;
    case YAML_ALIAS_EVENT:
        n = node_new(L, NODE_SCALAR, &ev->start_mark);
        n->str = "";
        n->plain = 1;
        errat(L, n->line, n->col,
              "aliases (*%s) are not supported in driftd configs; write the value out",
              (const char *)ev->data.alias.anchor);
        *out = n;
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        break;
    default:
        errat(L, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
              "unexpected YAML event %d", (int)ev->type);
        return -1;
    }
    int is_map = ev->type == YAML_MAPPING_START_EVENT;
    n = node_new(L, is_map ? NODE_MAP : NODE_SEQ, &ev->start_mark);
    if (depth >= CONFIG_MAX_DEPTH) {
        errat(L, n->line, n->col, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
        return -1;
    }
    struct node *key = NULL;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(p, &e)) {
            syntax_error(L, p);
            return -1;
        }
        if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&e);
            break;
        }
        struct node *child;
        int rc = parse_node(L, p, &e, depth + 1, &child);
        yaml_event_delete(&e);
        if (rc != 0) {
            return -1;
        }
        if (is_map && key == NULL) {
            key = child;
            continue;
        }
        child->key = key;
        key = NULL;
        node_append(n, child);
    }
    *out = n;
    return 0;
}

/* Parses the whole buffer into *root (NULL for an empty document). Returns 0 or -1. */
static int parse_tree(struct loader *L, struct node **root)
{
    yaml_parser_t p;
    *root = NULL;
    if (!yaml_parser_initialize(&p)) {
        errat(L, 0, 0, "out of memory while parsing YAML");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)L->buf, L->len);
    int rc = 0, docs = 0;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            syntax_error(L, &p);
            rc = -1;
            break;
        }
        yaml_event_type_t type = e.type;
        if (type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&e);
            break;
        }
        if (type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            errat(L, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1,
                  "a second YAML document; a driftd config is one document");
            yaml_event_delete(&e);
            rc = -1;
            break;
        }
        if (type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT ||
            type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
            rc = parse_node(L, &p, &e, 0, root);
        }
        yaml_event_delete(&e);
        if (rc != 0) {
            break;
        }
    }
    yaml_parser_delete(&p);
    return rc != 0 || L->errors != 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Key tables
 *
 * A section is a table of keys checked against one YAML mapping. Every field offset is relative
 * to one base struct: struct drift_config for the top level, kafka, store and log, and struct
 * drift_stream_conf for a stream and its nested sections (window, reference, ...), whose fields
 * are plain members of the stream struct. Defaults are YAML text read by the same code as the
 * file's values, so a default can never disagree with what the key accepts.
 * -------------------------------------------------------------------------------------------*/
enum key_type {
    KEY_STR,     /* non-empty string (const char *) */
    KEY_NAME,    /* string of letters, digits, '_', '.' and '-' (const char *) */
    KEY_URL,     /* http:// or https:// URL (const char *) */
    KEY_INT,     /* integer in [lo, hi] (int) */
    KEY_NUM,     /* finite number between lo and hi, ends per F_LO_OPEN/F_HI_OPEN (double) */
    KEY_BOOL,    /* true or false (int) */
    KEY_ENUM,    /* one of words; stores its index (int) */
    KEY_WORD,    /* one of words; stores the word (const char *) */
    KEY_SECTION, /* nested mapping checked against sub; null means an empty mapping */
    KEY_CUSTOM,  /* set() reads the value and reports its own errors */
};

#define F_REQUIRED 0x1 /* missing is an error, reported at the mapping's start */
#define F_LO_OPEN 0x2  /* KEY_NUM: lo itself is not allowed */
#define F_HI_OPEN 0x4  /* KEY_NUM: hi itself is not allowed */
#define F_OR_FALSE 0x8 /* KEY_NUM: the boolean false disables; the int at off2 is 0 or 1 */

struct section;

struct key {
    const char *name;
    enum key_type type;
    const char *def; /* default as YAML text; NULL: none (the field stays 0 or NULL) */
    size_t off;      /* field offset from the section's base struct */
    unsigned flags;
    double lo, hi;             /* KEY_INT, KEY_NUM */
    const char *const *words;  /* KEY_ENUM, KEY_WORD: NULL-terminated */
    size_t off2;               /* F_OR_FALSE: the int that says whether the key is enabled */
    const struct section *sub; /* KEY_SECTION */
    void (*set)(struct loader *L, const struct node *v, void *base, const char *path);
    const char *help; /* what the key means; used in "is required" messages */
};

/* The table entries and value nodes of one mapping as they were found, for cross-key checks. */
struct found {
    const struct node *map;  /* the mapping itself */
    const struct node **key; /* key node of table entry i, or NULL when absent */
    const struct node **val; /* value node of table entry i, or NULL when absent */
    int *bad;                /* 1 when the value of entry i was refused (already reported) */
};

struct section {
    const struct key *keys;
    int nkeys;
    /* Cross-key rules and computed defaults; runs after the keys of a present mapping were
     * read. May be NULL. */
    void (*check)(struct loader *L, const struct section *sec, const struct found *f, void *base,
                  const char *path);
};

#define NKEYS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void *field(void *base, size_t off)
{
    return (char *)base + off;
}

/* The table index of key name in sec; asserts it exists (the names are our own constants). */
static int key_index(const struct section *sec, const char *name)
{
    for (int i = 0; i < sec->nkeys; i++) {
        if (strcmp(sec->keys[i].name, name) == 0) {
            return i;
        }
    }
    assert(!"key not in its table");
    return -1;
}

static const struct node *found_val(const struct section *sec, const struct found *f,
                                    const char *name)
{
    return f->val[key_index(sec, name)];
}

/* Whether key name was given and refused: checks that depend on it stay quiet, so one mistake
 * is reported once rather than again through every rule that reads the key. */
static int found_bad(const struct section *sec, const struct found *f, const char *name)
{
    return f->bad[key_index(sec, name)];
}

static const struct node *found_key(const struct section *sec, const struct found *f,
                                    const char *name)
{
    return f->key[key_index(sec, name)];
}

/* path.name, or name at the top level. */
static const char *subpath(struct loader *L, const char *path, const char *name)
{
    return path[0] != '\0' ? apr_pstrcat(L->tmp, path, ".", name, NULL) : name;
}

/* "in streams[0]" or "at the top level", for messages about a mapping. */
static const char *where(struct loader *L, const char *path)
{
    return path[0] != '\0' ? apr_pstrcat(L->tmp, "in ", path, NULL) : "at the top level";
}

/* ---------------------------------------------------------------------------------------------
 * Messages: what a key accepts, what it got, and the closest allowed word
 * -------------------------------------------------------------------------------------------*/
static const char *join_words(struct loader *L, const char *const *words)
{
    const char *s = "";
    for (int i = 0; words[i] != NULL; i++) {
        s = apr_pstrcat(L->tmp, s, i ? ", " : "", words[i], NULL);
    }
    return s;
}

/* What key k accepts, as the end of "PATH must be ...". */
static const char *describe(struct loader *L, const struct key *k)
{
    switch (k->type) {
    case KEY_STR:
        return "a non-empty string";
    case KEY_NAME:
        return "a name made of letters, digits, '_', '.' and '-'";
    case KEY_URL:
        return "a URL starting with http:// or https://";
    case KEY_INT:
        if (k->hi >= INT_MAX) {
            return apr_psprintf(L->tmp, "an integer >= %.0f", k->lo);
        }
        return apr_psprintf(L->tmp, "an integer between %.0f and %.0f", k->lo, k->hi);
    case KEY_NUM: {
        const char *s =
            apr_psprintf(L->tmp, "a number %s %g", k->flags & F_LO_OPEN ? ">" : ">=", k->lo);
        if (isfinite(k->hi)) {
            s = apr_psprintf(L->tmp, "%s and %s %g", s, k->flags & F_HI_OPEN ? "<" : "<=", k->hi);
        }
        return k->flags & F_OR_FALSE ? apr_pstrcat(L->tmp, s, " (or false to disable)", NULL) : s;
    }
    case KEY_BOOL:
        return "true or false";
    case KEY_ENUM:
    case KEY_WORD:
        return apr_pstrcat(L->tmp, "one of ", join_words(L, k->words), NULL);
    case KEY_SECTION:
    case KEY_CUSTOM:
        break;
    }
    return "a mapping";
}

static int looks_numeric(const char *s)
{
    if (*s == '+' || *s == '-') {
        s++;
    }
    int digits = 0;
    for (; *s != '\0'; s++) {
        if (isdigit((unsigned char)*s)) {
            digits++;
        } else if (*s != '.' && *s != 'e' && *s != 'E' && *s != '+' && *s != '-') {
            return 0;
        }
    }
    return digits > 0;
}

/* How a value reads in a message: 3, "ten", nothing, a mapping, an empty list. */
static const char *show(struct loader *L, const struct node *n)
{
    if (n->type == NODE_MAP) {
        return n->n > 0 ? "a mapping" : "an empty mapping";
    }
    if (n->type == NODE_SEQ) {
        return n->n > 0 ? "a list" : "an empty list";
    }
    if (is_null(n)) {
        return "nothing";
    }
    if (n->plain && looks_numeric(n->str)) {
        return n->str;
    }
    size_t len = strlen(n->str);
    const char *s =
        len > CONFIG_SHOW_MAX
            ? apr_pstrcat(L->tmp, apr_pstrndup(L->tmp, n->str, CONFIG_SHOW_MAX), "...", NULL)
            : n->str;
    return apr_psprintf(L->tmp, "\"%s\"%s", s,
                        !n->plain && looks_numeric(n->str) ? " (quoted, so a string)" : "");
}

/* Optimal string alignment distance, case-insensitive: a transposition counts as one edit, so
 * 'tpoic' is one edit from 'topic'. */
static int edit_distance(const char *a, const char *b)
{
    enum { MAXLEN = 40 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXLEN || lb > MAXLEN) {
        return INT_MAX;
    }
    int d[MAXLEN + 1][MAXLEN + 1];
    for (size_t i = 0; i <= la; i++) {
        d[i][0] = (int)i;
    }
    for (size_t j = 0; j <= lb; j++) {
        d[0][j] = (int)j;
    }
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < v) {
                v = d[i - 1][j] + 1;
            }
            if (d[i][j - 1] + 1 < v) {
                v = d[i][j - 1] + 1;
            }
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < v) {
                v = d[i - 2][j - 2] + 1;
            }
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* The candidate closest to s when it is close enough to be a typo (one edit for short words,
 * two for longer ones), else NULL. */
static const char *closest(const char *s, const char *const *cands, int n)
{
    const char *best = NULL;
    int bestd = INT_MAX;
    size_t len = strlen(s);
    int limit = len <= 4 ? 1 : 2;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(s, cands[i]);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    return bestd <= limit && (size_t)bestd < len ? best : NULL;
}

static int count_words(const char *const *words)
{
    int n = 0;
    while (words[n] != NULL) {
        n++;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Values
 * -------------------------------------------------------------------------------------------*/
static void bad_value(struct loader *L, const struct key *k, const struct node *v, const char *path,
                      const char *suggest)
{
    if (suggest != NULL) {
        errat(L, v->line, v->col, "%s must be %s, got %s; did you mean '%s'?", path, describe(L, k),
              show(L, v), suggest);
    } else {
        errat(L, v->line, v->col, "%s must be %s, got %s", path, describe(L, k), show(L, v));
    }
}

/* Strict integer: optional '-', then digits only, nothing else. */
static int parse_int(const char *s, long long *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    if (*p == '\0') {
        return -1;
    }
    for (const char *q = p; *q != '\0'; q++) {
        if (!isdigit((unsigned char)*q)) {
            return -1;
        }
    }
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE) {
        v = s[0] == '-' ? LLONG_MIN : LLONG_MAX; /* parses, and is out of every range */
    }
    *out = v;
    return 0;
}

/* Strict decimal number: the whole scalar, finite, no hex, inf or nan. */
static int parse_num(const char *s, double *out)
{
    if (!looks_numeric(s)) {
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || end == s || !isfinite(v)) {
        return -1;
    }
    *out = v;
    return 0;
}

static int valid_name(const char *s)
{
    if (s[0] == '\0') {
        return 0;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-') {
            return 0;
        }
    }
    return 1;
}

static void read_section(struct loader *L, const struct section *sec, const struct node *m,
                         void *base, const char *path);

/* Reads value v of key k into base; reports what is wrong with it. */
static void read_value(struct loader *L, const struct key *k, const struct node *v, void *base,
                       const char *path)
{
    if (k->type == KEY_SECTION) {
        read_section(L, k->sub, v, base, path);
        return;
    }
    if (k->type == KEY_CUSTOM) {
        k->set(L, v, base, path);
        return;
    }
    if (v->type != NODE_SCALAR || is_null(v)) {
        bad_value(L, k, v, path, NULL);
        return;
    }
    const char *s = v->str;
    switch (k->type) {
    case KEY_STR:
    case KEY_NAME:
    case KEY_URL: {
        int ok = s[0] != '\0';
        if (ok && k->type == KEY_NAME) {
            ok = valid_name(s);
        } else if (ok && k->type == KEY_URL) {
            size_t skip = strncmp(s, "http://", 7) == 0    ? 7
                          : strncmp(s, "https://", 8) == 0 ? 8
                                                           : 0;
            ok = skip > 0 && s[skip] != '\0' && strpbrk(s, " \t\r\n") == NULL;
            if (ok && strcspn(s + skip, "/?#") > strcspn(s + skip, "@")) {
                /* user:password@ in the authority: the URL is logged with every delivery and
                 * stored in the outbox, so its secret would be too. Not echoed here either. */
                errat(L, v->line, v->col, "%s must not hold credentials (user:password@ before "
                      "the host): the URL is logged and stored with every delivery; put the "
                      "secret in an environment variable and name it in basic_auth_env "
                      "(user:password) or bearer_token_env", path);
                return;
            }
        }
        if (!ok) {
            bad_value(L, k, v, path, NULL);
            return;
        }
        *(const char **)field(base, k->off) = s;
        return;
    }
    case KEY_INT: {
        long long x;
        if (!v->plain || parse_int(s, &x) != 0 || x < (long long)k->lo || x > (long long)k->hi) {
            bad_value(L, k, v, path, NULL);
            return;
        }
        *(int *)field(base, k->off) = (int)x;
        return;
    }
    case KEY_NUM: {
        double x;
        if ((k->flags & F_OR_FALSE) && v->plain && strcmp(s, "false") == 0) {
            *(int *)field(base, k->off2) = 0;
            return;
        }
        if (!v->plain || parse_num(s, &x) != 0 || (k->flags & F_LO_OPEN ? x <= k->lo : x < k->lo) ||
            (k->flags & F_HI_OPEN ? x >= k->hi : x > k->hi)) {
            bad_value(L, k, v, path, NULL);
            return;
        }
        *(double *)field(base, k->off) = x;
        if (k->flags & F_OR_FALSE) {
            *(int *)field(base, k->off2) = 1;
        }
        return;
    }
    case KEY_BOOL:
        if (v->plain && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)) {
            *(int *)field(base, k->off) = s[0] == 't';
        } else {
            bad_value(L, k, v, path, NULL);
        }
        return;
    case KEY_ENUM:
    case KEY_WORD:
        for (int i = 0; k->words[i] != NULL; i++) {
            if (strcmp(k->words[i], s) == 0) {
                if (k->type == KEY_ENUM) {
                    *(int *)field(base, k->off) = i;
                } else {
                    *(const char **)field(base, k->off) = k->words[i];
                }
                return;
            }
        }
        bad_value(L, k, v, path, closest(s, k->words, count_words(k->words)));
        return;
    case KEY_SECTION:
    case KEY_CUSTOM:
        break;
    }
}

/* Writes every default of sec (and of its nested sections) into base. */
static void apply_defaults(struct loader *L, const struct section *sec, void *base)
{
    for (int i = 0; i < sec->nkeys; i++) {
        const struct key *k = &sec->keys[i];
        if (k->type == KEY_SECTION) {
            apply_defaults(L, k->sub, base);
        } else if (k->def != NULL) {
            struct node v = {.type = NODE_SCALAR, .str = k->def, .plain = 1};
            int before = L->errors;
            read_value(L, k, &v, base, k->name);
            assert(L->errors == before && "a default the key itself refuses");
            (void)before;
        }
    }
}

/* Keys of mapping m must be scalars and unique. Returns the earlier entry whose key equals that
 * of v, or NULL; reports a non-scalar key (and then returns v itself, to skip it). */
static const struct node *bad_key(struct loader *L, const struct node *m, const struct node *v,
                                  const char *path)
{
    if (v->key->type != NODE_SCALAR) {
        errat(L, v->key->line, v->key->col, "keys %s must be plain words, got %s", where(L, path),
              show(L, v->key));
        return v;
    }
    for (const struct node *u = m->first; u != v; u = u->next) {
        if (u->key->type == NODE_SCALAR && strcmp(u->key->str, v->key->str) == 0) {
            errat(L, v->key->line, v->key->col, "duplicate key '%s' %s (first at line %d)",
                  v->key->str, where(L, path), u->key->line);
            return u;
        }
    }
    return NULL;
}

/* Checks mapping m against the table of sec and reads every value into base. A null value
 * (`window:` with nothing after it) is an empty mapping. */
static void read_section(struct loader *L, const struct section *sec, const struct node *m,
                         void *base, const char *path)
{
    static const struct node empty = {.type = NODE_MAP};
    if (is_null(m)) {
        struct node *e = apr_pmemdup(L->tmp, &empty, sizeof(empty));
        e->line = m->line;
        e->col = m->col;
        m = e;
    }
    if (m->type != NODE_MAP) {
        errat(L, m->line, m->col, "%s must be a mapping of keys to values, got %s",
              path[0] ? path : "the config", show(L, m));
        return;
    }
    struct found f = {m, apr_pcalloc(L->tmp, (size_t)sec->nkeys * sizeof(*f.key)),
                      apr_pcalloc(L->tmp, (size_t)sec->nkeys * sizeof(*f.val)),
                      apr_pcalloc(L->tmp, (size_t)sec->nkeys * sizeof(*f.bad))};
    for (const struct node *v = m->first; v != NULL; v = v->next) {
        if (bad_key(L, m, v, path) != NULL) {
            continue;
        }
        int i = 0;
        while (i < sec->nkeys && strcmp(sec->keys[i].name, v->key->str) != 0) {
            i++;
        }
        if (i == sec->nkeys) {
            const char **names = apr_palloc(L->tmp, (size_t)(sec->nkeys + 1) * sizeof(*names));
            for (int j = 0; j < sec->nkeys; j++) {
                names[j] = sec->keys[j].name;
            }
            names[sec->nkeys] = NULL;
            const char *near = closest(v->key->str, names, sec->nkeys);
            errat(L, v->key->line, v->key->col, "unknown key '%s' %s%s%s%s (allowed: %s)",
                  v->key->str, where(L, path), near ? "; did you mean '" : "", near ? near : "",
                  near ? "'?" : "", join_words(L, names));
            continue;
        }
        f.key[i] = v->key;
        f.val[i] = v;
        int before = L->errors;
        read_value(L, &sec->keys[i], v, base, subpath(L, path, sec->keys[i].name));
        f.bad[i] = L->errors != before;
    }
    for (int i = 0; i < sec->nkeys; i++) {
        if ((sec->keys[i].flags & F_REQUIRED) && f.val[i] == NULL) {
            errat(L, m->line, m->col, "%s is required: %s", subpath(L, path, sec->keys[i].name),
                  sec->keys[i].help);
        }
    }
    if (sec->check != NULL) {
        sec->check(L, sec, &f, base, path);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Custom keys: kafka.properties, streams[].features, streams
 * -------------------------------------------------------------------------------------------*/
static void set_properties(struct loader *L, const struct node *v, void *base, const char *path)
{
    struct drift_config *c = base;
    if (is_null(v)) {
        return;
    }
    if (v->type != NODE_MAP) {
        errat(L, v->line, v->col,
              "%s must be a mapping of librdkafka property names to values, got %s", path,
              show(L, v));
        return;
    }
    c->kafka.properties = apr_pcalloc(L->tmp, (size_t)(v->n + 1) * sizeof(struct drift_kv));
    for (const struct node *p = v->first; p != NULL; p = p->next) {
        if (bad_key(L, v, p, path) != NULL) {
            continue;
        }
        if (is_null(p->key) || p->key->str[0] == '\0') {
            errat(L, p->key->line, p->key->col, "property names %s must not be empty",
                  where(L, path));
            continue;
        }
        if (p->type != NODE_SCALAR || is_null(p)) {
            errat(L, p->line, p->col,
                  "%s.%s must be a single value (quote an empty one: ''), got %s", path,
                  p->key->str, show(L, p));
            continue;
        }
        c->kafka.properties[c->kafka.nproperties++] = (struct drift_kv){p->key->str, p->str};
    }
}

static const char *const feature_types[] = {
    [DRIFT_FEATURE_NUMERIC] = "numeric", [DRIFT_FEATURE_CATEGORICAL] = "categorical", NULL};

static void set_features(struct loader *L, const struct node *v, void *base, const char *path)
{
    static const struct key type_key = {.name = "type",
                                        .type = KEY_ENUM,
                                        .off = offsetof(struct drift_feature_conf, type),
                                        .words = feature_types};
    struct drift_stream_conf *s = base;
    if (v->type != NODE_MAP || v->n == 0) {
        errat(L, v->line, v->col,
              "%s must be a non-empty mapping of feature names to numeric or categorical, got %s",
              path, show(L, v));
        return;
    }
    s->features = apr_pcalloc(L->tmp, (size_t)v->n * sizeof(*s->features));
    for (const struct node *f = v->first; f != NULL; f = f->next) {
        if (bad_key(L, v, f, path) != NULL) {
            continue;
        }
        if (is_null(f->key) || f->key->str[0] == '\0') {
            errat(L, f->key->line, f->key->col, "feature names %s must not be empty",
                  where(L, path));
            continue;
        }
        struct drift_feature_conf *fc = &s->features[s->nfeatures];
        fc->type = -1;
        read_value(L, &type_key, f, fc, apr_pstrcat(L->tmp, path, ".", f->key->str, NULL));
        if (fc->type < 0) {
            continue;
        }
        fc->name = f->key->str;
        fc->pos = (struct drift_pos){f->key->line, f->key->col};
        s->nfeatures++;
    }
}

static const struct section stream_section;

static void set_streams(struct loader *L, const struct node *v, void *base, const char *path)
{
    struct drift_config *c = base;
    if (v->type != NODE_SEQ || v->n == 0) {
        errat(L, v->line, v->col, "%s must be a non-empty list of streams, got %s", path,
              show(L, v));
        return;
    }
    c->streams = apr_pcalloc(L->tmp, (size_t)v->n * sizeof(*c->streams));
    c->nstreams = v->n;
    int i = 0;
    for (const struct node *item = v->first; item != NULL; item = item->next, i++) {
        struct drift_stream_conf *s = &c->streams[i];
        s->pos = (struct drift_pos){item->line, item->col};
        apply_defaults(L, &stream_section, s);
        read_section(L, &stream_section, item, s, apr_psprintf(L->tmp, "%s[%d]", path, i));
        for (int j = 0; j < i && s->name != NULL; j++) {
            if (c->streams[j].name != NULL && strcmp(c->streams[j].name, s->name) == 0) {
                const struct node *at = map_get(item, "name");
                errat(L, at->line, at->col, "%s[%d].name '%s' is already used by %s[%d]", path, i,
                      s->name, path, j);
                break;
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Cross-key checks
 * -------------------------------------------------------------------------------------------*/
static void kafka_check(struct loader *L, const struct section *sec, const struct found *f,
                        void *base, const char *path)
{
    struct drift_config *c = base;
    c->kafka.embedded = c->kafka.brokers != NULL && strcmp(c->kafka.brokers, "embedded") == 0;
    const struct node *eb = found_val(sec, f, "embedded_brokers");
    if (eb != NULL && c->kafka.brokers != NULL && !c->kafka.embedded &&
        !found_bad(sec, f, "embedded_brokers")) {
        errat(L, eb->line, eb->col, "%s.embedded_brokers applies only to brokers: embedded", path);
    }
}

static void window_check(struct loader *L, const struct section *sec, const struct found *f,
                         void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    const struct node *slide = found_val(sec, f, "slide");
    if (found_bad(sec, f, "type") || found_bad(sec, f, "size") || found_bad(sec, f, "slide")) {
        return;
    }
    if (s->window.type != DRIFT_WINDOW_SLIDING) {
        if (slide != NULL) {
            errat(L, slide->line, slide->col, "%s.slide applies only to type: sliding", path);
        }
        return;
    }
    if (slide == NULL) {
        s->window.slide = s->window.size / 2;
        if (s->window.size % 2 != 0) {
            const struct node *size = found_val(sec, f, "size");
            const struct node *at = size != NULL ? size : f->map;
            errat(L, at->line, at->col,
                  "%s.size (%d) is odd, so the default slide (size/2) does not divide it; "
                  "set %s.slide",
                  path, s->window.size, path);
        }
    } else if ((s->window.slide > s->window.size || s->window.size % s->window.slide != 0)) {
        errat(L, slide->line, slide->col, "%s.slide (%d) must divide %s.size (%d)", path,
              s->window.slide, path, s->window.size);
    }
}

static void reference_check(struct loader *L, const struct section *sec, const struct found *f,
                            void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    const struct node *p = found_val(sec, f, "path"), *size = found_val(sec, f, "size");
    if (found_bad(sec, f, "from")) {
        return;
    }
    if (s->reference.source == DRIFT_REF_FILE) {
        if (p == NULL) {
            errat(L, f->map->line, f->map->col, "%s.path is required with from: file: %s", path,
                  sec->keys[key_index(sec, "path")].help);
        }
        if (size != NULL) {
            errat(L, size->line, size->col,
                  "%s.size applies only to from: warmup (the file is the reference)", path);
        }
        const struct node *k = found_val(sec, f, "sketch_k");
        if (k != NULL && !found_bad(sec, f, "sketch_k") && (s->reference.sketch_k & 1)) {
            errat(L, k->line, k->col, "%s.sketch_k must be even, got %d", path,
                  s->reference.sketch_k);
        }
    } else {
        static const char *const file_only[] = {"path", "sample", "sketch_k"};
        for (int i = 0; i < 3; i++) {
            const struct node *n = found_val(sec, f, file_only[i]);
            if (n != NULL) {
                errat(L, n->line, n->col, "%s.%s applies only to from: file", path, file_only[i]);
            }
        }
    }
}

static void drift_check(struct loader *L, const struct section *sec, const struct found *f,
                        void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    const struct node *me = found_val(sec, f, "min_effect");
    if (me != NULL && !found_bad(sec, f, "min_effect") && s->drift.min_effect > 0 &&
        !s->drift.ks) {
        errat(L, me->line, me->col, "%s.min_effect is a minimum KS statistic D: it needs "
              "ks_alpha enabled", path);
    }
    if (!s->drift.psi && !s->drift.ks && !s->drift.cvm && !s->drift.anderson &&
        !found_bad(sec, f, "psi") && !found_bad(sec, f, "ks_alpha") &&
        !found_bad(sec, f, "cvm_alpha") && !found_bad(sec, f, "anderson_alpha")) {
        errat(L, f->map->line, f->map->col,
              "%s disables every test (psi, ks_alpha, cvm_alpha, anderson_alpha); at least one "
              "must stay enabled", path);
    }
}

static void webhook_check(struct loader *L, const struct section *sec, const struct found *f,
                          void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    const struct node *b = found_val(sec, f, "backoff_base_ms");
    const struct node *m = found_val(sec, f, "backoff_max_ms");
    if ((b != NULL || m != NULL) && !found_bad(sec, f, "backoff_base_ms") &&
        !found_bad(sec, f, "backoff_max_ms") &&
        s->webhook.backoff_base_ms > s->webhook.backoff_max_ms) {
        const struct node *at = b != NULL ? b : m;
        errat(L, at->line, at->col, "%s.backoff_base_ms (%d) must not exceed backoff_max_ms (%d)",
              path, s->webhook.backoff_base_ms, s->webhook.backoff_max_ms);
    }
    if (!found_bad(sec, f, "format") && s->webhook.format == DRIFT_FMT_PAGERDUTY &&
        s->webhook.routing_key_env == NULL) {
        const struct node *fv = found_val(sec, f, "format");
        errat(L, fv->line, fv->col,
              "%s.format pagerduty needs routing_key_env: the environment variable holding the "
              "integration's routing key", path);
    }
    if (s->webhook.bearer_token_env != NULL && s->webhook.basic_auth_env != NULL) {
        const struct node *bv = found_val(sec, f, "basic_auth_env");
        errat(L, bv->line, bv->col, "%s: bearer_token_env and basic_auth_env both set; choose one",
              path);
    }
    size_t el = s->webhook.event_type != NULL ? strlen(s->webhook.event_type) : 1;
    if (el < 1 || el > 100) {
        const struct node *ev = found_val(sec, f, "event_type");
        errat(L, ev->line, ev->col, "%s.event_type must be 1-100 characters (GitHub's limit)",
              path);
    }
}

static void learner_check(struct loader *L, const struct section *sec, const struct found *f,
                          void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    s->learner.enabled = 1; /* the mapping's presence is what enables the learner */
    const struct node *o = found_val(sec, f, "optimizer");
    if (o != NULL && !found_bad(sec, f, "optimizer") && s->learner.optimizer == DRIFT_OPT_RLS &&
        s->learner.kind != NULL && strcmp(s->learner.kind, "linear") != 0) {
        errat(L, o->line, o->col, "%s.optimizer rls fits a linear model; set %s.kind: linear or "
              "choose sgd, adagrad or ftrl", path, path);
    }
}

/* FNV-1a over a node's canonical form: its kind, then scalars by their text (and whether
 * quoted), mappings by key and value in document order, sequences by item. */
static uint64_t node_fp(uint64_t h, const struct node *n)
{
    char tag = n == NULL ? '0' : n->type == NODE_SCALAR ? (n->plain ? 'p' : 'q')
                               : n->type == NODE_MAP    ? 'm'
                                                        : 's';
    h = (h ^ (uint8_t)tag) * 1099511628211ull;
    if (n == NULL) {
        return h;
    }
    if (n->type == NODE_SCALAR) {
        for (const char *c = n->str; *c; c++) {
            h = (h ^ (uint8_t)*c) * 1099511628211ull;
        }
        return (h ^ 0xffu) * 1099511628211ull;
    }
    for (const struct node *c = n->first; c != NULL; c = c->next) {
        if (n->type == NODE_MAP) {
            h = node_fp(h, c->key);
        }
        h = node_fp(h, c);
    }
    return (h ^ 0xfeu) * 1099511628211ull;
}

/* The stream's fingerprints (enum drift_fp) from its mapping. */
static void stream_fingerprints(struct drift_stream_conf *s, const struct node *map)
{
    static const char *const keys[DRIFT_FP_COUNT][7] = {
        [DRIFT_FP_FEATURES] = {"features"},
        [DRIFT_FP_FIELDS] = {"label", "prediction", "id_field", "time_field", "dedup",
                             "max_lateness_s"},
        [DRIFT_FP_WINDOW] = {"window"},
        [DRIFT_FP_REFERENCE] = {"reference"},
        [DRIFT_FP_TRIGGER] = {"trigger"},
        [DRIFT_FP_LEARNER] = {"learner"},
        [DRIFT_FP_PERFORMANCE] = {"performance"},
        [DRIFT_FP_LABELS] = {"labels"},
    };
    for (int i = 0; i < DRIFT_FP_COUNT; i++) {
        uint64_t h = 1469598103934665603ull + (uint64_t)i;
        for (int k = 0; k < 7 && keys[i][k] != NULL; k++) {
            h = node_fp(h, map_get(map, keys[i][k]));
        }
        s->fp[i] = h;
    }
}

const char *const drift_restart_top[DRIFT_RESTART_TOP] = {"kafka", "http", "blas", "store.path",
                                                          "store.instance"};
const char *const drift_restart_stream[DRIFT_RESTART_STREAM] = {
    "name", "topic", "partitions", "dead_letter_topic", "webhook", "webhooks", "kafka_action",
    "exec", "labels.topic", "labels.partitions"};

/* The fingerprint of the node at a dotted key path ("labels.topic") under map. */
static uint64_t path_fp(const struct node *map, const char *path)
{
    char key[64];
    const struct node *n = map;
    while (n != NULL && *path) {
        size_t k = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)k, path);
        n = map_get(n, key);
        path += k + (path[k] == '.');
    }
    return node_fp(1469598103934665603ull, n);
}

static void stream_check(struct loader *L, const struct section *sec, const struct found *f,
                         void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    stream_fingerprints(s, f->map);
    for (int i = 0; i < DRIFT_RESTART_STREAM; i++) {
        s->fp_restart[i] = path_fp(f->map, drift_restart_stream[i]);
    }
    /* Rows find their target settings by URL: two targets with one URL would share one. */
    const struct node *wl = found_val(sec, f, "webhooks");
    const struct node *item = wl != NULL && wl->type == NODE_SEQ ? wl->first : NULL;
    for (int i = 0; i < s->nwebhooks && item != NULL; i++, item = item->next) {
        const char *u = s->webhooks[i].url;
        int dup = u != NULL && s->webhook.url != NULL && strcmp(u, s->webhook.url) == 0;
        for (int j = 0; j < i && !dup; j++) {
            dup = u != NULL && s->webhooks[j].url != NULL && strcmp(u, s->webhooks[j].url) == 0;
        }
        if (dup) {
            errat(L, item->line, item->col, "%s.webhooks[%d].url %s is already a target of this "
                  "stream; each target needs its own URL", path, i, u);
        }
    }
    for (int i = 0; i < s->trigger.nfeatures; i++) {
        int known = 0;
        for (int j = 0; j < s->nfeatures && !known; j++) {
            known = strcmp(s->features[j].name, s->trigger.features[i]) == 0;
        }
        if (!known && s->nfeatures > 0) {
            errat(L, s->trigger.features_pos.line, s->trigger.features_pos.col,
                  "%s.trigger.features[%d]: '%s' is not a feature of this stream", path, i,
                  s->trigger.features[i]);
        }
    }
    const struct node *dd = found_val(sec, f, "dedup");
    if (dd != NULL && s->dedup > 0 && s->id_field == NULL) {
        errat(L, dd->line, dd->col, "%s.dedup needs %s.id_field: the field whose repeats are "
              "skipped", path, path);
    }
    const struct node *ml = found_val(sec, f, "max_lateness_s");
    if (ml != NULL && s->max_lateness_s > 0 && s->time_field == NULL) {
        errat(L, ml->line, ml->col, "%s.max_lateness_s needs %s.time_field: the event time it "
              "is measured on", path, path);
    }
    const struct node *dl = found_val(sec, f, "dead_letter_topic");
    if (dl != NULL && s->dead_letter_topic != NULL && s->topic != NULL &&
        strcmp(s->dead_letter_topic, s->topic) == 0) {
        errat(L, dl->line, dl->col, "%s.dead_letter_topic must differ from %s.topic (skipped "
              "messages would come back)", path, path);
    }
    const struct node *mvn = found_val(sec, f, "multivariate");
    int numeric = 0;
    for (int j = 0; j < s->nfeatures; j++) {
        numeric += s->features[j].type == DRIFT_FEATURE_NUMERIC;
    }
    if (mvn != NULL && s->multivariate.enabled && numeric < 2 && s->nfeatures > 0) {
        errat(L, mvn->line, mvn->col, "%s.multivariate needs at least 2 numeric features, the "
              "stream has %d", path, numeric);
    }
    const struct node *tn = found_val(sec, f, "trigger");
    if (s->trigger.min_severity == 1 && !(s->trigger.critical_share > 0) && tn != NULL) {
        errat(L, tn->line, tn->col, "%s.trigger.min_severity critical needs "
              "trigger.critical_share: the drifted share from which a window is critical", path);
    }
    static const char *const fields[] = {"label", "id_field", "time_field", "prediction"};
    const char *values[] = {s->label, s->id_field, s->time_field, s->prediction};
    for (int i = 0; i < s->nfeatures; i++) {
        for (int j = 0; j < 4; j++) {
            if (values[j] != NULL && strcmp(s->features[i].name, values[j]) == 0) {
                errat(L, s->features[i].pos.line, s->features[i].pos.col,
                      "%s.features.%s is also the stream's %s; a field cannot be both", path,
                      s->features[i].name, fields[j]);
            }
        }
    }
    const struct node *learner = found_key(sec, f, "learner");
    if (learner != NULL && found_val(sec, f, "label") == NULL) {
        errat(L, learner->line, learner->col,
              "%s.learner needs %s.label: the field holding the label the learner trains on "
              "(0/1 for logistic)", path, path);
    }
    const struct node *perf = found_key(sec, f, "performance");
    const struct node *labels = found_key(sec, f, "labels");
    if (perf != NULL && (s->prediction == NULL || (s->label == NULL && labels == NULL))) {
        errat(L, perf->line, perf->col,
              "%s.performance needs %s.prediction and a label: %s.label (in the event) or "
              "%s.labels (another topic)", path, path, path, path);
    }
    if (labels != NULL && (s->id_field == NULL || s->prediction == NULL)) {
        errat(L, labels->line, labels->col,
              "%s.labels joins labels to predictions by id: it needs %s.id_field and "
              "%s.prediction", path, path, path);
    }
    if (labels != NULL && perf == NULL) {
        errat(L, labels->line, labels->col,
              "%s.labels feeds %s.performance, which is missing", path, path);
    }
    if (labels != NULL && s->labels.topic != NULL && s->topic != NULL &&
        strcmp(s->labels.topic, s->topic) == 0) {
        errat(L, labels->line, labels->col,
              "%s.labels.topic must differ from %s.topic (labels in the event itself: use "
              "%s.label)", path, path, path);
    }
    if (labels != NULL) {
        if (s->labels.id_field == NULL) {
            s->labels.id_field = s->id_field;
        }
        if (s->labels.field == NULL) {
            s->labels.field = s->label != NULL ? s->label : "label";
        }
    }
    if (perf != NULL && learner != NULL && s->performance.task == 1 &&
        (s->learner.kind == NULL || strcmp(s->learner.kind, "logistic") == 0)) {
        errat(L, perf->line, perf->col,
              "%s.performance.task regression takes any number as the label, but the learner "
              "needs a 0/1 label; use one or the other", path);
    }
    if (s->learner.topic == NULL && s->name != NULL) {
        s->learner.topic = apr_pstrcat(L->tmp, s->name, ".model", NULL);
    }
}

/* ---------------------------------------------------------------------------------------------
 * The tables
 *
 * One line per key: name, default (YAML text, or NULL), field, range or allowed words, help.
 * -------------------------------------------------------------------------------------------*/
#define C_OFF(f) offsetof(struct drift_config, f)
#define S_OFF(f) offsetof(struct drift_stream_conf, f)
#define INF HUGE_VAL

/* clang-format off */
#define K_STR(n, d, o, fl, h) \
    {.name = n, .type = KEY_STR, .def = d, .off = o, .flags = fl, .help = h}
#define K_NAME(n, d, o, fl, h) \
    {.name = n, .type = KEY_NAME, .def = d, .off = o, .flags = fl, .help = h}
#define K_URL(n, o, fl, h) {.name = n, .type = KEY_URL, .off = o, .flags = fl, .help = h}
#define K_INT(n, d, o, l, u, h) \
    {.name = n, .type = KEY_INT, .def = d, .off = o, .lo = l, .hi = u, .help = h}
#define K_NUM(n, d, o, fl, l, u, o2, h) \
    {.name = n, .type = KEY_NUM, .def = d, .off = o, .flags = fl, .lo = l, .hi = u, .off2 = o2, \
     .help = h}
#define K_BOOL(n, d, o, h) {.name = n, .type = KEY_BOOL, .def = d, .off = o, .help = h}
#define K_ENUM(n, d, o, w, h) \
    {.name = n, .type = KEY_ENUM, .def = d, .off = o, .words = w, .help = h}
#define K_WORD(n, d, o, w, h) \
    {.name = n, .type = KEY_WORD, .def = d, .off = o, .words = w, .help = h}
#define K_SECTION(n, s, fl, h) {.name = n, .type = KEY_SECTION, .sub = s, .flags = fl, .help = h}
#define K_CUSTOM(n, fn, fl, h) {.name = n, .type = KEY_CUSTOM, .set = fn, .flags = fl, .help = h}

static const char *const offset_resets[] = {"earliest", "latest", NULL};
static const char *const log_levels[] = {[DRIFT_LOG_ERROR] = "error", [DRIFT_LOG_WARN] = "warn",
                                         [DRIFT_LOG_INFO] = "info", [DRIFT_LOG_DEBUG] = "debug",
                                         [DRIFT_LOG_DEBUG + 1] = NULL};
/* clang-format on */
static const char *const log_formats[] = {"logfmt", "json", NULL}; /* index = log.json */
static const char *const window_types[] = {
    [DRIFT_WINDOW_TUMBLING] = "tumbling", [DRIFT_WINDOW_SLIDING] = "sliding", NULL};
static const char *const ref_sources[] = {
    [DRIFT_REF_WARMUP] = "warmup", [DRIFT_REF_FILE] = "file", NULL};
static const char *const drift_rules[] = {"any", "all", NULL};
static const char *const drift_corrections[] = {"none", "bonferroni", "bh", NULL};
static const char *const learner_kinds[] = {"logistic", "linear", NULL};
static const char *const std_modes[] = {"reference", "online", NULL};
static const char *const cat_modes[] = {[DRIFT_CAT_NONE] = "none", [DRIFT_CAT_ONEHOT] = "onehot",
                                        [DRIFT_CAT_HASH] = "hash", NULL};
static const char *const on_drift_names[] = {[DRIFT_ON_DRIFT_NONE] = "none",
                                             [DRIFT_ON_DRIFT_RESET] = "reset",
                                             [DRIFT_ON_DRIFT_SHADOW] = "shadow", NULL};
static const char *const optimizers[] = {[DRIFT_OPT_SGD] = "sgd", [DRIFT_OPT_ADAGRAD] = "adagrad",
                                         [DRIFT_OPT_FTRL] = "ftrl", [DRIFT_OPT_RLS] = "rls",
                                         NULL};
static const char *const perf_tasks[] = {"classification", "regression", NULL};
static const char *const perf_errors[] = {"absolute", "squared", NULL};
static const char *const detector_names[] = {"adwin", "ddm", "eddm", "hddm_a", "hddm_w",
                                             "page_hinkley", "cusum", "kswin", NULL};

static const struct key kafka_keys[] = {
    K_STR("brokers", NULL, C_OFF(kafka.brokers), F_REQUIRED,
          "a bootstrap list host:port,host:port, or \"embedded\" for an in-process cluster"),
    K_STR("group", "driftd", C_OFF(kafka.group), 0, "the consumer group id"),
    K_WORD("offset_reset", "earliest", C_OFF(kafka.offset_reset), offset_resets,
           "where a new consumer group starts"),
    K_INT("batch_max", "1024", C_OFF(kafka.batch_max), 1, 65536, "messages per consume call"),
    K_INT("embedded_brokers", "1", C_OFF(kafka.embedded_brokers), 1, 64,
          "brokers in the embedded cluster"),
    K_CUSTOM("properties", set_properties, 0, "librdkafka properties, passed through in order"),
};
static const struct section kafka_section = {kafka_keys, NKEYS(kafka_keys), kafka_check};

static const struct key store_keys[] = {
    K_STR("path", "driftd.db", C_OFF(store.path), 0, "the SQLite file"),
    K_NAME("instance", "default", C_OFF(store.instance), 0,
           "this daemon's name in the state file (one per daemon sharing the file)"),
    K_INT("checkpoint_s", "5", C_OFF(store.checkpoint_s), 1, 3600,
          "seconds between checkpoints of the stream state"),
};
static const struct section store_section = {store_keys, NKEYS(store_keys), NULL};

static const struct key log_keys[] = {
    K_ENUM("level", "info", C_OFF(log.level), log_levels, "the most verbose level logged"),
    K_ENUM("format", "logfmt", C_OFF(log.json), log_formats, "logfmt or JSON lines on stderr"),
};
static const struct section log_section = {log_keys, NKEYS(log_keys), NULL};

static void http_check(struct loader *L, const struct section *sec, const struct found *f,
                       void *base, const char *path)
{
    struct drift_config *c = base;
    if (c->http.port > 0 && c->http.token_env == NULL) {
        errat(L, f->map->line, f->map->col,
              "%s needs token_env: the environment variable holding the token that POST "
              "/triggers and /models need", path);
    }
}

static const struct key http_keys[] = {
    K_INT("port", "0", C_OFF(http.port), 0, 65535, "control endpoint port on 127.0.0.1; 0 = off"),
    K_STR("token_env", NULL, C_OFF(http.token_env), 0,
          "environment variable holding the bearer token of the write endpoints"),
};
static const struct section http_section = {http_keys, NKEYS(http_keys), http_check};

static const struct key blas_keys[] = {
    K_INT("threads", "1", C_OFF(blas.threads), 1, 64,
          "OpenBLAS threads for the matrix work (the loop and librdkafka share the cores)"),
};
static const struct section blas_section = {blas_keys, NKEYS(blas_keys), NULL};

static const struct key top_keys[] = {
    K_SECTION("kafka", &kafka_section, F_REQUIRED,
              "where the events come from (at least kafka.brokers)"),
    K_SECTION("store", &store_section, 0, "the SQLite store"),
    K_SECTION("log", &log_section, 0, "logging"),
    K_SECTION("http", &http_section, 0, "the control endpoint (on-request triggers, deployments)"),
    K_SECTION("blas", &blas_section, 0, "the BLAS library (threads)"),
    K_CUSTOM("streams", set_streams, F_REQUIRED, "a list of at least one stream"),
};
static const struct section top_section = {top_keys, NKEYS(top_keys), NULL};

static const struct key window_keys[] = {
    K_ENUM("type", "tumbling", S_OFF(window.type), window_types, "tumbling or sliding windows"),
    K_INT("size", "1000", S_OFF(window.size), 10, INT_MAX, "events per window"),
    K_INT("slide", NULL, S_OFF(window.slide), 1, INT_MAX,
          "sliding only: events between evaluations, dividing size (default size/2)"),
};
static const struct section window_section = {window_keys, NKEYS(window_keys), window_check};

static const struct key reference_keys[] = {
    K_ENUM("from", "warmup", S_OFF(reference.source), ref_sources,
           "the stream's first events, or a CSV file"),
    K_INT("size", "5000", S_OFF(reference.size), 10, INT_MAX, "warm-up events"),
    K_STR("path", NULL, S_OFF(reference.path), 0,
          "a CSV file with a header row naming the features"),
    K_INT("bins", "10", S_OFF(reference.bins), 2, 1000, "histogram bins from reference quantiles"),
    K_INT("sample", "500000", S_OFF(reference.sample), 100, 50000000,
          "file: rows kept for the rank tests; a longer file is sketched in full and sampled"),
    K_INT("sketch_k", "1024", S_OFF(reference.sketch_k), DRIFT_SKETCH_MIN_K, DRIFT_SKETCH_MAX_K,
          "file: quantile-sketch capacity (even) for the bin edges of a file longer than sample"),
};
static const struct section reference_section = {reference_keys, NKEYS(reference_keys),
                                                 reference_check};

static const struct key drift_keys[] = {
    K_NUM("psi", "0.2", S_OFF(drift.psi_threshold), F_LO_OPEN | F_OR_FALSE, 0, INF,
          S_OFF(drift.psi), "a feature drifts when PSI >= this"),
    K_NUM("ks_alpha", "0.01", S_OFF(drift.ks_alpha), F_LO_OPEN | F_HI_OPEN | F_OR_FALSE, 0, 1,
          S_OFF(drift.ks), "a numeric feature drifts when its KS p-value < this"),
    K_NUM("cvm_alpha", "false", S_OFF(drift.cvm_alpha), F_LO_OPEN | F_HI_OPEN | F_OR_FALSE, 0, 1,
          S_OFF(drift.cvm), "a numeric feature drifts when its Cramer-von Mises p-value < this"),
    K_NUM("anderson_alpha", "false", S_OFF(drift.anderson_alpha),
          F_LO_OPEN | F_HI_OPEN | F_OR_FALSE, 0, 1, S_OFF(drift.anderson),
          "a numeric feature drifts when its Anderson-Darling p-value < this"),
    K_WORD("correction", "none", S_OFF(drift.correction), drift_corrections,
           "p-values adjusted across a window's features before the alphas apply"),
    K_NUM("share", "0.5", S_OFF(drift.share), F_LO_OPEN, 0, 1, 0,
          "dataset drift when drifted features / features >= this"),
    K_NUM("min_effect", "0", S_OFF(drift.min_effect), 0, 0, 1, 0,
          "p-value tests vote drift only when the KS statistic D is at least this"),
    K_WORD("rule", "any", S_OFF(drift.rule), drift_rules,
           "a feature drifts when any (or all) of its tests fire"),
};
static const struct section drift_section = {drift_keys, NKEYS(drift_keys), drift_check};

static const char *const severities[] = {"warning", "critical", NULL};
static const char *const stat_names[] = {"psi", "ks", "cvm", "anderson", NULL}; /* bit i */

/* A list of distinct words, each checked by ok(); stored in *out (n in *nout). */
static int word_list(struct loader *L, const struct node *v, const char *path, const char *what,
                     const char ***out, int *nout)
{
    if (v->type != NODE_SEQ || v->n == 0) {
        errat(L, v->line, v->col, "%s must be a non-empty list of %s, got %s", path, what,
              show(L, v));
        return -1;
    }
    const char **w = apr_pcalloc(L->tmp, (size_t)(v->n + 1) * sizeof(char *));
    int n = 0;
    for (const struct node *it = v->first; it != NULL; it = it->next) {
        if (it->type != NODE_SCALAR || is_null(it) || it->str[0] == '\0') {
            errat(L, it->line, it->col, "%s[%d] must be one of the %s, got %s", path, n, what,
                  show(L, it));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            if (strcmp(w[i], it->str) == 0) {
                errat(L, it->line, it->col, "%s lists %s twice", path, it->str);
                return -1;
            }
        }
        w[n++] = it->str;
    }
    *out = w;
    *nout = n;
    return 0;
}

static void set_trigger_features(struct loader *L, const struct node *v, void *base,
                                 const char *path)
{
    struct drift_stream_conf *s = base;
    word_list(L, v, path, "stream's feature names", &s->trigger.features, &s->trigger.nfeatures);
    s->trigger.features_pos = (struct drift_pos){v->line, v->col};
}

static void set_trigger_statistics(struct loader *L, const struct node *v, void *base,
                                   const char *path)
{
    struct drift_stream_conf *s = base;
    const char **w;
    int n;
    if (word_list(L, v, path, "statistics psi, ks, cvm, anderson", &w, &n) != 0) {
        return;
    }
    const struct node *it = v->first;
    for (int i = 0; i < n; i++, it = it->next) {
        int k = 0;
        while (stat_names[k] != NULL && strcmp(stat_names[k], w[i]) != 0) {
            k++;
        }
        if (stat_names[k] == NULL) {
            errat(L, it->line, it->col, "%s[%d]: unknown statistic '%s' (allowed: psi, ks, cvm, "
                  "anderson)", path, i, w[i]);
            return;
        }
        s->trigger.statistics |= 1 << k;
    }
}

static const struct key trigger_keys[] = {
    K_NAME("name", "retrain", S_OFF(trigger.name), 0, "the trigger rule's name"),
    K_INT("consecutive", "2", S_OFF(trigger.consecutive), 1, INT_MAX,
          "dataset-drift windows needed to fire: in a row, or among the last of_last"),
    K_NUM("critical_share", "0", S_OFF(trigger.critical_share), 0, 0, 1, 0,
          "drifted-feature share from which a data-drift trigger is critical (0: never)"),
    K_INT("resolve_after", "0", S_OFF(trigger.resolve_after), 0, INT_MAX,
          "windows clear of dataset drift after a trigger before its resolution is sent"),
    K_INT("volume", NULL, S_OFF(trigger.volume), 1, INT_MAX,
          "a data_volume trigger after this many new labelled events since the last trigger"),
    K_INT("of_last", NULL, S_OFF(trigger.of_last), 1, 64,
          "fire when consecutive of the last of_last windows had dataset drift (k of n)"),
    K_INT("cooldown_windows", "10", S_OFF(trigger.cooldown_windows), 0, INT_MAX,
          "windows after a trigger during which none fires"),
    K_BOOL("enabled", "true", S_OFF(trigger.enabled), "whether triggers are recorded and sent"),
    K_CUSTOM("features", set_trigger_features, 0,
             "only these features count toward the drifted share (default: all)"),
    K_CUSTOM("statistics", set_trigger_statistics, 0,
             "only these statistics' verdicts make a feature drifted (default: all enabled)"),
    K_ENUM("min_severity", "warning", S_OFF(trigger.min_severity), severities,
           "critical: only windows at trigger.critical_share fire"),
};
static void trigger_check(struct loader *L, const struct section *sec, const struct found *f,
                          void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    const struct node *n = found_val(sec, f, "of_last");
    if (n != NULL && !found_bad(sec, f, "of_last") && !found_bad(sec, f, "consecutive") &&
        s->trigger.consecutive > s->trigger.of_last) {
        errat(L, n->line, n->col, "%s.of_last (%d) must be at least consecutive (%d): k of n "
              "windows needs k <= n", path, s->trigger.of_last, s->trigger.consecutive);
    }
}
static const struct section trigger_section = {trigger_keys, NKEYS(trigger_keys), trigger_check};

static void set_headers(struct loader *L, const struct node *v, void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    if (is_null(v)) {
        return;
    }
    if (v->type != NODE_MAP) {
        errat(L, v->line, v->col, "%s must be a mapping of header names to values, got %s", path,
              show(L, v));
        return;
    }
    s->webhook.headers = apr_pcalloc(L->tmp, (size_t)(v->n + 1) * sizeof(struct drift_kv));
    for (const struct node *p = v->first; p != NULL; p = p->next) {
        if (bad_key(L, v, p, path) != NULL) {
            continue;
        }
        const char *k = p->key->str;
        /* RFC 9110 token characters; a value is one line. */
        if (k[0] == '\0' || strspn(k, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(k)) {
            errat(L, p->key->line, p->key->col, "%s: '%s' is not a valid header name", path, k);
            continue;
        }
        if (p->type != NODE_SCALAR || is_null(p) || strpbrk(p->str, "\r\n") != NULL) {
            errat(L, p->line, p->col, "%s.%s must be a single-line value, got %s", path, k,
                  show(L, p));
            continue;
        }
        if (strcasecmp(k, "authorization") == 0) {
            errat(L, p->key->line, p->key->col,
                  "%s.%s would put a secret in the config file; use bearer_token_env or "
                  "basic_auth_env (the secret stays in the environment)", path, k);
            continue;
        }
        s->webhook.headers[s->webhook.nheaders++] = (struct drift_kv){k, p->str};
    }
}

static const struct key webhook_keys[] = {
    K_URL("url", S_OFF(webhook.url), F_REQUIRED, "the URL triggers are POSTed to"),
    K_INT("timeout_ms", "5000", S_OFF(webhook.timeout_ms), 1, INT_MAX, "per whole request"),
    K_INT("max_attempts", "0", S_OFF(webhook.max_attempts), 0, INT_MAX,
          "attempts before a delivery is dead; 0 = until max_age_s"),
    K_INT("max_age_s", "86400", S_OFF(webhook.max_age_s), 1, INT_MAX,
          "a delivery older than this is dead"),
    K_INT("backoff_base_ms", "500", S_OFF(webhook.backoff_base_ms), 1, INT_MAX,
          "cap of the first retry delay"),
    K_ENUM("format", "json", S_OFF(webhook.format), drift_format_names,
           "the body: driftd's json, cloudevents, alertmanager, slack, pagerduty, airflow, "
           "airflow3 or github"),
    K_CUSTOM("headers", set_headers, 0, "extra request headers (not Authorization)"),
    K_STR("bearer_token_env", NULL, S_OFF(webhook.bearer_token_env), 0,
          "environment variable holding a bearer token"),
    K_STR("basic_auth_env", NULL, S_OFF(webhook.basic_auth_env), 0,
          "environment variable holding user:password"),
    K_STR("hmac_secret_env", NULL, S_OFF(webhook.hmac_secret_env), 0,
          "environment variable holding the X-Driftd-Signature-256 key"),
    K_STR("routing_key_env", NULL, S_OFF(webhook.routing_key_env), 0,
          "pagerduty: environment variable holding the routing key"),
    K_STR("event_type", "driftd-retrain", S_OFF(webhook.event_type), 0,
          "github: the repository_dispatch event_type"),
    K_ENUM("severity", "warning", S_OFF(webhook.severity), severities,
           "alertmanager and pagerduty severity"),
    K_BOOL("tls_verify", "true", S_OFF(webhook.tls_verify), "verify the server's certificate"),
    K_INT("backoff_max_ms", "60000", S_OFF(webhook.backoff_max_ms), 1, INT_MAX,
          "cap of every retry delay"),
};
static const struct section webhook_section = {webhook_keys, NKEYS(webhook_keys), webhook_check};

/* `webhooks`: a list of targets, each a webhook mapping. Each is read through the webhook table
 * into a scratch stream (the table's offsets are the stream's), then kept. */
static void set_webhooks(struct loader *L, const struct node *v, void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    if (v->type != NODE_SEQ || v->n == 0 || v->n > 64) {
        errat(L, v->line, v->col, "%s must be a list of 1 to 64 webhook mappings, got %s", path,
              show(L, v));
        return;
    }
    s->webhooks = apr_pcalloc(L->tmp, (size_t)v->n * sizeof(*s->webhooks));
    int i = 0;
    for (const struct node *item = v->first; item != NULL; item = item->next, i++) {
        struct drift_stream_conf *tmp = apr_pcalloc(L->tmp, sizeof(*tmp));
        apply_defaults(L, &webhook_section, tmp);
        read_section(L, &webhook_section, item, tmp, apr_psprintf(L->tmp, "%s[%d]", path, i));
        s->webhooks[s->nwebhooks++] = tmp->webhook;
    }
}

/* ---- multivariate ---- */
static const char *const mv_names[] = {[DRIFT_MV_HOTELLING] = "hotelling",
                                       [DRIFT_MV_CORRELATION] = "correlation",
                                       [DRIFT_MV_PCA] = "pca", [DRIFT_MV_MMD] = "mmd", NULL};

static void set_mv_tests(struct loader *L, const struct node *v, void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    const char **w;
    int n;
    if (word_list(L, v, path, "tests hotelling, correlation, pca, mmd", &w, &n) != 0) {
        return;
    }
    s->multivariate.tests = 0;
    const struct node *it = v->first;
    for (int i = 0; i < n; i++, it = it->next) {
        int k = 0;
        while (mv_names[k] != NULL && strcmp(mv_names[k], w[i]) != 0) {
            k++;
        }
        if (mv_names[k] == NULL) {
            errat(L, it->line, it->col, "%s[%d]: unknown test '%s' (allowed: hotelling, "
                  "correlation, pca, mmd)", path, i, w[i]);
            return;
        }
        s->multivariate.tests |= 1 << k;
    }
}

static void mv_check(struct loader *L, const struct section *sec, const struct found *f,
                     void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    s->multivariate.enabled = 1; /* the mapping's presence enables it */
    if (found_val(sec, f, "tests") == NULL) {
        s->multivariate.tests =
            1 << DRIFT_MV_HOTELLING | 1 << DRIFT_MV_CORRELATION | 1 << DRIFT_MV_PCA;
    }
}

static const struct key mv_keys[] = {
    K_CUSTOM("tests", set_mv_tests, 0,
             "which tests run: hotelling, correlation, pca, mmd (default all but mmd)"),
    K_NUM("alpha", "0.01", S_OFF(multivariate.alpha), F_LO_OPEN | F_HI_OPEN, 0, 1, 0,
          "hotelling: drift when p < alpha"),
    K_NUM("shrinkage", "0.01", S_OFF(multivariate.shrinkage), 0, 0, 1, 0,
          "hotelling: shrinkage of the pooled covariance toward its mean variance"),
    K_NUM("correlation_threshold", "0.3", S_OFF(multivariate.correlation_threshold), F_LO_OPEN,
          0, 2, 0, "correlation: drift when a pairwise correlation moves by this much"),
    K_NUM("pca_variance", "0.65", S_OFF(multivariate.pca_variance), F_LO_OPEN | F_HI_OPEN, 0, 1,
          0, "pca: the explained variance the kept components exceed"),
    K_NUM("pca_std", "3", S_OFF(multivariate.pca_std), F_LO_OPEN, 0, INF, 0,
          "pca: thresholds at the reference chunks' mean ± this many stds"),
    K_INT("mmd_sample", "250", S_OFF(multivariate.mmd_sample), 10, 100000,
          "mmd: rows of the reference and of each window compared"),
    K_INT("mmd_permutations", "100", S_OFF(multivariate.mmd_permutations), 1, 100000,
          "mmd: permutations behind its p-value"),
};
static const struct section mv_section = {mv_keys, NKEYS(mv_keys), mv_check};

/* ---- kafka_action and exec ---- */
static void kafka_action_check(struct loader *L, const struct section *sec, const struct found *f,
                               void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    s->kafka_action.enabled = 1; /* the mapping's presence enables it */
    if (s->kafka_action.topic != NULL && s->topic != NULL &&
        strcmp(s->kafka_action.topic, s->topic) == 0) {
        const struct node *t = found_val(sec, f, "topic");
        errat(L, t->line, t->col, "%s.topic must differ from the stream's own topic (driftd would "
              "read its triggers back as events)", path);
    }
}

static const struct key kafka_action_keys[] = {
    K_NAME("topic", NULL, S_OFF(kafka_action.topic), F_REQUIRED,
           "the topic each trigger is produced to, as a CloudEvent keyed by the stream"),
};
static const struct section kafka_action_section = {kafka_action_keys, NKEYS(kafka_action_keys),
                                                    kafka_action_check};

/* Program names that are shells: exec runs a program directly, and a config must not be able to
 * hand driftd a shell command line. */
static const char *const shells[] = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh",
                                     "fish", "busybox", "env", NULL};

static void set_exec_command(struct loader *L, const struct node *v, void *base,
                             const char *path)
{
    struct drift_stream_conf *s = base;
    if (v->type != NODE_SEQ || v->n == 0 || v->n > 256) {
        errat(L, v->line, v->col, "%s must be a list of the program and its arguments (1 to 256 "
              "strings; no shell is used), got %s", path, show(L, v));
        return;
    }
    s->exec.argv = apr_pcalloc(L->tmp, (size_t)(v->n + 1) * sizeof(char *));
    s->exec.argc = 0;
    int i = 0;
    for (const struct node *item = v->first; item != NULL; item = item->next, i++) {
        if (item->type != NODE_SCALAR || is_null(item) || (i == 0 && item->str[0] == '\0')) {
            errat(L, item->line, item->col, "%s[%d] must be a string, got %s", path, i,
                  show(L, item));
            return;
        }
        s->exec.argv[s->exec.argc++] = item->str;
    }
    const char *prog = s->exec.argv[0];
    const char *b = strrchr(prog, '/');
    b = b != NULL ? b + 1 : prog;
    for (int k = 0; shells[k] != NULL; k++) {
        if (strcmp(b, shells[k]) == 0) {
            errat(L, v->first->line, v->first->col,
                  "%s[0] is %s: exec runs a program directly, never through a shell or env; "
                  "name the script or program itself", path, prog);
            return;
        }
    }
}

/* exec.env: names of driftd's environment variables the program also gets. The program sees
 * only an allow-list of driftd's environment otherwise (spawn.c): the rest holds credentials. */
static void set_exec_env(struct loader *L, const struct node *v, void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    if (v->type != NODE_SEQ || v->n > 256) {
        errat(L, v->line, v->col, "%s must be a list of environment variable names (at most "
              "256), got %s", path, show(L, v));
        return;
    }
    s->exec.env = apr_pcalloc(L->tmp, (size_t)(v->n + 1) * sizeof(char *));
    s->exec.nenv = 0;
    int i = 0;
    for (const struct node *item = v->first; item != NULL; item = item->next, i++) {
        const char *n = item->type == NODE_SCALAR && !is_null(item) ? item->str : "";
        int ok = (isalpha((unsigned char)n[0]) || n[0] == '_') &&
                 strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
                     strlen(n);
        if (!ok) {
            errat(L, item->line, item->col, "%s[%d] must be an environment variable name "
                  "(letters, digits and '_', not starting with a digit), got %s", path, i,
                  show(L, item));
            return;
        }
        for (int j = 0; j < s->exec.nenv; j++) {
            if (strcmp(s->exec.env[j], n) == 0) {
                errat(L, item->line, item->col, "%s lists %s twice", path, n);
                return;
            }
        }
        s->exec.env[s->exec.nenv++] = n;
    }
}

static void exec_check(struct loader *L, const struct section *sec, const struct found *f,
                       void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    s->exec.enabled = 1; /* the mapping's presence enables it */
}

static const struct key exec_keys[] = {
    K_CUSTOM("command", set_exec_command, F_REQUIRED,
             "the program and its arguments, a list (no shell)"),
    K_INT("timeout_s", "60", S_OFF(exec.timeout_s), 1, 86400,
          "SIGTERM after this many seconds, SIGKILL 2 s later"),
    K_BOOL("resolutions", "false", S_OFF(exec.resolutions),
           "run the program for resolutions too, not only triggers"),
    K_CUSTOM("env", set_exec_env, 0,
             "names of driftd's environment variables the program also gets (by default only "
             "PATH, HOME, LANG, LC_*, TZ, USER, LOGNAME and TMPDIR)"),
};
static const struct section exec_section = {exec_keys, NKEYS(exec_keys), exec_check};

static const struct key learner_keys[] = {
    K_WORD("kind", "logistic", S_OFF(learner.kind), learner_kinds,
           "the model: logistic (0/1 label) or linear (any number)"),
    K_ENUM("optimizer", "sgd", S_OFF(learner.optimizer), optimizers,
           "sgd, adagrad, ftrl (FTRL-proximal) or rls (recursive least squares, linear only)"),
    K_NUM("learning_rate", "0.05", S_OFF(learner.learning_rate), F_LO_OPEN, 0, INF, 0,
          "SGD and AdaGrad step size"),
    K_NUM("l2", "0", S_OFF(learner.l2), 0, 0, INF, 0, "L2 penalty"),
    K_NUM("l1", "0", S_OFF(learner.l1), 0, 0, INF, 0, "ftrl: L1 penalty"),
    K_NUM("ftrl_alpha", "0.1", S_OFF(learner.ftrl_alpha), F_LO_OPEN, 0, INF, 0, "ftrl: alpha"),
    K_NUM("ftrl_beta", "1", S_OFF(learner.ftrl_beta), F_LO_OPEN, 0, INF, 0, "ftrl: beta"),
    K_NUM("rls_forget", "1", S_OFF(learner.rls_forget), F_LO_OPEN, 0, 1, 0,
          "rls: forgetting factor (1: none)"),
    K_NUM("rls_delta", "1", S_OFF(learner.rls_delta), F_LO_OPEN, 0, INF, 0,
          "rls: initial P = I/delta"),
    K_ENUM("on_drift", "none", S_OFF(learner.on_drift), on_drift_names,
           "on a concept-drift signal: none, reset, or shadow (train a fresh learner and keep "
           "the better)"),
    K_INT("shadow_window", "500", S_OFF(learner.shadow_window), 32, INT_MAX,
          "shadow: labelled rows a fresh learner has to beat the current one"),
    K_ENUM("standardize", "reference", S_OFF(learner.standardize), std_modes,
           "inputs standardised with the reference's mean and std, or online (running)"),
    K_ENUM("categorical", "none", S_OFF(learner.categorical), cat_modes,
           "categorical features as inputs: none, onehot (a column per known category) or hash"),
    K_INT("hash_buckets", "64", S_OFF(learner.hash_buckets), 2, 65536,
          "hash: shared 0/1 columns the categories are hashed into"),
    K_INT("batch", "1", S_OFF(learner.batch), 1, 4096,
          "rows per update: predicted with the weights before them, then one averaged step"),
    K_INT("publish_every", "1000", S_OFF(learner.publish_every), 1, INT_MAX,
          "labelled updates between published models"),
    K_INT("publish_every_s", "0", S_OFF(learner.publish_every_s), 0, INT_MAX,
          "also publish this often (seconds) when the learner learnt; 0 = off"),
    K_NAME("topic", NULL, S_OFF(learner.topic), 0,
           "Kafka topic for model updates (default <stream name>.model)"),
};
static const struct section learner_section = {learner_keys, NKEYS(learner_keys), learner_check};

static void set_detector_params(struct loader *L, const struct node *v, void *base,
                                const char *path)
{
    struct drift_stream_conf *s = base;
    if (is_null(v)) {
        return;
    }
    if (v->type != NODE_MAP) {
        errat(L, v->line, v->col,
              "%s must be a mapping of the detector's parameters (River's names) to values, got "
              "%s", path, show(L, v));
        return;
    }
    s->performance.params = apr_pcalloc(L->tmp, (size_t)(v->n + 1) * sizeof(struct drift_kv));
    for (const struct node *p = v->first; p != NULL; p = p->next) {
        if (bad_key(L, v, p, path) != NULL) {
            continue;
        }
        if (p->type != NODE_SCALAR || is_null(p)) {
            errat(L, p->line, p->col, "%s.%s must be a single value, got %s", path, p->key->str,
                  show(L, p));
            continue;
        }
        s->performance.params[s->performance.nparams++] = (struct drift_kv){p->key->str, p->str};
    }
}

static void performance_check(struct loader *L, const struct section *sec, const struct found *f,
                              void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    s->performance.enabled = 1; /* the mapping's presence enables it */
    /* Metric bounds not given are no bounds. */
    static const char *const bounds[] = {"min_accuracy", "min_auc", "max_log_loss", "max_mae",
                                         "max_rmse"};
    double *bv[] = {&s->performance.min_accuracy, &s->performance.min_auc,
                    &s->performance.max_log_loss, &s->performance.max_mae,
                    &s->performance.max_rmse};
    for (int i = 0; i < 5; i++) {
        if (found_val(sec, f, bounds[i]) == NULL) {
            *bv[i] = NAN;
        }
    }
    const char *det = s->performance.detector;
    if (s->performance.task == 1 && det != NULL && !found_bad(sec, f, "detector") &&
        !found_bad(sec, f, "task") &&
        (strcmp(det, "ddm") == 0 || strcmp(det, "eddm") == 0 || strncmp(det, "hddm", 4) == 0)) {
        const struct node *dv = found_val(sec, f, "detector");
        errat(L, dv->line, dv->col,
              "%s.detector %s watches 0/1 errors; a regression task needs adwin, page_hinkley, "
              "cusum or kswin", path, det);
    }
    /* The detector's own parser says what is wrong with a parameter, in River's terms. */
    const struct node *pv = found_val(sec, f, "params");
    if (!found_bad(sec, f, "detector") && !found_bad(sec, f, "params")) {
        const struct drift_detector_ops *ops = drift_detector_find(s->performance.detector);
        if (ops != NULL) {
            struct drift_param pp[64];
            int np = s->performance.nparams < 64 ? s->performance.nparams : 64;
            for (int i = 0; i < np; i++) {
                pp[i] = (struct drift_param){s->performance.params[i].key,
                                             s->performance.params[i].value};
            }
            char err[256];
            struct drift_detector *d = ops->create(pp, np, err, sizeof(err));
            if (d == NULL) {
                const struct node *at = pv != NULL ? pv : f->map;
                errat(L, at->line, at->col, "%s.params: %s", path, err);
            } else {
                ops->destroy(d);
            }
        } else {
            const struct node *dv = found_val(sec, f, "detector");
            const struct node *at = dv != NULL ? dv : f->map;
            errat(L, at->line, at->col, "%s.detector %s is not built into this driftd", path,
                  s->performance.detector);
        }
    }
}

static const struct key performance_keys[] = {
    K_ENUM("task", "classification", S_OFF(performance.task), perf_tasks,
           "what the model predicts: a class (or score) or a value"),
    K_NUM("threshold", "0.5", S_OFF(performance.threshold), 0, -INF, INF, 0,
          "classification: a score >= threshold predicts class 1"),
    K_ENUM("error", "absolute", S_OFF(performance.error), perf_errors,
           "regression: the error fed to the detector"),
    K_WORD("detector", "adwin", S_OFF(performance.detector), detector_names,
           "the change detector run on the error values"),
    K_CUSTOM("params", set_detector_params, 0, "the detector's parameters, River's names"),
    K_INT("cooldown_pairs", "1000", S_OFF(performance.cooldown_pairs), 0, INT_MAX,
          "labelled predictions after a trigger during which none fires"),
    K_INT("window", "1000", S_OFF(performance.window), 10, 10000000,
          "labelled predictions per window of prequential metrics"),
    K_NUM("min_accuracy", NULL, S_OFF(performance.min_accuracy), 0, 0, 1, 0,
          "a metrics window below this accuracy fires a performance trigger"),
    K_NUM("min_auc", NULL, S_OFF(performance.min_auc), 0, 0, 1, 0,
          "a metrics window below this ROC AUC fires a performance trigger"),
    K_NUM("max_log_loss", NULL, S_OFF(performance.max_log_loss), 0, 0, INF, 0,
          "a metrics window above this log-loss fires a performance trigger"),
    K_NUM("max_mae", NULL, S_OFF(performance.max_mae), 0, 0, INF, 0,
          "a metrics window above this MAE fires a performance trigger"),
    K_NUM("max_rmse", NULL, S_OFF(performance.max_rmse), 0, 0, INF, 0,
          "a metrics window above this RMSE fires a performance trigger"),
    K_NAME("name", "performance", S_OFF(performance.name), 0,
           "trigger rule name, part of the idempotency key"),
};
static const struct section performance_section = {performance_keys, NKEYS(performance_keys),
                                                    performance_check};

static void schedule_check(struct loader *L, const struct section *sec, const struct found *f,
                           void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    s->schedule.enabled = 1;
    const struct node *c = found_val(sec, f, "cron"), *e = found_val(sec, f, "every_s");
    if ((c == NULL) == (e == NULL)) {
        errat(L, f->map->line, f->map->col, "%s needs exactly one of cron (e.g. \"0 2 * * *\") "
              "and every_s", path);
        return;
    }
    if (c != NULL && s->schedule.cron != NULL) {
        struct drift_cron cr;
        char err[200];
        if (drift_cron_parse(s->schedule.cron, &cr, err, sizeof(err)) != 0) {
            errat(L, c->line, c->col, "%s.%s", path, err);
        }
    }
}

static const struct key schedule_keys[] = {
    K_STR("cron", NULL, S_OFF(schedule.cron), 0, "five-field cron expression, UTC"),
    K_INT("every_s", NULL, S_OFF(schedule.every_s), 1, INT_MAX,
          "or a fixed interval in seconds, aligned to the epoch"),
    K_NAME("name", "scheduled", S_OFF(schedule.name), 0, "trigger rule name"),
};
static const struct section schedule_section = {schedule_keys, NKEYS(schedule_keys),
                                                schedule_check};

static void labels_check(struct loader *L, const struct section *sec, const struct found *f,
                         void *base, const char *path)
{
    struct drift_stream_conf *s = base;
    s->labels.enabled = 1; /* the mapping's presence enables it */
}

static const struct key labels_keys[] = {
    K_NAME("topic", NULL, S_OFF(labels.topic), F_REQUIRED, "the Kafka topic of the label events"),
    K_STR("id_field", NULL, S_OFF(labels.id_field), 0,
          "the id in label events (default: the stream's id_field)"),
    K_STR("field", NULL, S_OFF(labels.field), 0,
          "the label in label events (default: the stream's label, else label)"),
    K_STR("time_field", NULL, S_OFF(labels.time_field), 0,
          "the label time in label events (epoch s or ms)"),
    K_INT("ttl_s", "86400", S_OFF(labels.ttl_s), 1, INT_MAX,
          "seconds a prediction waits for its label"),
    K_INT("max_pending", "1000000", S_OFF(labels.max_pending), 1, 1 << 30,
          "predictions held at most while they wait"),
    K_INT("partitions", "4", S_OFF(labels.partitions), 1, 1024,
          "partitions the embedded cluster creates for the topic"),
};
static const struct section labels_section = {labels_keys, NKEYS(labels_keys), labels_check};

static const struct key stream_keys[] = {
    K_NAME("name", NULL, S_OFF(name), F_REQUIRED, "the stream's unique name"),
    K_NAME("topic", NULL, S_OFF(topic), F_REQUIRED, "the Kafka topic of the stream's events"),
    K_INT("partitions", "4", S_OFF(partitions), 1, 1024,
          "partitions the embedded cluster creates for the topic"),
    K_CUSTOM("features", set_features, F_REQUIRED,
             "a mapping of feature names to numeric or categorical"),
    K_STR("label", NULL, S_OFF(label), 0, "the field holding the label"),
    K_STR("prediction", NULL, S_OFF(prediction), 0,
          "the field holding the model's prediction (score, class or value)"),
    K_STR("id_field", NULL, S_OFF(id_field), 0, "the record id field"),
    K_STR("time_field", NULL, S_OFF(time_field), 0, "the event time field (epoch s or ms)"),
    K_INT("max_message_bytes", "1048576", S_OFF(max_message_bytes), 64, 1 << 30,
          "larger messages are skipped as too_large"),
    K_NAME("dead_letter_topic", NULL, S_OFF(dead_letter_topic), 0,
           "skipped messages are forwarded here, unchanged, with the reason in headers"),
    K_INT("max_lateness_s", "0", S_OFF(max_lateness_s), 0, INT_MAX,
          "skip events whose time is this many seconds behind the latest (too_late); 0 = off"),
    K_INT("dedup", "0", S_OFF(dedup), 0, 10000000,
          "skip events whose id_field value is among the last this many ids (duplicate); 0 = off"),
    K_SECTION("window", &window_section, 0, "count windows"),
    K_SECTION("reference", &reference_section, 0, "what windows are compared with"),
    K_SECTION("drift", &drift_section, 0, "when a feature and the dataset drift"),
    K_SECTION("trigger", &trigger_section, 0, "when drift fires a trigger"),
    K_SECTION("webhook", &webhook_section, 0, "where triggers are delivered"),
    K_CUSTOM("webhooks", set_webhooks, 0, "more delivery targets: a list of webhook mappings"),
    K_SECTION("multivariate", &mv_section, 0,
              "tests on all numeric features at once (Hotelling T², correlation, PCA, MMD); "
              "present = enabled"),
    K_SECTION("kafka_action", &kafka_action_section, 0,
              "produce each trigger to a Kafka topic as a CloudEvent; present = enabled"),
    K_SECTION("exec", &exec_section, 0,
              "run a program for each trigger (argv, event on stdin); present = enabled"),
    K_SECTION("learner", &learner_section, 0, "the online learner; present = enabled"),
    K_SECTION("performance", &performance_section, 0,
              "concept drift: a detector on the model's errors; present = enabled"),
    K_SECTION("labels", &labels_section, 0,
              "labels from another topic, joined to predictions by id; present = enabled"),
    K_SECTION("schedule", &schedule_section, 0,
              "scheduled retraining triggers (cron or interval); present = enabled"),
};
static const struct section stream_section = {stream_keys, NKEYS(stream_keys), stream_check};

/* ---------------------------------------------------------------------------------------------
 * Copying a valid config into the caller's pool
 * -------------------------------------------------------------------------------------------*/
static const char *dup_str(apr_pool_t *pool, const char *s)
{
    return s != NULL ? apr_pstrdup(pool, s) : NULL;
}

/* Re-points every string field the table of sec knows about at a copy in pool. Custom keys own
 * arrays and are copied by copy_config itself. */
static void copy_section(const struct section *sec, void *base, apr_pool_t *pool)
{
    for (int i = 0; i < sec->nkeys; i++) {
        const struct key *k = &sec->keys[i];
        switch (k->type) {
        case KEY_STR:
        case KEY_NAME:
        case KEY_URL:
        case KEY_WORD: {
            const char **p = field(base, k->off);
            *p = dup_str(pool, *p);
            break;
        }
        case KEY_SECTION:
            copy_section(k->sub, base, pool);
            break;
        default:
            break;
        }
    }
}

static void copy_headers(struct drift_webhook_conf *w, apr_pool_t *pool)
{
    if (w->nheaders > 0) {
        struct drift_kv *kv = apr_pcalloc(pool, (size_t)w->nheaders * sizeof(*kv));
        for (int j = 0; j < w->nheaders; j++) {
            kv[j].key = dup_str(pool, w->headers[j].key);
            kv[j].value = dup_str(pool, w->headers[j].value);
        }
        w->headers = kv;
    } else {
        w->headers = NULL;
    }
}

static struct drift_config *copy_config(const struct drift_config *src, apr_pool_t *pool)
{
    struct drift_config *c = apr_pmemdup(pool, src, sizeof(*src));
    c->path = dup_str(pool, src->path);
    copy_section(&top_section, c, pool);
    if (src->kafka.nproperties > 0) {
        c->kafka.properties =
            apr_pcalloc(pool, (size_t)src->kafka.nproperties * sizeof(*c->kafka.properties));
        for (int i = 0; i < src->kafka.nproperties; i++) {
            c->kafka.properties[i].key = dup_str(pool, src->kafka.properties[i].key);
            c->kafka.properties[i].value = dup_str(pool, src->kafka.properties[i].value);
        }
    } else {
        c->kafka.properties = NULL;
    }
    c->streams = apr_pmemdup(pool, src->streams, (size_t)src->nstreams * sizeof(*c->streams));
    for (int i = 0; i < c->nstreams; i++) {
        struct drift_stream_conf *s = &c->streams[i];
        copy_section(&stream_section, s, pool);
        s->features = apr_pmemdup(pool, s->features, (size_t)s->nfeatures * sizeof(*s->features));
        for (int j = 0; j < s->nfeatures; j++) {
            s->features[j].name = dup_str(pool, s->features[j].name);
        }
        copy_headers(&s->webhook, pool);
        if (s->nwebhooks > 0) {
            struct drift_webhook_conf *w = apr_pmemdup(pool, s->webhooks,
                                                       (size_t)s->nwebhooks * sizeof(*w));
            for (int j = 0; j < s->nwebhooks; j++) {
                struct drift_stream_conf tmp;
                memset(&tmp, 0, sizeof(tmp));
                tmp.webhook = w[j];
                copy_section(&webhook_section, &tmp, pool); /* its strings */
                copy_headers(&tmp.webhook, pool);
                w[j] = tmp.webhook;
            }
            s->webhooks = w;
        } else {
            s->webhooks = NULL;
        }
        if (s->trigger.nfeatures > 0) {
            const char **tf = apr_pcalloc(pool, (size_t)(s->trigger.nfeatures + 1) * sizeof(*tf));
            for (int j = 0; j < s->trigger.nfeatures; j++) {
                tf[j] = dup_str(pool, s->trigger.features[j]);
            }
            s->trigger.features = tf;
        } else {
            s->trigger.features = NULL;
        }
        if (s->exec.argc > 0) {
            const char **av = apr_pcalloc(pool, (size_t)(s->exec.argc + 1) * sizeof(*av));
            for (int j = 0; j < s->exec.argc; j++) {
                av[j] = dup_str(pool, s->exec.argv[j]);
            }
            s->exec.argv = av;
        } else {
            s->exec.argv = NULL;
        }
        if (s->exec.nenv > 0) {
            const char **ev = apr_pcalloc(pool, (size_t)(s->exec.nenv + 1) * sizeof(*ev));
            for (int j = 0; j < s->exec.nenv; j++) {
                ev[j] = dup_str(pool, s->exec.env[j]);
            }
            s->exec.env = ev;
        } else {
            s->exec.env = NULL;
        }
        if (s->performance.nparams > 0) {
            struct drift_kv *kv = apr_pcalloc(pool, (size_t)s->performance.nparams * sizeof(*kv));
            for (int j = 0; j < s->performance.nparams; j++) {
                kv[j].key = dup_str(pool, s->performance.params[j].key);
                kv[j].value = dup_str(pool, s->performance.params[j].value);
            }
            s->performance.params = kv;
        } else {
            s->performance.params = NULL;
        }
    }
    return c;
}

/* ---------------------------------------------------------------------------------------------
 * Entry points
 * -------------------------------------------------------------------------------------------*/
int drift_config_load_buffer(apr_pool_t *pool, const char *name, const char *buf, size_t len,
                             struct drift_config **out, drift_config_error_fn errfn, void *errctx)
{
    struct loader L = {.name = name, .buf = buf, .len = len, .errfn = errfn, .errctx = errctx};
    *out = NULL;
    if (apr_pool_create(&L.tmp, pool) != APR_SUCCESS) {
        errat(&L, 0, 0, "out of memory");
        return -1;
    }
    struct node *root;
    if (parse_tree(&L, &root) == 0) {
        if (root == NULL || is_null(root)) {
            errat(&L, 0, 0, "the config is empty; it needs at least kafka.brokers and streams");
        } else {
            struct drift_config *c = apr_pcalloc(L.tmp, sizeof(*c));
            c->path = name;
            apply_defaults(&L, &top_section, c);
            read_section(&L, &top_section, root, c, "");
            for (int i = 0; i < DRIFT_RESTART_TOP; i++) {
                c->fp_restart[i] = path_fp(root, drift_restart_top[i]);
            }
            if (L.errors == 0) {
                *out = copy_config(c, pool);
            }
        }
    }
    apr_pool_destroy(L.tmp);
    return -L.errors;
}

int drift_config_load(apr_pool_t *pool, const char *path, struct drift_config **out,
                      drift_config_error_fn errfn, void *errctx)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int err = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        err = errno;
    }
    while (f != NULL && err == 0) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16384;
            char *nb = cap <= CONFIG_MAX_BYTES ? realloc(buf, cap) : NULL;
            if (nb == NULL) {
                err = cap <= CONFIG_MAX_BYTES ? ENOMEM : EFBIG;
                break;
            }
            buf = nb;
        }
        errno = 0;
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                err = errno != 0 ? errno : EIO;
            }
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    if (err != 0) {
        free(buf);
        if (errfn != NULL) {
            char msg[CONFIG_MSG_MAX];
            snprintf(msg, sizeof(msg), "%s: cannot read: %s", path, strerror(err));
            errfn(errctx, msg);
        }
        return -1;
    }
    int rc = drift_config_load_buffer(pool, path, buf != NULL ? buf : "", len, out, errfn, errctx);
    free(buf);
    return rc;
}
