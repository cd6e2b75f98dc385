/* SPDX-License-Identifier: Apache-2.0 */
/* xstream.c - the XMPP stream parser: the first step of a stanza's path after
 * conn.c has read (and decrypted) the bytes. expat in namespace mode, with
 * every construct RFC 6120 section 11 forbids refused from its handler, own
 * limits on stanza size, depth and attributes (reparse deferral is off, so
 * those limits are what bounds re-parsing), and one element tree per top-level
 * stanza. A callback may suspend the parser at the end of its stanza; the bytes
 * behind it are then left unconsumed, so after <starttls/> nothing sent in the
 * clear can slip into the encrypted stream.
 *
 * An idle stream may hibernate (xstream_hibernate): between top-level stanzas
 * the only state expat holds that matters is the open <stream:stream> and its
 * namespace declarations, so the parser is freed and, on the next bytes, a
 * fresh one is given the stream header's own bytes (kept when it arrived)
 * before the new input. Byte offsets then count from the fresh parser's
 * start, header included, like they do after a restart.
 *
 * For the memory to really go back, a parser's allocations come from one
 * block of its own, mapped with mmap (bump allocation, as far as it reaches;
 * then malloc), not as about 30 pieces scattered between the long-lived
 * objects of other connections, where freeing them would leave holes that
 * stay resident. Unmapping the block gives its pages back at once. */
#include "xstream.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/mman.h>

#include <expat.h>

#include "buf.h"
#include "mem.h"
#include "xml_int.h"

#define STREAM_QNAME XMPP_NS_STREAMS "\x01stream"
/* A fresh parser with a stream header and a few stanzas holds about 10 KiB. */
#define XSTREAM_BLOCK_SIZE (12 * 1024)
#define XML_LANG_QNAME XML_NS_XML "\x01lang"

/* expat's memory (see the top of the file). Every allocation starts with a
 * header naming the block it came from, or NULL for malloc. */
struct xs_block {
    size_t used; /* bytes of data[] handed out */
    size_t last; /* offset in data[] of the latest allocation, SIZE_MAX if freed */
    char data[];
};

struct xs_hdr {
    struct xs_block *block;
    size_t size;
};

#define XS_BLOCK_DATA (XSTREAM_BLOCK_SIZE - sizeof(struct xs_block))
#define XS_DETAIL_MAX 256

/* The block of the parser expat is working for: set around every expat call
 * that may allocate (calls may nest, from callbacks, so it is saved and put
 * back). Per thread, like expat's own state. */
static _Thread_local struct xs_block *xs_current;

