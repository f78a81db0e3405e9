/*
 * KEY=VALUE parameters of the detectors: one table per detector, defaults applied first, every
 * error naming the detector, the key, the value and what is allowed.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "drift_op.h"

static void allowed(const struct drift_param_spec *spec, int nspec, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < nspec && o < len; i++) {
        int w = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", spec[i].key);
        if (w < 0) {
            break;
        }
        o += (size_t)w;
    }
}

static void range_text(const struct drift_param_spec *s, char *buf, size_t len)
{
    char lo[32], hi[32];
    snprintf(lo, sizeof(lo), "%.17g", s->lo);
    snprintf(hi, sizeof(hi), "%.17g", s->hi);
    if (isinf(s->hi)) {
        snprintf(buf, len, "%s %s", (s->flags & DRIFT_PARAM_LO_OPEN) ? ">" : ">=", lo);
    } else {
        snprintf(buf, len, "in %s%s, %s%s", (s->flags & DRIFT_PARAM_LO_OPEN) ? "(" : "[", lo, hi,
                 (s->flags & DRIFT_PARAM_HI_OPEN) ? ")" : "]");
    }
}

static int in_range(const struct drift_param_spec *s, double v)
{
    if ((s->flags & DRIFT_PARAM_LO_OPEN) ? !(v > s->lo) : !(v >= s->lo)) {
        return 0;
    }
    return (s->flags & DRIFT_PARAM_HI_OPEN) ? v < s->hi : v <= s->hi;
}

/* Parses text as spec's type into out; 0 or DRIFT_EINVAL with err set. */
static int set_one(const char *det, const struct drift_param_spec *s, const char *text, void *out,
                   char *err, size_t errlen)
{
    char *base = out, rng[96];
    char *end;
    switch (s->type) {
    case DRIFT_PARAM_NUM: {
        errno = 0;
        double v = strtod(text, &end);
        range_text(s, rng, sizeof(rng));
        if (text[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v) || !in_range(s, v)) {
            return drift_seterr(err, errlen, DRIFT_EINVAL, "%s: %s must be a number %s, got '%s'",
                                det, s->key, rng, text);
        }
        memcpy(base + s->offset, &v, sizeof(v));
        return 0;
    }
    case DRIFT_PARAM_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        range_text(s, rng, sizeof(rng));
        if (text[0] == '\0' || *end != '\0' || errno == ERANGE || !in_range(s, (double)v)) {
            return drift_seterr(err, errlen, DRIFT_EINVAL, "%s: %s must be an integer %s, got '%s'",
                                det, s->key, rng, text);
        }
        memcpy(base + s->offset, &v, sizeof(v));
        return 0;
    }
    case DRIFT_PARAM_BOOL: {
        int v;
        if (strcasecmp(text, "true") == 0 || strcmp(text, "1") == 0) {
            v = 1;
        } else if (strcasecmp(text, "false") == 0 || strcmp(text, "0") == 0) {
            v = 0;
        } else {
            return drift_seterr(err, errlen, DRIFT_EINVAL,
                                "%s: %s must be true or false, got '%s'", det, s->key, text);
        }
        memcpy(base + s->offset, &v, sizeof(v));
        return 0;
    }
    case DRIFT_PARAM_ENUM: {
        const char *c = s->choices;
        size_t tl = strlen(text);
        for (int idx = 0; *c; idx++) {
            size_t l = strcspn(c, "|");
            if (l == tl && strncmp(c, text, l) == 0) {
                memcpy(base + s->offset, &idx, sizeof(idx));
                return 0;
            }
            c += l + (c[l] == '|');
        }
        return drift_seterr(err, errlen, DRIFT_EINVAL, "%s: %s must be one of %s, got '%s'", det,
                            s->key, s->choices, text);
    }
    }
    return DRIFT_EINVAL;
}

int drift_params_parse(const char *detector, const struct drift_param_spec *spec, int nspec,
                       const struct drift_param *p, int np, void *out, char *err, size_t errlen)
{
    for (int i = 0; i < nspec; i++) {
        int rc = set_one(detector, &spec[i], spec[i].def, out, err, errlen);
        if (rc != 0) {
            return rc; /* a bad default: a bug in the table */
        }
    }
    for (int j = 0; j < np; j++) {
        int found = -1;
        for (int i = 0; i < nspec; i++) {
            if (strcmp(p[j].key, spec[i].key) == 0) {
                found = i;
            }
        }
        if (found < 0) {
            char list[512];
            allowed(spec, nspec, list, sizeof(list));
            return drift_seterr(err, errlen, DRIFT_EINVAL,
                                "%s: unknown parameter '%s' (allowed: %s)", detector, p[j].key,
                                nspec ? list : "none");
        }
        for (int k = 0; k < j; k++) {
            if (strcmp(p[k].key, p[j].key) == 0) {
                return drift_seterr(err, errlen, DRIFT_EINVAL, "%s: %s given twice", detector,
                                    p[j].key);
            }
        }
        int rc = set_one(detector, &spec[found], p[j].value, out, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
