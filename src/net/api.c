/* The publish and information handlers of the HTTP API: publish, channel
 * stats and deletion, the channel list, health and metrics.
 * SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "core/cursor.h"
#include "core/err.h"
#include "core/sub.h"
#include "net/log.h"
#include "net/router.h"
#include "net/worker.h"
#include "proto/http1_write.h"
#include "proto/json_out.h"
#include "proto/query.h"
#include "transport/stream.h"

#define EVENT_NAME_MAX 64
#define CTYPE_MAX 255

int cr_api_header_or_query(const cr_http_request_t *req, const char *header, const char *param, char *out,
                           size_t cap, size_t *len)
{
    const cr_http_header_t *h = cr_http_header_find(req, header);
    if (h) {
        if (h->value.len >= cap)
            return CR_EPARAM;
        memcpy(out, h->value.ptr, h->value.len);
        out[h->value.len] = '\0';
        *len = h->value.len;
        return 1;
    }
    return cr_query_get(req->query, param, out, cap, len);
}

static int printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return cr_utf8_valid((const unsigned char *)s, len);
}

/* --- publish ---------------------------------------------------------------------------------------- */

typedef struct publish {
    cr_server_t *srv;
    cr_publish_done_fn done;
    void *arg;
    size_t n, pending;
    int status;
    size_t subscribers;
    int64_t time_ms;
    cr_channel_t **chs;
    cr_msg_t **msgs;
} publish_t;

static void publish_answer(publish_t *p)
{
    cr_buf_t b = CR_BUF_INIT;
    if (p->status == 0) {
        cr_msgid_t ids[p->n];
        for (size_t i = 0; i < p->n; i++)
            ids[i] = p->msgs[i]->id;
        cr_buf_puts(&b, "{\"id\":\"");
        cr_cursor_format(ids, p->n, &b);
        cr_buf_puts(&b, "\",\"channel\":\"");
        for (size_t i = 0; i < p->n; i++) {
            if (i)
                cr_buf_putc(&b, ',');
            cr_buf_append(&b, p->msgs[i]->channel->data, p->msgs[i]->channel->len);
        }
        cr_buf_printf(&b, "\",\"subscribers\":%zu,\"time\":%lld}\n", p->subscribers, (long long)p->time_ms);
    }
    for (size_t i = 0; i < p->n; i++)
        cr_msg_unref(p->msgs[i]);
    free(p->msgs);
    free(p->chs);
    p->done(p->arg, p->status, &b);
    cr_buf_free(&b);
    free(p);
}

static void on_stored(void *arg, int status)
{
    publish_t *p = arg;
    size_t i = p->n - p->pending;
    if (status < 0) {
        p->status = status;
    } else {
        /* Fan out only what the store has: an acknowledged message is a stored one. */
        p->srv->published++;
        /* The channel may have been deleted while the commit ran: find it again. */
        cr_bytes_t *name = p->msgs[i]->channel;
        cr_channel_t *ch = cr_registry_find(&p->srv->reg, name->data, name->len);
        if (p->srv->pool)
            p->subscribers += p->srv->pool_fanout; /* every loop fanned it out already (net/worker.c) */
        else if (ch)
            p->subscribers += cr_channel_fanout(ch, p->msgs[i]);
    }
    if (--p->pending == 0)
        publish_answer(p);
}

