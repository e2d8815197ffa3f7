/* Scheduled pushes over HTTP: X-Delay / X-At on a publish store the message
 * for later (202), GET /pub/{ch}/scheduled lists what waits, DELETE
 * /pub/{ch}/scheduled/{id} cancels one, and the server's schedule timer
 * publishes each one through the ordinary publish path when it is due, in
 * due-time order, getting its real message id then. A publish at a time in the
 * past is refused (400), never silently sent at once. With --threads they all
 * live on the hub: the other loops forward these requests there.
 * SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "net/log.h"
#include "net/router.h"
#include "net/worker.h"
#include "proto/json_out.h"
#include "proto/query.h"

#define SCHED_MAX_AHEAD_MS (30LL * 86400 * 1000)
#define SCHED_MAX_ITEMS 100000
#define SCHED_RETRY_MS 1000

int cr_api_sched_due(const cr_http_request_t *req, int64_t now_ms, int64_t *due_ms, const char **why)
{
    char v[64];
    size_t len;
    int64_t ms;
    int d = cr_api_header_or_query(req, "X-Delay", "delay", v, sizeof(v), &len);
    int a = cr_api_header_or_query(req, "X-At", "at", v + 0, sizeof(v), &len);
    *due_ms = 0;
    if (d == 0 && a == 0)
        return 0;
    if (d > 0 && a > 0) {
        *why = "give X-Delay or X-At, not both";
        return CR_EPARAM;
    }
    if (d > 0) {
        cr_api_header_or_query(req, "X-Delay", "delay", v, sizeof(v), &len);
        if (cr_sched_parse_delay(v, len, &ms) < 0 || ms <= 0) {
            *why = "X-Delay / delay: a positive duration such as 90, 90s, 15m or 1h30m";
            return CR_EPARAM;
        }
        *due_ms = now_ms + ms;
    } else if (a > 0) {
        if (cr_sched_parse_at(v, len, &ms) < 0) {
            *why = "X-At / at: a unix time in seconds or an RFC 3339 time such as 2030-01-01T08:00:00Z";
            return CR_EPARAM;
        }
        if (ms <= now_ms) {
            *why = "X-At / at: that time is in the past";
            return CR_EPARAM;
        }
        *due_ms = ms;
    } else {
        *why = "X-Delay / X-At: value too long";
        return CR_EPARAM;
    }
    if (*due_ms - now_ms > SCHED_MAX_AHEAD_MS) {
        *why = "scheduled pushes may be at most 30 days ahead";
        return CR_EPARAM;
    }
    return 1;
}

static void item_json(cr_buf_t *b, const cr_sched_item_t *it)
{
    char at[32];
    cr_sched_format_rfc3339(it->due_ms, at);
    cr_buf_printf(b, "{\"id\":%llu,\"channel\":", (unsigned long long)it->id);
    cr_json_string(b, it->channels->data, it->channels->len);
    cr_buf_printf(b, ",\"due\":%lld,\"due_at\":\"%s\",\"created\":%lld", (long long)it->due_ms, at,
                  (long long)it->created_ms);
}

/* --- requests: asked on the connection's loop, run on the hub --------------------------------------- */

/* Scheduled pushes live in one heap, the hub's (the only loop without --threads). A request
 * is checked on the connection's loop, run on the hub, and answered back on the connection's
 * loop; with one loop all three are the same loop and no message is posted. */
typedef struct sched_req sched_req_t;
struct sched_req {
    cr_conn_t *conn; /* held; touched on its own loop only */
    unsigned origin; /* the loop of conn */
    void (*run)(cr_server_t *hub, sched_req_t *q);
    cr_server_t *hub;    /* set once it runs there */
    cr_sched_item_t *it; /* add: the push to store; cancel: the one the store forgets */
    cr_bytes_t *channel; /* list, cancel */
    uint64_t id;         /* cancel */
    int status;          /* the answer: an HTTP status, or a negative code with why */
    const char *why;
    cr_buf_t answer; /* its JSON */
};

