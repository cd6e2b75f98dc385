/* SPDX-License-Identifier: Apache-2.0 */
/* scan.c - the minimal stream scanner of the load generator. It finds the
 * boundaries of top-level elements by counting start and end tags (quote-aware
 * inside tags, memchr between them) and never builds a tree: the hot path only
 * needs "<message ... </message>" and the body's sequence number and timestamp.
 * It trusts the server to send well-formed XML (the generator measures, it
 * does not validate); comments, CDATA and processing instructions are skipped.
 * `palisade-bench --scenario parse` compares its cost with core/xstream.c. */
#include "bench.h"

#include <string.h>

static bool
scan_is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* The end of the tag opened at p[0] == '<': index just past its '>', or 0
 * when the tag is incomplete. */
static size_t
scan_tag_end(const char *p, size_t n)
{
    char quote = 0;
    for (size_t i = 1; i < n; i++) {
        char ch = p[i];
        if (quote) {
            if (ch == quote)
                quote = 0;
        } else if (ch == '"' || ch == '\'') {
            quote = ch;
        } else if (ch == '>') {
            return i + 1;
        }
    }
    return 0;
}

/* Skips <!-- -->, <![CDATA[ ]]> and <? ?> at p; returns the length or 0 if
 * incomplete. */
static size_t
scan_skip_special(const char *p, size_t n)
{
    const char *end = NULL;
    size_t elen = 0;
    if (n >= 4 && memcmp(p, "<!--", 4) == 0) {
        end = "-->";
        elen = 3;
    } else if (n >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
        end = "]]>";
        elen = 3;
    } else if (n >= 2 && p[1] == '?') {
        end = "?>";
        elen = 2;
    } else {
        size_t e = scan_tag_end(p, n); /* <!DOCTYPE and the like */
        return e;
    }
    const char *hit = scan_find(p + 2, n - 2, end, elen);
    return hit ? (size_t)(hit - p) + elen : 0;
}

const char *
scan_find(const char *hay, size_t n, const char *needle, size_t nlen)
{
    if (nlen == 0)
        return hay;
    while (n >= nlen) {
        const char *p = memchr(hay, needle[0], n - nlen + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, nlen) == 0)
            return p;
        n -= (size_t)(p - hay) + 1;
        hay = p + 1;
    }
    return NULL;
}

size_t
scan_next(const char *p, size_t n, struct scan_item *it)
{
    size_t i = 0;
    memset(it, 0, sizeof *it);
    it->kind = SCAN_MORE;
    for (;;) {
        while (i < n && scan_is_space(p[i]))
            i++;
        if (i + 1 >= n)
            return i;
        if (p[i] != '<') {
            it->kind = SCAN_ERROR;
            return i;
        }
        if (p[i + 1] == '?' || p[i + 1] == '!') {
            size_t k = scan_skip_special(p + i, n - i);
            if (k == 0)
                return i;
            i += k;
            continue;
        }
        break;
    }
    const char *s = p + i;
    size_t avail = n - i;
    it->start = s;
    if (s[1] == '/') {
        size_t e = scan_tag_end(s, avail);
        if (e == 0)
            return i;
        it->kind = SCAN_CLOSE;
        it->len = e;
        it->tag_len = e;
        return i + e;
    }
    size_t k = 1;
    while (k < avail && !scan_is_space(s[k]) && s[k] != '>' && s[k] != '/')
        k++;
    if (k >= avail)
        return i;
    it->name = s + 1;
    it->name_len = k - 1;
    size_t te = scan_tag_end(s, avail);
    if (te == 0)
        return i;
    it->tag_len = te;
    bool is_stream = (it->name_len == 6 && memcmp(it->name, "stream", 6) == 0) ||
                     (it->name_len > 7 && memcmp(it->name + it->name_len - 7, ":stream", 7) == 0);
    if (is_stream) {
        it->kind = SCAN_OPEN;
        it->len = te;
        return i + te;
    }
    if (s[te - 2] == '/') {
        it->kind = SCAN_ELEM;
        it->len = te;
        return i + te;
    }
    /* Inside the element: count tags until the depth returns to zero. */
    unsigned depth = 1;
    size_t j = te;
    while (depth > 0) {
        const char *lt = memchr(s + j, '<', avail - j);
        if (!lt)
            return i;
        j = (size_t)(lt - s);
        if (j + 1 >= avail)
            return i;
        char c1 = s[j + 1];
        size_t e;
        if (c1 == '!' || c1 == '?') {
            e = scan_skip_special(s + j, avail - j);
        } else {
            e = scan_tag_end(s + j, avail - j);
            if (e != 0) {
                if (c1 == '/')
                    depth--;
                else if (s[j + e - 2] != '/')
                    depth++;
            }
        }
        if (e == 0)
            return i;
        j += e;
    }
    it->kind = SCAN_ELEM;
    it->len = j;
    return i + j;
}

bool
scan_name_is(const struct scan_item *it, const char *name)
{
    size_t n = strlen(name);
    return it->name_len == n && memcmp(it->name, name, n) == 0;
}

bool
scan_attr(const char *tag, size_t tag_len, const char *name, const char **v, size_t *vlen)
{
    size_t n = strlen(name);
    size_t i = 1;
    /* skip the element name */
    while (i < tag_len && !scan_is_space(tag[i]) && tag[i] != '>' && tag[i] != '/')
        i++;
    while (i < tag_len) {
        while (i < tag_len && scan_is_space(tag[i]))
            i++;
        size_t a = i;
        while (i < tag_len && tag[i] != '=' && !scan_is_space(tag[i]) && tag[i] != '>')
            i++;
        size_t alen = i - a;
        while (i < tag_len && (scan_is_space(tag[i]) || tag[i] == '='))
            i++;
        if (i >= tag_len || (tag[i] != '\'' && tag[i] != '"'))
            return false;
        char q = tag[i++];
        const char *val = tag + i;
        const char *end = memchr(val, q, tag_len - i);
        if (!end)
            return false;
        if (alen == n && memcmp(tag + a, name, n) == 0) {
            *v = val;
            *vlen = (size_t)(end - val);
            return true;
        }
        i = (size_t)(end - tag) + 1;
    }
    return false;
}

bool
scan_child_text(const struct scan_item *it, const char *name, const char **v, size_t *vlen)
{
    char open[64];
    char close[64];
    size_t n = strlen(name);
    if (n + 3 >= sizeof open)
        return false;
    open[0] = '<';
    memcpy(open + 1, name, n);
    close[0] = '<';
    close[1] = '/';
    memcpy(close + 2, name, n);
    close[n + 2] = '>';
    const char *body = it->start + it->tag_len;
    size_t left = it->len - it->tag_len;
    const char *p = scan_find(body, left, open, n + 1);
    while (p && p + n + 1 < body + left && !(p[n + 1] == '>' || p[n + 1] == ' ' ||
                                             p[n + 1] == '/')) {
        size_t off = (size_t)(p - body) + 1;
        p = scan_find(body + off, left - off, open, n + 1);
    }
    if (!p)
        return false;
    size_t off = (size_t)(p - body);
    size_t te = 0;
    for (size_t k = off; k < left; k++) {
        if (body[k] == '>') {
            te = k + 1;
            break;
        }
    }
    if (te == 0)
        return false;
    if (body[te - 2] == '/') {
        *v = body + te;
        *vlen = 0;
        return true;
    }
    const char *e = scan_find(body + te, left - te, close, n + 3);
    if (!e)
        return false;
    *v = body + te;
    *vlen = (size_t)(e - (body + te));
    return true;
}