int cr_publish(cr_server_t *srv, const cr_publish_in_t *in, const char **why, cr_publish_done_fn done,
               void *arg)
{
    size_t max = srv->cfg.max_channels;
    cr_span_t names[max];
    int n = cr_channel_list_parse(in->channels, names, max);
    *why = NULL;
    if (n < 0)
        return n;
    if (in->event.len && (in->event.len > EVENT_NAME_MAX || !printable(in->event.ptr, in->event.len))) {
        *why = "X-Event / event: 1-64 printable characters";
        return CR_EPARAM;
    }
    if (in->ctype.len > CTYPE_MAX || !printable(in->ctype.ptr, in->ctype.len)) {
        *why = "Content-Type too long or not printable";
        return CR_EPARAM;
    }
    if (in->len > srv->cfg.max_body)
        return CR_EBODYTOOBIG;
    int64_t now = cr_now_ms();
    cr_bytes_t *payload = cr_bytes_copy(in->body ? in->body : "", in->len);
    cr_bytes_t *ctype = in->ctype.len ? cr_bytes_copy(in->ctype.ptr, in->ctype.len) : NULL;
    cr_bytes_t *ev = in->event.len ? cr_bytes_copy(in->event.ptr, in->event.len) : NULL;
    publish_t *p = cr_xcalloc(1, sizeof(*p));
    p->srv = srv;
    p->done = done;
    p->arg = arg;
    p->n = p->pending = (size_t)n;
    p->time_ms = now;
    p->chs = cr_xcalloc((size_t)n, sizeof(*p->chs));
    p->msgs = cr_xcalloc((size_t)n, sizeof(*p->msgs));
    for (int i = 0; i < n; i++) {
        p->chs[i] = cr_registry_get(&srv->reg, names[i].ptr, names[i].len, now);
        p->msgs[i] = cr_msg_new(p->chs[i]->name, ctype, ev, payload, now, in->ttl_ms ? now + in->ttl_ms : 0);
    }
    cr_bytes_unref(payload);
    cr_bytes_unref(ctype);
    cr_bytes_unref(ev);
    /* Appends are issued in channel order and complete in that order, so
     * on_stored can tell which message finished from the count. */
    for (int i = 0; i < n; i++) {
        int r = srv->engine->ops->append(srv->engine, p->chs[i], p->msgs[i], on_stored, p);
        if (r < 0)
            on_stored(p, r);
    }
    return 0;
}

static void http_published(void *arg, int status, cr_buf_t *answer)
{
    cr_conn_t *c = arg;
    if (status < 0)
        cr_log(CR_LOG_WARN, "%s: publish failed: %s", c->peer, cr_err_text(status));
    if (!cr_conn_gone(c)) {
        if (status < 0)
            cr_conn_error(c, status, NULL);
        else
            cr_conn_respond_json(c, 201, answer);
        cr_conn_request_done(c);
    }
    cr_conn_release(c);
}

void cr_api_publish(cr_conn_t *c, const cr_http_request_t *req, cr_span_t channels, const char *body,
                    size_t len)
{
    cr_server_t *srv = c->srv;
    char event[EVENT_NAME_MAX + 1], v[64];
    size_t event_len = 0, vlen;
    int64_t ttl_ms = 0, due_ms = 0;
    const char *why = NULL;
    int err = 0, r;
    if ((r = cr_api_header_or_query(req, "X-Event", "event", event, sizeof(event), &event_len)) < 0 ||
        (r == 1 && (event_len == 0 || !printable(event, event_len)))) {
        err = CR_EPARAM, why = "X-Event / event: 1-64 printable characters";
    } else if ((r = cr_api_header_or_query(req, "X-TTL", "ttl", v, sizeof(v), &vlen)) < 0 ||
               (r == 1 &&
                (cr_duration_parse(v, vlen, &ttl_ms) < 0 || ttl_ms <= 0 || ttl_ms > srv->cfg.max_ttl_ms))) {
        err = CR_EPARAM,
        why = "X-TTL / ttl: a duration such as 60, 90s, 15m, 2h or 1d, at most the --max-ttl";
    } else if ((r = cr_api_sched_due(req, cr_now_ms(), &due_ms, &why)) < 0) {
        err = r;
    }
    if (!err) {
        const cr_http_header_t *ct = cr_http_header_find(req, "Content-Type");
        cr_publish_in_t in = {channels, {NULL, 0}, {event, event_len}, ttl_ms, body, len};
        if (ct)
            in.ctype = ct->value;
        if (due_ms)
            err = cr_api_schedule(c, &in, due_ms, &why);
        else {
            /* The store may answer on a later loop turn: c must outlive the wait. */
            cr_conn_hold(c);
            err = cr_publish(srv, &in, &why, http_published, c);
            if (err)
                cr_conn_release(c);
        }
    }
    if (err) {
        cr_log(CR_LOG_DEBUG, "%s: publish refused: %s", c->peer, why ? why : cr_err_text(err));
        cr_conn_error(c, err, why);
        cr_conn_request_done(c);
    }
}

