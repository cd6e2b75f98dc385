/* SPDX-License-Identifier: Apache-2.0 */
/* test_roster.c - the subscription state machine against RFC 6121 Appendix A:
 * every row of the eight tables (A.2.1-A.2.4 outbound, A.3.1-A.3.4 inbound),
 * normalisation of states the RFC does not define, the follow-up actions
 * (auto-approval, presence owed, unavailable owed), and an exhaustive
 * two-party simulation showing both rosters stay in step whatever the order
 * of subscription stanzas. Pure: no directory, no router. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/roster.h"

/* A table row as the RFC prints it; next NULL is "no state change". */
struct row {
    const char *state;
    bool is_forwarded;
    const char *next;
};

static const char *const state_names[9] = {
    "None", "None + Pending Out", "None + Pending In", "None + Pending Out+In", "To",
    "To + Pending In", "From", "From + Pending Out", "Both",
};

static struct roster_state
state_named(const char *name)
{
    static const struct roster_state states[9] = {
        {DIR_SUB_NONE, false, false}, {DIR_SUB_NONE, true, false}, {DIR_SUB_NONE, false, true},
        {DIR_SUB_NONE, true, true},   {DIR_SUB_TO, false, false},  {DIR_SUB_TO, false, true},
        {DIR_SUB_FROM, false, false}, {DIR_SUB_FROM, true, false}, {DIR_SUB_BOTH, false, false},
    };
    size_t i;

    for (i = 0; i < 9; i++)
        if (strcmp(state_names[i], name) == 0)
            return states[i];
    fail_msg("unknown state %s", name);
    return states[0];
}

/* Table A.2.1: outbound "subscribe". */
static const struct row a2_subscribe[9] = {
    {"None", true, "None + Pending Out"},
    {"None + Pending Out", true, NULL},
    {"None + Pending In", true, "None + Pending Out+In"},
    {"None + Pending Out+In", true, NULL},
    {"To", true, NULL},
    {"To + Pending In", true, NULL},
    {"From", true, "From + Pending Out"},
    {"From + Pending Out", true, NULL},
    {"Both", true, NULL},
};

/* Table A.2.2: outbound "unsubscribe". */
static const struct row a2_unsubscribe[9] = {
    {"None", true, NULL},
    {"None + Pending Out", true, "None"},
    {"None + Pending In", true, NULL},
    {"None + Pending Out+In", true, "None + Pending In"},
    {"To", true, "None"},
    {"To + Pending In", true, "None + Pending In"},
    {"From", true, NULL},
    {"From + Pending Out", true, "From"},
    {"Both", true, "From"},
};

/* Table A.2.3: outbound "subscribed" (pre-approval rows: not offered, so no
 * routing and no change). */
static const struct row a2_subscribed[9] = {
    {"None", false, NULL},
    {"None + Pending Out", false, NULL},
    {"None + Pending In", true, "From"},
    {"None + Pending Out+In", true, "From + Pending Out"},
    {"To", false, NULL},
    {"To + Pending In", true, "Both"},
    {"From", false, NULL},
    {"From + Pending Out", false, NULL},
    {"Both", false, NULL},
};

/* Table A.2.4: outbound "unsubscribed". */
static const struct row a2_unsubscribed[9] = {
    {"None", false, NULL},
    {"None + Pending Out", false, NULL},
    {"None + Pending In", true, "None"},
    {"None + Pending Out+In", true, "None + Pending Out"},
    {"To", false, NULL},
    {"To + Pending In", true, "To"},
    {"From", true, "None"},
    {"From + Pending Out", true, "None + Pending Out"},
    {"Both", true, "To"},
};

/* Table A.3.1: inbound "subscribe" (From, From + Pending Out, Both: not
 * delivered, auto-approved). */
static const struct row a3_subscribe[9] = {
    {"None", true, "None + Pending In"},
    {"None + Pending Out", true, "None + Pending Out+In"},
    {"None + Pending In", false, NULL},
    {"None + Pending Out+In", false, NULL},
    {"To", true, "To + Pending In"},
    {"To + Pending In", false, NULL},
    {"From", false, NULL},
    {"From + Pending Out", false, NULL},
    {"Both", false, NULL},
};