static size_t
xs_round(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static void *
xs_alloc_in(struct xs_block *b, size_t n)
{
    struct xs_hdr *h;
    size_t need;

    if (n > SIZE_MAX / 2)
        return NULL;
    need = sizeof(*h) + xs_round(n);
    if (b != NULL && XS_BLOCK_DATA - b->used >= need) {
        h = (struct xs_hdr *)(void *)(b->data + b->used);
        b->last = b->used;
        b->used += need;
        h->block = b;
    } else {
        h = malloc(sizeof(*h) + n);
        if (h == NULL)
            return NULL;
        h->block = NULL;
    }
    h->size = n;
    return h + 1;
}

static void *
xs_malloc(size_t n)
{
    return xs_alloc_in(xs_current, n);
}

static void
xs_free(void *p)
{
    struct xs_hdr *h;
    struct xs_block *b;

    if (p == NULL)
        return;
    h = (struct xs_hdr *)p - 1;
    b = h->block;
    if (b == NULL) {
        free(h);
        return;
    }
    /* Inside a block only the latest allocation can be taken back; the rest
     * goes when the block does. */
    if (b->last != SIZE_MAX && (char *)h == b->data + b->last) {
        b->used = b->last;
        b->last = SIZE_MAX;
    }
}

static void *
xs_realloc(void *p, size_t n)
{
    struct xs_hdr *h;
    struct xs_hdr *h2;
    struct xs_block *b;
    void *q;

    if (p == NULL)
        return xs_malloc(n);
    h = (struct xs_hdr *)p - 1;
    b = h->block;
    if (b == NULL) {
        if (n > SIZE_MAX / 2)
            return NULL;
        h2 = realloc(h, sizeof(*h2) + n);
        if (h2 == NULL)
            return NULL;
        h2->size = n;
        return h2 + 1;
    }
    if (n <= h->size) {
        h->size = n;
        return p;
    }
    /* The latest allocation grows in place while the block lasts. */
    if (b->last != SIZE_MAX && (char *)h == b->data + b->last && n <= SIZE_MAX / 2 &&
        XS_BLOCK_DATA - b->last >= sizeof(*h) + xs_round(n)) {
        b->used = b->last + sizeof(*h) + xs_round(n);
        h->size = n;
        return p;
    }
    q = xs_alloc_in(b, n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, h->size);
    xs_free(p);
    return q;
}

static const XML_Memory_Handling_Suite xs_memory = {xs_malloc, xs_realloc, xs_free};

/* Saved stream headers (for waking from hibernation). Clients of one kind send
 * the same bytes, so identical headers share one copy: a short list of them,
 * and past XS_HEADERS_SHARED distinct ones (headers with a 'from', say) the
 * rest keep copies of their own, so a flood of distinct headers costs no
 * search. The streams of a process are parsed on one thread. */
#define XS_HEADERS_SHARED 32

struct xs_header {
    struct xs_header *next; /* in xs_headers, when shared */
    unsigned refs;
    bool is_shared;
    size_t len;
    char bytes[];
};

static struct xs_header *xs_headers;
static unsigned xs_n_headers;

static struct xs_header *
header_get(const char *p, size_t n)
{
    struct xs_header *h;

    for (h = xs_headers; h != NULL; h = h->next)
        if (h->len == n && memcmp(h->bytes, p, n) == 0) {
            h->refs++;
            return h;
        }
    h = xmalloc(sizeof(*h) + n);
    h->next = NULL;
    h->refs = 1;
    h->len = n;
    memcpy(h->bytes, p, n);
    h->is_shared = xs_n_headers < XS_HEADERS_SHARED;
    if (h->is_shared) {
        h->next = xs_headers;
        xs_headers = h;
        xs_n_headers++;
    }
    return h;
}

static void
header_put(struct xs_header *h)
{
    if (h == NULL || --h->refs > 0)
        return;
    if (h->is_shared) {
        struct xs_header **pp = &xs_headers;
        while (*pp != h)
            pp = &(*pp)->next;
        *pp = h->next;
        xs_n_headers--;
    }
    free(h);
}

struct xstream {
    XML_Parser p;            /* NULL while hibernating */
    struct xs_block *block;  /* p's memory */
    struct xstream_limits lim;
    struct xstream_callbacks cb;
    void *arg;

    unsigned depth;          /* open elements: stream = 1, stanza = 2 */
    unsigned ns_decls;       /* namespace declarations on the element being opened */
    char *default_ns;        /* xmlns of the stream header */
    struct xs_header *header; /* the stream header's start tag, as received */
    struct xml_tree *tree;   /* stanza being built */
    struct xml_node *cur;
    struct buf text;         /* character data pending for cur */
    struct buf scratch;

    /* Offsets count bytes given to the current parser (XML_GetCurrentByteIndex
     * counts from its creation; a restart starts again at 0). */
    uint64_t fed;            /* bytes given to this parser before the current feed */
    uint64_t mark;           /* end of the last event */
    uint64_t stanza_start;   /* start of the current stanza's start tag */
    uint64_t stop_at;        /* where a suspend or close ended the input */

    bool is_in_parse;
    bool is_waking;          /* the fresh parser is reading the saved header */
    bool is_suspend_requested;
    bool is_suspended;       /* parser stopped after a stanza; restart to go on */
    bool is_restart_pending; /* xstream_restart called from a callback */
    bool is_closed;
    bool is_failed;
    bool is_done;
    enum xstream_error err;
    uint64_t err_at;
    char *detail;            /* why it failed (XS_DETAIL_MAX bytes once needed) */
};

const char *
xstream_error_condition(enum xstream_error e)
{
    switch (e) {
    case XSTREAM_ERR_NOT_WELL_FORMED:
        return "not-well-formed";
    case XSTREAM_ERR_RESTRICTED_XML:
        return "restricted-xml";
    case XSTREAM_ERR_POLICY_VIOLATION:
        return "policy-violation";
    case XSTREAM_ERR_INVALID_NAMESPACE:
        return "invalid-namespace";
    case XSTREAM_ERR_UNSUPPORTED_ENCODING:
        return "unsupported-encoding";
    case XSTREAM_ERR_BAD_FORMAT:
        return "bad-format";
    case XSTREAM_ERR_INVALID_XML:
        return "invalid-xml";
    case XSTREAM_ERR_INTERNAL_SERVER_ERROR:
        return "internal-server-error";
    }
    return "undefined-condition";
}

static uint64_t
event_start(const struct xstream *x)
{
    XML_Index i = XML_GetCurrentByteIndex(x->p);

    return i < 0 ? x->fed : (uint64_t)i;
}

static uint64_t
event_end(const struct xstream *x)
{
    return event_start(x) + (uint64_t)XML_GetCurrentByteCount(x->p);
}

/* True when handlers must ignore further events: expat may deliver a few
 * after XML_StopParser. */
static bool
is_stopped(const struct xstream *x)
{
    return x->is_failed || x->is_closed || x->is_suspended || x->is_suspend_requested;
}

static void fail(struct xstream *x, enum xstream_error err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The error's text, allocated only when a stream fails (an idle session keeps
 * no room for it). */
static void __attribute__((format(printf, 2, 3)))
set_detail(struct xstream *x, const char *fmt, ...)
{
    va_list ap;

    if (x->detail == NULL)
        x->detail = xmalloc(XS_DETAIL_MAX);
    va_start(ap, fmt);
    vsnprintf(x->detail, XS_DETAIL_MAX, fmt, ap);
    va_end(ap);
}

/* Records the first error and aborts the parse; on_error runs once XML_Parse
 * has returned. */
static void __attribute__((format(printf, 3, 4)))
fail(struct xstream *x, enum xstream_error err, const char *fmt, ...)
{
    va_list ap;
    char what[XS_DETAIL_MAX];

    if (x->is_failed)
        return;
    x->is_failed = true;
    x->err = err;
    x->err_at = event_start(x);
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    set_detail(x, "line %lu: %s", (unsigned long)XML_GetCurrentLineNumber(x->p), what);
    if (x->is_in_parse)
        XML_StopParser(x->p, XML_FALSE);
}

static bool
limit_exceeded(size_t limit, uint64_t value)
{
    return limit != 0 && value > limit;
}

static bool
check_stanza_size(struct xstream *x, uint64_t end)
{
    if (x->depth >= 2 && limit_exceeded(x->lim.max_stanza_bytes, end - x->stanza_start)) {
        fail(x, XSTREAM_ERR_POLICY_VIOLATION, "stanza larger than %zu bytes",
             x->lim.max_stanza_bytes);
        return false;
    }
    return true;
}

/* After a callback: honour a suspend it asked for, ending the input at the
 * end of the current event. */
static void
after_callback(struct xstream *x)
{
    if (!x->is_suspend_requested || x->is_failed || x->is_closed)
        return;
    x->stop_at = event_end(x);
    XML_StopParser(x->p, XML_TRUE);
}

/* Keeps the header's start tag, as received, for waking from hibernation.
 * expat (built with XML_CONTEXT_BYTES) holds the whole current token in its
 * buffer; when it cannot show it, the stream simply never hibernates. */
static void
save_header(struct xstream *x)
{
    int offset = 0;
    int size = 0;
    const char *ctx = XML_GetInputContext(x->p, &offset, &size);
    int count = XML_GetCurrentByteCount(x->p);

    header_put(x->header);
    x->header = NULL;
    if (ctx == NULL || offset < 0 || count <= 0 || offset > size || count > size - offset)
        return;
    x->header = header_get(ctx + offset, (size_t)count);
}

static void
open_stream(struct xstream *x, const XML_Char *qname, const XML_Char **atts)
{
    struct xstream_header h;
    size_t i;

    if (strcmp(qname, STREAM_QNAME) != 0) {
        fail(x, XSTREAM_ERR_INVALID_NAMESPACE, "stream root is not {%s}stream",
             XMPP_NS_STREAMS);
        return;
    }
    if (x->is_waking)
        return; /* the same header again: the owner has seen it */
    save_header(x);
    memset(&h, 0, sizeof(h));
    for (i = 0; atts[i] != NULL; i += 2) {
        if (strcmp(atts[i], "to") == 0)
            h.to = atts[i + 1];
        else if (strcmp(atts[i], "from") == 0)
            h.from = atts[i + 1];
        else if (strcmp(atts[i], "id") == 0)
            h.id = atts[i + 1];
        else if (strcmp(atts[i], "version") == 0)
            h.version = atts[i + 1];
        else if (strcmp(atts[i], XML_LANG_QNAME) == 0)
            h.lang = atts[i + 1];
    }
    h.default_ns = x->default_ns;
    if (x->cb.on_open != NULL)
        x->cb.on_open(x->arg, &h);
    after_callback(x);
}

static void
on_start(void *ud, const XML_Char *qname, const XML_Char **atts)
{
    struct xstream *x = ud;
    size_t n_atts = 0;
    size_t i;

    if (is_stopped(x))
        return;
    x->depth++;
    for (i = 0; atts[i] != NULL; i += 2)
        n_atts++;
    if (limit_exceeded(x->lim.max_attrs, n_atts + x->ns_decls)) {
        fail(x, XSTREAM_ERR_POLICY_VIOLATION, "more than %u attributes", x->lim.max_attrs);
        return;
    }
    x->ns_decls = 0;
    if (x->depth == 1) {
        x->mark = event_end(x);
        open_stream(x, qname, atts);
        return;
    }
    if (x->depth - 1 > x->lim.max_depth && x->lim.max_depth != 0) {
        fail(x, XSTREAM_ERR_POLICY_VIOLATION, "elements nested deeper than %u",
             x->lim.max_depth);
        return;
    }
    if (x->depth == 2) {
        /* A stream header inside the stream would otherwise wait forever for
         * its end tag: refuse it at the start tag. */
        if (strcmp(qname, STREAM_QNAME) == 0) {
            fail(x, XSTREAM_ERR_BAD_FORMAT, "a stream header inside the stream");
            return;
        }
        x->stanza_start = event_start(x);
        x->tree = xml_tree_new();
        x->cur = NULL;
    }
    if (!check_stanza_size(x, event_end(x)))
        return;
    x->mark = event_end(x);
    xml_flush_text(x->tree, x->cur, &x->text);
    x->cur = xml_elem_from_expat(x->tree, x->cur, qname, atts, &x->scratch);
}

static void
on_end(void *ud, const XML_Char *qname)
{
    struct xstream *x = ud;
    struct xml_tree *t;

    (void)qname;
    if (is_stopped(x))
        return;
    if (x->depth == 1) {
        /* </stream:stream> */
        x->depth = 0;
        x->is_closed = true;
        x->stop_at = event_end(x);
        XML_StopParser(x->p, XML_FALSE);
        return;
    }
    if (!check_stanza_size(x, event_end(x)))
        return;
    x->mark = event_end(x);
    xml_flush_text(x->tree, x->cur, &x->text);
    x->depth--;
    if (x->cur != NULL)
        x->cur = x->cur->parent;
    if (x->depth > 1)
        return;
    t = x->tree;
    x->tree = NULL;
    x->cur = NULL;
    if (x->cb.on_stanza != NULL)
        x->cb.on_stanza(x->arg, t);
    else
        xml_tree_free(t);
    after_callback(x);
}

static bool
is_xml_space(const char *s, int len)
{
    int i;

    for (i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static void
on_chars(void *ud, const XML_Char *s, int len)
{
    struct xstream *x = ud;

    if (is_stopped(x) || len <= 0)
        return;
    if (x->depth <= 1) {
        if (!is_xml_space(s, len)) {
            fail(x, XSTREAM_ERR_BAD_FORMAT, "text at stream level");
            return;
        }
        x->mark = event_end(x);
        return;
    }
    if (!check_stanza_size(x, event_end(x)))
        return;
    x->mark = event_end(x);
    buf_append(&x->text, s, (size_t)len);
}

static void
on_ns_start(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct xstream *x = ud;

    if (is_stopped(x))
        return;
    x->ns_decls++;
    if (x->depth == 0 && prefix == NULL && !x->is_waking) {
        free(x->default_ns);
        x->default_ns = xstrdup(uri != NULL ? uri : "");
    }
}

static void
on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding, int standalone)
{
    struct xstream *x = ud;

    (void)standalone;
    if (is_stopped(x))
        return;
    if (version != NULL && strcmp(version, "1.0") != 0) {
        fail(x, XSTREAM_ERR_UNSUPPORTED_ENCODING, "XML version %.16s is not supported", version);
        return;
    }
    if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0)
        fail(x, XSTREAM_ERR_UNSUPPORTED_ENCODING, "encoding %.32s is not supported", encoding);
}

static void
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
           int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail(ud, XSTREAM_ERR_RESTRICTED_XML, "DOCTYPE is not allowed");
}

