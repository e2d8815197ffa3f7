/* GET /feed/{channel}.atom and /feed/{channel}.rss: the channel's retained
 * messages, newest first, at most FEED_MAX of them and FEED_MAX_BYTES of payload,
 * as Atom 1.0 or RSS 2.0 (the pull fallback for feed readers). An unknown channel
 * is a 404; a channel with nothing retained gives an empty feed. ETag and Last-Modified let a reader
 * poll with a conditional GET and get a 304 while nothing changed.
 * With --threads, a channel this loop does not have is looked for on the others.
 * SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/channel.h"
#include "core/err.h"
#include "net/router.h"
#include "net/worker.h"
#include "proto/feed.h"
#include "proto/http1_parse.h"
#include "proto/http1_write.h"

#define FEED_MAX 50
/* Payload bytes per feed: past this, older entries are left out (the newest always
 * goes in), so that a feed of large messages stays well under the output queue's cap. */
#define FEED_MAX_BYTES (2u << 20)
#define HOST_MAX 255

typedef struct feed_req {
    cr_conn_t *conn;
    cr_feed_kind_t kind;
    char *channel;
    size_t channel_len;
    char *base;
    char *if_none_match;       /* NULL: header absent */
    int64_t if_modified_since; /* seconds; -1: header absent or unreadable */
    /* --threads, a channel found on other loops: what the best of them holds */
    unsigned origin; /* the loop of conn (held) */
    int found;       /* some loop has the channel */
    int64_t created_ms;
    size_t nheld;
    cr_msg_t *held[FEED_MAX]; /* references, newest first */
} feed_req_t;

