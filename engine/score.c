/*
 * `driftd score`: the batch use case. Compares a reference file with a current file column by
 * column, with the same operators the daemon uses, and prints one JSON object or a table.
 *
 * Files are CSV with a header row (quoted fields and "" escapes are understood; a field may not
 * contain a line break), or JSON lines: a file whose first non-blank character is '{' holds one
 * flat object per line, its columns the keys in the order first seen (a key absent from a row is
 * a missing value; members whose values are objects or arrays are not features). Each file is
 * mapped and split once; every cell of a column that is still numeric goes through the exact
 * number parser. A column whose non-empty values do not all parse as numbers (in either file),
 * that holds a JSON string or boolean, or that --categorical names, is categorical; its codes
 * are then read again from the recorded row offsets, so text columns cost a second look and
 * numeric ones do not. Empty cells, NaN, nan, null, NA and None are missing.
 *
 * Numeric columns: KS (scipy's ks_2samp default), Cramér–von Mises and Anderson–Darling
 * (scipy's cramervonmises_2samp and anderson_ksamp), Wasserstein-1 (raw and normalised by the
 * reference std), and PSI, KL, JS, Hellinger on bins fixed from the reference quantiles.
 * Categorical columns: chi-square, PSI, KL, JS, Hellinger, L-infinity and the unseen share over
 * the union of both files' categories. A column drifts when its rule test's p-value (KS, or the
 * one --test names; chi-square for categorical columns), adjusted across columns when
 * --correction asks, is below alpha.
 */
#include <apr_getopt.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drift_op.h"
#include "stream.h"

struct file {
    const char *path;
    char *buf;
    size_t len;
    int jsonl;        /* JSON lines (one flat object per line) rather than CSV */
    apr_hash_t *keys; /* JSON lines: key -> column index (int *) */
    int ncols;
    char **names;
    size_t nrows;
    size_t *row_off;  /* start of each data row */
    long *row_line;   /* its line number */
};

struct col {
    const char *name;
    int ci[2];        /* column index in each file */
    int categorical;
    double *num[2];   /* values per file (NaN = missing) */
    int32_t *code[2]; /* categorical: codes per file (-1 = missing) */
    apr_hash_t *dict;
    int ncat;
};

static int is_missing(const char *s, size_t n)
{
    return n == 0 || (n == 2 && strncasecmp(s, "na", 2) == 0) ||
           (n == 3 && strncasecmp(s, "nan", 3) == 0) ||
           (n == 4 && (strncasecmp(s, "null", 4) == 0 || strncasecmp(s, "none", 4) == 0));
}

/* Splits the line at p (up to end or '\n') into fields: start/len pairs into f (unquoted text
 * copied into scratch when a field has quotes). Returns the field count, or -1 on an unclosed
 * quote. *next gets the start of the next line. */