static void
on_entity_decl(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int value_len,
               const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
               const XML_Char *notation)
{
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    fail(ud, XSTREAM_ERR_RESTRICTED_XML, "entity declarations are not allowed");
}

static void
on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target;
    (void)data;
    fail(ud, XSTREAM_ERR_RESTRICTED_XML, "processing instructions are not allowed");
}

static void
on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    fail(ud, XSTREAM_ERR_RESTRICTED_XML, "comments are not allowed");
}

static void
on_skipped_entity(void *ud, const XML_Char *name, int is_param)
{
    (void)name;
    (void)is_param;
    fail(ud, XSTREAM_ERR_RESTRICTED_XML, "entity references are not allowed");
}

static int
on_external_entity(XML_Parser p, const XML_Char *context, const XML_Char *base,
                   const XML_Char *sysid, const XML_Char *pubid)
{
    (void)context;
    (void)base;
    (void)sysid;
    (void)pubid;
    fail(XML_GetUserData(p), XSTREAM_ERR_RESTRICTED_XML, "external entities are not allowed");
    return XML_STATUS_ERROR;
}

static void
oom_parser(void)
{
    fprintf(stderr, "palisade: out of memory (expat parser)\n");
    abort();
}

/* expat's calls that may allocate, with x's block as the current one. */
static enum XML_Status
parse(struct xstream *x, const char *data, int len)
{
    struct xs_block *saved = xs_current;
    enum XML_Status st;

    xs_current = x->block;
    st = XML_Parse(x->p, data, len, XML_FALSE);
    xs_current = saved;
    return st;
}