/* Table A.3.2: inbound "unsubscribe". */
static const struct row a3_unsubscribe[9] = {
    {"None", false, NULL},
    {"None + Pending Out", false, NULL},
    {"None + Pending In", true, "None"},
    {"None + Pending Out+In", true, "None + Pending Out"},
    {"To", false, NULL},
    {"To + Pending In", true, "To"},
    {"From", true, "None"},
    {"From + Pending Out", true, "None + Pending Out"},
    {"Both", true, "To"},
};

/* Table A.3.3: inbound "subscribed". */
static const struct row a3_subscribed[9] = {
    {"None", false, NULL},
    {"None + Pending Out", true, "To"},
    {"None + Pending In", false, NULL},
    {"None + Pending Out+In", true, "To + Pending In"},
    {"To", false, NULL},
    {"To + Pending In", false, NULL},
    {"From", false, NULL},
    {"From + Pending Out", true, "Both"},
    {"Both", false, NULL},
};

/* Table A.3.4: inbound "unsubscribed". */
static const struct row a3_unsubscribed[9] = {
    {"None", false, NULL},
    {"None + Pending Out", true, "None"},
    {"None + Pending In", false, NULL},
    {"None + Pending Out+In", true, "None + Pending In"},
    {"To", true, "None"},
    {"To + Pending In", true, "None + Pending In"},
    {"From", false, NULL},
    {"From + Pending Out", true, "From"},
    {"Both", true, "From"},
};

static void
assert_state_equal(struct roster_state got, struct roster_state want, const char *what)
{
    if (!roster_state_equal(got, want))
        fail_msg("%s: got sub=%d ask_out=%d ask_in=%d, want sub=%d ask_out=%d ask_in=%d", what,
                 got.sub, got.ask_out, got.ask_in, want.sub, want.ask_out, want.ask_in);
}

static void
check_table(const struct row rows[9], bool is_outbound, enum roster_sub_type t, const char *name)
{
    char what[128];
    size_t i;

    for (i = 0; i < 9; i++) {
        struct roster_state cur = state_named(rows[i].state);
        struct roster_state want = rows[i].next != NULL ? state_named(rows[i].next) : cur;
        struct roster_sub_effect e =
            is_outbound ? roster_sub_outbound(cur, t) : roster_sub_inbound(cur, t);

        assert_string_equal(rows[i].state, state_names[i]); /* every state, in order */
        snprintf(what, sizeof what, "%s in \"%s\"", name, rows[i].state);
        assert_state_equal(e.next, want, what);
        if (e.is_forwarded != rows[i].is_forwarded)
            fail_msg("%s: forwarded=%d, want %d", what, e.is_forwarded, rows[i].is_forwarded);
        if (e.is_changed != !roster_state_equal(cur, want))
            fail_msg("%s: changed=%d", what, e.is_changed);
        if (e.has_gained_from != (!roster_sub_has_from(cur.sub) && roster_sub_has_from(want.sub)))
            fail_msg("%s: gained_from=%d", what, e.has_gained_from);
        if (e.has_lost_from != (roster_sub_has_from(cur.sub) && !roster_sub_has_from(want.sub)))
            fail_msg("%s: lost_from=%d", what, e.has_lost_from);
        if (e.is_auto_approved !=
            (!is_outbound && t == ROSTER_SUBSCRIBE && roster_sub_has_from(cur.sub)))
            fail_msg("%s: auto_approved=%d", what, e.is_auto_approved);
    }
}

static void
test_roster_a2_1_outbound_subscribe(void **state)
{
    (void)state;
    check_table(a2_subscribe, true, ROSTER_SUBSCRIBE, "outbound subscribe");
}

static void
test_roster_a2_2_outbound_unsubscribe(void **state)
{
    (void)state;
    check_table(a2_unsubscribe, true, ROSTER_UNSUBSCRIBE, "outbound unsubscribe");
}

static void
test_roster_a2_3_outbound_subscribed(void **state)
{
    (void)state;
    check_table(a2_subscribed, true, ROSTER_SUBSCRIBED, "outbound subscribed");
}

static void
test_roster_a2_4_outbound_unsubscribed(void **state)
{
    (void)state;
    check_table(a2_unsubscribed, true, ROSTER_UNSUBSCRIBED, "outbound unsubscribed");
}

static void
test_roster_a3_1_inbound_subscribe(void **state)
{
    (void)state;
    check_table(a3_subscribe, false, ROSTER_SUBSCRIBE, "inbound subscribe");
}