/* "http://<Host>" when the Host header is a plain host[:port], else a neutral origin. */
static char *base_url(const cr_http_request_t *req)
{
    const cr_http_header_t *h = cr_http_header_find(req, "Host");
    int ok = h && h->value.len > 0 && h->value.len <= HOST_MAX;
    for (size_t i = 0; ok && i < h->value.len; i++) {
        char ch = h->value.ptr[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
             ch == '-' || ch == ':' || ch == '[' || ch == ']' || ch == '_';
    }
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_puts(&b, "http://");
    if (ok)
        cr_buf_append(&b, h->value.ptr, h->value.len);
    else
        cr_buf_puts(&b, "localhost");
    cr_buf_putc(&b, '\0');
    return b.data;
}

/* Whether the If-None-Match list names etag (weak comparison, RFC 9110 13.1.2). */
static int etag_matches(const char *list, const char *etag)
{
    const char *p = list;
    size_t elen = strlen(etag);
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == elen && memcmp(p, etag, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static void feed_req_free(feed_req_t *f)
{
    for (size_t i = 0; i < f->nheld; i++)
        cr_msg_unref(f->held[i]);
    free(f->channel);
    free(f->base);
    free(f->if_none_match);
    free(f);
}

/* ch's newest live messages into list, newest first: how many (at most FEED_MAX). Those past
 * their TTL or the age limit (max_age_ms, 0: none) are left out: another loop's replica is not
 * pruned for the request, and its own pruning runs once a second. */
static size_t collect(const cr_channel_t *ch, int64_t now, int64_t max_age_ms, cr_msg_t **list)
{
    size_t n = 0, bytes = 0;
    for (size_t i = ch->history.count; i > 0 && n < FEED_MAX; i--) {
        cr_msg_t *m = cr_history_at(&ch->history, i - 1);
        if (max_age_ms && m->time_ms + max_age_ms <= now)
            continue;
        if (m->expires_ms && m->expires_ms <= now)
            continue;
        if (n > 0 && bytes + m->payload->len > FEED_MAX_BYTES)
            break;
        bytes += m->payload->len;
        list[n++] = m;
    }
    return n;
}

/* The feed of list[0..n) (newest first) of a channel created at created_ms. */
static void answer(feed_req_t *f, cr_msg_t **list, size_t n, int64_t created_ms)
{
    cr_conn_t *c = f->conn;
    int64_t updated = n ? list[0]->time_ms : created_ms;
    char newest[CR_MSGID_MAX_LEN], oldest[CR_MSGID_MAX_LEN], etag[2 * CR_MSGID_MAX_LEN + 48];
    if (n) {
        cr_msgid_format(list[0]->id, newest);
        cr_msgid_format(list[n - 1]->id, oldest);
        snprintf(etag, sizeof(etag), "\"%s-%s-%s\"", f->kind == CR_FEED_ATOM ? "atom" : "rss", newest,
                 oldest);
    } else {
        snprintf(etag, sizeof(etag), "\"%s-empty-%lld\"", f->kind == CR_FEED_ATOM ? "atom" : "rss",
                 (long long)created_ms);
    }
    int not_modified;
    if (f->if_none_match)
        not_modified = etag_matches(f->if_none_match, etag);
    else
        not_modified = f->if_modified_since >= 0 && updated / 1000 <= f->if_modified_since;

    cr_buf_t head = CR_BUF_INIT;
    cr_conn_head(c, &head, not_modified ? 304 : 200);
    cr_http1_header_str(&head, "ETag", etag);
    cr_buf_puts(&head, "Last-Modified: ");
    cr_http1_date(&head, updated / 1000);
    cr_buf_puts(&head, "\r\nCache-Control: no-cache\r\n");
    if (not_modified) {
        cr_conn_finish_head(c, &head);
        cr_buf_free(&head);
        return;
    }
    cr_feed_t feed = {f->kind, f->channel, f->channel_len, f->base, strlen(f->base), updated};
    cr_buf_t body = CR_BUF_INIT;
    cr_feed_begin(&body, &feed);
    for (size_t i = 0; i < n; i++) {
        const cr_msg_t *m = list[i];
        char id[CR_MSGID_MAX_LEN];
        size_t idlen = cr_msgid_format(m->id, id);
        cr_feed_entry_t e = {
            .id = id,
            .id_len = idlen,
            .time_ms = m->time_ms,
            .content_type = m->content_type ? m->content_type->data : NULL,
            .content_type_len = m->content_type ? m->content_type->len : 0,
            .event = m->event ? m->event->data : NULL,
            .event_len = m->event ? m->event->len : 0,
            .data = m->payload->data,
            .len = m->payload->len,
        };
        cr_feed_entry(&body, &feed, &e);
    }
    cr_feed_end(&body, &feed);
    cr_conn_respond(c, &head,
                    f->kind == CR_FEED_ATOM ? "application/atom+xml; charset=utf-8"
                                            : "application/rss+xml; charset=utf-8",
                    body.data, body.len);
    cr_buf_free(&head);
    cr_buf_free(&body);
}

static void on_loaded(void *arg, int status)
{
    feed_req_t *f = arg;
    cr_conn_t *c = f->conn;
    /* Found again by name: the channel may have been dropped while the store read. */
    cr_channel_t *ch = cr_registry_find(&c->srv->reg, f->channel, f->channel_len);
    if (status < 0) {
        cr_conn_error(c, status, "loading history");
    } else if (!ch) {
        cr_conn_error(c, CR_ENOTFOUND, "the channel was deleted");
    } else {
        cr_msg_t *list[FEED_MAX];
        answer(f, list, collect(ch, cr_now_ms(), c->srv->engine->cfg.max_age_ms, list), ch->created_ms);
    }
    feed_req_free(f);
    cr_conn_request_done(c);
}

/* --threads: the request visits every other loop in turn, then comes back to its own. A loop
 * that has the channel (a subscriber made it there) gives its creation time and, when they are
 * newer than what the request holds, references to its newest messages (the same immutable
 * messages every replica holds). */
static void visit(cr_server_t *srv, void *arg)
{
    feed_req_t *f = arg;
    cr_conn_t *c = f->conn;
    if (srv->index == f->origin) {
        if (!cr_conn_gone(c)) {
            if (f->found)
                answer(f, f->held, f->nheld, f->created_ms);
            else
                cr_conn_error(c, CR_ENOTFOUND, "no such channel");
            cr_conn_request_done(c);
        }
        cr_conn_release(c);
        feed_req_free(f);
        return;
    }
    cr_channel_t *ch = srv->stopping ? NULL : cr_registry_find(&srv->reg, f->channel, f->channel_len);
    if (ch) {
        if (!f->found || ch->created_ms < f->created_ms)
            f->created_ms = ch->created_ms;
        f->found = 1;
        cr_msg_t *list[FEED_MAX];
        size_t n = collect(ch, cr_now_ms(), srv->engine->cfg.max_age_ms, list);
        if (n && (!f->nheld || cr_msgid_cmp(list[0]->id, f->held[0]->id) > 0)) {
            for (size_t i = 0; i < f->nheld; i++)
                cr_msg_unref(f->held[i]);
            for (size_t i = 0; i < n; i++)
                f->held[i] = cr_msg_ref(list[i]);
            f->nheld = n;
        }
    }
    cr_pool_call(srv->pool, (srv->index + 1) % cr_pool_size(srv->pool), visit, f);
}

void cr_api_feed(cr_conn_t *c, const cr_http_request_t *req, cr_span_t rest)
{
    cr_feed_kind_t kind;
    cr_span_t name = rest;
    if (rest.len > 5 && memcmp(rest.ptr + rest.len - 5, ".atom", 5) == 0) {
        kind = CR_FEED_ATOM;
        name.len -= 5;
    } else if (rest.len > 4 && memcmp(rest.ptr + rest.len - 4, ".rss", 4) == 0) {
        kind = CR_FEED_RSS;
        name.len -= 4;
    } else {
        cr_conn_error(c, CR_ENOTFOUND, "feeds are /feed/{channel}.atom and /feed/{channel}.rss");
        cr_conn_request_done(c);
        return;
    }
    if (!cr_channel_name_valid(name.ptr, name.len)) {
        cr_conn_error(c, CR_ECHANNEL, "one channel name expected before .atom or .rss");
        cr_conn_request_done(c);
        return;
    }
    cr_channel_t *ch = cr_registry_find(&c->srv->reg, name.ptr, name.len);
    if (!ch && !c->srv->pool) {
        cr_conn_error(c, CR_ENOTFOUND, "no such channel");
        cr_conn_request_done(c);
        return;
    }
    feed_req_t *f = cr_xcalloc(1, sizeof(*f));
    f->conn = c;
    f->kind = kind;
    f->channel = cr_xstrndup(name.ptr, name.len);
    f->channel_len = name.len;
    f->base = base_url(req);
    f->if_modified_since = -1;
    const cr_http_header_t *inm = cr_http_header_find(req, "If-None-Match");
    if (inm)
        f->if_none_match = cr_xstrndup(inm->value.ptr, inm->value.len);
    const cr_http_header_t *ims = cr_http_header_find(req, "If-Modified-Since");
    int64_t t;
    if (ims && cr_http1_date_parse(ims->value.ptr, ims->value.len, &t) == 0)
        f->if_modified_since = t;
    cr_server_t *srv = c->srv;
    if (!ch) {
        /* --threads: maybe a channel of another loop only. */
        f->origin = srv->index;
        cr_conn_hold(c);
        cr_pool_call(srv->pool, (srv->index + 1) % cr_pool_size(srv->pool), visit, f);
        return;
    }
    int r = srv->engine->ops->load(srv->engine, ch, CR_MSGID_NONE, cr_now_ms(), on_loaded, f);
    if (r < 0)
        on_loaded(f, r);
}
