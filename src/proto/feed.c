/* Atom and RSS rendering.
 * SPDX-License-Identifier: MIT */
#include "proto/feed.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "proto/http1_write.h"
#include "proto/json_out.h"

#define TITLE_MAX 80
/* Ids are tag: URIs (RFC 4151) under a fixed authority, so they stay the same
 * whatever host name a reader used. */
#define TAG_PREFIX "tag:crier,2024:"

/* Length of the UTF-8 sequence at s that XML 1.0 accepts as a Char; 0 for a byte
 * that starts no valid sequence; minus the length (as size_t) for a sequence that is
 * valid UTF-8 but no XML Char. */
static size_t xml_char(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    if (c < 0x80)
        return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
    size_t n;
    unsigned cp, min;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    if (cp == 0xfffe || cp == 0xffff)
        return (size_t)0 - n; /* well-formed UTF-8, but not an XML Char: one U+FFFD for all n bytes */
    return n;
}

void cr_xml_text(cr_buf_t *out, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    cr_buf_reserve(out, len);
    while (i < len) {
        size_t n = xml_char(s + i, len - i);
        if (n == 0 || n > 4) {
            cr_buf_puts(out, "\xef\xbf\xbd");
            i += n ? (size_t)0 - n : 1;
            continue;
        }
        switch (s[i]) {
        case '&':
            cr_buf_puts(out, "&amp;");
            break;
        case '<':
            cr_buf_puts(out, "&lt;");
            break;
        case '>':
            cr_buf_puts(out, "&gt;");
            break;
        case '"':
            cr_buf_puts(out, "&quot;");
            break;
        case '\'':
            cr_buf_puts(out, "&apos;");
            break;
        case '\r':
            cr_buf_puts(out, "&#13;");
            break; /* a raw CR would be read back as LF */
        default:
            cr_buf_append(out, s + i, n);
        }
        i += n;
    }
}

