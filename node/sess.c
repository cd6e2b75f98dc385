/* SPDX-License-Identifier: Apache-2.0 */
/* sess.c - the session table: bound resources by full JID, and per bare JID a
 * list threaded through next_of_bare, so routing to a full JID and fanning out
 * to every resource of an account are both one hash lookup. The table never
 * owns a session: c2s creates and frees them and keeps the table in step. */
#include "node/sess.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "node/hash.h"

struct sess_table {
    struct hash *by_full; /* full JID -> struct sess */
    struct hash *by_bare; /* bare JID -> first struct sess of that account */
};

struct sess_table *
sess_table_new(void)
{
    struct sess_table *t = xcalloc(1, sizeof *t);

    t->by_full = hash_new();
    t->by_bare = hash_new();
    return t;
}

void
sess_table_free(struct sess_table *t)
{
    if (t == NULL)
        return;
    hash_free(t->by_full);
    hash_free(t->by_bare);
    free(t);
}

struct sess *
sess_table_add(struct sess_table *t, struct sess *s)
{
    struct sess *old = hash_get(t->by_full, s->jid->full);

    if (old == s)
        return NULL; /* already indexed */
    if (old != NULL)
        sess_table_del(t, old);
    hash_put(t->by_full, s->jid->full, s);
    /* Newest first: the list order carries no meaning for routing. */
    s->next_of_bare = hash_get(t->by_bare, s->jid->bare);
    hash_put(t->by_bare, s->jid->bare, s);
    return old;
}

void
sess_table_del(struct sess_table *t, struct sess *s)
{
    struct sess *head;
    struct sess **ps;

    if (hash_get(t->by_full, s->jid->full) != s)
        return; /* not indexed (or replaced by a newer session) */
    hash_del(t->by_full, s->jid->full);
    head = hash_get(t->by_bare, s->jid->bare);
    for (ps = &head; *ps != NULL; ps = &(*ps)->next_of_bare) {
        if (*ps == s) {
            *ps = s->next_of_bare;
            break;
        }
    }
    if (head != NULL)
        hash_put(t->by_bare, s->jid->bare, head);
    else
        hash_del(t->by_bare, s->jid->bare);
    s->next_of_bare = NULL;
}

struct sess *
sess_table_find(struct sess_table *t, const char *full_jid)
{
    return hash_get(t->by_full, full_jid);
}

struct sess *
sess_table_bare(struct sess_table *t, const char *bare_jid)
{
    return hash_get(t->by_bare, bare_jid);
}

struct sess **
sess_table_all(const struct sess_table *t, size_t *n)
{
    return (struct sess **)hash_values(t->by_full, n);
}

size_t
sess_table_count(const struct sess_table *t)
{
    return hash_count(t->by_full);
}

static size_t
sess_directed_index(const struct sess *s, const char *full_jid)
{
    size_t i;

    for (i = 0; i < s->n_directed; i++)
        if (strcmp(s->directed[i], full_jid) == 0)
            break;
    return i;
}

void
sess_directed_add(struct sess *s, const char *full_jid)
{
    if (sess_directed_index(s, full_jid) < s->n_directed)
        return;
    /* Directed presence targets are few (rooms, a peer or two): grow by one. */
    s->directed = xrealloc(s->directed, (s->n_directed + 1) * sizeof *s->directed);
    s->directed[s->n_directed++] = xstrdup(full_jid);
}

void
sess_directed_del(struct sess *s, const char *full_jid)
{
    size_t i = sess_directed_index(s, full_jid);

    if (i == s->n_directed)
        return;
    free(s->directed[i]);
    s->directed[i] = s->directed[--s->n_directed];
    if (s->n_directed == 0) {
        free(s->directed);
        s->directed = NULL;
    }
}