static void answered(cr_server_t *srv, void *arg)
{
    (void)srv;
    sched_req_t *q = arg;
    cr_conn_t *c = q->conn;
    if (!cr_conn_gone(c)) {
        if (q->status < 0)
            cr_conn_error(c, q->status, q->why);
        else
            cr_conn_respond_json(c, q->status, &q->answer);
        cr_conn_request_done(c);
    }
    cr_conn_release(c);
    cr_buf_free(&q->answer);
    cr_bytes_unref(q->channel);
    free(q);
}

/* On the hub: the answer goes back to the connection's loop. */
static void finish(cr_server_t *hub, sched_req_t *q, int status, const char *why)
{
    q->status = status;
    q->why = why;
    if (hub->pool && q->origin != hub->index)
        cr_pool_call(hub->pool, q->origin, answered, q);
    else
        answered(hub, q);
}

static void on_hub(cr_server_t *hub, void *arg)
{
    sched_req_t *q = arg;
    if (hub->stopping) {
        cr_sched_item_free(q->it);
        q->it = NULL;
        finish(hub, q, CR_EUNAVAIL, "the server is stopping");
        return;
    }
    q->run(hub, q);
}

static void to_hub(cr_conn_t *c, sched_req_t *q, void (*run)(cr_server_t *hub, sched_req_t *q))
{
    cr_server_t *srv = c->srv;
    q->conn = c;
    q->origin = srv->index;
    q->run = run;
    cr_conn_hold(c);
    if (srv->pool && srv->index != 0)
        cr_pool_call(srv->pool, 0, on_hub, q);
    else
        run(srv, q);
}

/* --- scheduling -------------------------------------------------------------------------------------- */

static void on_sched_stored(void *arg, int status)
{
    sched_req_t *q = arg;
    cr_server_t *hub = q->hub;
    cr_sched_item_t *it = q->it;
    q->it = NULL;
    if (status < 0) {
        cr_log(CR_LOG_WARN, "scheduling a push on %s failed: %s", it->channels->data, cr_err_text(status));
        cr_sched_item_free(it);
        finish(hub, q, status, NULL);
        return;
    }
    item_json(&q->answer, it);
    cr_buf_puts(&q->answer, ",\"scheduled\":true}\n");
    cr_log(CR_LOG_DEBUG, "scheduled push %llu on %s", (unsigned long long)it->id, it->channels->data);
    cr_sched_push(&hub->sched, it);
    cr_server_sched_rearm(hub);
    finish(hub, q, 202, NULL);
}

static void run_schedule(cr_server_t *hub, sched_req_t *q)
{
    q->hub = hub;
    if (hub->sched.count >= SCHED_MAX_ITEMS) {
        cr_sched_item_free(q->it);
        q->it = NULL;
        finish(hub, q, CR_EUNAVAIL, "too many scheduled pushes waiting");
        return;
    }
    cr_sched_assign_id(&hub->sched, q->it);
    int r = hub->engine->ops->sched_add(hub->engine, q->it, on_sched_stored, q);
    if (r < 0)
        on_sched_stored(q, r);
}

static int printable(cr_span_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x20 || s.ptr[i] == 0x7f)
            return 0;
    return cr_utf8_valid((const unsigned char *)s.ptr, s.len);
}

int cr_api_schedule(cr_conn_t *c, const cr_publish_in_t *in, int64_t due_ms, const char **why)
{
    cr_server_t *srv = c->srv;
    size_t max = srv->cfg.max_channels;
    cr_span_t names[max];
    int n = cr_channel_list_parse(in->channels, names, max);
    *why = NULL;
    if (n < 0)
        return n;
    /* The same checks as cr_publish, now: a push that can't be published is refused up front. */
    if (in->ctype.len > 255 || !printable(in->ctype) || in->event.len > 64 || !printable(in->event)) {
        *why = "Content-Type or X-Event too long or not printable";
        return CR_EPARAM;
    }
    if (in->len > srv->cfg.max_body)
        return CR_EBODYTOOBIG;
    cr_bytes_t *chans = cr_bytes_copy(in->channels.ptr, in->channels.len);
    cr_bytes_t *payload = cr_bytes_copy(in->body ? in->body : "", in->len);
    cr_bytes_t *ctype = in->ctype.len ? cr_bytes_copy(in->ctype.ptr, in->ctype.len) : NULL;
    cr_bytes_t *ev = in->event.len ? cr_bytes_copy(in->event.ptr, in->event.len) : NULL;
    sched_req_t *q = cr_xcalloc(1, sizeof(*q));
    /* Its only references are the item's: it can move to the hub's thread. */
    q->it = cr_sched_item_new(chans, ctype, ev, payload, due_ms, cr_now_ms(), in->ttl_ms);
    cr_bytes_unref(chans);
    cr_bytes_unref(payload);
    cr_bytes_unref(ctype);
    cr_bytes_unref(ev);
    to_hub(c, q, run_schedule);
    return 0;
}