void cr_rfc3339(cr_buf_t *out, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    cr_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int type_prefix(const char *t, size_t len, const char *p)
{
    size_t n = strlen(p);
    return len >= n && strncasecmp(t, p, n) == 0;
}

int cr_feed_is_text(const char *ctype, size_t ctype_len, const char *data, size_t len)
{
    if (ctype && (type_prefix(ctype, ctype_len, "image/") || type_prefix(ctype, ctype_len, "audio/") ||
                  type_prefix(ctype, ctype_len, "video/") || type_prefix(ctype, ctype_len, "font/") ||
                  type_prefix(ctype, ctype_len, "application/octet-stream")))
        return 0;
    return cr_utf8_valid((const unsigned char *)data, len);
}

static void channel_url(cr_buf_t *out, const cr_feed_t *f, const char *path, const char *suffix)
{
    cr_buf_t u = CR_BUF_INIT;
    cr_buf_append(&u, f->base, f->base_len);
    cr_buf_puts(&u, path);
    cr_buf_append(&u, f->channel, f->channel_len);
    cr_buf_puts(&u, suffix);
    cr_xml_text(out, u.data, u.len);
    cr_buf_free(&u);
}

static void tag_id(cr_buf_t *out, const cr_feed_t *f, const cr_feed_entry_t *e)
{
    cr_buf_puts(out, TAG_PREFIX "channel/");
    cr_xml_text(out, f->channel, f->channel_len);
    if (e) {
        cr_buf_putc(out, '/');
        cr_xml_text(out, e->id, e->id_len);
    }
}

void cr_feed_begin(cr_buf_t *out, const cr_feed_t *f)
{
    cr_buf_puts(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    if (f->kind == CR_FEED_ATOM) {
        cr_buf_puts(out, "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<id>");
        tag_id(out, f, NULL);
        cr_buf_puts(out, "</id>\n<title>crier channel ");
        cr_xml_text(out, f->channel, f->channel_len);
        cr_buf_puts(out, "</title>\n<updated>");
        cr_rfc3339(out, f->updated_ms);
        cr_buf_puts(out, "</updated>\n<author><name>crier</name></author>\n<generator>crier</generator>\n"
                         "<link rel=\"self\" type=\"application/atom+xml\" href=\"");
        channel_url(out, f, "/feed/", ".atom");
        cr_buf_puts(out, "\"/>\n<link rel=\"alternate\" href=\"");
        channel_url(out, f, "/sub/", "");
        cr_buf_puts(out, "\"/>\n");
        return;
    }
    cr_buf_puts(out,
                "<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n<title>crier "
                "channel ");
    cr_xml_text(out, f->channel, f->channel_len);
    cr_buf_puts(out, "</title>\n<link>");
    channel_url(out, f, "/sub/", "");
    cr_buf_puts(out, "</link>\n<description>Recent messages published to crier channel ");
    cr_xml_text(out, f->channel, f->channel_len);
    cr_buf_puts(out, ", newest first</description>\n<lastBuildDate>");
    cr_http1_date(out, f->updated_ms / 1000);
    cr_buf_puts(out, "</lastBuildDate>\n<generator>crier</generator>\n"
                     "<atom:link rel=\"self\" type=\"application/rss+xml\" href=\"");
    channel_url(out, f, "/feed/", ".rss");
    cr_buf_puts(out, "\"/>\n");
}

/* The first line of a text payload, cut to TITLE_MAX bytes on a character boundary. */
static void title(cr_buf_t *out, const cr_feed_entry_t *e, int text)
{
    if (!text) {
        cr_buf_printf(out, "binary message (%zu bytes", e->len);
        if (e->content_type) {
            cr_buf_puts(out, ", ");
            cr_xml_text(out, e->content_type, e->content_type_len);
        }
        cr_buf_putc(out, ')');
        return;
    }
    size_t n = 0;
    while (n < e->len && e->data[n] != '\n' && e->data[n] != '\r')
        n++;
    if (n > TITLE_MAX) {
        n = TITLE_MAX;
        while (n > 0 && ((unsigned char)e->data[n] & 0xc0) == 0x80)
            n--;
    }
    if (n == 0) {
        cr_buf_puts(out, "message ");
        cr_xml_text(out, e->id, e->id_len);
        return;
    }
    cr_xml_text(out, e->data, n);
    if (n < e->len)
        cr_buf_puts(out, "\xe2\x80\xa6");
}

void cr_feed_entry(cr_buf_t *out, const cr_feed_t *f, const cr_feed_entry_t *e)
{
    int text = cr_feed_is_text(e->content_type, e->content_type_len, e->data, e->len);
    if (f->kind == CR_FEED_ATOM) {
        cr_buf_puts(out, "<entry>\n<id>");
        tag_id(out, f, e);
        cr_buf_puts(out, "</id>\n<title type=\"text\">");
        title(out, e, text);
        cr_buf_puts(out, "</title>\n<updated>");
        cr_rfc3339(out, e->time_ms);
        cr_buf_puts(out, "</updated>\n");
        if (e->event) {
            cr_buf_puts(out, "<category term=\"");
            cr_xml_text(out, e->event, e->event_len);
            cr_buf_puts(out, "\"/>\n");
        }
        if (text) {
            cr_buf_puts(out, "<content type=\"text\">");
            cr_xml_text(out, e->data, e->len);
        } else {
            /* RFC 4287 4.1.3.3: content of a non-text, non-XML media type is base64. */
            cr_buf_puts(out, "<content type=\"");
            if (e->content_type && !type_prefix(e->content_type, e->content_type_len, "text/") &&
                !type_prefix(e->content_type, e->content_type_len, "application/xml"))
                cr_xml_text(out, e->content_type, e->content_type_len);
            else
                cr_buf_puts(out, "application/octet-stream");
            cr_buf_puts(out, "\">");
            cr_base64(out, (const unsigned char *)e->data, e->len);
        }
        cr_buf_puts(out, "</content>\n</entry>\n");
        return;
    }
    cr_buf_puts(out, "<item>\n<title>");
    title(out, e, text);
    cr_buf_puts(out, "</title>\n<guid isPermaLink=\"false\">");
    tag_id(out, f, e);
    cr_buf_puts(out, "</guid>\n<pubDate>");
    cr_http1_date(out, e->time_ms / 1000);
    cr_buf_puts(out, "</pubDate>\n");
    if (e->event) {
        cr_buf_puts(out, "<category>");
        cr_xml_text(out, e->event, e->event_len);
        cr_buf_puts(out, "</category>\n");
    }
    cr_buf_puts(out, "<description>");
    if (text)
        cr_xml_text(out, e->data, e->len);
    else
        cr_buf_printf(out,
                      "Binary payload of %zu bytes, not shown in RSS; the Atom feed carries it as base64.",
                      e->len);
    cr_buf_puts(out, "</description>\n</item>\n");
}

void cr_feed_end(cr_buf_t *out, const cr_feed_t *f)
{
    cr_buf_puts(out, f->kind == CR_FEED_ATOM ? "</feed>\n" : "</channel>\n</rss>\n");
}
