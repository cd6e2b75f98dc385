/* SPDX-License-Identifier: Apache-2.0 */
/* server.c - small helpers on the node context. */
#include "node/server.h"

#include <string.h>

uint64_t
server_next_id(struct server *srv)
{
    return ++srv->next_id;
}

bool
server_is_local_domain(const struct server *srv, const char *domain)
{
    for (size_t i = 0; i < srv->cfg->domains.n; i++)
        if (strcmp(srv->cfg->domains.v[i], domain) == 0)
            return true;
    return false;
}
