/* libFuzzer target: the config loader (YAML parse, tables, cross-key checks, copy) on arbitrary
 * bytes. A load either succeeds with a config or reports at least one error, never both. */
#include <apr_general.h>
#include <apr_pools.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

static apr_pool_t *root;

static void count(void *ctx, const char *msg)
{
    (*(int *)ctx)++;
    if (msg == NULL || msg[0] == '\0') {
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (root == NULL) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_t *pool;
    apr_pool_create(&pool, root);
    struct drift_config *cfg = NULL;
    int errors = 0;
    int rc = drift_config_load_buffer(pool, "fuzz.yaml", (const char *)data, size, &cfg, count,
                                      &errors);
    if ((rc == 0) != (cfg != NULL) || (rc != 0 && rc != -errors) || (rc == 0 && errors != 0)) {
        __builtin_trap();
    }
    apr_pool_destroy(pool);
    return 0;
}