/* Frees the parser; its block too unless keep_block (a restart reuses it). */
static void
parser_free(struct xstream *x, bool keep_block)
{
    if (x->p != NULL)
        XML_ParserFree(x->p);
    x->p = NULL;
    if (x->block == NULL)
        return;
    if (keep_block) {
        x->block->used = 0;
        x->block->last = SIZE_MAX;
        return;
    }
    munmap(x->block, XSTREAM_BLOCK_SIZE);
    x->block = NULL;
}

static XML_Parser
parser_new(struct xstream *x)
{
    static const XML_Char sep[] = {XML_NS_SEP, '\0'};
    struct xs_block *saved = xs_current;
    XML_Parser p;

    if (x->block == NULL) {
        void *mem = mmap(NULL, XSTREAM_BLOCK_SIZE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        /* Without a block (out of mappings, vm.max_map_count) expat's
         * memory simply comes from malloc. */
        if (mem != MAP_FAILED) {
            x->block = mem;
            x->block->used = 0;
            x->block->last = SIZE_MAX;
        }
    }
    xs_current = x->block;
    p = XML_ParserCreate_MM("UTF-8", &xs_memory, sep);
    xs_current = saved;
    if (p == NULL)
        oom_parser();
    XML_SetUserData(p, x);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_chars);
    XML_SetStartNamespaceDeclHandler(p, on_ns_start);
    XML_SetXmlDeclHandler(p, on_xml_decl);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity_decl);
    XML_SetProcessingInstructionHandler(p, on_pi);
    XML_SetCommentHandler(p, on_comment);
    XML_SetSkippedEntityHandler(p, on_skipped_entity);
    XML_SetExternalEntityRefHandler(p, on_external_entity);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    /* Defence in depth: DOCTYPE is refused before any entity could expand. */
    XML_SetBillionLaughsAttackProtectionMaximumAmplification(p, 10.0f);
    XML_SetBillionLaughsAttackProtectionActivationThreshold(p, 64 * 1024);