static void
test_roster_a3_2_inbound_unsubscribe(void **state)
{
    (void)state;
    check_table(a3_unsubscribe, false, ROSTER_UNSUBSCRIBE, "inbound unsubscribe");
}

static void
test_roster_a3_3_inbound_subscribed(void **state)
{
    (void)state;
    check_table(a3_subscribed, false, ROSTER_SUBSCRIBED, "inbound subscribed");
}

static void
test_roster_a3_4_inbound_unsubscribed(void **state)
{
    (void)state;
    check_table(a3_unsubscribed, false, ROSTER_UNSUBSCRIBED, "inbound unsubscribed");
}

/* The follow-up actions spelled out for the rows that have them. */
static void
test_roster_followups(void **state)
{
    struct roster_sub_effect e;

    (void)state;
    /* §3.1.5: approving a pending request owes the requester our presence. */
    e = roster_sub_outbound(state_named("None + Pending In"), ROSTER_SUBSCRIBED);
    assert_true(e.has_gained_from);
    e = roster_sub_outbound(state_named("To + Pending In"), ROSTER_SUBSCRIBED);
    assert_true(e.has_gained_from);
    /* §3.2.2: cancelling the contact's subscription owes it unavailable. */
    e = roster_sub_outbound(state_named("Both"), ROSTER_UNSUBSCRIBED);
    assert_true(e.has_lost_from);
    assert_false(e.has_gained_from);
    /* Denying a request that was only pending takes nothing away. */
    e = roster_sub_outbound(state_named("None + Pending In"), ROSTER_UNSUBSCRIBED);
    assert_false(e.has_lost_from);
    /* §3.3.3: the contact unsubscribing from us owes it unavailable. */
    e = roster_sub_inbound(state_named("From + Pending Out"), ROSTER_UNSUBSCRIBE);
    assert_true(e.has_lost_from);
    /* §3.1.3: a request from a contact that already has our presence. */
    e = roster_sub_inbound(state_named("Both"), ROSTER_SUBSCRIBE);
    assert_true(e.is_auto_approved);
    assert_false(e.is_forwarded);
    assert_false(e.is_changed);
    e = roster_sub_inbound(state_named("To"), ROSTER_SUBSCRIBE);
    assert_false(e.is_auto_approved);
    /* Losing 'to' is the contact's server's business, not ours. */
    e = roster_sub_inbound(state_named("Both"), ROSTER_UNSUBSCRIBED);
    assert_false(e.has_lost_from);
    assert_false(e.has_gained_from);
}

/* Stored combinations the RFC does not define behave as their defined state. */
static void
test_roster_undefined_states_normalise(void **state)
{
    const enum dir_sub subs[4] = {DIR_SUB_NONE, DIR_SUB_TO, DIR_SUB_FROM, DIR_SUB_BOTH};
    const enum roster_sub_type types[4] = {ROSTER_SUBSCRIBE, ROSTER_SUBSCRIBED,
                                           ROSTER_UNSUBSCRIBE, ROSTER_UNSUBSCRIBED};
    struct dir_roster_item item;
    struct roster_state raw;
    struct roster_state norm;
    struct roster_sub_effect a;
    struct roster_sub_effect b;
    size_t si;
    size_t ti;
    int bits;

    (void)state;
    for (si = 0; si < 4; si++) {
        for (bits = 0; bits < 4; bits++) {
            raw.sub = subs[si];
            raw.ask_out = bits & 1;
            raw.ask_in = (bits & 2) != 0;
            norm = raw;
            if (roster_sub_has_to(norm.sub))
                norm.ask_out = false;
            if (roster_sub_has_from(norm.sub))
                norm.ask_in = false;
            memset(&item, 0, sizeof item);
            item.sub = raw.sub;
            item.ask_out = raw.ask_out;
            item.ask_in = raw.ask_in;
            assert_state_equal(roster_state_of(&item), norm, "roster_state_of");
            for (ti = 0; ti < 4; ti++) {
                a = roster_sub_outbound(raw, types[ti]);
                b = roster_sub_outbound(norm, types[ti]);
                assert_true(roster_state_equal(a.next, b.next));
                assert_int_equal(a.is_forwarded, b.is_forwarded);
                a = roster_sub_inbound(raw, types[ti]);
                b = roster_sub_inbound(norm, types[ti]);
                assert_true(roster_state_equal(a.next, b.next));
                assert_int_equal(a.is_forwarded, b.is_forwarded);
                assert_int_equal(a.is_auto_approved, b.is_auto_approved);
            }
        }
    }
    assert_state_equal(roster_state_of(NULL), state_named("None"), "NULL item");
}