static int split(const char *p, const char *end, const char **fs, size_t *fl, int max,
                 char *scratch, const char **next)
{
    int nf = 0;
    char *sc = scratch;
    for (;;) {
        if (nf == max) {
            return -2;
        }
        if (p < end && *p == '"') {
            p++;
            char *start = sc;
            for (;;) {
                if (p >= end || *p == '\n') {
                    return -1;
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *sc++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *sc++ = *p++;
            }
            fs[nf] = start;
            fl[nf] = (size_t)(sc - start);
            nf++;
            while (p < end && *p != ',' && *p != '\n') {
                p++; /* text after the closing quote is ignored */
            }
        } else {
            const char *s = p;
            while (p < end && *p != ',' && *p != '\n') {
                p++;
            }
            size_t n = (size_t)(p - s);
            if (n > 0 && s[n - 1] == '\r') {
                n--;
            }
            fs[nf] = s;
            fl[nf] = n;
            nf++;
        }
        if (p >= end || *p == '\n') {
            *next = p < end ? p + 1 : end;
            return nf;
        }
        p++; /* comma */
    }
}

#define MAX_COLS 65536
#define RELEASE_STEP (64u << 20) /* parsed input released in steps of this many bytes */
#define SCRATCH_CAP 65536        /* unquoted/unescaped text of one row */

/* Field kinds of a JSON-lines row (CSV fields are all FK_CELL). */
#define FK_CELL 0   /* a number, or text to be tried as one (every CSV field) */
#define FK_TEXT 1   /* a JSON string or boolean: the column is categorical */

struct row_ctx {
    const struct file *f;
    const char **fs;
    size_t *fl;
    unsigned char *fk;
    int last; /* column of the previous member: rows usually keep one key order */
};

static void row_member(void *arg, const char *key, size_t klen, enum drift_json_kind kind,
                       const char *val, size_t vlen)
{
    struct row_ctx *x = arg;
    const struct file *f = x->f;
    int c = x->last + 1;
    if (!(c < f->ncols && strlen(f->names[c]) == klen && memcmp(f->names[c], key, klen) == 0)) {
        int *ci = apr_hash_get(f->keys, key, (apr_ssize_t)klen);
        if (ci == NULL) {
            return; /* a key only nested values ever had */
        }
        c = *ci;
    }
    x->last = c;
    if (kind == DRIFT_JSON_NULL || kind == DRIFT_JSON_NESTED) {
        x->fl[c] = 0; /* missing; nested values are not features */
        return;
    }
    x->fs[c] = val;
    x->fl[c] = vlen;
    x->fk[c] = kind == DRIFT_JSON_NUMBER ? FK_CELL : FK_TEXT;
}

/* Splits data row r of f into its fields by column (fs, fl, and fk when JSON lines; scratch
 * holds SCRATCH_CAP bytes). Returns the field count (f->ncols for JSON lines, whose absent keys
 * are empty fields), -1 for an unclosed quote, -2 for too many fields, -3 for a JSON error
 * described in *what at byte *errpos of the line. */
static int row_fields(const struct file *f, size_t r, const char **fs, size_t *fl,
                      unsigned char *fk, char *scratch, const char **what, size_t *errpos)
{
    const char *p = f->buf + f->row_off[r], *end = f->buf + f->len, *next;
    if (!f->jsonl) {
        return split(p, end, fs, fl, MAX_COLS, scratch, &next);
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((nl ? nl : end) - p);
    for (int c = 0; c < f->ncols; c++) {
        fl[c] = 0;
        fk[c] = FK_CELL;
    }
    struct row_ctx x = {.f = f, .fs = fs, .fl = fl, .fk = fk, .last = -1};
    if (drift_json_each(p, n, scratch, SCRATCH_CAP, row_member, &x, errpos, what) != 0) {
        return -3;
    }
    return f->ncols;
}

/* The end of data row r (the start of the next line). */
static const char *row_end(const struct file *f, size_t r)
{
    const char *p = f->buf + f->row_off[r], *end = f->buf + f->len;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl + 1 : end;
}

/* JSON lines: the keys of one object become columns in the order first seen. */
struct key_ctx {
    apr_pool_t *pool;
    struct file *f;
    apr_array_header_t *names;
};

static void key_member(void *arg, const char *key, size_t klen, enum drift_json_kind kind,
                       const char *val, size_t vlen)
{
    struct key_ctx *x = arg;
    if (kind == DRIFT_JSON_NESTED || apr_hash_get(x->f->keys, key, (apr_ssize_t)klen) != NULL ||
        x->names->nelts >= MAX_COLS) {
        return;
    }
    char *name = apr_pstrmemdup(x->pool, key, klen);
    int *ci = apr_palloc(x->pool, sizeof(*ci));
    *ci = x->names->nelts;
    APR_ARRAY_PUSH(x->names, char *) = name;
    apr_hash_set(x->f->keys, name, (apr_ssize_t)klen, ci);
}

static int load_file(apr_pool_t *pool, struct file *f, char *err, size_t errlen)
{
    int fd = open(f->path, O_RDONLY);
    if (fd < 0) {
        return drift_seterr(err, errlen, DRIFT_EIO, "%s: %s", f->path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return drift_seterr(err, errlen, DRIFT_EIO, "%s: not a regular file", f->path);
    }
    f->len = (size_t)st.st_size;
    if (f->len == 0) {
        close(fd);
        return drift_seterr(err, errlen, DRIFT_EPARSE, "%s: empty file, expected a header row",
                            f->path);
    }
    /* Mapped, not read: the page cache is used as it is, nothing is copied or zeroed. */
    void *map = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        return drift_seterr(err, errlen, DRIFT_EIO, "%s: mmap: %s", f->path, strerror(errno));
    }
    madvise(map, f->len, MADV_SEQUENTIAL);
    f->buf = map;
    const char *end = f->buf + f->len, *p = f->buf, *next;
    if (f->len == 0) {
        return drift_seterr(err, errlen, DRIFT_EPARSE, "%s: empty file, expected a header row",
                            f->path);
    }
    const char **fs = malloc(MAX_COLS * sizeof(char *));
    size_t *fl = malloc(MAX_COLS * sizeof(size_t));
    char *scratch = malloc(SCRATCH_CAP);
    int rc = 0;
    if (fs == NULL || fl == NULL || scratch == NULL) {
        rc = drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
        goto out;
    }
    /* A file whose first non-blank character opens an object is JSON lines; otherwise CSV. */
    const char *q = p;
    while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')) {
        q++;
    }
    f->jsonl = q < end && *q == '{';
    struct key_ctx kx = {.pool = pool, .f = f};
    long line = 0;
    if (f->jsonl) {
        f->keys = apr_hash_make(pool);
        kx.names = apr_array_make(pool, 16, sizeof(char *));
        next = p;
    } else {
        int nf = split(p, end, fs, fl, MAX_COLS, scratch, &next);
        if (nf < 1) {
            rc = drift_seterr(err, errlen, DRIFT_EPARSE, "%s:1: unreadable header", f->path);
            goto out;
        }
        f->ncols = nf;
        f->names = apr_pcalloc(pool, (size_t)nf * sizeof(char *));
        for (int i = 0; i < nf; i++) {
            f->names[i] = apr_pstrmemdup(pool, fs[i], fl[i]);
        }
        line = 1;
    }
    /* Record where each data row starts; CSV fields are split and counted in the reading pass,
     * JSON objects are parsed here once for their keys (and their syntax). */
    size_t cap = 1024;
    f->row_off = malloc(cap * sizeof(size_t));
    f->row_line = malloc(cap * sizeof(long));
    if (f->row_off == NULL || f->row_line == NULL) {
        rc = drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
        goto out;
    }
    p = next;
    while (p < end) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (p == stop || (p + 1 == stop && *p == '\r')) {
            p = nl ? nl + 1 : end;
            continue; /* blank line */
        }
        if (f->nrows == cap) {
            cap *= 2;
            size_t *no = realloc(f->row_off, cap * sizeof(size_t));
            long *nl2 = realloc(f->row_line, cap * sizeof(long));
            if (no == NULL || nl2 == NULL) {
                free(no ? no : f->row_off);
                free(nl2 ? nl2 : f->row_line);
                f->row_off = NULL;
                f->row_line = NULL;
                rc = drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
                goto out;
            }
            f->row_off = no;
            f->row_line = nl2;
        }
        if (f->jsonl) {
            size_t pos;
            const char *what;
            if (drift_json_each(p, (size_t)(stop - p), scratch, SCRATCH_CAP, key_member, &kx,
                                &pos, &what) != 0) {
                rc = drift_seterr(err, errlen, DRIFT_EPARSE, "%s:%ld:%zu: %s", f->path, line,
                                  pos + 1, what);
                goto out;
            }
        }
        f->row_off[f->nrows] = (size_t)(p - f->buf);
        f->row_line[f->nrows] = line;
        f->nrows++;
        p = nl ? nl + 1 : end;
    }
    if (f->jsonl) {
        f->ncols = kx.names->nelts;
        f->names = (char **)kx.names->elts;
        if (f->ncols == 0 && f->nrows > 0) {
            rc = drift_seterr(err, errlen, DRIFT_EPARSE,
                              "%s: no features: the objects have no members with flat values",
                              f->path);
        }
    }
    if (f->nrows == 0 && rc == 0) {
        rc = drift_seterr(err, errlen, DRIFT_EPARSE, "%s: no data rows%s", f->path,
                          f->jsonl ? "" : " after the header");
    }
out:
    free(fs);
    free(fl);
    free(scratch);
    return rc;
}

