/* Every registered detector's update never allocates: malloc, calloc and realloc are counted
 * (this executable's definitions come before glibc's and forward to it) while each detector
 * takes 20,000 values with changes in them, detections and resets included. Skipped under
 * AddressSanitizer, which owns the allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "drift_op.h"

#if defined(__SANITIZE_ADDRESS__)
#define NOALLOC_SKIP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NOALLOC_SKIP 1
#endif
#endif

#ifndef NOALLOC_SKIP
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t s);
extern void *__libc_realloc(void *p, size_t n);
static int counting;
static long allocs;

void *malloc(size_t n)
{
    allocs += counting;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t s)
{
    allocs += counting;
    return __libc_calloc(n, s);
}

void *realloc(void *p, size_t n)
{
    allocs += counting;
    return __libc_realloc(p, n);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
#endif

static void test_update_never_allocates(void **state)
{
    (void)state;
#ifdef NOALLOC_SKIP
    skip();
#else
    int n = 0;
    for (int k = 0; drift_detectors[k] != NULL; k++, n++) {
        const struct drift_detector_ops *ops = drift_detectors[k];
        char err[256];
        struct drift_detector *d = ops->create(NULL, 0, err, sizeof(err));
        assert_non_null(d);
        long detections = 0;
        counting = 1;
        allocs = 0;
        for (int i = 0; i < 20000; i++) {
            /* Error rate or mean changes every 4000 values; some NaN among them. */
            double level = (i / 4000) % 2 ? 0.4 : 0.05;
            double x = unif() < level ? 1.0 : 0.0;
            if (i % 997 == 0) {
                x = NAN;
            }
            detections += (ops->update(d, x) & DRIFT_DETECT_DRIFT) != 0;
        }
        counting = 0;
        if (allocs != 0) {
            fail_msg("%s: %ld allocations during 20000 updates", ops->name, allocs);
        }
        if (detections == 0) {
            fail_msg("%s: no detection, so the reset path was not exercised", ops->name);
        }
        ops->destroy(d);
    }
    assert_int_equal(n, 8);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_never_allocates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
