/* Reading golden lines written by tests/golden/gen_spine.py: numbers separated by spaces, groups
 * separated by " | ". Shared by the operator tests; header-only. */
#ifndef TEST_GOLDEN_H
#define TEST_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses up to max numbers of group g (0-based) of line into out; returns the count. */
static inline size_t golden_group(const char *line, int g, double *out, size_t max)
{
    const char *p = line;
    for (int i = 0; i < g; i++) {
        p = strstr(p, " | ");
        if (p == NULL) {
            return 0;
        }
        p += 3;
    }
    const char *end = strstr(p, " | ");
    size_t n = 0;
    while (*p && (end == NULL || p < end) && *p != '\n' && n < max) {
        char *q;
        double v = strtod(p, &q);
        if (q == p) {
            p++;
            continue;
        }
        out[n++] = v;
        p = q;
    }
    return n;
}

static inline FILE *golden_open(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "tests/golden/%s", name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s (run the tests from the repository root)\n", path);
    }
    return f;
}

#endif