#ifdef HAVE_XML_SETREPARSEDEFERRALENABLED
    /* Deferral would hold back a trickled stanza until more bytes arrive. */
    XML_SetReparseDeferralEnabled(p, XML_FALSE);
#endif
    return p;
}

/* Puts x back in its initial state with a fresh parser. */
static void
reset(struct xstream *x)
{
    parser_free(x, true);
    x->p = parser_new(x);
    x->depth = 0;
    x->ns_decls = 0;
    free(x->default_ns);
    x->default_ns = NULL;
    header_put(x->header);
    x->header = NULL;
    xml_tree_free(x->tree);
    x->tree = NULL;
    x->cur = NULL;
    buf_reset(&x->text);
    x->fed = 0;
    x->mark = 0;
    x->stanza_start = 0;
    x->stop_at = 0;
    x->is_suspend_requested = false;
    x->is_suspended = false;
    x->is_restart_pending = false;
    x->is_closed = false;
    x->is_failed = false;
    x->is_done = false;
    x->is_waking = false;
    free(x->detail);
    x->detail = NULL;
}

struct xstream *
xstream_new(const struct xstream_limits *lim, const struct xstream_callbacks *cb, void *arg)
{
    struct xstream *x = xcalloc(1, sizeof(*x));

    x->lim = *lim;
    x->cb = *cb;
    x->arg = arg;
    buf_init(&x->text);
    buf_init(&x->scratch);
    reset(x);
    return x;
}

