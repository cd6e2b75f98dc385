/* SPDX-License-Identifier: Apache-2.0 */
/* labels.c - security labels on the stanza path (see labels.h). The router
 * calls labels_outbound() for every stanza a local session sends and
 * labels_may_read() before any copy for a receiver is made; message delivery
 * and the offline store call it too, so a clearance lowered while a message
 * waits offline stops it. Decisions are policy/'s; every one is logged:
 * "policy decision check=read verdict=deny reason=... stanza=... jid=...". */
#include "node/labels.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/ev.h"
#include "core/jid.h"
#include "core/log.h"
#include "core/mem.h"
#include "directory/directory.h"
#include "node/features.h"
#include "node/hash.h"
#include "node/muc.h"
#include "node/router.h"
#include "node/server.h"
#include "node/sess.h"
#include "node/settings.h"
#include "node/stanza.h"
#include "policy/policy.h"

#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define CAPS_ID_PREFIX "palisade-caps-"
#define CAPS_WAIT_MS 2000

/* Parsing a clearance or a label and building an envelope cost hundreds of
 * microseconds (the policy OIDs go through BIGNUM text conversions); a
 * deployment has a handful of distinct clearances and labels, so each is
 * parsed once. The policies never change while a node runs, so cached
 * results stay true; the caches are emptied when they grow past a bound. */
#define LABELS_CACHE_MAX 4096

struct labels_cached {
    struct policy_label *label;
    struct policy_decision valid;
    struct xml_tree *envelope; /* the server's <securitylabel/>, NULL until built */
    struct buf wire;           /* ... and its serialization in a jabber:client stanza */
    char *marking;             /* its display marking, NULL until needed */
};

struct labels_cache {
    struct hash *clearances; /* hex of the DER -> struct policy_clearance */
    struct hash *labels;     /* base64 of the DER -> struct labels_cached */
};

struct labels_wait {
    struct server *srv;
    struct sess *sess;
    uint64_t timer;
};

int
labels_init(struct server *srv, char *err, size_t errlen)
{
    const struct config_strlist *files = &srv->cfg->policy_spif;
    if (files->n == 0) {
        srv->policy = NULL;
        log_notice("policy none (labelled stanzas will be refused: set policy.spif)");
        return PAL_OK;
    }
    struct policy_set *set = policy_set_new();
    for (size_t i = 0; i < files->n; i++) {
        int rc = policy_set_load(set, files->v[i], err, errlen);
        if (rc != PAL_OK) {
            policy_set_free(set);
            return rc;
        }
    }
    for (size_t i = 0; i < policy_set_count(set); i++) {
        const struct policy *p = policy_set_get(set, i);
        log_notice("policy loaded name=\"%s\" oid=%s classifications=%zu categories=%zu",
                   policy_name(p), policy_oid(p), policy_class_count(p),
                   policy_category_count(p));
    }
    srv->policy = set;
    return PAL_OK;
}

static void
labels_cache_clear(struct labels_cache *lc)
{
    size_t n = 0;
    void **v = hash_values(lc->clearances, &n);
    for (size_t i = 0; i < n; i++)
        policy_clearance_free(v[i]);
    free(v);
    v = hash_values(lc->labels, &n);
    for (size_t i = 0; i < n; i++) {
        struct labels_cached *e = v[i];
        policy_label_free(e->label);
        xml_tree_free(e->envelope);
        buf_free(&e->wire);
        free(e->marking);
        free(e);
    }
    free(v);
    hash_free(lc->clearances);
    hash_free(lc->labels);
    lc->clearances = hash_new();
    lc->labels = hash_new();
}

static struct labels_cache *
labels_cache(struct server *srv)
{
    if (!srv->label_cache) {
        srv->label_cache = xcalloc(1, sizeof *srv->label_cache);
        srv->label_cache->clearances = hash_new();
        srv->label_cache->labels = hash_new();
    }
    return srv->label_cache;
}

void
labels_free(struct server *srv)
{
    if (srv->label_cache) {
        labels_cache_clear(srv->label_cache);
        hash_free(srv->label_cache->clearances);
        hash_free(srv->label_cache->labels);
        free(srv->label_cache);
        srv->label_cache = NULL;
    }
    policy_set_free(srv->policy);
    srv->policy = NULL;
}

/* The parsed clearance of a DER value (borrowed from the cache), or NULL when
 * it does not parse. */