/* Reads the numeric cells of every column of file k into cols[j].num[k] and sets text[j] for
 * columns that meet text. Touches only file k's own arrays, so both files can be read at once. */
static int read_numbers(struct file *f, int k, struct col *cols, int ncols, int *text, char *err,
                        size_t errlen)
{
    const char **fs = malloc(MAX_COLS * sizeof(char *));
    size_t *fl = malloc(MAX_COLS * sizeof(size_t));
    unsigned char *fk = calloc(MAX_COLS, 1);
    char *scratch = malloc(SCRATCH_CAP);
    int *map = malloc((size_t)f->ncols * sizeof(int));
    if (fs == NULL || fl == NULL || fk == NULL || scratch == NULL || map == NULL) {
        free(fs);
        free(fl);
        free(fk);
        free(scratch);
        free(map);
        return drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
    }
    for (int c = 0; c < f->ncols; c++) {
        map[c] = -1;
    }
    for (int j = 0; j < ncols; j++) {
        map[cols[j].ci[k]] = j;
        if (!cols[j].categorical) {
            cols[j].num[k] = malloc((f->nrows ? f->nrows : 1) * sizeof(double));
        }
    }
    int rc = 0;
    size_t released = 0;
    for (size_t r = 0; r < f->nrows; r++) {
        const char *what = NULL;
        size_t pos = 0;
        int nf = row_fields(f, r, fs, fl, fk, scratch, &what, &pos);
        const char *next = row_end(f, r);
        if (nf == -3) {
            rc = drift_seterr(err, errlen, DRIFT_EPARSE, "%s:%ld:%zu: %s", f->path,
                              f->row_line[r], pos + 1, what);
            break;
        }
        if (nf == -1) {
            rc = drift_seterr(err, errlen, DRIFT_EPARSE, "%s:%ld: unclosed quote", f->path,
                              f->row_line[r]);
            break;
        }
        if (nf != f->ncols) {
            rc = drift_seterr(err, errlen, DRIFT_EPARSE,
                              "%s:%ld: %d fields, but the header has %d (ragged row)", f->path,
                              f->row_line[r], nf < 0 ? MAX_COLS : nf, f->ncols);
            break;
        }
        /* Release what has been parsed: mapped file pages count as our memory otherwise, and a
         * categorical re-read faults them back from the page cache. */
        size_t done = (size_t)(next - f->buf) & ~(size_t)(RELEASE_STEP - 1);
        if (done >= released + RELEASE_STEP) {
            madvise(f->buf + released, done - released, MADV_DONTNEED);
            released = done;
        }
        for (int c = 0; c < f->ncols; c++) {
            int j = map[c];
            if (j < 0 || cols[j].categorical || text[j]) {
                continue;
            }
            double v = NAN;
            if (!is_missing(fs[c], fl[c])) {
                if (fk[c] == FK_TEXT) {
                    text[j] = 1; /* a JSON string: a categorical column */
                    continue;
                }
                size_t used = drift_parse_number(fs[c], fl[c], &v);
                if (used != fl[c] || fl[c] == 0) {
                    text[j] = 1; /* text: a categorical column */
                    continue;
                }
                if (!isfinite(v)) {
                    v = NAN;
                }
            }
            cols[j].num[k][r] = v;
        }
    }
    free(fs);
    free(fl);
    free(fk);
    free(scratch);
    free(map);
    return rc;
}