/* Two parties, every sequence of up to DEPTH subscription stanzas either may
 * send: whatever is forwarded is processed inbound at once (as between two
 * local users), auto-approvals included. Each side's view must match the
 * other's: my 'to' is your 'from', my Pending Out is your Pending In. */
#define DEPTH 6

struct party {
    struct roster_state st;
};

static void
deliver(struct party *from, struct party *to, enum roster_sub_type t, unsigned hops)
{
    struct roster_sub_effect o = roster_sub_outbound(from->st, t);
    struct roster_sub_effect i;

    assert_true(hops < 4);
    from->st = o.next;
    if (!o.is_forwarded)
        return;
    i = roster_sub_inbound(to->st, t);
    to->st = i.next;
    if (i.is_auto_approved) {
        /* The auto-reply is generated by the server, not by a client: inbound
         * only, at the original sender. */
        i = roster_sub_inbound(from->st, ROSTER_SUBSCRIBED);
        from->st = i.next;
    }
}

static void
check_in_step(const struct party *u, const struct party *c, const unsigned *seq, unsigned n)
{
    char trail[DEPTH * 4 + 1];
    unsigned k;

    if (roster_sub_has_to(u->st.sub) == roster_sub_has_from(c->st.sub) &&
        roster_sub_has_to(c->st.sub) == roster_sub_has_from(u->st.sub) &&
        u->st.ask_out == c->st.ask_in && c->st.ask_out == u->st.ask_in)
        return;
    for (k = 0; k < n; k++)
        snprintf(trail + 3 * k, 4, "%c%u ", seq[k] < 4 ? 'U' : 'C', seq[k] % 4);
    fail_msg("out of step after %s: user sub=%d out=%d in=%d, contact sub=%d out=%d in=%d",
             trail, u->st.sub, u->st.ask_out, u->st.ask_in, c->st.sub, c->st.ask_out,
             c->st.ask_in);
}

static void
walk(struct party u, struct party c, unsigned *seq, unsigned depth, unsigned long *count)
{
    struct party u2;
    struct party c2;
    unsigned a;

    for (a = 0; a < 8; a++) {
        u2 = u;
        c2 = c;
        seq[depth] = a;
        if (a < 4)
            deliver(&u2, &c2, (enum roster_sub_type)a, 0);
        else
            deliver(&c2, &u2, (enum roster_sub_type)(a - 4), 0);
        check_in_step(&u2, &c2, seq, depth + 1);
        (*count)++;
        if (depth + 1 < DEPTH)
            walk(u2, c2, seq, depth + 1, count);
    }
}

static void
test_roster_two_parties_stay_in_step(void **state)
{
    struct party u = {{DIR_SUB_NONE, false, false}};
    struct party c = {{DIR_SUB_NONE, false, false}};
    unsigned seq[DEPTH];
    unsigned long count = 0;

    (void)state;
    walk(u, c, seq, 0, &count);
    assert_true(count > 299000); /* 8 + 8^2 + ... + 8^6 */
}

/* The RFC's happy path, spelled out: request, approval, mutual, cancel. */
static void
test_roster_handshake_sequence(void **state)
{
    struct party u = {{DIR_SUB_NONE, false, false}};
    struct party c = {{DIR_SUB_NONE, false, false}};

    (void)state;
    deliver(&u, &c, ROSTER_SUBSCRIBE, 0);
    assert_state_equal(u.st, state_named("None + Pending Out"), "user asked");
    assert_state_equal(c.st, state_named("None + Pending In"), "contact asked");
    deliver(&c, &u, ROSTER_SUBSCRIBED, 0);
    assert_state_equal(u.st, state_named("To"), "user approved");
    assert_state_equal(c.st, state_named("From"), "contact approved");
    deliver(&c, &u, ROSTER_SUBSCRIBE, 0);
    deliver(&u, &c, ROSTER_SUBSCRIBED, 0);
    assert_state_equal(u.st, state_named("Both"), "user mutual");
    assert_state_equal(c.st, state_named("Both"), "contact mutual");
    deliver(&u, &c, ROSTER_UNSUBSCRIBE, 0);
    assert_state_equal(u.st, state_named("From"), "user unsubscribed");
    assert_state_equal(c.st, state_named("To"), "contact lost a subscriber");
    deliver(&u, &c, ROSTER_UNSUBSCRIBED, 0);
    assert_state_equal(u.st, state_named("None"), "user cancelled");
    assert_state_equal(c.st, state_named("None"), "contact cancelled");
}