static const struct policy_clearance *
labels_clearance(struct server *srv, const unsigned char *der, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    struct labels_cache *lc = labels_cache(srv);
    char stack[512];
    char *key = 2 * len + 1 <= sizeof stack ? stack : xmalloc(2 * len + 1);
    for (size_t i = 0; i < len; i++) {
        key[2 * i] = hex[der[i] >> 4];
        key[2 * i + 1] = hex[der[i] & 15];
    }
    key[2 * len] = '\0';
    struct policy_clearance *c = hash_get(lc->clearances, key);
    if (!c && policy_clearance_from_der(der, len, &c) == PAL_OK)
        hash_put(lc->clearances, key, c);
    if (key != stack)
        free(key);
    return c;
}

/* The cache entry of a label given as base64 DER (the text of an
 * <esssecuritylabel/>), parsing it on first sight; NULL when it does not
 * parse. */
static struct labels_cached *
labels_cached_b64(struct server *srv, const char *b64)
{
    struct labels_cache *lc = labels_cache(srv);
    struct labels_cached *e = hash_get(lc->labels, b64);
    if (e)
        return e;
    struct policy_label *l = NULL;
    if (policy_label_from_base64(b64, strlen(b64), &l) != PAL_OK)
        return NULL;
    e = xcalloc(1, sizeof *e);
    buf_init(&e->wire);
    e->label = l;
    e->valid = srv->policy ? policy_label_validate(srv->policy, l)
                           : (struct policy_decision){POLICY_DENY_BAD_LABEL, 0};
    hash_put(lc->labels, b64, e);
    return e;
}

static struct labels_cached *
labels_cached_der(struct server *srv, const unsigned char *der, size_t len)
{
    char *b64 = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
    struct labels_cached *e = labels_cached_b64(srv, b64);
    free(b64);
    return e;
}

/* Called before a lookup that may add entries, never while a borrowed
 * pointer from the cache is held. */
static void
labels_cache_trim(struct server *srv)
{
    struct labels_cache *lc = labels_cache(srv);
    if (hash_count(lc->clearances) + hash_count(lc->labels) > LABELS_CACHE_MAX)
        labels_cache_clear(lc);
}

bool
labels_enabled(const struct server *srv)
{
    return srv->policy != NULL;
}

/* ---- clearances ---- */

struct clearances {
    size_t n;
    struct policy_clearance **v; /* borrowed from the cache */
    bool unreadable; /* a value did not parse: fail closed */
};

/* xmppClearance values (a user's or a room's), borrowed from the cache until
 * clearances_clear(). */
static void
clearances_load_values(struct server *srv, const struct dir_der *v, size_t n,
                       struct clearances *c)
{
    memset(c, 0, sizeof *c);
    if (n == 0)
        return;
    c->v = xcalloc(n, sizeof *c->v);
    for (size_t i = 0; i < n; i++) {
        const struct policy_clearance *pc = labels_clearance(srv, v[i].der, v[i].len);
        if (!pc) {
            c->unreadable = true;
            continue;
        }
        c->v[c->n++] = (struct policy_clearance *)pc;
    }
}

static void
clearances_load(struct server *srv, const struct dir_user *u, struct clearances *c)
{
    clearances_load_values(srv, u ? u->clearance : NULL, u ? u->n_clearance : 0, c);
}