struct reader {
    struct file *f;
    int k;
    struct col *cols;
    int ncols;
    int *text;
    int rc;
    char err[512];
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    r->rc = read_numbers(r->f, r->k, r->cols, r->ncols, r->text, r->err, sizeof(r->err));
    return NULL;
}

/* Reads the codes of categorical column j from file k (dictionary shared across files). */
static int read_codes(apr_pool_t *pool, struct file *f, int k, struct col *c)
{
    const char **fs = malloc(MAX_COLS * sizeof(char *));
    size_t *fl = malloc(MAX_COLS * sizeof(size_t));
    unsigned char *fk = malloc(MAX_COLS);
    char *scratch = malloc(SCRATCH_CAP);
    c->code[k] = malloc((f->nrows ? f->nrows : 1) * sizeof(int32_t));
    if (fs == NULL || fl == NULL || fk == NULL || scratch == NULL || c->code[k] == NULL) {
        free(fs);
        free(fl);
        free(fk);
        free(scratch);
        return DRIFT_ENOMEM;
    }
    for (size_t r = 0; r < f->nrows; r++) {
        const char *what;
        size_t pos;
        row_fields(f, r, fs, fl, fk, scratch, &what, &pos); /* checked by the first read */
        const char *s = fs[c->ci[k]];
        size_t n = fl[c->ci[k]];
        if (is_missing(s, n)) {
            c->code[k][r] = -1;
            continue;
        }
        int32_t *code = apr_hash_get(c->dict, s, (apr_ssize_t)n);
        if (code == NULL) {
            code = apr_palloc(pool, sizeof(*code));
            *code = c->ncat++;
            apr_hash_set(c->dict, apr_pstrmemdup(pool, s, n), (apr_ssize_t)n, code);
        }
        c->code[k][r] = *code;
    }
    free(fs);
    free(fl);
    free(fk);
    free(scratch);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Statistics and output
 * -------------------------------------------------------------------------------------------*/
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static int run_stat(const char *name, const struct drift_colsum *r, const struct drift_colsum *c,
                    double threshold, struct drift_stat_result *res)
{
    struct drift_stat_params p = {.threshold = threshold, .epsilon = 1e-4, .ks_exact_cells = 0};
    const struct drift_stat_ops *op = drift_stat_find(name);
    return op != NULL ? op->compare(r, c, &p, res) : DRIFT_ENOENT;
}

/* Returns the number of valid values, sorted in place at the front of v. */
static size_t valid_sorted(double *v, size_t n, uint64_t *k0, uint64_t *k1)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isnan(v[i])) {
            v[m++] = v[i];
        }
    }
    drift_sort_doubles(v, m, k0, k1);
    return m;
}

/* What decides a feature's verdict: the rule test's p-value, adjusted across features later. */
struct verdict {
    double p;          /* NAN: the test could not run (why is in rule) */
    char rule[160];
};

/* Runs p-value test name and adds {"statistic", "p_value"[, "dof"]} as key of o (nulls when it
 * cannot run on these samples). Returns the p-value, or NAN. */
static double add_test(json_t *o, const char *key, const char *name, const struct drift_colsum *r,
                       const struct drift_colsum *c, int dof)
{
    struct drift_stat_result res;
    json_t *t = json_object();
    int ok = run_stat(name, r, c, 0, &res) == 0;
    json_object_set_new(t, "statistic", ok ? jnum(res.statistic) : json_null());
    json_object_set_new(t, "p_value", ok ? jnum(res.pvalue) : json_null());
    if (dof) {
        json_object_set_new(t, "dof", ok ? json_integer(res.dof) : json_null());
    }
    json_object_set_new(o, key, t);
    return ok ? res.pvalue : NAN;
}

/* Why the rule test could not run on a numeric column with m0 and m1 valid values. */
static const char *cannot_run(const char *test, size_t m0, size_t m1)
{
    if (strcmp(test, "cvm") == 0 && (m0 < 2 || m1 < 2)) {
        return "needs at least 2 values in each file";
    }
    if (strcmp(test, "anderson") == 0) {
        return m0 + m1 < 4 ? "needs at least 4 values in all" : "needs 2 distinct values";
    }
    return "could not be computed";
}

