/*
 * `driftd detect NAME [--param KEY=VALUE]... [FILE]`: one sequential detector over a stream of
 * numbers, one per line (standard input without FILE). Prints "INDEX drift" after the value at
 * 0-based INDEX when the detector signals drift and "INDEX warning" for every index in its
 * warning zone; drift first when both hold. Blank lines are skipped and take no index; a line
 * that is not a number stops the run with its file and line number (exit 1). NaN and ±inf take
 * an index and are ignored by the detectors. Also `driftd format`, a preview of webhook bodies.
 */
#include <apr_pools.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "formats.h"

#define MAX_PARAMS 32

static void detect_usage(FILE *f)
{
    fprintf(f, "usage: driftd detect NAME [--param KEY=VALUE]... [FILE]\n"
               "       driftd detect --list\n"
               "detectors:\n");
    for (int i = 0; drift_detectors[i] != NULL; i++) {
        fprintf(f, "  %-13s %s\n  %-13s %s\n", drift_detectors[i]->name,
                drift_detectors[i]->description, "", drift_detectors[i]->params);
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

int drift_detect_main(apr_pool_t *pool, int argc, const char *const *argv)
{
    (void)pool;
    const char *name = NULL, *path = NULL;
    struct drift_param params[MAX_PARAMS];
    int np = 0;
    char keybuf[MAX_PARAMS][64];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--list") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            detect_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--param") == 0 || strcmp(a, "-p") == 0 || strncmp(a, "--param=", 8) == 0) {
            int inline_kv = strncmp(a, "--param=", 8) == 0;
            const char *kv = inline_kv ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            const char *eq = kv ? strchr(kv, '=') : NULL;
            if (kv == NULL || eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(keybuf[0])) {
                fprintf(stderr, "detect: --param needs KEY=VALUE, got '%s'\n", kv ? kv : "");
                return 2;
            }
            if (np == MAX_PARAMS) {
                fprintf(stderr, "detect: more than %d parameters\n", MAX_PARAMS);
                return 2;
            }
            memcpy(keybuf[np], kv, (size_t)(eq - kv));
            keybuf[np][eq - kv] = '\0';
            params[np].key = keybuf[np];
            params[np].value = eq + 1;
            np++;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "detect: unknown option '%s'\n", a);
            detect_usage(stderr);
            return 2;
        } else if (name == NULL) {
            name = a;
        } else if (path == NULL) {
            path = a;
        } else {
            fprintf(stderr, "detect: unexpected argument '%s' (one FILE at most)\n", a);
            return 2;
        }
    }
    if (name == NULL) {
        detect_usage(stderr);
        return 2;
    }
    const struct drift_detector_ops *ops = drift_detector_find(name);
    if (ops == NULL) {
        fprintf(stderr, "detect: unknown detector '%s' (known:", name);
        for (int i = 0; drift_detectors[i] != NULL; i++) {
            fprintf(stderr, " %s", drift_detectors[i]->name);
        }
        fprintf(stderr, ")\n");
        return 2;
    }
    char err[512] = "";
    struct drift_detector *d = ops->create(params, np, err, sizeof(err));
    if (d == NULL) {
        fprintf(stderr, "detect: %s\n", err);
        return 2;
    }
    FILE *in = stdin;
    if (path != NULL && strcmp(path, "-") != 0) {
        in = fopen(path, "r");
        if (in == NULL) {
            fprintf(stderr, "detect: %s: %s\n", path, strerror(errno));
            ops->destroy(d);
            return 1;
        }
    }
    const char *shown = path != NULL ? path : "<stdin>";
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    unsigned long long index = 0;
    int rc = 0;
    while (getline(&line, &cap, in) > 0) {
        lineno++;
        char *s = trim(line), *end;
        if (*s == '\0') {
            continue;
        }
        double x = strtod(s, &end);
        if (*end != '\0') {
            fflush(stdout);
            fprintf(stderr, "detect: %s:%ld: expected a number, got \"%.40s\"\n", shown, lineno, s);
            rc = 1;
            break;
        }
        int r = ops->update(d, x);
        if (r & DRIFT_DETECT_DRIFT) {
            printf("%llu drift\n", index);
        }
        if (r & DRIFT_DETECT_WARNING) {
            printf("%llu warning\n", index);
        }
        index++;
    }
    if (rc == 0 && ferror(in)) {
        fprintf(stderr, "detect: %s: read error\n", shown);
        rc = 1;
    }
    fflush(stdout);
    free(line);
    if (in != stdin) {
        fclose(in);
    }
    ops->destroy(d);
    return rc;
}

/* `driftd format FORMAT [FILE]`: the body a webhook of that format would receive for a trigger
 * payload (driftd's json, e.g. a replay trigger's "payload"), for previews and receiver tests.
 * --severity, --event-type and --routing-key stand in for the target's settings. */
int drift_format_main(apr_pool_t *pool, int argc, const char *const *argv)
{
    (void)pool;
    const char *fmt = NULL, *path = NULL;
    struct drift_format_opts o = {.severity = "warning", .event_type = "driftd-retrain",
                                  .routing_key = "ROUTING_KEY"};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--severity") == 0      ? &o.severity
                            : strcmp(a, "--event-type") == 0  ? &o.event_type
                            : strcmp(a, "--routing-key") == 0 ? &o.routing_key
                                                              : NULL;
        if (slot != NULL && i + 1 < argc) {
            *slot = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "format: unknown option '%s'\n", a);
            return 2;
        } else if (fmt == NULL) {
            fmt = a;
        } else if (path == NULL) {
            path = a;
        } else {
            fprintf(stderr, "format: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    o.format = -1;
    for (int i = 0; fmt != NULL && drift_format_names[i] != NULL; i++) {
        if (strcmp(drift_format_names[i], fmt) == 0) {
            o.format = i;
        }
    }
    if (o.format < 0) {
        fprintf(stderr, "usage: driftd format FORMAT [FILE] [--severity warning|critical] "
                        "[--event-type T] [--routing-key K]\nformats:");
        for (int i = 0; drift_format_names[i] != NULL; i++) {
            fprintf(stderr, " %s", drift_format_names[i]);
        }
        fprintf(stderr, "\n");
        return 2;
    }
    FILE *in = path != NULL && strcmp(path, "-") != 0 ? fopen(path, "r") : stdin;
    if (in == NULL) {
        fprintf(stderr, "format: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, in)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (in != stdin) {
        fclose(in);
    }
    if (buf == NULL) {
        fprintf(stderr, "format: out of memory\n");
        return 1;
    }
    buf[n] = '\0';
    const char *ct;
    char err[256];
    char *body = drift_format_body(buf, &o, &ct, err, sizeof(err));
    free(buf);
    if (body == NULL) {
        fprintf(stderr, "format: %s\n", err);
        return 1;
    }
    printf("%s\n", body);
    free(body);
    return 0;
}