static void
clearances_clear(struct clearances *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* ---- the label of a stanza ---- */

static struct xml_node *
labels_element(const struct stanza *st)
{
    return xml_child(st->el, POLICY_NS_SECLABEL, "securitylabel");
}

/* The parsed label (cached on the stanza), or NULL when unlabelled; *bad is
 * set when there is a label element we cannot read. *entry (when asked)
 * gets the label's cache entry if it came through the cache. */
static const struct policy_label *
labels_of(struct server *srv, struct stanza *st, bool *bad, struct labels_cached **entry)
{
    *bad = false;
    if (entry)
        *entry = NULL;
    if (st->label_state == 0) {
        struct xml_node *el = labels_element(st);
        struct xml_node *lab = el ? xml_child(el, POLICY_NS_SECLABEL, "label") : NULL;
        struct xml_node *ess = lab ? xml_child(lab, POLICY_NS_ESS, "esssecuritylabel") : NULL;
        const char *b64 = ess ? xml_text(st->tree, ess) : NULL;
        struct labels_cached *e = b64 && b64[0] ? labels_cached_b64(srv, b64) : NULL;
        if (!el) {
            st->label_state = 1;
        } else if (e) {
            st->label = policy_label_dup(e->label);
            st->label_state = 2;
            if (e->marking) /* built once per label, not once per stanza */
                st->label_marking = xstrdup(e->marking);
            if (entry)
                *entry = e;
        } else {
            struct policy_label *l = NULL;
            char *marking = NULL;
            if (policy_label_from_xep258(el, &l, &marking) != PAL_OK) {
                st->label_state = 3;
            } else if (!l) {
                st->label_state = 1; /* an empty <label/>: unlabelled */
            } else {
                st->label = l;
                st->label_state = 2;
            }
            free(marking);
        }
    }
    *bad = st->label_state == 3;
    return st->label_state == 2 ? st->label : NULL;
}

/* The display marking of l from the policy ("?" when it has none); caller
 * frees. */
static char *
labels_marking_new(struct server *srv, const struct policy_label *l)
{
    struct policy_marking m = {0};
    char *text = NULL;
    if (srv->policy && policy_display_marking(srv->policy, l, &m) == PAL_OK && m.text)
        text = xstrdup(m.text);
    policy_marking_clear(&m);
    return text ? text : xstrdup("?");
}

/* A cached label's marking, built once per label. */
static const char *
labels_entry_marking(struct server *srv, struct labels_cached *e)
{
    if (!e->marking)
        e->marking = labels_marking_new(srv, e->label);
    return e->marking;
}

/* The marking of the stanza's own label (l = what labels_of returned), built
 * once per stanza, or taken from the label cache when labels_of had it. */
static const char *
labels_stanza_marking(struct server *srv, struct stanza *st, const struct policy_label *l)
{
    if (!st->label_marking)
        st->label_marking = labels_marking_new(srv, l);
    return st->label_marking;
}

/* Logs a decision on st; the marking is the label's (e: its cache entry
 * when known, else the stanza's own label l). */
static void
labels_log(struct server *srv, const char *check, struct policy_decision d, struct stanza *st,
           const char *jid, const struct policy_label *l, struct labels_cached *e)
{
    bool is_allow = d.verdict == POLICY_ALLOW;
    if (!log_enabled(is_allow ? LOG_LEVEL_INFO : LOG_LEVEL_NOTICE))
        return; /* the marking is not worth building for a filtered line */
    const char *marking = e ? labels_entry_marking(srv, e) : l ? labels_stanza_marking(srv, st, l)
                                                                 : "-";
    if (is_allow)
        log_info("policy decision check=%s verdict=%s reason=%s stanza=%" PRIu64
                 " jid=%s label=\"%s\"",
                 check, policy_verdict_str(d.verdict), policy_reason_str(d.reason), st->id, jid,
                 marking);
    else
        log_notice("policy decision check=%s verdict=%s reason=%s stanza=%" PRIu64
                   " jid=%s label=\"%s\"",
                   check, policy_verdict_str(d.verdict), policy_reason_str(d.reason), st->id,
                   jid, marking);
}

static void
labels_error(struct server *srv, struct sess *origin, struct stanza *st, const char *etype,
             const char *cond, const char *text)
{
    if (st->type && strcmp(st->type, "error") == 0)
        return;
    struct stanza *e = stanza_error_reply(st, NULL, etype, cond, text);
    e->id = server_next_id(srv);
    if (origin) {
        stanza_set_to(e, origin->jid);
        router_deliver(srv, origin, e);
    } else {
        router_route(srv, e, NULL);
    }
    stanza_unref(e);
}

/* The default label for a message from user to domain: the user's, else the
 * domain's or the server's from the directory, as a cache entry; NULL when
 * none (*bad when one is set but does not parse). */
static struct labels_cached *
labels_default(struct server *srv, const struct dir_user *u, const char *domain, bool *bad)
{
    struct labels_cached *e = NULL;
    *bad = false;
    if (u && u->default_label && u->default_label_len > 0) {
        e = labels_cached_der(srv, u->default_label, u->default_label_len);
        *bad = e == NULL;
        return e;
    }
    unsigned char *der = NULL;
    size_t len = 0;
    if (dir_default_label(srv->dir, domain, &der, &len) == PAL_OK) {
        e = labels_cached_der(srv, der, len);
        *bad = e == NULL;
        free(der);
    }
    return e;
}

/* A room's default label as a cache entry (*bad when it does not parse). */
static struct labels_cached *
labels_room_default(struct server *srv, const struct dir_room *room, bool *bad)
{
    struct labels_cached *e =
        labels_cached_der(srv, room->default_label, room->default_label_len);
    *bad = e == NULL;
    if (*bad)
        log_error("policy room-default-label-unreadable room=%s (fix xmppDefaultLabel of %s)",
                  room->jid, room->dn);
    return e;
}

/* Replaces whatever envelope the client sent with the server's own, built
 * once per label when it came through the cache. */
static bool
labels_rewrite(struct server *srv, struct stanza *st, const struct policy_label *l,
               struct labels_cached *e)
{
    struct xml_node *old = labels_element(st);
    if (old)
        xml_unlink(old);
    struct policy_label *keep = policy_label_dup(l);
    if (e) {
        if (!e->envelope) {
            e->envelope = xml_tree_new();
            if (policy_label_to_xep258(srv->policy, e->label, e->envelope, NULL, NULL) !=
                PAL_OK) {
                xml_tree_free(e->envelope);
                e->envelope = NULL;
                policy_label_free(keep);
                return false;
            }
            xml_serialize(e->envelope->root, XMPP_NS_CLIENT, &e->wire);
        }
        /* The tree for whoever reads the label; the bytes for the wire, so
         * each stanza does not serialize the envelope again. */
        struct xml_node *copy = xml_copy(st->tree, st->el, e->envelope->root);
        xml_set_raw(st->tree, copy, buf_head(&e->wire), buf_used(&e->wire));
    } else if (policy_label_to_xep258(srv->policy, keep, st->tree, st->el, NULL) != PAL_OK) {
        policy_label_free(keep);
        return false;
    }
    stanza_touched(st);
    st->label = keep;
    st->label_state = 2;
    if (e && e->marking)
        st->label_marking = xstrdup(e->marking);
    return true;
}

bool
labels_outbound(struct server *srv, struct stanza *st, struct sess *origin)
{
    bool bad = false;
    struct labels_cached *entry = NULL;
    labels_cache_trim(srv);
    const struct policy_label *l = labels_of(srv, st, &bad, &entry);
    if (bad) {
        log_notice("policy decision check=send verdict=deny-bad-label reason=unreadable-label "
                   "stanza=%" PRIu64 " jid=%s",
                   st->id, origin->jid->bare);
        labels_error(srv, origin, st, "modify", "bad-request",
                     "The security label could not be read");
        return false;
    }
    if (l && !srv->policy) {
        log_notice("policy decision check=send verdict=deny-bad-label reason=no-policy "
                   "stanza=%" PRIu64 " jid=%s",
                   st->id, origin->jid->bare);
        labels_error(srv, origin, st, "cancel", "feature-not-implemented",
                     "This server enforces no security policy and refuses labelled stanzas");
        return false;
    }
    if (!srv->policy)
        return true;

    struct dir_user *u = dir_user_get(srv->dir, origin->jid->bare);
    bool ok = true;
    if (!l && st->kind == STANZA_MESSAGE && !(st->type && strcmp(st->type, "error") == 0)) {
        const char *domain = st->to ? st->to->domain : origin->jid->domain;
        if (!server_is_local_domain(srv, domain))
            domain = origin->jid->domain;
        /* In a room: the room's default label first; a subject change carries
         * no label (XEP-0045 subjects are not conversation). */
        const struct dir_room *room = NULL;
        bool to_room = st->to && !st->to->resource && st->type &&
                       strcmp(st->type, "groupchat") == 0 &&
                       muc_room_entry(srv, st->to->bare, &room);
        if (to_room && !xml_child(st->el, XMPP_NS_CLIENT, "body"))
            goto out;
        struct labels_cached *dflt =
            room && room->default_label
                ? labels_room_default(srv, room, &bad)
                : labels_default(srv, u, domain, &bad);
        if (bad) {
            log_error("policy default-label-unreadable jid=%s domain=%s (fix xmppDefaultLabel)",
                      origin->jid->bare, domain);
            labels_error(srv, origin, st, "wait", "internal-server-error",
                         "The default security label is misconfigured");
            ok = false;
            goto out;
        }
        if (dflt) {
            l = dflt->label;
            entry = dflt;
        }
    }
    if (!l)
        goto out; /* unlabelled, no default: anyone may send and read it */

    struct policy_decision d = entry ? entry->valid : policy_label_validate(srv->policy, l);
    if (d.verdict == POLICY_ALLOW) {
        struct clearances c;
        clearances_load(srv, u, &c);
        if (c.unreadable) {
            d = (struct policy_decision){POLICY_DENY_CLEARANCE, d.reason};
            log_notice("policy decision check=send verdict=%s reason=unreadable-clearance "
                       "stanza=%" PRIu64 " jid=%s (fix the user's xmppClearance)",
                       policy_verdict_str(d.verdict), st->id, origin->jid->bare);
        } else {
            d = policy_check_any(srv->policy, POLICY_CHECK_SEND,
                                 (const struct policy_clearance *const *)c.v, c.n, l);
            labels_log(srv, "send", d, st, origin->jid->bare, l, entry);
        }
        clearances_clear(&c);
    } else {
        labels_log(srv, "send", d, st, origin->jid->bare, l, entry);
    }
    if (d.verdict == POLICY_DENY_BAD_LABEL) {
        labels_error(srv, origin, st, "modify", "bad-request",
                     "The security label is not valid under this server's policies");
        ok = false;
    } else if (d.verdict != POLICY_ALLOW) {
        labels_error(srv, origin, st, "auth", "forbidden",
                     "You are not cleared to send content with this security label");
        ok = false;
    } else if (!labels_rewrite(srv, st, l, entry)) {
        labels_error(srv, origin, st, "wait", "internal-server-error", NULL);
        ok = false;
    }
out:
    dir_user_unref(u);
    return ok;
}

bool
labels_may_read(struct server *srv, const char *bare_jid, struct stanza *st)
{
    bool bad = false;
    const struct policy_label *l = labels_of(srv, st, &bad, NULL);
    if (!l && !bad)
        return true;
    labels_cache_trim(srv); /* l is the stanza's own copy: safe */
    struct policy_decision d;
    if (bad || !srv->policy) {
        d = (struct policy_decision){POLICY_DENY_BAD_LABEL, 0};
        log_notice("policy decision check=read verdict=%s reason=%s stanza=%" PRIu64 " jid=%s",
                   policy_verdict_str(d.verdict), bad ? "unreadable-label" : "no-policy", st->id,
                   bare_jid);
        return false;
    }
    struct dir_user *u = dir_user_get(srv->dir, bare_jid);
    struct clearances c;
    clearances_load(srv, u, &c);
    if (c.unreadable) {
        d = (struct policy_decision){POLICY_DENY_CLEARANCE, 0};
        log_notice("policy decision check=read verdict=%s reason=unreadable-clearance "
                   "stanza=%" PRIu64 " jid=%s label=\"%s\" (fix the user's xmppClearance)",
                   policy_verdict_str(d.verdict), st->id, bare_jid,
                   labels_stanza_marking(srv, st, l));
    } else {
        d = policy_check_any(srv->policy, POLICY_CHECK_READ,
                             (const struct policy_clearance *const *)c.v, c.n, l);
        labels_log(srv, "read", d, st, bare_jid, l, NULL);
    }
    clearances_clear(&c);
    dir_user_unref(u);
    return d.verdict == POLICY_ALLOW;
}

bool
labels_room_may_carry(struct server *srv, const struct dir_room *room, const char *room_jid,
                      struct stanza *st)
{
    bool bad = false;
    const struct policy_label *l = labels_of(srv, st, &bad, NULL);
    if (!l && !bad)
        return true;
    labels_cache_trim(srv);
    struct policy_decision d = {POLICY_DENY_BAD_LABEL, 0};
    if (bad || !srv->policy) {
        log_notice("policy decision check=room verdict=%s reason=%s stanza=%" PRIu64 " jid=%s",
                   policy_verdict_str(d.verdict), bad ? "unreadable-label" : "no-policy",
                   st->id, room_jid);
        return false;
    }
    struct clearances c;
    clearances_load_values(srv, room ? room->clearance : NULL, room ? room->n_clearance : 0,
                           &c);
    if (c.unreadable) {
        d = (struct policy_decision){POLICY_DENY_CLEARANCE, 0};
        log_notice("policy decision check=room verdict=%s reason=unreadable-clearance "
                   "stanza=%" PRIu64 " jid=%s (fix the room's xmppClearance)",
                   policy_verdict_str(d.verdict), st->id, room_jid);
    } else {
        /* The room "reads" what is said in it: its clearance bounds it. A
         * room without a clearance (temporary rooms) holds unlabelled talk
         * only. */
        d = policy_check_any(srv->policy, POLICY_CHECK_READ,
                             (const struct policy_clearance *const *)c.v, c.n, l);
        labels_log(srv, "room", d, st, room_jid, l, NULL);
    }
    clearances_clear(&c);
    return d.verdict == POLICY_ALLOW;
}

bool
labels_may_enter(struct server *srv, const char *bare_jid, const struct dir_room *room)
{
    if (!room || !room->default_label)
        return true;
    labels_cache_trim(srv);
    bool bad = false;
    struct labels_cached *e = labels_room_default(srv, room, &bad);
    if (!e || !srv->policy) {
        log_notice("policy decision check=enter verdict=deny-bad-label reason=%s jid=%s room=%s",
                   e ? "no-policy" : "unreadable-default-label", bare_jid, room->jid);
        return false;
    }
    struct dir_user *u = dir_user_get(srv->dir, bare_jid);
    struct clearances c;
    clearances_load(srv, u, &c);
    struct policy_decision d;
    if (c.unreadable)
        d = (struct policy_decision){POLICY_DENY_CLEARANCE, 0};
    else
        d = policy_check_any(srv->policy, POLICY_CHECK_READ,
                             (const struct policy_clearance *const *)c.v, c.n, e->label);
    const char *marking = labels_entry_marking(srv, e);
    if (d.verdict == POLICY_ALLOW)
        log_info("policy decision check=enter verdict=%s reason=%s jid=%s room=%s label=\"%s\"",
                 policy_verdict_str(d.verdict), policy_reason_str(d.reason), bare_jid, room->jid,
                 marking);
    else
        log_notice("policy decision check=enter verdict=%s reason=%s jid=%s room=%s "
                   "label=\"%s\"",
                   policy_verdict_str(d.verdict),
                   c.unreadable ? "unreadable-clearance" : policy_reason_str(d.reason), bare_jid,
                   room->jid, marking);
    clearances_clear(&c);
    dir_user_unref(u);
    return d.verdict == POLICY_ALLOW;
}

void
labels_refused(struct server *srv, struct stanza *st)
{
    if (st->label_refused)
        return;
    st->label_refused = true;
    if (!st->from || (st->type && strcmp(st->type, "error") == 0))
        return;
    if (st->kind == STANZA_IQ && st->type && strcmp(st->type, "result") == 0)
        return;
    labels_error(srv, NULL, st, "cancel", "forbidden",
                 "The recipient is not cleared for this security label");
}

int
labels_der(struct server *srv, struct stanza *st, unsigned char **der, size_t *len)
{
    bool bad = false;
    const struct policy_label *l = labels_of(srv, st, &bad, NULL);
    *der = NULL;
    *len = 0;
    if (bad)
        return PAL_EMALFORMED;
    if (!l)
        return PAL_OK;
    return policy_label_to_der(l, der, len);
}

/* ---- FLOT ---- */

static bool
labels_session_supports(struct server *srv, struct sess *to)
{
    struct dir_user *u = dir_user_get(srv->dir, to->jid->bare);
    int setting = u ? u->label_support : -1;
    dir_user_unref(u);
    if (setting >= 0)
        return setting == 1;
    return to->supports_labels;
}

struct stanza *
labels_for_receiver(struct server *srv, struct sess *to, struct stanza *st)
{
    bool bad = false;
    const struct policy_label *l = labels_of(srv, st, &bad, NULL);
    if (!l || st->kind != STANZA_MESSAGE || !srv->cfg->policy_flot ||
        labels_session_supports(srv, to))
        return stanza_ref(st);
    struct xml_node *body = xml_child(st->el, XMPP_NS_CLIENT, "body");
    if (!body)
        return stanza_ref(st);
    const char *marking = labels_stanza_marking(srv, st, l);
    size_t n = strlen(marking);
    char *line = xmalloc(n + 1);
    memcpy(line, marking, n);
    line[n] = '\n';
    struct stanza *c = stanza_copy(st);
    struct xml_node *cbody = xml_child(c->el, XMPP_NS_CLIENT, "body");
    xml_prepend_text(c->tree, cbody, line, n + 1);
    free(line);
    stanza_touched(c);
    return c;
}

/* ---- XEP-0115 caps: does a session support labels? ---- */

void
labels_note_presence(struct server *srv, struct sess *origin, struct stanza *st)
{
    if (!srv->policy || st->to || st->type || origin->caps_asked)
        return; /* the first broadcast available presence only */
    origin->caps_asked = true;
    struct jid *dom = NULL;
    if (jid_parse(origin->jid->domain, &dom) != PAL_OK)
        return;
    char id[64];
    snprintf(id, sizeof id, CAPS_ID_PREFIX "%" PRIu64, origin->id);
    struct stanza *q = stanza_new(STANZA_IQ, dom, origin->jid, "get", id);
    q->id = server_next_id(srv);
    struct xml_node *qe = xml_elem_new(q->tree, q->el, NS_DISCO_INFO, "query");
    /* With XEP-0115 caps, ask for that node (clients answer it from cache). */
    struct xml_node *c = xml_child(st->el, NS_CAPS, "c");
    const char *node = c ? xml_attr(c, "node") : NULL;
    const char *ver = c ? xml_attr(c, "ver") : NULL;
    if (node && ver) {
        char nodever[512];
        snprintf(nodever, sizeof nodever, "%s#%s", node, ver);
        xml_set_attr(q->tree, qe, NULL, "node", nodever);
    }
    stanza_touched(q);
    router_deliver(srv, origin, q);
    stanza_unref(q);
    jid_free(dom);
}

static void
labels_caps_result(struct server *srv, struct stanza *st)
{
    if (!st->from || !st->from->resource)
        return;
    struct sess *s = sess_table_find(srv->sessions, st->from->full);
    if (!s)
        return;
    bool supports = false;
    if (st->type && strcmp(st->type, "result") == 0) {
        struct xml_node *q = xml_child(st->el, NS_DISCO_INFO, "query");
        for (struct xml_node *f = q ? xml_child(q, NS_DISCO_INFO, "feature") : NULL; f;
             f = xml_next(f, NS_DISCO_INFO, "feature")) {
            const char *var = xml_attr(f, "var");
            if (var && strcmp(var, POLICY_NS_SECLABEL) == 0)
                supports = true;
        }
    }
    s->supports_labels = supports;
    s->caps_known = true;
    log_info("policy label-support sess=%" PRIu64 " jid=%s supports=%s", s->id, s->jid->full,
             supports ? "yes" : "no");
    if (s->caps_wait) {
        labels_session_end(srv, s);
        offline_flush(srv, s);
    }
}

static void
labels_wait_timeout(struct ev_loop *loop, void *arg)
{
    struct labels_wait *w = arg;
    (void)loop;
    struct sess *s = w->sess;
    struct server *srv = w->srv;
    w->timer = 0;
    s->caps_wait = NULL;
    free(w);
    s->caps_known = true; /* no answer: treat it as not supporting labels */
    log_info("policy label-support sess=%" PRIu64 " jid=%s supports=no reason=no-answer", s->id,
             s->jid->full);
    offline_flush(srv, s);
}

bool
labels_defer_flush(struct server *srv, struct sess *s)
{
    if (!srv->policy || !s->caps_asked || s->caps_known || s->node)
        return false;
    struct dir_user *u = dir_user_get(srv->dir, s->jid->bare);
    bool setting = u && u->label_support >= 0;
    dir_user_unref(u);
    if (setting)
        return false; /* the directory says it; no need to wait */
    if (!s->caps_wait) {
        struct labels_wait *w = xcalloc(1, sizeof *w);
        w->srv = srv;
        w->sess = s;
        w->timer = ev_timer_add(srv->loop, CAPS_WAIT_MS, labels_wait_timeout, w);
        s->caps_wait = w;
    }
    return true;
}

void
labels_session_end(struct server *srv, struct sess *s)
{
    if (!s->caps_wait)
        return;
    ev_timer_del(srv->loop, s->caps_wait->timer);
    free(s->caps_wait);
    s->caps_wait = NULL;
}

/* ---- the catalog (XEP-0258 §5) ---- */

static void
labels_catalog(struct server *srv, struct stanza *st, struct sess *origin, struct xml_node *req)
{
    const char *to_attr = xml_attr(req, "to");
    struct jid *dest = NULL;
    if (!to_attr || jid_parse(to_attr, &dest) != PAL_OK) {
        labels_error(srv, origin, st, "modify", "bad-request", "catalog: a valid 'to' is needed");
        return;
    }
    if (!srv->policy) {
        jid_free(dest);
        labels_error(srv, origin, st, "cancel", "feature-not-implemented",
                     "This server enforces no security policy");
        return;
    }
    labels_cache_trim(srv);
    struct dir_user *su = dir_user_get(srv->dir, origin->jid->bare);
    /* A room as destination: the room's clearance and default label. */
    const struct dir_room *room = NULL;
    bool is_room = !dest->resource && muc_room_entry(srv, dest->bare, &room);
    struct dir_user *ru = !is_room && server_is_local_domain(srv, dest->domain) && dest->local
                              ? dir_user_get(srv->dir, dest->bare)
                              : NULL;
    struct clearances sc, rc;
    clearances_load(srv, su, &sc);
    if (is_room)
        clearances_load_values(srv, room ? room->clearance : NULL,
                               room ? room->n_clearance : 0, &rc);
    else
        clearances_load(srv, ru, &rc);
    /* One catalog per policy both hold; the first such policy is answered. */
    struct policy_catalog *cat = NULL;
    for (size_t i = 0; i < sc.n && !cat; i++)
        for (size_t j = 0; j < rc.n && !cat; j++)
            if (strcmp(policy_clearance_policy(sc.v[i]), policy_clearance_policy(rc.v[j])) == 0)
                cat = policy_catalog(srv->policy, sc.v[i], rc.v[j], 0);
    bool bad = false;
    struct labels_cached *de =
        room && room->default_label
            ? labels_room_default(srv, room, &bad)
            : labels_default(srv, su,
                             server_is_local_domain(srv, dest->domain) ? dest->domain
                                                                       : origin->jid->domain,
                             &bad);
    const struct policy_label *dflt = de ? de->label : NULL;
    struct stanza *r = stanza_iq_result(st);
    r->id = server_next_id(srv);
    stanza_set_to(r, origin->jid);
    struct xml_node *ce = NULL;
    if (cat) {
        ce = policy_catalog_to_xml(srv->policy, cat, dflt, dest->full, "Palisade",
                                   "Labels you may use for this recipient", false, r->tree,
                                   r->el);
    }
    if (!ce) {
        /* No label both may hold: only unlabelled messages can go there. */
        ce = xml_elem_new(r->tree, r->el, POLICY_NS_CATALOG, "catalog");
        xml_set_attr(r->tree, ce, NULL, "to", dest->full);
        xml_set_attr(r->tree, ce, NULL, "name", "Palisade");
        xml_set_attr(r->tree, ce, NULL, "size", "0");
    }
    stanza_touched(r);
    log_info("policy catalog sess=%" PRIu64 " to=%s items=%zu", origin->id, dest->full,
             cat ? policy_catalog_count(cat) : 0);
    router_deliver(srv, origin, r);
    stanza_unref(r);
    policy_catalog_free(cat);
    clearances_clear(&sc);
    clearances_clear(&rc);
    dir_user_unref(su);
    dir_user_unref(ru);
    jid_free(dest);
}

enum route_result
labels_handle_iq(struct server *srv, struct stanza *st, struct sess *origin)
{
    if (st->kind != STANZA_IQ || !st->type)
        return ROUTE_PASS;
    bool to_server = !st->to || (!st->to->local && server_is_local_domain(srv, st->to->domain));
    if (to_server && st->sid && strncmp(st->sid, CAPS_ID_PREFIX,
                                                  strlen(CAPS_ID_PREFIX)) == 0 &&
        (strcmp(st->type, "result") == 0 || strcmp(st->type, "error") == 0)) {
        labels_caps_result(srv, st);
        return ROUTE_HANDLED;
    }
    if (!origin || strcmp(st->type, "get") != 0)
        return ROUTE_PASS;
    struct xml_node *p = stanza_iq_payload(st);
    if (!p || strcmp(p->ns, POLICY_NS_CATALOG) != 0 || strcmp(p->name, "catalog") != 0)
        return ROUTE_PASS;
    labels_catalog(srv, st, origin, p);
    return ROUTE_HANDLED;
}