void
xstream_free(struct xstream *x)
{
    if (x == NULL)
        return;
    parser_free(x, false);
    free(x->default_ns);
    header_put(x->header);
    free(x->detail);
    xml_tree_free(x->tree);
    buf_free(&x->text);
    buf_free(&x->scratch);
    free(x);
}

static size_t
consumed_until(const struct xstream *x, uint64_t at, size_t len)
{
    if (at <= x->fed)
        return 0;
    return at - x->fed > len ? len : (size_t)(at - x->fed);
}

static void
report_error(struct xstream *x)
{
    x->is_done = true;
    if (x->cb.on_error != NULL)
        x->cb.on_error(x->arg, x->err, x->detail != NULL ? x->detail : "");
}

/* A fresh parser, back inside the stream: it reads the saved header (the
 * handlers see it but tell nobody) and then stands where the freed one did. */
static bool
wake(struct xstream *x)
{
    enum XML_Status st;

    x->p = parser_new(x);
    x->depth = 0; /* the header opens the stream again */
    x->is_waking = true;
    x->is_in_parse = true;
    st = parse(x, x->header->bytes, (int)x->header->len);
    x->is_in_parse = false;
    x->is_waking = false;
    if (st != XML_STATUS_OK || x->is_failed || x->depth != 1) {
        /* Cannot happen with bytes that parsed before; fail closed. */
        x->is_failed = true;
        x->err = XSTREAM_ERR_INTERNAL_SERVER_ERROR;
        set_detail(x, "the saved stream header did not parse again");
        report_error(x);
        return false;
    }
    x->fed = x->header->len;
    x->mark = x->header->len;
    return true;
}

