/* SPDX-License-Identifier: Apache-2.0 */
/* ctl.c - the control socket (see ctl.h). Answers are small; a client that
 * does not send its command line within a few seconds is dropped. */
#include "node/ctl.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"
#include "node/nodes.h"
#include "node/server.h"
#include "node/settings.h"

#define CTL_MAX_LINE 256
#define CTL_TIMEOUT_MS 5000

struct ctl_client {
    struct server *srv;
    int fd;
    uint64_t timer;
    size_t len;
    char line[CTL_MAX_LINE];
};

static void
ctl_client_close(struct ctl_client *cc)
{
    ev_del_fd(cc->srv->loop, cc->fd);
    ev_timer_del(cc->srv->loop, cc->timer);
    close(cc->fd);
    free(cc);
}

static void
ctl_client_timeout(struct ev_loop *loop, void *arg)
{
    struct ctl_client *cc = arg;
    (void)loop;
    cc->timer = 0;
    ctl_client_close(cc);
}

static void
ctl_answer(struct ctl_client *cc)
{
    struct buf out;
    buf_init(&out);
    cc->line[strcspn(cc->line, "\r\n")] = '\0';
    if (strcmp(cc->line, "status") == 0)
        nodes_status(cc->srv, &out);
    else
        buf_printf(&out, "error: unknown command '%s' (known: status)\n", cc->line);
    size_t off = 0;
    while (off < buf_used(&out)) {
        ssize_t w = send(cc->fd, buf_head(&out) + off, buf_used(&out) - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    buf_free(&out);
}

static void
ctl_on_client(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct ctl_client *cc = arg;
    (void)loop;
    (void)fd;
    (void)events;
    ssize_t n = read(cc->fd, cc->line + cc->len, sizeof cc->line - 1 - cc->len);
    if (n <= 0) {
        ctl_client_close(cc);
        return;
    }
    cc->len += (size_t)n;
    cc->line[cc->len] = '\0';
    if (strchr(cc->line, '\n') || cc->len == sizeof cc->line - 1) {
        ctl_answer(cc);
        ctl_client_close(cc);
    }
}

static void
ctl_on_accept(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
    struct server *srv = arg;
    (void)events;
    int cfd = accept(fd, NULL, NULL);
    if (cfd < 0)
        return;
    fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK);
    fcntl(cfd, F_SETFD, FD_CLOEXEC);
    struct ctl_client *cc = xcalloc(1, sizeof *cc);
    cc->srv = srv;
    cc->fd = cfd;
    cc->timer = ev_timer_add(loop, CTL_TIMEOUT_MS, ctl_client_timeout, cc);
    ev_add_fd(loop, cfd, EV_READ, ctl_on_client, cc);
}

int
ctl_start(struct server *srv, char *err, size_t errlen)
{
    const char *path = srv->cfg->ctl_socket;
    if (!path)
        return PAL_OK;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "control.socket: '%s' is too long for a Unix socket", path);
        return PAL_ECONFIG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path); /* a stale socket from a crashed run */
    mode_t old = umask(077);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || listen(fd, 16) != 0) {
        snprintf(err, errlen, "control.socket: cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return PAL_EIO;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ev_add_fd(srv->loop, fd, EV_READ, ctl_on_accept, srv);
    srv->ctl_fd = fd;
    srv->ctl_on = true;
    return PAL_OK;
}

void
ctl_stop(struct server *srv)
{
    if (!srv->ctl_on)
        return;
    ev_del_fd(srv->loop, srv->ctl_fd);
    close(srv->ctl_fd);
    srv->ctl_on = false;
    if (srv->cfg->ctl_socket)
        unlink(srv->cfg->ctl_socket);
}

int
ctl_request(const char *path, const char *cmd)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "palisadectl: control socket path too long: %s\n", path);
        return 1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr,
                "palisadectl: cannot reach the node at %s: %s (is it running, and is "
                "control.socket set in its config?)\n",
                path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    char line[CTL_MAX_LINE];
    snprintf(line, sizeof line, "%s\n", cmd);
    if (write(fd, line, strlen(line)) < 0) {
        close(fd);
        return 1;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    close(fd);
    return 0;
}
