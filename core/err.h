/* SPDX-License-Identifier: Apache-2.0 */
/* err.h - project-wide result codes. Fallible functions return PAL_OK (0) or a
 * negative PAL_E* code: errno-mirroring codes plus domain codes. */
#ifndef PALISADE_ERR_H
#define PALISADE_ERR_H

#include <errno.h>

enum pal_err {
    PAL_OK = 0,
    PAL_ENOMEM = -ENOMEM,
    PAL_EINVAL = -EINVAL,
    PAL_EIO = -EIO,
    PAL_ENOENT = -ENOENT,
    PAL_EAGAIN = -EAGAIN,
    PAL_ERANGE = -ERANGE,
    PAL_EEXIST = -EEXIST,
    PAL_ETIMEDOUT = -ETIMEDOUT,
    PAL_EMALFORMED = -1000, /* input does not parse */
    PAL_EDENIED = -1001,    /* refused by policy or credentials */
    PAL_ELDAP = -1002,      /* directory unreachable or failed */
    PAL_ELIMIT = -1003,     /* a configured limit was exceeded */
    PAL_ECONFIG = -1004,    /* bad configuration */
    PAL_ETLS = -1005,       /* TLS failure */
    PAL_EPOLICY = -1006,    /* security policy missing or invalid */
};

/* Static text for a PAL_* code (or any negative errno); never NULL. */
const char *pal_strerror(int code);

#endif