/* --- channel information ----------------------------------------------------------------------------- */

static void no_channel(cr_conn_t *c, cr_span_t name)
{
    cr_buf_t d = CR_BUF_INIT;
    cr_buf_puts(&d, "no channel ");
    cr_buf_append(&d, name.ptr, name.len);
    cr_buf_putc(&d, '\0');
    cr_conn_error(c, CR_ENOTFOUND, d.data);
    cr_buf_free(&d);
}

static cr_channel_t *one_channel(cr_conn_t *c, cr_span_t name)
{
    if (!cr_channel_name_valid(name.ptr, name.len)) {
        cr_conn_error(c, CR_ECHANNEL, "one channel name expected");
        return NULL;
    }
    cr_channel_t *ch = cr_registry_find(&c->srv->reg, name.ptr, name.len);
    if (!ch)
        no_channel(c, name);
    return ch;
}

static void put_id_or_null(cr_buf_t *b, const char *key, const cr_msg_t *m)
{
    cr_buf_printf(b, ",\"%s\":", key);
    if (!m) {
        cr_buf_puts(b, "null");
        return;
    }
    char id[CR_MSGID_MAX_LEN];
    cr_buf_putc(b, '"');
    cr_buf_append(b, id, cr_msgid_format(m->id, id));
    cr_buf_putc(b, '"');
}

/* subs: the subscriber count to report (this node's, or the cluster's). */
static void channel_json_subs(cr_buf_t *b, const cr_channel_t *ch, size_t subs)
{
    const cr_history_t *h = &ch->history;
    cr_buf_puts(b, "{\"channel\":");
    cr_json_string(b, ch->name->data, ch->name->len);
    cr_buf_printf(b, ",\"messages\":%zu,\"subscribers\":%zu", h->count, subs);
    put_id_or_null(b, "first_id", h->count ? cr_history_at(h, 0) : NULL);
    put_id_or_null(b, "last_id", h->count ? cr_history_at(h, h->count - 1) : NULL);
    cr_buf_printf(b, ",\"published\":%llu,\"last_publish\":", (unsigned long long)ch->published);
    if (ch->last_publish_ms)
        cr_buf_printf(b, "%lld}", (long long)ch->last_publish_ms);
    else
        cr_buf_puts(b, "null}");
}

static void channel_json(cr_buf_t *b, const cr_channel_t *ch)
{
    channel_json_subs(b, ch, ch->nsubs);
}

static void stats_answer(cr_conn_t *c, const cr_channel_t *ch, size_t subs, int cluster)
{
    cr_buf_t b = CR_BUF_INIT;
    channel_json_subs(&b, ch, subs);
    if (cluster) {
        /* "subscribers" counts every node; this node's own share beside it. */
        b.len--;
        cr_buf_printf(&b, ",\"local_subscribers\":%zu}", ch->nsubs);
    }
    cr_buf_putc(&b, '\n');
    cr_conn_respond_json(c, 200, &b);
    cr_buf_free(&b);
}

typedef struct stats_wait {
    cr_conn_t *c;
    cr_bytes_t *name;
} stats_wait_t;

static void stats_counted(void *arg, int status, size_t n)
{
    stats_wait_t *w = arg;
    cr_conn_t *c = w->c;
    if (!cr_conn_gone(c)) {
        cr_channel_t *ch = cr_registry_find(&c->srv->reg, w->name->data, w->name->len);
        cr_channel_t elsewhere;
        if (!ch && c->srv->pool && status == 0) {
            /* Only subscribed to on other loops (--threads): it has no message, or this
             * loop's replica would have it. */
            memset(&elsewhere, 0, sizeof(elsewhere));
            elsewhere.name = w->name;
            ch = &elsewhere;
        }
        if (!ch && c->srv->pool && status == CR_ENOTFOUND)
            no_channel(c, (cr_span_t){w->name->data, w->name->len});
        else if (!ch)
            cr_conn_error(c, CR_ENOTFOUND, "channel deleted meanwhile");
        else if (status < 0)
            cr_conn_error(c, status, "counting the cluster's subscribers");
        else
            stats_answer(c, ch, n, !c->srv->pool); /* loops of one node answer as one node */
        cr_conn_request_done(c);
    }
    cr_conn_release(c);
    cr_bytes_unref(w->name);
    free(w);
}