/* --- listing and cancelling ------------------------------------------------------------------------- */

static int by_due(const void *a, const void *b)
{
    const cr_sched_item_t *x = *(cr_sched_item_t *const *)a, *y = *(cr_sched_item_t *const *)b;
    if (x->due_ms != y->due_ms)
        return x->due_ms < y->due_ms ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void run_list(cr_server_t *hub, sched_req_t *q)
{
    cr_sched_t *s = &hub->sched;
    cr_bytes_t *ch = q->channel;
    cr_sched_item_t **items = cr_xmalloc((s->count ? s->count : 1) * sizeof(*items));
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        if (cr_sched_item_has_channel(cr_sched_at(s, i), ch->data, ch->len))
            items[n++] = cr_sched_at(s, i);
    qsort(items, n, sizeof(*items), by_due);
    cr_buf_t b = CR_BUF_INIT;
    cr_buf_puts(&b, "{\"channel\":");
    cr_json_string(&b, ch->data, ch->len);
    cr_buf_printf(&b, ",\"count\":%zu,\"scheduled\":[", n);
    for (size_t i = 0; i < n; i++) {
        const cr_sched_item_t *it = items[i];
        if (i)
            cr_buf_putc(&b, ',');
        item_json(&b, it);
        if (it->event) {
            cr_buf_puts(&b, ",\"event\":");
            cr_json_string(&b, it->event->data, it->event->len);
        }
        if (it->content_type) {
            cr_buf_puts(&b, ",\"content_type\":");
            cr_json_string(&b, it->content_type->data, it->content_type->len);
        }
        if (it->ttl_ms)
            cr_buf_printf(&b, ",\"ttl\":%lld", (long long)(it->ttl_ms / 1000));
        cr_buf_printf(&b, ",\"size\":%u,", it->payload->len);
        if (cr_utf8_valid((const unsigned char *)it->payload->data, it->payload->len)) {
            cr_buf_puts(&b, "\"data\":");
            cr_json_string(&b, it->payload->data, it->payload->len);
        } else {
            cr_buf_puts(&b, "\"data_base64\":\"");
            cr_base64(&b, (const unsigned char *)it->payload->data, it->payload->len);
            cr_buf_putc(&b, '"');
        }
        cr_buf_putc(&b, '}');
    }
    cr_buf_puts(&b, "]}\n");
    free(items);
    q->answer = b;
    finish(hub, q, 200, NULL);
}

void cr_api_sched_list(cr_conn_t *c, cr_span_t channel)
{
    if (!cr_channel_name_valid(channel.ptr, channel.len)) {
        cr_conn_error(c, CR_ECHANNEL, "one channel name expected");
        cr_conn_request_done(c);
        return;
    }
    sched_req_t *q = cr_xcalloc(1, sizeof(*q));
    q->channel = cr_bytes_copy(channel.ptr, channel.len);
    to_hub(c, q, run_list);
}

static void on_cancelled(void *arg, int status)
{
    sched_req_t *q = arg;
    cr_server_t *hub = q->hub;
    cr_sched_item_t *it = q->it;
    q->it = NULL;
    if (status < 0) {
        /* Still stored, so still due: put it back. */
        cr_sched_push(&hub->sched, it);
        cr_server_sched_rearm(hub);
        finish(hub, q, status, NULL);
        return;
    }
    item_json(&q->answer, it);
    cr_buf_puts(&q->answer, ",\"cancelled\":true}\n");
    cr_sched_item_free(it);
    finish(hub, q, 200, NULL);
}

static void run_cancel(cr_server_t *hub, sched_req_t *q)
{
    q->hub = hub;
    cr_sched_item_t *it = cr_sched_find(&hub->sched, q->id);
    if (!it || !cr_sched_item_has_channel(it, q->channel->data, q->channel->len)) {
        finish(hub, q, CR_ENOTFOUND,
               "no such scheduled push on this channel (unknown, cancelled or already sent)");
        return;
    }
    cr_sched_remove(&hub->sched, it);
    cr_server_sched_rearm(hub);
    q->it = it;
    int r = hub->engine->ops->sched_del(hub->engine, it->id, on_cancelled, q);
    if (r < 0)
        on_cancelled(q, r);
}

void cr_api_sched_cancel(cr_conn_t *c, cr_span_t channel, cr_span_t id)
{
    uint64_t v = 0;
    int ok = id.len > 0 && id.len <= 19;
    for (size_t i = 0; ok && i < id.len; i++) {
        ok = id.ptr[i] >= '0' && id.ptr[i] <= '9';
        v = v * 10 + (uint64_t)(id.ptr[i] - '0');
    }
    if (!cr_channel_name_valid(channel.ptr, channel.len) || !ok) {
        if (!cr_channel_name_valid(channel.ptr, channel.len))
            cr_conn_error(c, CR_ECHANNEL, "one channel name expected");
        else
            cr_conn_error(c, CR_EPARAM, "a scheduled push id is a number");
        cr_conn_request_done(c);
        return;
    }
    sched_req_t *q = cr_xcalloc(1, sizeof(*q));
    q->channel = cr_bytes_copy(channel.ptr, channel.len);
    q->id = v;
    to_hub(c, q, run_cancel);
}

/* --- delivery --------------------------------------------------------------------------------------- */

typedef struct firing {
    cr_server_t *srv;
    cr_sched_item_t *it;
} firing_t;

static void on_fired(void *arg, int status, cr_buf_t *answer)
{
    firing_t *f = arg;
    cr_sched_item_t *it = f->it;
    if (status < 0) {
        /* Neither published nor forgotten by the store (one transaction): try again soon. */
        cr_log(CR_LOG_WARN, "scheduled push %llu on %s failed: %s; retrying", (unsigned long long)it->id,
               it->channels->data, cr_err_text(status));
        it->due_ms = cr_now_ms() + SCHED_RETRY_MS;
        cr_sched_push(&f->srv->sched, it);
        cr_server_sched_rearm(f->srv);
    } else {
        cr_log(CR_LOG_DEBUG, "scheduled push %llu sent: %.*s", (unsigned long long)it->id,
               answer->len ? (int)answer->len - 1 : 0, answer->data ? answer->data : "");
        cr_sched_item_free(it);
    }
    free(f);
}

static cr_span_t span_of(const cr_bytes_t *b)
{
    return b ? (cr_span_t){b->data, b->len} : (cr_span_t){NULL, 0};
}

void cr_api_sched_run(cr_server_t *srv)
{
    int64_t now = cr_now_ms();
    cr_sched_item_t *it;
    while ((it = cr_sched_pop_due(&srv->sched, now))) {
        cr_publish_in_t in = {span_of(it->channels), span_of(it->content_type),
                              span_of(it->event),    it->ttl_ms,
                              it->payload->data,     it->payload->len};
        firing_t *f = cr_xcalloc(1, sizeof(*f));
        f->srv = srv;
        f->it = it;
        uint64_t id = it->id;
        const char *why;
        int r = cr_publish(srv, &in, &why, on_fired, f);
        if (r < 0) {
            cr_log(CR_LOG_WARN, "scheduled push %llu dropped: %s", (unsigned long long)id,
                   why ? why : cr_err_text(r));
            cr_sched_item_free(it);
            free(f);
        }
        /* Queued behind the appends, so the store commits both in one transaction. */
        srv->engine->ops->sched_del(srv->engine, id, NULL, NULL);
    }
    cr_server_sched_rearm(srv);
}