bool
xstream_hibernate(struct xstream *x)
{
    if (x->p == NULL)
        return true;
    if (x->is_in_parse || x->is_done || x->is_suspended || x->is_suspend_requested ||
        x->is_failed || x->is_closed || x->header == NULL)
        return false;
    /* Between stanzas inside the stream, and every byte given to expat has
     * been seen as an event (a trailing CR or a partial tag would be lost). */
    if (x->depth != 1 || x->tree != NULL || x->ns_decls != 0 || buf_used(&x->text) != 0 ||
        x->mark != x->fed)
        return false;
    parser_free(x, false);
    buf_free(&x->text);
    buf_free(&x->scratch);
    return true;
}

bool
xstream_is_hibernating(const struct xstream *x)
{
    return x->p == NULL;
}

size_t
xstream_feed(struct xstream *x, const char *data, size_t len)
{
    enum XML_Status st = XML_STATUS_OK;
    size_t done = 0;
    size_t ret;
    int chunk;

    /* A suspended parser is not resumed: the caller restarts it. */
    if (x->is_done || x->is_suspended || len == 0)
        return 0;
    if (x->p == NULL && !wake(x))
        return 0;
    x->is_in_parse = true;
    while (done < len) {
        chunk = len - done > INT_MAX ? INT_MAX : (int)(len - done);
        st = parse(x, data + done, chunk);
        if (st != XML_STATUS_OK)
            break;
        done += (size_t)chunk;
        x->fed += (uint64_t)chunk;
    }
    x->is_in_parse = false;

    if (st == XML_STATUS_SUSPENDED) {
        ret = done + consumed_until(x, x->stop_at, len - done);
        x->is_suspended = true;
        x->is_suspend_requested = false;
        if (x->is_restart_pending)
            reset(x);
        return ret;
    }
    if (x->is_closed) {
        ret = done + consumed_until(x, x->stop_at, len - done);
        x->is_done = true;
        if (x->cb.on_close != NULL)
            x->cb.on_close(x->arg);
        return ret;
    }
    if (st == XML_STATUS_ERROR && !x->is_failed) {
        enum XML_Error code = XML_GetErrorCode(x->p);
        x->is_failed = true;
        /* RFC 6120 §11.1: entity references beyond the five predefined ones
         * are restricted XML, not merely bad syntax. */
        x->err = code == XML_ERROR_UNDEFINED_ENTITY || code == XML_ERROR_RECURSIVE_ENTITY_REF ||
                         code == XML_ERROR_EXTERNAL_ENTITY_HANDLING ||
                         code == XML_ERROR_BINARY_ENTITY_REF ||
                         code == XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF
                     ? XSTREAM_ERR_RESTRICTED_XML
                     : XSTREAM_ERR_NOT_WELL_FORMED;
        x->err_at = event_start(x);
        set_detail(x, "line %lu: %s", (unsigned long)XML_GetCurrentLineNumber(x->p),
                 XML_ErrorString(XML_GetErrorCode(x->p)));
    }
    if (x->is_failed) {
        ret = done + consumed_until(x, x->err_at, len - done);
        report_error(x);
        return ret;
    }
    /* expat buffers an unfinished token whole, so a huge start tag or stream
     * header fires no handler: bound what is pending here. */
    if (x->depth >= 2 ? limit_exceeded(x->lim.max_stanza_bytes, x->fed - x->stanza_start)
                      : limit_exceeded(x->lim.max_stanza_bytes, x->fed - x->mark)) {
        x->is_failed = true;
        x->err = XSTREAM_ERR_POLICY_VIOLATION;
        x->err_at = x->fed;
        set_detail(x, "line %lu: stanza larger than %zu bytes",
                   (unsigned long)XML_GetCurrentLineNumber(x->p), x->lim.max_stanza_bytes);
        report_error(x);
        return len;
    }
    return len;
}

void
xstream_suspend(struct xstream *x)
{
    if (x->is_in_parse)
        x->is_suspend_requested = true;
}

void
xstream_restart(struct xstream *x)
{
    if (x->is_in_parse) {
        /* From a callback: stop after this stanza, restart when XML_Parse has
         * returned (the parser cannot be freed under its own feet). */
        x->is_suspend_requested = true;
        x->is_restart_pending = true;
        return;
    }
    reset(x);
}

bool
xstream_is_done(const struct xstream *x)
{
    return x->is_done;
}