static json_t *score_numeric(struct col *c, size_t n0, size_t n1, int bins, const char *test,
                             uint64_t *k0, uint64_t *k1, struct verdict *v)
{
    json_t *o = json_object();
    size_t m0 = valid_sorted(c->num[0], n0, k0, k1), m1 = valid_sorted(c->num[1], n1, k0, k1);
    json_t *miss = json_object();
    json_object_set_new(miss, "reference", json_integer((json_int_t)(n0 - m0)));
    json_object_set_new(miss, "current", json_integer((json_int_t)(n1 - m1)));
    json_object_set_new(o, "missing", miss);
    v->p = NAN;
    if (m0 == 0 || m1 == 0) {
        snprintf(v->rule, sizeof(v->rule), "no values to compare (all missing in the %s file)",
                 m0 == 0 ? "reference" : "current");
        return o;
    }
    const double *a = c->num[0], *b = c->num[1];
    double mean = 0, ss = 0;
    for (size_t i = 0; i < m0; i++) {
        mean += a[i];
    }
    mean /= (double)m0;
    for (size_t i = 0; i < m0; i++) {
        ss += (a[i] - mean) * (a[i] - mean);
    }
    struct drift_colsum R = {.sorted = a, .nsorted = m0, .ref_std = sqrt(ss / (double)m0)};
    struct drift_colsum C = {.sorted = b, .nsorted = m1};
    struct drift_stat_result res;
    double pk = add_test(o, "ks", "ks", &R, &C, 0);
    json_t *w = json_object();
    int ok = run_stat("wasserstein", &R, &C, 0.1, &res) == 0;
    json_object_set_new(w, "distance", ok ? jnum(res.statistic) : json_null());
    json_object_set_new(w, "normalized", ok ? jnum(res.effect) : json_null());
    json_object_set_new(o, "wasserstein", w);
    /* Bins fixed from the reference quantiles. */
    double *edges = malloc((size_t)bins * sizeof(double));
    uint64_t *hr = calloc((size_t)bins, sizeof(uint64_t)), *hc = calloc((size_t)bins,
                                                                       sizeof(uint64_t));
    if (edges == NULL || hr == NULL || hc == NULL) {
        free(edges);
        free(hr);
        free(hc);
        json_decref(o);
        return NULL;
    }
    int ne = drift_hist_edges(a, m0, bins, edges);
    for (size_t i = 0; i < m0; i++) {
        hr[drift_hist_bin(edges, ne, a[i])]++;
    }
    for (size_t i = 0; i < m1; i++) {
        hc[drift_hist_bin(edges, ne, b[i])]++;
    }
    struct drift_colsum RB = {.nbins = ne + 1, .counts = hr}, CB = {.nbins = ne + 1, .counts = hc};
    static const char *const binned[] = {"psi", "kl", "js", "hellinger"};
    for (int s = 0; s < 4; s++) {
        json_object_set_new(o, binned[s],
                            run_stat(binned[s], &RB, &CB, 0, &res) == 0 ? jnum(res.statistic)
                                                                       : json_null());
    }
    free(edges);
    free(hr);
    free(hc);
    double pc = add_test(o, "cvm", "cvm", &R, &C, 0);
    double pa = add_test(o, "anderson", "anderson", &R, &C, 0);
    v->p = strcmp(test, "cvm") == 0 ? pc : strcmp(test, "anderson") == 0 ? pa : pk;
    if (isnan(v->p)) {
        snprintf(v->rule, sizeof(v->rule), "%s %s", test, cannot_run(test, m0, m1));
    }
    return o;
}

static json_t *score_categorical(struct col *c, size_t n0, size_t n1, struct verdict *v)
{
    json_t *o = json_object();
    int k = c->ncat > 0 ? c->ncat : 1;
    uint64_t *hr = calloc((size_t)k, sizeof(uint64_t)), *hc = calloc((size_t)k, sizeof(uint64_t));
    size_t m0 = 0, m1 = 0;
    if (hr == NULL || hc == NULL) {
        free(hr);
        free(hc);
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < n0; i++) {
        if (c->code[0][i] >= 0) {
            hr[c->code[0][i]]++;
            m0++;
        }
    }
    for (size_t i = 0; i < n1; i++) {
        if (c->code[1][i] >= 0) {
            hc[c->code[1][i]]++;
            m1++;
        }
    }
    json_t *miss = json_object();
    json_object_set_new(miss, "reference", json_integer((json_int_t)(n0 - m0)));
    json_object_set_new(miss, "current", json_integer((json_int_t)(n1 - m1)));
    json_object_set_new(o, "missing", miss);
    json_object_set_new(o, "categories", json_integer(c->ncat));
    v->p = NAN;
    if (m0 == 0 || m1 == 0) {
        snprintf(v->rule, sizeof(v->rule), "no values to compare (all missing in the %s file)",
                 m0 == 0 ? "reference" : "current");
        free(hr);
        free(hc);
        return o;
    }
    struct drift_colsum R = {.nbins = k, .counts = hr}, C = {.nbins = k, .counts = hc};
    struct drift_stat_result res;
    v->p = add_test(o, "chi2", "chi2", &R, &C, 1);
    if (isnan(v->p)) {
        snprintf(v->rule, sizeof(v->rule), "chi2 could not be computed");
    }
    static const char *const names[] = {"psi", "kl", "js", "hellinger", "linf", "unseen"};
    static const char *const keys[] = {"psi", "kl", "js", "hellinger", "linf", "unseen_share"};
    for (int s = 0; s < 6; s++) {
        json_object_set_new(o, keys[s],
                            run_stat(names[s], &R, &C, 0, &res) == 0 ? jnum(res.statistic)
                                                                    : json_null());
    }
    free(hr);
    free(hc);
    return o;
}

