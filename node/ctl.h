/* SPDX-License-Identifier: Apache-2.0 */
/* ctl.h - the node's control socket (control.socket, a Unix socket with mode
 * 0600) for palisadectl: one command line in, a text answer out, then close.
 * Commands: "status" (this node, the cluster members and their sessions). */
#ifndef PALISADE_CTL_H
#define PALISADE_CTL_H

#include <stddef.h>

struct server;

/* Listens on srv->cfg->ctl_socket when set. PAL_OK or an error in err. */
int ctl_start(struct server *srv, char *err, size_t errlen);
void ctl_stop(struct server *srv);

/* palisadectl's side: sends cmd to the socket at path and writes the answer to
 * stdout. 0 on success, 1 when the node cannot be reached (message on stderr). */
int ctl_request(const char *path, const char *cmd);

#endif
