/* SPDX-License-Identifier: Apache-2.0 */
/* roster.h - the RFC 6121 roster as roster.c and presence.c share it: the pure
 * subscription state machine of Appendix A (no I/O: tested exhaustively in
 * test/unit/test_roster.c), and the write-and-push step that follows every
 * state change.
 *
 * Palisade stores "Pending In" (a subscription request the user has not
 * answered) as ask_in on the roster item, so the request survives logout and is
 * delivered again at the user's next initial presence. An item that exists only
 * because of such a request (subscription none, ask_in, no ask_out, no name, no
 * groups) is hidden: left out of roster results and pushes until the user
 * approves, names or groups it, as RFC 6121 §3.1.3 asks ("None + Pending In" is
 * not a roster item to show). Pre-approval (§3.4) is not supported. */
#ifndef PALISADE_NODE_ROSTER_H
#define PALISADE_NODE_ROSTER_H

#include <stdbool.h>

#include "directory/directory.h"

struct server;

enum roster_sub_type {
    ROSTER_SUBSCRIBE,
    ROSTER_SUBSCRIBED,
    ROSTER_UNSUBSCRIBE,
    ROSTER_UNSUBSCRIBED,
};

/* One of the nine states of RFC 6121 Appendix A.1: "Pending Out" is ask_out,
 * "Pending In" is ask_in. Combinations the RFC does not define (ask_out with
 * to/both, ask_in with from/both) are normalised away by roster_state_of() and
 * the transition functions. */
struct roster_state {
    enum dir_sub sub;
    bool ask_out;
    bool ask_in;
};

/* The server's handling of one subscription stanza and what must follow it. */
struct roster_sub_effect {
    struct roster_state next;
    bool is_changed;       /* next differs from the current state: write and push */
    bool is_forwarded;     /* outbound: route to the contact (A.2 "ROUTE?");
                            * inbound: deliver to the user (A.3 "DELIVER?") */
    bool is_auto_approved; /* inbound subscribe while the contact already has
                            * 'from': answer "subscribed" for the user (§3.1.3) */
    bool has_gained_from;  /* the contact now receives the user's presence: send it
                            * the user's current presence (§3.1.5) */
    bool has_lost_from;    /* the contact no longer does: send it unavailable from
                            * the user's available resources (§3.2.2, §3.3.3) */
};

/* "subscribe", "subscribed", "unsubscribe", "unsubscribed": true and *out. */
bool roster_sub_type_parse(const char *s, enum roster_sub_type *out);
/* The normalised state of item (borrowed); NULL (not in the roster) is "None". */
struct roster_state roster_state_of(const struct dir_roster_item *item);
bool roster_state_equal(struct roster_state a, struct roster_state b);
bool roster_sub_has_to(enum dir_sub sub);   /* to or both */
bool roster_sub_has_from(enum dir_sub sub); /* from or both */
/* "none", "to", "from", "both". */
const char *roster_sub_str(enum dir_sub sub);

/* Appendix A.2: the user sent a subscription stanza of type t to the contact;
 * cur is the contact's state in the user's roster. Pure. */
struct roster_sub_effect roster_sub_outbound(struct roster_state cur, enum roster_sub_type t);
/* Appendix A.3: the contact sent t to the user. Pure. */
struct roster_sub_effect roster_sub_inbound(struct roster_state cur, enum roster_sub_type t);

/* False for the hidden "request only" items described above. */
bool roster_item_is_visible(const struct dir_roster_item *item);

/* Stores contact's item in user's roster with state next: cur (borrowed, NULL
 * when absent) keeps its name and groups; a hidden item that falls back to
 * "None" is deleted rather than kept. Then pushes the change to every
 * interested resource of user (a removal when the item became hidden). user and
 * contact are normalised bare JIDs, borrowed. */
void roster_update(struct server *srv, const char *user, const char *contact,
                   const struct dir_roster_item *cur, struct roster_state next);
/* Roster push (RFC 6121 §2.1.6) of item to every interested resource of user;
 * item NULL pushes subscription='remove' for contact. */
void roster_push(struct server *srv, const char *user, const char *contact,
                 const struct dir_roster_item *item);

#endif