static void print_table(FILE *out, json_t *doc)
{
    fprintf(out, "reference rows %lld, current rows %lld\n\n",
            (long long)json_integer_value(json_object_get(doc, "reference_rows")),
            (long long)json_integer_value(json_object_get(doc, "current_rows")));
    fprintf(out, "%-24s %-11s %-9s %10s %11s %8s %8s %8s  %s\n", "feature", "type", "test",
            "statistic", "p-value", "psi", "js", "wass/sd", "drift");
    size_t i;
    json_t *f;
    json_t *ds0 = json_object_get(doc, "dataset");
    const char *test = json_string_value(json_object_get(ds0, "test"));
    json_array_foreach(json_object_get(doc, "features"), i, f)
    {
        const char *type = json_string_value(json_object_get(f, "type"));
        int num = strcmp(type, "numeric") == 0;
        json_t *t = json_object_get(f, num ? test : "chi2");
        double st = t ? json_number_value(json_object_get(t, "statistic")) : NAN;
        /* The p-value the verdict used: adjusted when a correction was asked for. */
        json_t *adj = json_object_get(f, "p_adjusted");
        double pv = adj ? json_number_value(adj)
                        : t ? json_number_value(json_object_get(t, "p_value")) : NAN;
        json_t *w = json_object_get(f, "wasserstein");
        fprintf(out, "%-24.24s %-11s %-9s %10.4g %11.4g ", json_string_value(
                json_object_get(f, "name")), type, num ? test : "chi2",
                t && json_is_number(json_object_get(t, "statistic")) ? st : NAN,
                adj || (t && json_is_number(json_object_get(t, "p_value"))) ? pv : NAN);
        /* Statistics that could not be computed are null in JSON and "-" here. */
        json_t *cells[3] = {json_object_get(f, "psi"), json_object_get(f, "js"),
                            num && w ? json_object_get(w, "normalized") : NULL};
        for (int c = 0; c < 3; c++) {
            if (json_is_number(cells[c])) {
                fprintf(out, "%8.4f ", json_number_value(cells[c]));
            } else {
                fprintf(out, "%8s ", "-");
            }
        }
        fprintf(out, " %s\n", json_is_true(json_object_get(f, "drift")) ? "DRIFT" : "-");
    }
    json_t *ds = json_object_get(doc, "dataset");
    fprintf(out, "\ndataset: %lld of %lld features drifted (share %.2f): %s\n",
            (long long)json_integer_value(json_object_get(ds, "drifted")),
            (long long)json_integer_value(json_object_get(ds, "features")),
            json_number_value(json_object_get(ds, "share")),
            json_is_true(json_object_get(ds, "drift")) ? "DATASET DRIFT" : "no dataset drift");
    const char *corr = json_string_value(json_object_get(ds, "correction"));
    if (corr != NULL && strcmp(corr, "none") != 0) {
        fprintf(out, "p-values adjusted across features (%s)\n", corr);
    }
}

/* Columns are independent: workers (one per CPU, the calling thread among them) take the next
 * column until none is left, each with sort scratch of its own, sized once for the longest
 * column (per-column buffers this size would be mapped and zeroed by the kernel again for each;
 * that was a quarter of the run time). Operators keep no global state, so they run side by side. */
struct scorer {
    struct col *cols;
    int ncols;
    size_t n0, n1;
    int bins;
    const char *test;
    struct verdict *vd;
    json_t **objs;   /* out: one object per column, NULL where memory ran out */
    int next;        /* the next column to take (atomic) */
};

static void *scorer_main(void *arg)
{
    struct scorer *s = arg;
    size_t nmax = s->n0 > s->n1 ? s->n0 : s->n1;
    uint64_t *k0 = malloc((nmax ? nmax : 1) * sizeof(uint64_t));
    uint64_t *k1 = malloc((nmax ? nmax : 1) * sizeof(uint64_t));
    for (;;) {
        int j = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED);
        if (j >= s->ncols) {
            break;
        }
        struct col *c = &s->cols[j];
        if (c->categorical) {
            s->objs[j] = score_categorical(c, s->n0, s->n1, &s->vd[j]);
        } else if (k0 != NULL && k1 != NULL) {
            s->objs[j] = score_numeric(c, s->n0, s->n1, s->bins, s->test, k0, k1, &s->vd[j]);
        }
    }
    free(k0);
    free(k1);
    return NULL;
}

static int score_columns(struct scorer *s)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = cpus < 1 ? 1 : cpus > 16 ? 16 : (int)cpus, started = 0;
    pthread_t th[16];
    if (nt > s->ncols) {
        nt = s->ncols;
    }
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&th[started], NULL, scorer_main, s) == 0) {
            started++;
        }
    }
    scorer_main(s);
    for (int t = 0; t < started; t++) {
        pthread_join(th[t], NULL);
    }
    for (int j = 0; j < s->ncols; j++) {
        if (s->objs[j] == NULL) {
            return DRIFT_ENOMEM;
        }
    }
    return 0;
}