void cr_api_channel_stats(cr_conn_t *c, cr_span_t name)
{
    if (c->srv->pool && cr_channel_name_valid(name.ptr, name.len) &&
        !cr_registry_find(&c->srv->reg, name.ptr, name.len)) {
        /* --threads: the channel may exist on another loop only. */
        stats_wait_t *w = cr_xcalloc(1, sizeof(*w));
        w->c = c;
        w->name = cr_bytes_copy(name.ptr, name.len);
        cr_conn_hold(c);
        cr_pool_count(c->srv, w->name, stats_counted, w);
        return;
    }
    cr_channel_t *ch = one_channel(c, name);
    if (ch) {
        cr_engine_t *e = c->srv->engine;
        stats_wait_t *w = cr_xcalloc(1, sizeof(*w));
        w->c = c;
        w->name = cr_bytes_ref(ch->name);
        cr_conn_hold(c);
        int r = e->ops->subscribers(e, ch, stats_counted, w);
        if (r == 0)
            return;
        cr_conn_release(c);
        cr_bytes_unref(w->name);
        free(w);
        if (r == CR_ENOTSUP)
            stats_answer(c, ch, ch->nsubs, 0);
        else
            cr_conn_error(c, r, "counting the cluster's subscribers");
    }
    cr_conn_request_done(c);
}

static void delete_answer(cr_conn_t *c, const cr_bytes_t *name, size_t told)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_puts(&b, "{\"channel\":");
    cr_json_string(&b, name->data, name->len);
    cr_buf_printf(&b, ",\"deleted\":true,\"subscribers\":%zu}\n", told);
    cr_log(CR_LOG_INFO, "%s: deleted channel %s (%zu subscribers told)", c->peer, name->data, told);
    cr_conn_respond_json(c, 200, &b);
    cr_buf_free(&b);
}

/* --threads: every loop has forgotten the channel and told its subscribers. */
static void deleted_everywhere(void *arg, int status, size_t told)
{
    stats_wait_t *w = arg;
    cr_conn_t *c = w->c;
    if (!cr_conn_gone(c)) {
        if (status < 0)
            no_channel(c, (cr_span_t){w->name->data, w->name->len});
        else
            delete_answer(c, w->name, told);
        cr_conn_request_done(c);
    }
    cr_conn_release(c);
    cr_bytes_unref(w->name);
    free(w);
}

void cr_api_channel_delete(cr_conn_t *c, cr_span_t name)
{
    cr_server_t *srv = c->srv;
    if (srv->pool && cr_channel_name_valid(name.ptr, name.len)) {
        /* The channel may be on any loop, and only the hub's store can drop it. */
        stats_wait_t *w = cr_xcalloc(1, sizeof(*w));
        w->c = c;
        w->name = cr_bytes_copy(name.ptr, name.len);
        cr_conn_hold(c);
        cr_pool_delete(srv, w->name, deleted_everywhere, w);
        return;
    }
    cr_channel_t *ch = one_channel(c, name);
    if (ch) {
        size_t n = cr_stream_channel_deleted(srv, ch);
        delete_answer(c, ch->name, n);
        srv->engine->ops->drop(srv->engine, ch);
        cr_registry_remove(&srv->reg, ch);
    }
    cr_conn_request_done(c);
}

static void list_one(cr_channel_t *ch, void *arg)
{
    cr_buf_t *b = arg;
    if (b->data[b->len - 1] != '[')
        cr_buf_putc(b, ',');
    channel_json(b, ch);
}

void cr_api_channels(cr_conn_t *c)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_printf(&b, "{\"count\":%zu,\"channels\":[", c->srv->reg.count);
    cr_registry_foreach(&c->srv->reg, list_one, &b);
    cr_buf_puts(&b, "]}\n");
    cr_conn_respond_json(c, 200, &b);
    cr_buf_free(&b);
}

