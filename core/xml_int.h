/* SPDX-License-Identifier: Apache-2.0 */
/* xml_int.h - what the two expat parsers of core/ share: xml.c's whole-document
 * parser and xstream.c's stream parser both build element trees from expat's
 * namespace-mode events. Never included outside core/. */
#ifndef PALISADE_XML_INT_H
#define PALISADE_XML_INT_H

#include "buf.h"
#include "xml.h"

/* The separator given to XML_ParserCreateNS(): expat then names an element or
 * attribute "uri\x01local", or just "local" when it has no namespace. */
#define XML_NS_SEP '\x01'

/* The element of an expat start tag (qname and the name/value pairs of atts),
 * placed in t under parent as xml_elem_new() places it. scratch is working
 * space for namespace URIs. */
struct xml_node *xml_elem_from_expat(struct xml_tree *t, struct xml_node *parent,
                                     const char *qname, const char **atts, struct buf *scratch);
/* Appends the character data pending in text to el as one text node (drops it
 * when el is NULL) and empties text. */
void xml_flush_text(struct xml_tree *t, struct xml_node *el, struct buf *text);

#endif
