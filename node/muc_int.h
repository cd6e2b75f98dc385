/* SPDX-License-Identifier: Apache-2.0 */
/* muc_int.h - what muc.c (rooms, occupants, presence, messages, history, the
 * cluster) and muc_admin.c (disco, configuration form, affiliation and role
 * changes, invitations, destruction) share. Not for the rest of node/. */
#ifndef PALISADE_MUC_INT_H
#define PALISADE_MUC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/muc.h"

struct buf;
struct dir_room;
struct hash;
struct jid;

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN "http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_MUC_ROOMCONFIG "http://jabber.org/protocol/muc#roomconfig"
#define NS_MUC_ROOMINFO "http://jabber.org/protocol/muc#roominfo"
#define NS_XDATA "jabber:x:data"
#define NS_DELAY "urn:xmpp:delay"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

enum muc_role { MUC_ROLE_NONE, MUC_ROLE_VISITOR, MUC_ROLE_PARTICIPANT, MUC_ROLE_MODERATOR };
/* Ordered: a higher value is a stronger affiliation (outcast lowest). */
enum muc_affil { MUC_AFFIL_OUTCAST, MUC_AFFIL_NONE, MUC_AFFIL_MEMBER, MUC_AFFIL_ADMIN,
                 MUC_AFFIL_OWNER };

const char *muc_role_str(enum muc_role r);
const char *muc_affil_str(enum muc_affil a);
int muc_role_parse(const char *s);  /* -1 when unknown */
int muc_affil_parse(const char *s); /* -1 when unknown */

/* A room's configuration (XEP-0045 §10.2 muc#roomconfig fields). In the
 * directory it is xmppRoomConfig: one "muc#roomconfig_<field>=<value>" per
 * line (muc_config_parse / muc_config_text). */
struct muc_config {
    char *name;          /* roomname; NULL = none */
    char *desc;          /* roomdesc */
    char *secret;        /* roomsecret when password protected */
    bool persistent;     /* persistentroom */
    bool public_;        /* publicroom: listed in disco#items */
    bool members_only;   /* membersonly */
    bool password;       /* passwordprotectedroom */
    bool moderated;      /* moderatedroom: non-members enter as visitors */
    bool whois_anyone;   /* whois=anyone (non-anonymous); else moderators */
    bool change_subject; /* changesubject: participants may set the subject */
    bool allow_invites;  /* allowinvites: participants may invite */
    int64_t max_users;   /* maxusers, 0 = no limit */
};
void muc_config_default(struct muc_config *c);
void muc_config_clear(struct muc_config *c);
void muc_config_copy(struct muc_config *dst, const struct muc_config *src);
/* Parses "var=value" lines (unknown vars are ignored and logged at debug). */
void muc_config_parse(struct muc_config *c, const char *text);
/* The lines for the directory and the cluster (caller frees). */
char *muc_config_text(const struct muc_config *c);

struct muc_occupant {
    char *nick;
    struct jid *jid;         /* real full JID */
    char *node;              /* the node holding its session; NULL = this node */
    enum muc_role role;
    struct stanza *presence; /* its last presence to the room, our copy (NULL = none yet) */
};

struct muc_hist {
    struct stanza *st; /* as broadcast: from room/nick, no 'to' */
    int64_t stamp_ms;  /* wall clock (ms since the epoch) when the room got it */
};

struct muc_room {
    char *jid;              /* bare room JID, normalised */
    struct jid *j;
    struct dir_room *dir;   /* the directory entry (persistent rooms), or NULL */
    struct muc_config cfg;
    bool locked;            /* created and not yet configured by its owner */
    struct muc_affil_entry { char *jid; enum muc_affil a; } *affils; /* temporary rooms */
    size_t n_affils;
    struct muc_occupant **occ;
    size_t n_occ, cap_occ;
    struct muc_hist *hist;  /* ring of muc.history_size */
    size_t hist_start, hist_n;
    char *hist_source;      /* the node whose snapshot fills an empty history (cluster) */
    struct stanza *subject; /* last subject message (from room/nick), or NULL */
};

struct muc {
    struct hash *rooms;   /* bare room JID -> struct muc_room */
    size_t n_services;
    char **services;      /* "<subdomain>.<domain>" per served domain */
};

/* ---- rooms ---- */
struct muc_room *muc_room_find(struct server *srv, const char *room_jid);
/* A new temporary room (not yet announced to the cluster). */
struct muc_room *muc_room_create(struct server *srv, const struct jid *room);
/* Removes the room from the table and frees it (occupants are not told). */
void muc_room_drop(struct server *srv, struct muc_room *r);
/* Drops the room when it is temporary and empty (a persistent one stays). */
void muc_room_maybe_drop(struct server *srv, struct muc_room *r);
/* The affiliation of a real bare JID: from the directory entry (persistent)
 * or the in-memory list (temporary). */