static void
test_roster_sub_type_parse(void **state)
{
    enum roster_sub_type t = ROSTER_UNSUBSCRIBED;

    (void)state;
    assert_true(roster_sub_type_parse("subscribe", &t));
    assert_int_equal(t, ROSTER_SUBSCRIBE);
    assert_true(roster_sub_type_parse("subscribed", &t));
    assert_int_equal(t, ROSTER_SUBSCRIBED);
    assert_true(roster_sub_type_parse("unsubscribe", &t));
    assert_int_equal(t, ROSTER_UNSUBSCRIBE);
    assert_true(roster_sub_type_parse("unsubscribed", &t));
    assert_int_equal(t, ROSTER_UNSUBSCRIBED);
    assert_false(roster_sub_type_parse("Subscribe", &t));
    assert_false(roster_sub_type_parse("probe", &t));
    assert_false(roster_sub_type_parse("", &t));
    assert_false(roster_sub_type_parse(NULL, &t));
}

static void
test_roster_sub_str_and_bits(void **state)
{
    (void)state;
    assert_string_equal(roster_sub_str(DIR_SUB_NONE), "none");
    assert_string_equal(roster_sub_str(DIR_SUB_TO), "to");
    assert_string_equal(roster_sub_str(DIR_SUB_FROM), "from");
    assert_string_equal(roster_sub_str(DIR_SUB_BOTH), "both");
    assert_false(roster_sub_has_to(DIR_SUB_NONE));
    assert_true(roster_sub_has_to(DIR_SUB_TO));
    assert_false(roster_sub_has_to(DIR_SUB_FROM));
    assert_true(roster_sub_has_to(DIR_SUB_BOTH));
    assert_false(roster_sub_has_from(DIR_SUB_NONE));
    assert_false(roster_sub_has_from(DIR_SUB_TO));
    assert_true(roster_sub_has_from(DIR_SUB_FROM));
    assert_true(roster_sub_has_from(DIR_SUB_BOTH));
}

/* §3.1.3: an item that only records a pending inbound request is not shown. */
static void
test_roster_request_only_item_is_hidden(void **state)
{
    char *groups[] = {"Friends"};
    struct dir_roster_item it = {0};

    (void)state;
    it.jid = "carol@example.com";
    it.ask_in = true;
    assert_false(roster_item_is_visible(&it));
    it.name = "";
    assert_false(roster_item_is_visible(&it));
    it.name = "Carol";
    assert_true(roster_item_is_visible(&it));
    it.name = NULL;
    it.groups = groups;
    it.n_groups = 1;
    assert_true(roster_item_is_visible(&it));
    it.groups = NULL;
    it.n_groups = 0;
    it.ask_out = true;
    assert_true(roster_item_is_visible(&it));
    it.ask_out = false;
    it.sub = DIR_SUB_TO;
    assert_true(roster_item_is_visible(&it));
    it.sub = DIR_SUB_NONE;
    it.ask_in = false;
    assert_true(roster_item_is_visible(&it));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roster_a2_1_outbound_subscribe),
        cmocka_unit_test(test_roster_a2_2_outbound_unsubscribe),
        cmocka_unit_test(test_roster_a2_3_outbound_subscribed),
        cmocka_unit_test(test_roster_a2_4_outbound_unsubscribed),
        cmocka_unit_test(test_roster_a3_1_inbound_subscribe),
        cmocka_unit_test(test_roster_a3_2_inbound_unsubscribe),
        cmocka_unit_test(test_roster_a3_3_inbound_subscribed),
        cmocka_unit_test(test_roster_a3_4_inbound_unsubscribed),
        cmocka_unit_test(test_roster_followups),
        cmocka_unit_test(test_roster_undefined_states_normalise),
        cmocka_unit_test(test_roster_two_parties_stay_in_step),
        cmocka_unit_test(test_roster_handshake_sequence),
        cmocka_unit_test(test_roster_sub_type_parse),
        cmocka_unit_test(test_roster_sub_str_and_bits),
        cmocka_unit_test(test_roster_request_only_item_is_hidden),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