/* This loop's counters, or with --threads the sums over every loop. Each is written by its
 * own loop only, with plain stores so that counting costs nothing on the delivery path; the
 * other loops' are read with volatile loads: an aligned 8-byte load reads a whole value,
 * maybe a little old, which is all a monitoring figure needs. Formally a data race, so
 * ThreadSanitizer is told not to instrument these reads. */
typedef struct totals {
    size_t conns, channels, subs;
    uint64_t published, delivered, slow_cutoffs, requests, bad_requests;
} totals_t;

#define LOAD(x) (*(volatile __typeof__(x) *)&(x))

#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize("thread")))
#endif
static void
totals(cr_server_t *srv, totals_t *t)
{
    memset(t, 0, sizeof(*t));
    unsigned n = srv->pool ? cr_pool_size(srv->pool) : 1;
    for (unsigned i = 0; i < n; i++) {
        cr_server_t *s = srv->pool ? cr_pool_server(srv->pool, i) : srv;
        t->conns += LOAD(s->nconns);
        t->subs += LOAD(s->reg.subs);
        /* Every loop has every channel with a message or a subscriber on some loop (see
         * tell_presence in net/worker.c); a loop that forgets channels later than another
         * still counts them a moment, so the largest count is the process's. */
        size_t ch = LOAD(s->reg.count);
        if (ch > t->channels)
            t->channels = ch;
        t->published += LOAD(s->published);
        t->delivered += LOAD(s->delivered);
        t->slow_cutoffs += LOAD(s->slow_cutoffs);
        t->requests += LOAD(s->requests);
        t->bad_requests += LOAD(s->bad_requests);
    }
}

void cr_api_health(cr_conn_t *c)
{
    cr_server_t *srv = c->srv;
    totals_t t;
    totals(srv, &t);
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_printf(
        &b,
        "{\"status\":\"ok\",\"engine\":\"%s\",\"uptime_s\":%lld,\"connections\":%zu,\"channels\":%zu,"
        "\"published\":%llu,\"delivered\":%llu}\n",
        srv->engine->ops->name, (long long)((cr_now_ms() - srv->started_ms) / 1000), t.conns, t.channels,
        (unsigned long long)t.published, (unsigned long long)t.delivered);
    cr_conn_respond_json(c, 200, &b);
    cr_buf_free(&b);
}

void cr_api_metrics(cr_conn_t *c)
{
    cr_server_t *srv = c->srv;
    totals_t t;
    totals(srv, &t);
    cr_buf_t b = CR_BUF_INIT, head = CR_BUF_INIT;
    cr_buf_printf(
        &b,
        "# HELP crier_connections Open client connections.\n# TYPE crier_connections gauge\n"
        "crier_connections %zu\n"
        "# HELP crier_channels Channels in memory.\n# TYPE crier_channels gauge\ncrier_channels %zu\n"
        "# HELP crier_subscriptions Channel subscriptions.\n# TYPE crier_subscriptions gauge\n"
        "crier_subscriptions %zu\n"
        "# HELP crier_messages_published_total Messages stored.\n"
        "# TYPE crier_messages_published_total counter\ncrier_messages_published_total %llu\n"
        "# HELP crier_messages_delivered_total Messages handed to subscribers.\n"
        "# TYPE crier_messages_delivered_total counter\ncrier_messages_delivered_total %llu\n"
        "# HELP crier_slow_subscribers_total Subscribers cut off for not reading.\n"
        "# TYPE crier_slow_subscribers_total counter\ncrier_slow_subscribers_total %llu\n"
        "# HELP crier_requests_total HTTP requests handled.\n"
        "# TYPE crier_requests_total counter\ncrier_requests_total %llu\n"
        "# HELP crier_bad_requests_total Requests refused as malformed or failed.\n"
        "# TYPE crier_bad_requests_total counter\ncrier_bad_requests_total %llu\n",
        t.conns, t.channels, t.subs, (unsigned long long)t.published, (unsigned long long)t.delivered,
        (unsigned long long)t.slow_cutoffs, (unsigned long long)t.requests,
        (unsigned long long)t.bad_requests);
    cr_conn_head(c, &head, 200);
    cr_conn_respond(c, &head, "text/plain; version=0.0.4", b.data, b.len);
    cr_buf_free(&b);
    cr_buf_free(&head);
}