enum muc_affil muc_affil_of(struct server *srv, struct muc_room *r, const char *bare);
/* Sets an affiliation (MUC_AFFIL_NONE removes it): in memory for a temporary
 * room, written to the directory for a persistent one. PAL_OK, or PAL_ENOENT
 * when a persistent room's affiliation names a JID that is not a user of the
 * directory, PAL_EDENIED when it comes from a group (change the group). */
int muc_affil_set(struct server *srv, struct muc_room *r, const char *bare,
                  enum muc_affil a);
/* Lists the bare JIDs with affiliation a: *out (caller frees the array, not
 * the strings, which are borrowed until the next return to the loop). */
size_t muc_affil_list(struct server *srv, struct muc_room *r, enum muc_affil a,
                      const char ***out);
/* The role an occupant with this affiliation gets on entering. */
enum muc_role muc_default_role(const struct muc_room *r, enum muc_affil a);
/* Writes a persistent room's configuration and affiliations to the
 * directory (creates the entry when it is new, deletes it when the room is no
 * longer persistent). */
void muc_room_store(struct server *srv, struct muc_room *r);

/* ---- occupants ---- */
struct muc_occupant *muc_occ_by_nick(struct muc_room *r, const char *nick);
struct muc_occupant *muc_occ_by_jid(struct muc_room *r, const char *full_jid);
/* May receiver see the real JIDs of occupants (non-anonymous room, or a
 * moderator)? */
bool muc_sees_jids(struct muc_room *r, const struct muc_occupant *receiver);

/* What a presence broadcast about an occupant carries besides its own
 * presence: status codes and, for removals, actor, reason and new nick. */
struct muc_event {
    const char *codes;     /* space-separated status codes, "" or NULL = none */
    const char *actor;     /* nick of the moderator who did it, or NULL */
    const char *reason;    /* or NULL */
    const char *new_nick;  /* 303 nick change: the new nick */
    bool unavailable;
    bool has_affil;        /* affil is the occupant's affiliation, as the node that */
    enum muc_affil affil;  /* announced the change knew it (else read it here) */
};
/* Sends the presence of occupant o (available, or unavailable per ev) to every
 * occupant whose session is on this node (o itself, when local, with 110). */
void muc_broadcast_presence(struct server *srv, struct muc_room *r, struct muc_occupant *o,
                            const struct muc_event *ev);
/* Removes o from the room on this node: tells this node's occupants (and o,
 * when local) with ev, announces it to the cluster when announce is true, and
 * frees o. When the room is then empty and temporary it is dropped. */
void muc_occ_remove(struct server *srv, struct muc_room *r, struct muc_occupant *o,
                    const struct muc_event *ev, bool announce);
/* Changes o's role here and tells this node's occupants; announces it. */
void muc_occ_set_role(struct server *srv, struct muc_room *r, struct muc_occupant *o,
                      enum muc_role role, const char *codes);

/* ---- sending ---- */
/* Sends st (borrowed) from the room to one real JID: straight to a local
 * session, else through the router (other nodes, offline store). */
void muc_send(struct server *srv, struct stanza *st);
/* An error reply to st from the address it was sent to. */
void muc_error(struct server *srv, struct stanza *st, const char *etype, const char *cond,
               const char *text);

/* ---- the cluster ---- */
/* Tells the other nodes the room's configuration and (temporary rooms)
 * affiliations changed, or that it was created. */
void muc_announce_room(struct server *srv, struct muc_room *r);
/* Destroys the room everywhere: occupants get unavailable presence with
 * <destroy/> (alternate venue and reason optional), the directory entry of a
 * persistent room is deleted. */
void muc_destroy(struct server *srv, struct muc_room *r, const char *alt, const char *reason,
                 bool announce);

/* ---- muc_admin.c ---- */
/* iq to the service or a room: disco#info/#items, muc#owner (configuration
 * form, destroy), muc#admin (roles, affiliations, lists). */
void muc_admin_iq(struct server *srv, struct stanza *st, struct sess *origin,
                  struct muc_room *r);
/* A message to the room bare JID carrying <x xmlns=muc#user> with <invite/>
 * or <decline/>. True when handled. */
bool muc_admin_invite(struct server *srv, struct stanza *st, struct muc_room *r);

#endif