int drift_score_main(apr_pool_t *pool, int argc, const char *const *argv)
{
    static const apr_getopt_option_t opts[] = {
        {"reference", 'r', 1, "reference CSV"},
        {"current", 'c', 1, "current CSV"},
        {"format", 'f', 1, "json or table (default: table on a terminal, else json)"},
        {"bins", 'b', 1, "bins for PSI/KL/JS/Hellinger (default 10)"},
        {"categorical", 'C', 1, "comma-separated columns to treat as categorical"},
        {"alpha", 'a', 1, "drift when the test's p-value < alpha (default 0.05)"},
        {"share", 's', 1, "dataset drift when drifted/features >= share (default 0.5)"},
        {"test", 't', 1, "numeric columns' drift test: ks, cvm or anderson (default ks)"},
        {"correction", 'm', 1, "p-value correction across features: none, bonferroni or bh"},
        {NULL, 0, 0, NULL},
    };
    const char *usage = "usage: driftd score --reference REF --current CUR "
                        "[--format json|table] [--bins B] [--categorical a,b] [--alpha A] "
                        "[--share S] [--test ks|cvm|anderson] [--correction none|bonferroni|bh]\n"
                        "REF and CUR are CSV files with a header row, or JSON lines\n";
    const char *ref = NULL, *cur = NULL, *format = NULL, *catlist = "", *test = "ks";
    int correction = 0;
    int bins = 10;
    double alpha = 0.05, share = 0.5;
    apr_getopt_t *os;
    apr_getopt_init(&os, pool, argc - 1, argv + 1);
    int opt;
    const char *arg;
    apr_status_t st;
    char *end;
    while ((st = apr_getopt_long(os, opts, &opt, &arg)) == APR_SUCCESS) {
        switch (opt) {
        case 'r': ref = arg; break;
        case 'c': cur = arg; break;
        case 'f': format = arg; break;
        case 'C': catlist = arg; break;
        case 't':
            if (strcmp(arg, "ks") != 0 && strcmp(arg, "cvm") != 0 && strcmp(arg, "anderson") != 0) {
                fprintf(stderr, "score: --test must be ks, cvm or anderson, got '%s'\n", arg);
                return 2;
            }
            test = arg;
            break;
        case 'm':
            if (strcmp(arg, "none") == 0) {
                correction = 0;
            } else if (strcmp(arg, "bonferroni") == 0) {
                correction = DRIFT_ADJUST_BONFERRONI;
            } else if (strcmp(arg, "bh") == 0) {
                correction = DRIFT_ADJUST_BH;
            } else {
                fprintf(stderr, "score: --correction must be none, bonferroni or bh, got '%s'\n",
                        arg);
                return 2;
            }
            break;
        case 'b':
            bins = (int)strtol(arg, &end, 10);
            if (*end || bins < 2 || bins > 1000) {
                fprintf(stderr, "score: --bins must be an integer in 2..1000, got '%s'\n", arg);
                return 2;
            }
            break;
        case 'a':
        case 's': {
            double v = strtod(arg, &end);
            if (*end || !(v > 0 && v <= 1)) {
                fprintf(stderr, "score: --%s must be a number in (0, 1], got '%s'\n",
                        opt == 'a' ? "alpha" : "share", arg);
                return 2;
            }
            *(opt == 'a' ? &alpha : &share) = v;
            break;
        }
        default: break;
        }
    }
    if (st != APR_EOF || os->ind != os->argc || ref == NULL || cur == NULL) {
        fputs(usage, stderr);
        return 2;
    }
    int as_json = format ? strcmp(format, "json") == 0 : !isatty(1);
    if (format && !as_json && strcmp(format, "table") != 0) {
        fprintf(stderr, "score: --format must be json or table, got '%s'\n", format);
        return 2;
    }
    struct file F[2] = {{.path = ref}, {.path = cur}};
    char err[512];
    int rc = 1;
    struct col *cols = NULL;
    int ncols = 0;
    for (int k = 0; k < 2; k++) {
        if (load_file(pool, &F[k], err, sizeof(err)) != 0) {
            fprintf(stderr, "score: %s\n", err);
            goto out;
        }
    }
    /* Columns present in both files, in the reference's order. */
    cols = calloc((size_t)F[0].ncols, sizeof(*cols));
    for (int i = 0; i < F[0].ncols; i++) {
        for (int j = 0; j < F[1].ncols; j++) {
            if (strcmp(F[0].names[i], F[1].names[j]) == 0) {
                struct col *c = &cols[ncols++];
                c->name = F[0].names[i];
                c->ci[0] = i;
                c->ci[1] = j;
                size_t nl = strlen(c->name), cl = strlen(catlist);
                for (const char *p = catlist; p < catlist + cl;) {
                    const char *q = strchr(p, ',');
                    size_t l = q ? (size_t)(q - p) : strlen(p);
                    if (l == nl && strncmp(p, c->name, l) == 0) {
                        c->categorical = 1;
                    }
                    p += l + 1;
                }
                break;
            }
        }
    }
    if (ncols == 0) {
        fprintf(stderr, "score: %s and %s have no column in common\n", ref, cur);
        goto out;
    }
    /* Both files at once: each reader writes only its own file's arrays and text flags. */
    struct reader rd[2];
    int *text = calloc((size_t)ncols * 2, sizeof(int));
    pthread_t th;
    int threaded = 0;
    for (int k = 0; k < 2; k++) {
        rd[k] = (struct reader){.f = &F[k], .k = k, .cols = cols, .ncols = ncols,
                                .text = text + (size_t)k * (size_t)ncols};
    }
    if (pthread_create(&th, NULL, reader_main, &rd[1]) == 0) {
        threaded = 1;
    } else {
        reader_main(&rd[1]);
    }
    reader_main(&rd[0]);
    if (threaded) {
        pthread_join(th, NULL);
    }
    for (int k = 0; k < 2; k++) {
        if (rd[k].rc != 0) {
            fprintf(stderr, "score: %s\n", rd[k].err);
            free(text);
            goto out;
        }
    }
    for (int j = 0; j < ncols; j++) {
        cols[j].categorical |= text[j] | text[ncols + j];
    }
    free(text);
    for (int j = 0; j < ncols; j++) {
        if (cols[j].categorical) {
            for (int k = 0; k < 2; k++) {
                free(cols[j].num[k]);
                cols[j].num[k] = NULL;
            }
            cols[j].dict = apr_hash_make(pool);
            for (int k = 0; k < 2; k++) {
                if (read_codes(pool, &F[k], k, &cols[j]) != 0) {
                    fprintf(stderr, "score: out of memory\n");
                    goto out;
                }
            }
        }
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "reference_rows", json_integer((json_int_t)F[0].nrows));
    json_object_set_new(doc, "current_rows", json_integer((json_int_t)F[1].nrows));
    json_t *features = json_array();
    struct verdict *vd = calloc((size_t)ncols, sizeof(*vd));
    json_t **objs = calloc((size_t)ncols, sizeof(json_t *));
    double *praw = malloc((size_t)ncols * sizeof(double)), *padj = malloc((size_t)ncols *
                                                                           sizeof(double));
    struct scorer sc = {.cols = cols, .ncols = ncols, .n0 = F[0].nrows, .n1 = F[1].nrows,
                        .bins = bins, .test = test, .vd = vd, .objs = objs};
    if (vd == NULL || objs == NULL || praw == NULL || padj == NULL || score_columns(&sc) != 0) {
        fprintf(stderr, "score: out of memory\n");
        for (int j = 0; objs != NULL && j < ncols; j++) {
            json_decref(objs[j]);
        }
        free(objs);
        free(vd);
        free(praw);
        free(padj);
        json_decref(doc);
        json_decref(features);
        goto out;
    }
    for (int j = 0; j < ncols; j++) {
        json_t *f = json_object();
        json_object_set_new(f, "name", json_string(cols[j].name));
        json_object_set_new(f, "type",
                            json_string(cols[j].categorical ? "categorical" : "numeric"));
        json_object_update(f, objs[j]);
        json_decref(objs[j]);
        json_array_append_new(features, f);
        praw[j] = vd[j].p;
    }
    free(objs);
    /* The verdicts: each feature's rule-test p-value, adjusted across the features that have
     * one when a correction is asked for, against alpha. */
    static const char *const cname[] = {"", "Bonferroni", "Benjamini-Hochberg"};
    int tested = 0, drifted = 0;
    for (int j = 0; j < ncols; j++) {
        tested += !isnan(praw[j]);
    }
    if (correction) {
        drift_pvalue_adjust(praw, (size_t)ncols, correction, padj);
    }
    for (int j = 0; j < ncols; j++) {
        json_t *f = json_array_get(features, (size_t)j);
        const char *t = cols[j].categorical ? "chi2" : test;
        int d = 0;
        if (!isnan(praw[j])) {
            double pj = correction ? padj[j] : praw[j];
            d = pj < alpha;
            if (correction) {
                json_object_set_new(f, "p_adjusted", jnum(pj));
                snprintf(vd[j].rule, sizeof(vd[j].rule), "%s p_value (%s-adjusted over %d) < %g",
                         t, cname[correction], tested, alpha);
            } else {
                snprintf(vd[j].rule, sizeof(vd[j].rule), "%s p_value < %g", t, alpha);
            }
        }
        json_object_set_new(f, "drift", json_boolean(d));
        json_object_set_new(f, "rule", json_string(vd[j].rule));
        drifted += d;
    }
    free(vd);
    free(praw);
    free(padj);
    json_object_set_new(doc, "features", features);
    json_t *ds = json_object();
    double sh = (double)drifted / ncols;
    json_object_set_new(ds, "features", json_integer(ncols));
    json_object_set_new(ds, "drifted", json_integer(drifted));
    json_object_set_new(ds, "share", json_real(sh));
    json_object_set_new(ds, "share_threshold", json_real(share));
    json_object_set_new(ds, "drift", json_boolean(sh >= share));
    json_object_set_new(ds, "test", json_string(test));
    static const char *const corr_key[] = {"none", "bonferroni", "bh"};
    json_object_set_new(ds, "correction", json_string(corr_key[correction]));
    json_object_set_new(doc, "dataset", ds);
    if (as_json) {
        json_dumpf(doc, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17));
        fputc('\n', stdout);
    } else {
        print_table(stdout, doc);
    }
    json_decref(doc);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    for (int j = 0; j < ncols; j++) {
        for (int k = 0; k < 2; k++) {
            free(cols[j].num[k]);
            free(cols[j].code[k]);
        }
    }
    free(cols);
    for (int k = 0; k < 2; k++) {
        if (F[k].buf != NULL) {
            munmap(F[k].buf, F[k].len);
        }
        free(F[k].row_off);
        free(F[k].row_line);
    }
    return rc;
}
