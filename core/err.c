/* SPDX-License-Identifier: Apache-2.0 */
/* err.c - text for PAL_* result codes, for log lines ("error=..."). */
#include "err.h"

#include <string.h>

const char *
pal_strerror(int code)
{
    switch (code) {
    case PAL_OK:
        return "success";
    case PAL_EMALFORMED:
        return "malformed input";
    case PAL_EDENIED:
        return "denied";
    case PAL_ELDAP:
        return "directory failure";
    case PAL_ELIMIT:
        return "limit exceeded";
    case PAL_ECONFIG:
        return "bad configuration";
    case PAL_ETLS:
        return "TLS failure";
    case PAL_EPOLICY:
        return "security policy missing or invalid";
    case PAL_ENOMEM:
        return "out of memory";
    case PAL_EINVAL:
        return "invalid argument";
    case PAL_EIO:
        return "I/O error";
    case PAL_ENOENT:
        return "not found";
    case PAL_EAGAIN:
        return "try again";
    case PAL_ERANGE:
        return "out of range";
    case PAL_EEXIST:
        return "already exists";
    case PAL_ETIMEDOUT:
        return "timed out";
    default:
        break;
    }
    /* glibc returns static strings for known errno values and "Unknown
     * error N" in a thread-local buffer otherwise; the loop is single-threaded. */
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}
