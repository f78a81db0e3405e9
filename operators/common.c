/*
 * Error codes and messages shared by every operator and the engine. Kept in operators/ because
 * operators return these codes too and must not depend on engine code.
 */
#include <stdarg.h>
#include <stdio.h>

#include "drift_op.h"

const char *drift_strerror(int rc)
{
    switch (rc) {
    case DRIFT_OK:
        return "success";
    case DRIFT_EINVAL:
        return "invalid argument";
    case DRIFT_ENOMEM:
        return "out of memory";
    case DRIFT_ERANGE:
        return "value out of range";
    case DRIFT_EIO:
        return "input/output error";
    case DRIFT_ESTATE:
        return "corrupt or incompatible state";
    case DRIFT_EEXIST:
        return "already exists";
    case DRIFT_ENOENT:
        return "not found";
    case DRIFT_EPARSE:
        return "malformed input";
    case DRIFT_EAGAIN:
        return "try again later";
    case DRIFT_EFAULT:
        return "external system failed";
    default:
        return "unknown error";
    }
}

int drift_seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}
