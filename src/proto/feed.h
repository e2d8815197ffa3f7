/* Atom 1.0 (RFC 4287) and RSS 2.0 rendering of a channel's recent messages,
 * with the XML escaping and the dates they need (RFC 3339 for Atom, RFC 822
 * for RSS). Text that is not valid in XML (control characters, bad UTF-8,
 * U+FFFE/U+FFFF) becomes U+FFFD, so the document always parses; binary
 * payloads go as base64 (Atom) or are left out with a note (RSS).
 * Pure: fields in, bytes out.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_FEED_H
#define CR_PROTO_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef enum cr_feed_kind { CR_FEED_ATOM, CR_FEED_RSS } cr_feed_kind_t;

typedef struct cr_feed {
    cr_feed_kind_t kind;
    const char *channel; /* a valid channel name */
    size_t channel_len;
    const char *base; /* "http://host:port", the origin links point to */
    size_t base_len;
    int64_t updated_ms; /* newest entry's time, or the channel's creation */
} cr_feed_t;

typedef struct cr_feed_entry {
    const char *id; /* message id "<ms>-<n>" */
    size_t id_len;
    int64_t time_ms;
    const char *content_type; /* NULL: none given */
    size_t content_type_len;
    const char *event; /* NULL: none */
    size_t event_len;
    const char *data;
    size_t len;
} cr_feed_entry_t;

/* Appends the XML declaration and the feed's (channel's) own elements. */
void cr_feed_begin(cr_buf_t *out, const cr_feed_t *f);
/* Appends one entry (Atom) or item (RSS). */
void cr_feed_entry(cr_buf_t *out, const cr_feed_t *f, const cr_feed_entry_t *e);
/* Appends the closing tags. */
void cr_feed_end(cr_buf_t *out, const cr_feed_t *f);

/* Appends s[0..len) escaped for XML text and attribute values. */
void cr_xml_text(cr_buf_t *out, const char *s, size_t len);
/* Appends an RFC 3339 UTC date with milliseconds, "2026-11-27T02:23:09.123Z". */
void cr_rfc3339(cr_buf_t *out, int64_t ms);
/* Whether a payload is shown as text: valid UTF-8 and not of a media type that
 * is binary by nature (image, audio, video, font, octet-stream). */
int cr_feed_is_text(const char *ctype, size_t ctype_len, const char *data, size_t len);

#endif
