/* loadgen: crier's load generator. One epoll loop per process drives
 * publishers (HTTP/1.1 keep-alive, closed loop or paced) and subscribers (SSE
 * or long polling) against any server with the /pub/{ch} /sub/{ch} shape
 * (crier, Nchan, the raw write() reference). Every message carries its
 * publisher, channel, sequence number and send time, so each subscriber counts
 * delivered, lost, duplicated and out-of-order messages and the latency. It
 * reads in batches (one large read per ready socket) and reports its own CPU
 * beside the server's, so a figure it limits can be told apart.
 * Output: one JSON object on stdout.
 * SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lg.h"

#define RB_SIZE (256 * 1024)
#define MAX_EVENTS 1024
#define MAX_CARRY (64 * 1024)
#define CONNECT_GIVE_UP_NS (120 * 1000000000LL)

enum { K_SSE, K_LP, K_PUB };
enum { ST_CONNECTING, ST_HEAD, ST_BODY, ST_STREAM, ST_DEAD };
enum { PH_CONNECT, PH_SETTLE, PH_RUN, PH_DRAIN, PH_DONE };

typedef struct opts {
    struct sockaddr_in addr;
    struct sockaddr_in pub_addr; /* --pub-target: publishers go to another node of a cluster */
    int pub_elsewhere;
    const char *name, *tag;
    int transport;
    int ws; /* stream subscribers speak WebSocket instead of SSE */
    int subs, channels, pubs, window, size, nsrc, procs, idle, connect_batch;
    uint64_t max_pubs; /* stop after this many publishes are answered (0: no limit) */
    double rate, duration, warmup, hold, drain_max;
    int spin_us, batch_us;
    pid_t server_pid;
} opts_t;

/* What one subscriber has seen from one publisher. */
typedef struct trk {
    uint32_t next; /* highest seq seen + 1 */
    uint32_t distinct;
    uint32_t cap; /* bits */
    uint8_t *bits;
} trk_t;

typedef struct conn {
    int fd;
    uint8_t kind, state, chunked, want_out, ready, failed, errors;
    uint8_t named_event; /* SSE: the block being read is a named event (a server notice), not a message */
    uint32_t idx, ch;
    int status;
    int64_t body_left;
    lg_chunk_t ck;
    char *carry;
    uint32_t carry_len;
    char *out;
    uint32_t out_len, out_cap;
    char body[512];
    uint32_t body_len;
    trk_t *trk;
    char cursor[160], last_mod[64], etag[64];
    uint32_t inflight, fifo_head;
    uint32_t *fifo;
} conn_t;

/* What the counters were at one edge of the measured window. */
typedef struct window_snap {
    int64_t t;
    uint64_t deliv, waits, reads, bytes, acked;
    int64_t cpu, idle, srv;
    lg_cores_t cores;
} window_snap_t;

typedef struct lg {
    opts_t o;
    int ep;
    int pub_ep; /* the publishers again, alone: polled in the middle of long rounds of reads */
    int phase;
    int npub_slots;
    uint32_t sub_lo, sub_hi;
    conn_t *subs, *pubs;
    uint32_t opened, pending, nready, nclosed;
    int64_t t_last_event, idle_ns;
    int64_t t_start, t_ready, t_phase, t_run, t_last_progress, t_first_msg, t_last_msg;
    /* publishing */
    uint64_t sent_total, acked_total, pub_errors;
    uint32_t *seq_cp;   /* [channel * npub_slots + pub]: next seq */
    uint64_t *acked_ch; /* [channel] */
    uint32_t *subs_on_ch;
    uint32_t pub_rr;
    /* receiving */
    uint64_t nwaits, nreads, nbytes;
    uint64_t delivered, dup, ooo, foreign, disconnects, connect_errors, sub_errors, reconnects;
    lg_hist_t hist;
    /* the window */
    window_snap_t w0, w1; /* the counters when the measured window opened and closed (t 0: not yet) */
    int64_t rss_before, rss_after;
    int ctl_fd;     /* idle children: the pipe of reports to the parent */
    int ready_told; /* idle children: the parent knows they are connected */
    char *rb;
} lg_t;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        die("calloc");
    return p;
}

/* --- connections ------------------------------------------------------------------------------------ */

static void ep_set(lg_t *lg, conn_t *c, int op, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(lg->ep, op, c->fd, &ev) < 0)
        die("epoll_ctl");
}

static void conn_open(lg_t *lg, conn_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    if (c->kind != K_PUB && lg->o.nsrc > 0) {
        /* Spread subscribers over 127.0.0.2.. so that no single source address runs out of
         * ephemeral ports; the port is picked at connect() time. */
        int one = 1;
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000002u + c->idx % (uint32_t)lg->o.nsrc);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
            die("bind");
    }
    if (c->kind == K_PUB) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    const struct sockaddr_in *to = c->kind == K_PUB && lg->o.pub_elsewhere ? &lg->o.pub_addr : &lg->o.addr;
    int r = connect(c->fd, (const struct sockaddr *)to, sizeof(*to));
    if (r < 0 && errno != EINPROGRESS)
        die("connect");
    c->state = ST_CONNECTING;
    c->want_out = 1;
    c->carry_len = 0;
    c->out_len = 0;
    ep_set(lg, c, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT);
    if (c->kind == K_PUB) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(lg->pub_ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl");
    }
}

static void conn_close(lg_t *lg, conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(lg->ep, EPOLL_CTL_DEL, c->fd, NULL);
        if (c->kind == K_PUB)
            epoll_ctl(lg->pub_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = ST_DEAD;
    free(c->carry);
    c->carry = NULL;
    c->carry_len = 0;
    c->out_len = 0;
}

static void conn_write(lg_t *lg, conn_t *c, const char *p, size_t n)
{
    if (c->out_len == 0) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0) {
            if (errno != EAGAIN)
                return; /* the read side will see the error */
            w = 0;
        }
        p += w;
        n -= (size_t)w;
        if (n == 0)
            return;
    }
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (uint32_t)(c->out_len + n) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out)
            die("realloc");
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += (uint32_t)n;
    if (!c->want_out) {
        c->want_out = 1;
        ep_set(lg, c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
    }
}

static void flush_out(lg_t *lg, conn_t *c)
{
    if (c->out_len) {
        ssize_t w = write(c->fd, c->out, c->out_len);
        if (w > 0) {
            memmove(c->out, c->out + w, c->out_len - (size_t)w);
            c->out_len -= (uint32_t)w;
        }
    }
    if (!c->out_len && c->want_out) {
        c->want_out = 0;
        ep_set(lg, c, EPOLL_CTL_MOD, EPOLLIN);
    }
}

/* --- requests ------------------------------------------------------------------------------------- */

static void send_subscribe(lg_t *lg, conn_t *c)
{
    char req[512];
    int n;
    if (c->kind == K_SSE && lg->o.ws)
        n = snprintf(req, sizeof(req),
                     "GET /sub/%s_%u HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     lg->o.tag, c->ch);
    else if (c->kind == K_SSE)
        n = snprintf(req, sizeof(req),
                     "GET /sub/%s_%u HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n", lg->o.tag,
                     c->ch);
    else if (c->cursor[0]) /* crier's own cursor */
        n = snprintf(req, sizeof(req), "GET /sub/%s_%u?since=%s HTTP/1.1\r\nHost: bench\r\n\r\n", lg->o.tag,
                     c->ch, c->cursor);
    else if (c->etag[0] || c->last_mod[0]) /* Nchan's pair */
        n = snprintf(
            req, sizeof(req),
            "GET /sub/%s_%u HTTP/1.1\r\nHost: bench\r\nIf-Modified-Since: %s\r\nIf-None-Match: %s\r\n\r\n",
            lg->o.tag, c->ch, c->last_mod, c->etag);
    else
        n = snprintf(req, sizeof(req), "GET /sub/%s_%u HTTP/1.1\r\nHost: bench\r\n\r\n", lg->o.tag, c->ch);
    conn_write(lg, c, req, (size_t)n);
}

/* Sends as many publishes on c as its window and the pacing allow, in one write. */
static void pump_one(lg_t *lg, conn_t *c, int64_t now)
{
    if (lg->phase != PH_RUN || c->state == ST_CONNECTING || c->state == ST_DEAD)
        return;
    char batch[64 * 1024];
    size_t len = 0;
    while (c->inflight < (uint32_t)lg->o.window && len + 256 + (size_t)lg->o.size < sizeof(batch) &&
           (!lg->o.max_pubs || lg->sent_total < lg->o.max_pubs)) {
        if (lg->o.rate > 0) {
            int64_t due = lg->t_run + (int64_t)((double)lg->sent_total * 1e9 / lg->o.rate);
            if (now < due)
                break;
        }
        uint32_t ch = (uint32_t)(lg->sent_total % (uint64_t)lg->o.channels);
        uint32_t *seq = &lg->seq_cp[(size_t)ch * lg->npub_slots + c->idx];
        lg_payload_t p = {.pub = c->idx, .chan = ch, .seq = (*seq)++, .sent_ns = now};
        len += (size_t)snprintf(batch + len, sizeof(batch) - len,
                                "POST /pub/%s_%u HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n",
                                lg->o.tag, ch, lg->o.size);
        lg_payload_format(batch + len, (size_t)lg->o.size, &p);
        len += (size_t)lg->o.size;
        c->fifo[(c->fifo_head + c->inflight) % (uint32_t)lg->o.window] = ch;
        c->inflight++;
        lg->sent_total++;
    }
    if (len)
        conn_write(lg, c, batch, len);
}

static void pump(lg_t *lg, int64_t now)
{
    for (int k = 0; k < lg->o.pubs; k++) {
        conn_t *c = &lg->pubs[(lg->pub_rr + (uint32_t)k) % (uint32_t)lg->o.pubs];
        pump_one(lg, c, now);
    }
    lg->pub_rr++;
}

/* --- receiving ----------------------------------------------------------------------------------------- */

static void on_payload(lg_t *lg, conn_t *c, const char *p, size_t n, int64_t now)
{
    lg_payload_t m;
    if (lg_payload_parse(p, n, &m) < 0 || m.chan != c->ch || m.pub >= (uint32_t)lg->npub_slots) {
        lg->foreign++;
        return;
    }
    if (!c->trk)
        c->trk = xcalloc((size_t)lg->npub_slots, sizeof(trk_t));
    trk_t *t = &c->trk[m.pub];
    if (m.seq >= t->cap) {
        uint32_t cap = t->cap ? t->cap : 1024;
        while (cap <= m.seq)
            cap *= 2;
        t->bits = realloc(t->bits, cap / 8);
        if (!t->bits)
            die("realloc");
        memset(t->bits + t->cap / 8, 0, (cap - t->cap) / 8);
        t->cap = cap;
    }
    uint8_t bit = (uint8_t)(1u << (m.seq & 7));
    if (t->bits[m.seq >> 3] & bit) {
        lg->dup++;
        return;
    }
    t->bits[m.seq >> 3] |= bit;
    t->distinct++;
    if (m.seq + 1 < t->next)
        lg->ooo++;
    else
        t->next = m.seq + 1;
    lg->delivered++;
    lg->t_last_progress = now;
    lg->t_last_msg = now;
    if (!lg->t_first_msg)
        lg->t_first_msg = now;
    if (lg->w0.t && m.sent_ns >= lg->w0.t && (!lg->w1.t || m.sent_ns < lg->w1.t))
        lg_hist_add(&lg->hist, (now - m.sent_ns) / 1000);
}

static size_t sse_lines(lg_t *lg, conn_t *c, const char *p, size_t n, int64_t now)
{
    size_t off = 0;
    while (off < n) {
        const char *nl = memchr(p + off, '\n', n - off);
        if (!nl)
            break;
        const char *line = p + off;
        size_t len = (size_t)(nl - line);
        if (len && line[len - 1] == '\r')
            len--;
        /* Named events (crier's crier-hello, crier-gap, ...) are notices, not messages. */
        if (len == 0)
            c->named_event = 0;
        else if (len >= 6 && memcmp(line, "event:", 6) == 0)
            c->named_event = 1;
        if (len >= 5 && memcmp(line, "data:", 5) == 0 && !c->named_event) {
            const char *v = line + 5;
            size_t vl = len - 5;
            if (vl && *v == ' ') {
                v++;
                vl--;
            }
            on_payload(lg, c, v, vl, now);
        }
        off = (size_t)(nl - p) + 1;
    }
    return off;
}

/* Server WebSocket frames (never masked): each text or binary frame is one message; pings
 * are answered (a masked empty pong), so a long run is not closed for silence. */
static size_t ws_frames(lg_t *lg, conn_t *c, const char *p, size_t n, int64_t now)
{
    size_t off = 0;
    while (n - off >= 2) {
        const unsigned char *h = (const unsigned char *)p + off;
        uint64_t len = h[1] & 0x7F;
        size_t hl = 2;
        if (len == 126) {
            if (n - off < 4)
                break;
            len = (uint64_t)h[2] << 8 | h[3];
            hl = 4;
        } else if (len == 127) {
            if (n - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | h[2 + i];
            hl = 10;
        }
        if (n - off - hl < len)
            break;
        int op = h[0] & 0x0F;
        static const char notice[] = "{\"event\":\"crier-"; /* crier's notices are JSON objects */
        int is_notice =
            op == 1 && len >= sizeof(notice) - 1 && memcmp(p + off + hl, notice, sizeof(notice) - 1) == 0;
        if ((op == 1 || op == 2) && !is_notice)
            on_payload(lg, c, p + off + hl, (size_t)len, now);
        else if (op == 9)
            conn_write(lg, c, "\x8a\x80\0\0\0\0", 6);
        off += hl + (size_t)len;
    }
    return off;
}

static void copy_span(char *dst, size_t cap, lg_span_t s)
{
    if (s.n >= cap)
        s.n = cap - 1;
    memcpy(dst, s.p, s.n);
    dst[s.n] = 0;
}

static void sub_ready(lg_t *lg, conn_t *c, int64_t now)
{
    if (c->ready)
        return;
    c->ready = 1;
    lg->pending--;
    lg->nready++;
    lg->subs_on_ch[c->ch]++;
    if (lg->nready == lg->sub_hi - lg->sub_lo)
        lg->t_ready = now;
}

/* A whole non-stream response (publish answer or long-poll answer) has arrived. */
static void on_response(lg_t *lg, conn_t *c, int64_t now)
{
    if (c->kind == K_PUB) {
        uint32_t ch = c->fifo[c->fifo_head];
        if (c->inflight == 0) {
            lg->pub_errors++;
            return;
        }
        c->fifo_head = (c->fifo_head + 1) % (uint32_t)lg->o.window;
        c->inflight--;
        if (c->status >= 200 && c->status < 300) {
            lg->acked_ch[ch]++;
            lg->acked_total++;
        } else {
            lg->pub_errors++;
        }
        pump_one(lg, c, now);
        return;
    }
    /* long polling */
    if (c->status == 200)
        on_payload(lg, c, c->body, c->body_len, now);
    else if (c->status != 204 && c->status != 304 && c->errors++ > 50) {
        lg->sub_errors++;
        conn_close(lg, c);
        return;
    }
    if (lg->phase != PH_DONE)
        send_subscribe(lg, c);
}

static void on_head(lg_t *lg, conn_t *c, const lg_resp_t *r, int64_t now)
{
    c->status = r->status;
    if (c->kind == K_SSE) {
        if (r->status != (lg->o.ws ? 101 : 200)) {
            lg->sub_errors++;
            c->state = ST_DEAD;
            return;
        }
        c->state = ST_STREAM;
        c->chunked = (uint8_t)r->chunked;
        lg_chunk_init(&c->ck);
        sub_ready(lg, c, now);
        return;
    }
    if (c->kind == K_LP) {
        if (r->cursor.n)
            copy_span(c->cursor, sizeof(c->cursor), r->cursor);
        if (r->last_mod.n)
            copy_span(c->last_mod, sizeof(c->last_mod), r->last_mod);
        if (r->etag.n)
            copy_span(c->etag, sizeof(c->etag), r->etag);
        c->body_len = 0;
    }
    c->state = ST_BODY;
    c->chunked = (uint8_t)r->chunked;
    lg_chunk_init(&c->ck);
    c->body_left = r->chunked ? -1 : (r->content_length < 0 ? 0 : r->content_length);
}

static void body_bytes(conn_t *c, const char *p, size_t n)
{
    if (c->kind != K_LP)
        return;
    size_t room = sizeof(c->body) - c->body_len;
    if (n > room)
        n = room;
    memcpy(c->body + c->body_len, p, n);
    c->body_len += (uint32_t)n;
}

/* Consumes [0, total) of b for c; bytes [0, dec_end) are already-decoded stream text carried over
 * from the last read. Whatever can't be consumed yet is kept in c->carry. */
static void process(lg_t *lg, conn_t *c, char *b, size_t dec_end, size_t total, int64_t now)
{
    size_t pos = 0;
    while (pos < total && c->state != ST_DEAD) {
        if (c->state == ST_HEAD) {
            lg_resp_t r;
            ssize_t h = lg_resp_parse(b + pos, total - pos, &r);
            if (h == 0)
                break;
            if (h < 0) {
                lg->sub_errors++;
                c->state = ST_DEAD;
                return;
            }
            pos += (size_t)h;
            dec_end = pos;
            on_head(lg, c, &r, now);
            if (c->state == ST_BODY && !c->chunked && c->body_left == 0) {
                c->state = ST_HEAD;
                on_response(lg, c, now);
            }
            continue;
        }
        if (c->state == ST_BODY) {
            int complete;
            if (c->chunked) {
                size_t used;
                size_t d = lg_chunk_decode(&c->ck, b + pos, total - pos, &used);
                body_bytes(c, b + pos, d);
                pos += used;
                complete = c->ck.done;
            } else {
                size_t take = total - pos < (uint64_t)c->body_left ? total - pos : (size_t)c->body_left;
                body_bytes(c, b + pos, take);
                pos += take;
                c->body_left -= (int64_t)take;
                complete = c->body_left == 0;
            }
            if (complete) {
                c->state = ST_HEAD;
                on_response(lg, c, now);
            }
            continue;
        }
        /* ST_STREAM: an event stream, maybe chunked */
        size_t raw = dec_end > pos ? dec_end : pos, end = total;
        if (c->chunked) {
            size_t used;
            end = raw + lg_chunk_decode(&c->ck, b + raw, total - raw, &used);
        }
        pos +=
            lg->o.ws ? ws_frames(lg, c, b + pos, end - pos, now) : sse_lines(lg, c, b + pos, end - pos, now);
        total = end;
        break;
    }
    size_t rest = total - pos;
    if (rest > MAX_CARRY) {
        lg->sub_errors++;
        c->state = ST_DEAD;
        return;
    }
    if (rest) {
        char *nc = realloc(c->carry, rest);
        if (!nc)
            die("realloc");
        memcpy(nc, b + pos, rest);
        c->carry = nc;
    } else {
        free(c->carry);
        c->carry = NULL;
    }
    c->carry_len = (uint32_t)rest;
}

static void conn_lost(lg_t *lg, conn_t *c, int64_t now)
{
    int was_ready = c->ready;
    conn_close(lg, c);
    if (c->kind == K_SSE) {
        if (!was_ready) {
            lg->connect_errors++;
            c->ready = c->failed = 1; /* done connecting, but not a subscriber */
            lg->pending--;
            if (lg->nready + lg->connect_errors == lg->sub_hi - lg->sub_lo)
                lg->t_ready = now;
        } else if (lg->phase >= PH_RUN && lg->o.pubs == 0) {
            lg->nclosed++; /* the raw reference ends its streams when it is done */
        } else {
            lg->disconnects++;
        }
        return;
    }
    if (lg->phase == PH_DONE)
        return;
    /* Long-poll subscribers and publishers come back; a publisher's in-flight requests are lost. */
    lg->reconnects++;
    if (c->kind == K_PUB) {
        lg->pub_errors += c->inflight;
        c->inflight = 0;
        c->fifo_head = 0;
    }
    c->state = ST_CONNECTING;
    conn_open(lg, c);
}

static void on_event(lg_t *lg, conn_t *c, uint32_t ev, int64_t now)
{
    if (c->state == ST_DEAD)
        return;
    if (c->state == ST_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || (ev & (EPOLLERR | EPOLLHUP))) {
            conn_lost(lg, c, now);
            return;
        }
        c->state = ST_HEAD;
        c->want_out = 0;
        ep_set(lg, c, EPOLL_CTL_MOD, EPOLLIN);
        if (c->kind == K_PUB) {
            pump_one(lg, c, now);
            return;
        }
        send_subscribe(lg, c);
        if (c->kind == K_LP)
            sub_ready(lg, c, now);
        return;
    }
    if (ev & EPOLLOUT)
        flush_out(lg, c);
    if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    for (int round = 0; round < 4; round++) {
        char *b = lg->rb;
        size_t have = c->carry_len;
        if (have)
            memcpy(b, c->carry, have);
        ssize_t n = read(c->fd, b + have, RB_SIZE - have);
        lg->nreads++;
        if (n > 0)
            lg->nbytes += (uint64_t)n;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            conn_lost(lg, c, now);
            return;
        }
        if (n == 0) {
            conn_lost(lg, c, now);
            return;
        }
        process(lg, c, b, c->state == ST_STREAM ? have : 0, have + (size_t)n, now);
        if (c->state == ST_DEAD) {
            conn_lost(lg, c, now);
            return;
        }
        if ((size_t)n < RB_SIZE - have)
            return;
    }
}

/* --- phases ------------------------------------------------------------------------------------------- */

static void open_more_subs(lg_t *lg)
{
    uint32_t next = lg->sub_lo + lg->opened;
    while (next < lg->sub_hi && lg->pending < (uint32_t)lg->o.connect_batch) {
        conn_t *c = &lg->subs[next - lg->sub_lo];
        c->kind = lg->o.transport == K_LP ? K_LP : K_SSE;
        c->idx = next;
        c->ch = next % (uint32_t)lg->o.channels;
        conn_open(lg, c);
        lg->pending++;
        lg->opened++;
        next++;
    }
}

static uint64_t expected_total(const lg_t *lg)
{
    uint64_t e = 0;
    for (int ch = 0; ch < lg->o.channels; ch++)
        e += lg->acked_ch[ch] * lg->subs_on_ch[ch];
    return e;
}

static int pubs_idle(const lg_t *lg)
{
    for (int i = 0; i < lg->o.pubs; i++)
        if (lg->pubs[i].inflight)
            return 0;
    return 1;
}

static int pubs_connected(const lg_t *lg)
{
    for (int i = 0; i < lg->o.pubs; i++)
        if (lg->pubs[i].state == ST_CONNECTING)
            return 0;
    return 1;
}

static void window_snap(lg_t *lg, int64_t now, window_snap_t *w)
{
    w->t = now;
    w->deliv = lg->delivered;
    w->waits = lg->nwaits;
    w->reads = lg->nreads;
    w->bytes = lg->nbytes;
    w->acked = lg->acked_total;
    w->cpu = lg_cpu_ns();
    w->idle = lg->idle_ns;
    lg_proc_cores(&w->cores);
    w->srv = lg->o.server_pid ? lg_proc_cpu_ns(lg->o.server_pid) : 0;
}

/* Moves the run along; returns the next time something is due (0: nothing in particular). */
static int64_t advance(lg_t *lg, int64_t now)
{
    uint32_t nsubs = lg->sub_hi - lg->sub_lo;
    switch (lg->phase) {
    case PH_CONNECT:
        open_more_subs(lg);
        if (lg->nready + lg->connect_errors < nsubs || !pubs_connected(lg)) {
            /* Not a server that answers as expected (or none at all): give up rather than spin. */
            if (lg->t_start && now - lg->t_start > CONNECT_GIVE_UP_NS) {
                fprintf(stderr, "loadgen: %u of %u subscribers ready, publishers %s after %d s: giving up\n",
                        lg->nready, nsubs, pubs_connected(lg) ? "connected" : "not connected",
                        (int)(CONNECT_GIVE_UP_NS / 1000000000LL));
                exit(2);
            }
            return 0;
        }
        if (!lg->t_ready)
            lg->t_ready = now;
        lg->rss_after = lg->o.server_pid ? lg_proc_rss_kib(lg->o.server_pid) : -1;
        if (lg->o.idle)
            return 0;
        lg->phase = PH_SETTLE;
        /* A long-poll request is registered some time after it is sent; SSE heads prove it. */
        lg->t_phase = now + (lg->o.transport == K_LP ? 500000000 : 50000000);
        return lg->t_phase;
    case PH_SETTLE:
        if (now < lg->t_phase)
            return lg->t_phase;
        lg->phase = PH_RUN;
        lg->t_run = now;
        lg->t_last_progress = now;
        if (lg->o.pubs > 0) {
            lg->t_phase = now + (int64_t)(lg->o.warmup * 1e9);
            pump(lg, now);
        }
        return 0;
    case PH_RUN:
        if (lg->o.pubs == 0) {
            /* The raw reference: its clock starts with the first message. */
            if (!lg->t_first_msg) {
                if (now - lg->t_run > 30000000000LL)
                    lg->phase = PH_DONE;
                return 0;
            }
            if (!lg->w0.t && now >= lg->t_first_msg + (int64_t)(lg->o.warmup * 1e9))
                window_snap(lg, now, &lg->w0);
            if (lg->w0.t && now >= lg->w0.t + (int64_t)(lg->o.duration * 1e9)) {
                window_snap(lg, now, &lg->w1);
                lg->phase = PH_DRAIN;
                lg->t_phase = now;
            }
            return 0;
        }
        if (!lg->w0.t && now >= lg->t_phase) {
            window_snap(lg, now, &lg->w0);
            lg->t_phase = now + (int64_t)(lg->o.duration * 1e9);
        }
        if (lg->o.max_pubs && lg->acked_total + lg->pub_errors >= lg->o.max_pubs) {
            lg->phase = PH_DONE;
            return 0;
        }
        if (lg->w0.t && now >= lg->t_phase) {
            window_snap(lg, now, &lg->w1);
            lg->phase = PH_DRAIN;
            lg->t_phase = now;
            lg->t_last_progress = now;
            return 0;
        }
        if (lg->o.rate > 0)
            return lg->t_run + (int64_t)((double)lg->sent_total * 1e9 / lg->o.rate);
        return 0;
    case PH_DRAIN: {
        int64_t waited = now - lg->t_phase;
        if (waited > (int64_t)(lg->o.drain_max * 1e9)) {
            lg->phase = PH_DONE;
            return 0;
        }
        if (lg->o.pubs == 0) {
            if (lg->nclosed + lg->disconnects >= lg->nready || now - lg->t_last_progress > 2000000000LL)
                lg->phase = PH_DONE;
            return 0;
        }
        if (!pubs_idle(lg))
            return 0;
        if (lg->delivered >= expected_total(lg) || now - lg->t_last_progress > 2000000000LL)
            lg->phase = PH_DONE;
        return 0;
    }
    }
    return 0;
}

static void poll_pubs(lg_t *lg)
{
    struct epoll_event evs[64];
    int n = epoll_wait(lg->pub_ep, evs, 64, 0);
    if (n <= 0)
        return;
    int64_t now = lg_now_ns();
    for (int i = 0; i < n; i++)
        on_event(lg, evs[i].data.ptr, evs[i].events, now);
}

/* --- the loop ------------------------------------------------------------------------------------------ */

/* An idle child tells the parent twice: once every subscriber is connected ("ready errors
 * t_ready"), and once each has the one message the parent then publishes to its channel
 * ("delivered t_last_msg"), or when told to stop (at_end: what it has by then). */
static void idle_child_report(lg_t *lg, int at_end)
{
    char line[96];
    int k, last = 0;
    uint32_t nsubs = lg->sub_hi - lg->sub_lo;
    if (!lg->ready_told) {
        if (!at_end && !(lg->phase == PH_CONNECT && lg->t_ready && lg->nready + lg->connect_errors >= nsubs))
            return;
        k = snprintf(line, sizeof(line), "%u %llu %lld\n", lg->nready, (unsigned long long)lg->connect_errors,
                     (long long)lg->t_ready);
        lg->ready_told = 1;
    } else {
        if (!at_end && lg->delivered < lg->nready)
            return;
        k = snprintf(line, sizeof(line), "%llu %lld\n", (unsigned long long)lg->delivered,
                     (long long)lg->t_last_msg);
        last = 1;
    }
    if (write(lg->ctl_fd, line, (size_t)k) != k && !at_end)
        die("write");
    if (last || at_end) {
        close(lg->ctl_fd);
        lg->ctl_fd = -1;
    }
}

static void loop(lg_t *lg)
{
    struct epoll_event evs[MAX_EVENTS];
    int64_t now = lg_now_ns();
    while (lg->phase != PH_DONE) {
        int64_t due = advance(lg, now);
        if (lg->phase == PH_DONE)
            break;
        if (lg->phase == PH_RUN)
            pump(lg, now);
        /* Wake at least every 5 ms to move the phases along; sooner for a paced publish. */
        int64_t wait = 5000000;
        if (due && due - now < wait)
            wait = due - now > 0 ? due - now : 0;
        /* While data flows, poll without sleeping: a reader asleep in epoll_wait makes each
         * write of the server pay for waking it up, a cost of this client rather than of the
         * server. After spin_us without events, sleep as usual. Time spent waiting (asleep or
         * polling in vain) is idle; the rest is busy, reported beside the CPU time. */
        if (now - lg->t_last_event < (int64_t)lg->o.spin_us * 1000)
            wait = 0;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = wait};
        int64_t t0 = lg_now_ns();
        int n = epoll_pwait2(lg->ep, evs, MAX_EVENTS, &ts, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_pwait2");
        }
        now = lg_now_ns();
        if (n == 0 || wait > 0)
            lg->idle_ns += now - t0;
        if (n > 0) {
            lg->nwaits++;
            lg->t_last_event = now;
        }
        /* Publishers first: their answers let the next publish go out while we read the rest. */
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c && c->kind == K_PUB)
                on_event(lg, c, evs[i].events, now);
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (!c) {
                lg->phase = PH_DONE; /* idle child: the parent closed the control pipe */
                continue;
            }
            if (c->kind != K_PUB)
                on_event(lg, c, evs[i].events, now);
            /* A round of a thousand reads takes milliseconds: a publisher's answer that comes
             * meanwhile must not wait for its end, or the server idles between messages. */
            if (lg->o.pubs && (i & 31) == 31 && lg->phase == PH_RUN)
                poll_pubs(lg);
        }
        if (n > 0 && lg->o.batch_us > 0 && lg->phase >= PH_RUN) {
            /* Let more bytes gather per socket: fewer reads (and acks) per message. Counted as idle. */
            struct timespec nap = {.tv_sec = 0, .tv_nsec = (long)lg->o.batch_us * 1000};
            int64_t t1 = lg_now_ns();
            nanosleep(&nap, NULL);
            now = lg_now_ns();
            lg->idle_ns += now - t1;
        }
        if (lg->o.idle && lg->ctl_fd >= 0)
            idle_child_report(lg, 0);
    }
}

static void lg_init(lg_t *lg, const opts_t *o, uint32_t lo, uint32_t hi)
{
    memset(lg, 0, sizeof(*lg));
    lg->o = *o;
    lg->sub_lo = lo;
    lg->sub_hi = hi;
    lg->npub_slots = o->pubs > 0 ? o->pubs : 1;
    lg->ep = epoll_create1(EPOLL_CLOEXEC);
    lg->pub_ep = epoll_create1(EPOLL_CLOEXEC);
    if (lg->ep < 0 || lg->pub_ep < 0)
        die("epoll_create1");
    lg->rb = malloc(RB_SIZE);
    lg->subs = xcalloc(hi - lo, sizeof(conn_t));
    lg->pubs = xcalloc((size_t)o->pubs, sizeof(conn_t));
    lg->seq_cp = xcalloc((size_t)o->channels * (size_t)lg->npub_slots, sizeof(uint32_t));
    lg->acked_ch = xcalloc((size_t)o->channels, sizeof(uint64_t));
    lg->subs_on_ch = xcalloc((size_t)o->channels, sizeof(uint32_t));
    lg->ctl_fd = -1;
    lg_hist_init(&lg->hist);
    for (uint32_t i = 0; i < hi - lo; i++)
        lg->subs[i].fd = -1;
    lg->t_start = lg_now_ns();
    for (int i = 0; i < o->pubs; i++) {
        conn_t *c = &lg->pubs[i];
        c->kind = K_PUB;
        c->idx = (uint32_t)i;
        c->fifo = xcalloc((size_t)o->window, sizeof(uint32_t));
        conn_open(lg, c);
    }
}

/* --- reports ------------------------------------------------------------------------------------------- */

static void sub_totals(lg_t *lg, uint64_t *lost)
{
    *lost = 0;
    for (uint32_t i = 0; i < lg->sub_hi - lg->sub_lo; i++) {
        conn_t *c = &lg->subs[i];
        if (!c->ready || c->failed)
            continue;
        uint64_t got = 0;
        if (c->trk)
            for (int p = 0; p < lg->npub_slots; p++)
                got += c->trk[p].distinct;
        uint64_t want = lg->acked_ch[c->ch];
        if (want > got)
            *lost += want - got;
    }
}

static void print_common(const lg_t *lg)
{
    const opts_t *o = &lg->o;
    printf("\"server\":\"%s\",\"tag\":\"%s\",\"transport\":\"%s\",\"subs\":%d,\"channels\":%d,\"pubs\":%d,"
           "\"window\":%d,\"rate\":%.0f,\"size\":%d,",
           o->name, o->tag,
           o->transport == K_LP ? "longpoll"
           : o->ws              ? "ws"
                                : "sse",
           o->subs, o->channels, o->pubs, o->window, o->rate, o->size);
}

static void report(lg_t *lg)
{
    double win = lg->w1.t > lg->w0.t ? (double)(lg->w1.t - lg->w0.t) / 1e9 : 0;
    uint64_t lost = 0;
    if (lg->o.pubs > 0)
        sub_totals(lg, &lost);
    printf("{");
    print_common(lg);
    printf("\"subs_ready\":%u,\"connect_s\":%.3f,\"window_s\":%.3f,", lg->nready,
           lg->t_ready ? (double)(lg->t_ready - lg->t_start) / 1e9 : 0, win);
    printf("\"published\":%llu,\"pub_errors\":%llu,\"pub_per_s\":%.0f,", (unsigned long long)lg->acked_total,
           (unsigned long long)lg->pub_errors, win > 0 ? (double)(lg->w1.acked - lg->w0.acked) / win : 0);
    printf("\"delivered\":%llu,\"deliveries_per_s\":%.0f,\"lost\":%llu,\"dup\":%llu,\"ooo\":%llu,\"foreign\":"
           "%llu,",
           (unsigned long long)lg->delivered, win > 0 ? (double)(lg->w1.deliv - lg->w0.deliv) / win : 0,
           (unsigned long long)lost, (unsigned long long)lg->dup, (unsigned long long)lg->ooo,
           (unsigned long long)lg->foreign);
    printf("\"disconnects\":%llu,\"connect_errors\":%llu,\"sub_errors\":%llu,\"reconnects\":%llu,",
           (unsigned long long)lg->disconnects, (unsigned long long)lg->connect_errors,
           (unsigned long long)lg->sub_errors, (unsigned long long)lg->reconnects);
    printf("\"lg_wakeups_per_s\":%.0f,\"lg_reads_per_s\":%.0f,\"lg_bytes_per_read\":%.0f,",
           win > 0 ? (double)(lg->w1.waits - lg->w0.waits) / win : 0,
           win > 0 ? (double)(lg->w1.reads - lg->w0.reads) / win : 0,
           lg->w1.reads > lg->w0.reads
               ? (double)(lg->w1.bytes - lg->w0.bytes) / (double)(lg->w1.reads - lg->w0.reads)
               : 0);
    const lg_hist_t *h = &lg->hist;
    printf("\"lat_us\":{\"n\":%llu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu},",
           (unsigned long long)h->n, (unsigned long long)lg_hist_pct(h, 0.5),
           (unsigned long long)lg_hist_pct(h, 0.9), (unsigned long long)lg_hist_pct(h, 0.99),
           (unsigned long long)lg_hist_pct(h, 0.999), (unsigned long long)h->max_us);
    double wns = win * 1e9;
    printf("\"server_cpu\":%.1f,\"loadgen_cpu\":%.1f,",
           wns > 0 && lg->o.server_pid ? (double)(lg->w1.srv - lg->w0.srv) / wns * 100 : -1,
           wns > 0 ? (double)(lg->w1.cpu - lg->w0.cpu) / wns * 100 : -1);
    printf("\"loadgen_busy\":%.1f,", wns > 0 ? 100.0 - (double)(lg->w1.idle - lg->w0.idle) / wns * 100 : -1);
    /* Per core: how busy it was, how much of that was interrupts/softirqs, and what processes other
     * than the server and us used: other work on a shared machine makes that run's figures less sure. */
    int64_t ours = (lg->w1.srv - lg->w0.srv) + (lg->w1.cpu - lg->w0.cpu), busy = 0, irq = 0;
    /* Softirq time is charged both to the process it interrupted and to the irq column here
     * (tick-based accounting), so what others used is busy minus ours. */
    printf("\"core_busy\":[");
    for (int i = 0; i < lg->w1.cores.n; i++) {
        int64_t b = lg->w1.cores.busy_ns[i] - lg->w0.cores.busy_ns[i];
        int64_t q = lg->w1.cores.irq_ns[i] - lg->w0.cores.irq_ns[i];
        busy += b;
        irq += q;
        printf("%s%.1f", i ? "," : "", wns > 0 ? (double)b / wns * 100 : 0);
    }
    printf("],\"irq_cpu\":%.1f,\"other_cpu\":%.1f,", wns > 0 ? (double)irq / wns * 100 : 0,
           wns > 0 ? (double)(busy - ours) / wns * 100 : 0);
    printf("\"rss_before_kib\":%lld,\"rss_after_kib\":%lld}\n", (long long)lg->rss_before,
           (long long)lg->rss_after);
}

/* --- idle subscribers over several processes ---------------------------------------------------------- */

/* Publishes one message to each channel, 64 in flight on one keep-alive connection; returns
 * how many were answered 2xx. */
static uint64_t publish_to_each_channel(const opts_t *o)
{
    opts_t po = *o;
    po.idle = 0;
    po.subs = 0;
    po.pubs = 1; /* the idle children track publisher 0 only */
    po.window = 64;
    po.rate = 0;
    po.warmup = 0;
    po.duration = 60;
    po.max_pubs = (uint64_t)o->channels;
    lg_t *lg = xcalloc(1, sizeof(*lg));
    lg_init(lg, &po, 0, 0);
    lg->ctl_fd = -1;
    loop(lg);
    uint64_t acked = lg->acked_total;
    close(lg->pubs[0].fd);
    return acked;
}

/* Waits (up to wait_s) for each child's delivery report "delivered t_last_msg"; sums them. */
static void read_delivery_reports(const int *rep, int procs, double wait_s, uint64_t *delivered,
                                  int64_t *t_last)
{
    struct pollfd pf[64];
    int left = 0;
    for (int k = 0; k < procs; k++) {
        pf[k] = (struct pollfd){.fd = rep[k], .events = POLLIN};
        left += rep[k] >= 0;
    }
    int64_t deadline = lg_now_ns() + (int64_t)(wait_s * 1e9);
    while (left > 0) {
        int64_t ms = (deadline - lg_now_ns()) / 1000000;
        if (ms <= 0 || poll(pf, (nfds_t)procs, (int)ms) <= 0)
            break;
        for (int k = 0; k < procs; k++) {
            if (pf[k].fd < 0 || !pf[k].revents)
                continue;
            char line[96];
            ssize_t n = read(pf[k].fd, line, sizeof(line) - 1);
            if (n > 0) {
                line[n] = 0;
                unsigned long long d = 0;
                long long t = 0;
                sscanf(line, "%llu %lld", &d, &t);
                *delivered += d;
                if (t > *t_last)
                    *t_last = t;
            }
            close(pf[k].fd);
            pf[k].fd = -1;
            left--;
        }
    }
}

static int run_idle(const opts_t *o)
{
    int procs = o->procs < 1 ? 1 : o->procs;
    int64_t rss0 = o->server_pid ? lg_proc_rss_kib(o->server_pid) : -1;
    int64_t kern0 = lg_kernel_sock_kib();
    int64_t t0 = lg_now_ns();
    pid_t pids[64];
    int rep[64], ctl[64];
    for (int k = 0; k < procs; k++) {
        int rp[2], cp[2];
        if (pipe2(rp, O_CLOEXEC) < 0 || pipe2(cp, O_CLOEXEC) < 0)
            die("pipe");
        uint32_t lo = (uint32_t)((uint64_t)o->subs * (uint64_t)k / (uint64_t)procs);
        uint32_t hi = (uint32_t)((uint64_t)o->subs * (uint64_t)(k + 1) / (uint64_t)procs);
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            close(rp[0]);
            close(cp[1]);
            for (int j = 0; j < k; j++) {
                close(rep[j]);
                close(ctl[j]);
            }
            opts_t io = *o;
            io.pubs = 0;
            lg_t *lg = xcalloc(1, sizeof(*lg));
            lg_init(lg, &io, lo, hi);
            lg->t_start = t0;
            lg->ctl_fd = rp[1];
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
            epoll_ctl(lg->ep, EPOLL_CTL_ADD, cp[0], &ev);
            loop(lg);
            if (lg->ctl_fd >= 0)
                idle_child_report(lg, 1);
            _exit(0);
        }
        close(rp[1]);
        close(cp[0]);
        pids[k] = pid;
        rep[k] = rp[0];
        ctl[k] = cp[1];
    }
    unsigned long long ready = 0, errors = 0;
    long long t_ready = 0;
    for (int k = 0; k < procs; k++) {
        char line[128];
        ssize_t n = read(rep[k], line, sizeof(line) - 1);
        if (n <= 0) {
            fprintf(stderr, "loadgen: an idle worker died\n");
            continue;
        }
        line[n] = 0;
        unsigned r = 0;
        unsigned long long e = 0;
        long long t = 0;
        sscanf(line, "%u %llu %lld", &r, &e, &t);
        ready += r;
        errors += e;
        if (t > t_ready)
            t_ready = t;
    }
    int64_t cpu_before = o->server_pid ? lg_proc_cpu_ns(o->server_pid) : 0;
    usleep((useconds_t)(o->hold * 1e6));
    int64_t rss1 = o->server_pid ? lg_proc_rss_kib(o->server_pid) : -1;
    int64_t kern1 = lg_kernel_sock_kib();
    int64_t cpu_idle = o->server_pid ? lg_proc_cpu_ns(o->server_pid) - cpu_before : 0;
    /* Then a message to every one of them: one publish per channel. Timed from the first
     * publish to the moment the last subscriber had its message. */
    int64_t t_pub = lg_now_ns();
    uint64_t published = publish_to_each_channel(o);
    uint64_t delivered = 0;
    int64_t t_last = 0;
    read_delivery_reports(rep, procs, o->drain_max, &delivered, &t_last);
    for (int k = 0; k < procs; k++)
        close(ctl[k]);
    for (int k = 0; k < procs; k++)
        waitpid(pids[k], NULL, 0);
    double connect_s = t_ready > t0 ? (double)(t_ready - t0) / 1e9 : 0;
    printf("{\"server\":\"%s\",\"tag\":\"%s\",\"transport\":\"%s\",\"subs\":%d,\"channels\":%d,\"procs\":%d,",
           o->name, o->tag,
           o->transport == K_LP ? "longpoll"
           : o->ws              ? "ws"
                                : "sse",
           o->subs, o->channels, procs);
    printf("\"subs_ready\":%llu,\"connect_errors\":%llu,\"connect_s\":%.3f,\"connects_per_s\":%.0f,", ready,
           errors, connect_s, connect_s > 0 ? (double)ready / connect_s : 0);
    /* Both ends of each loopback connection are sockets of this machine and cost the kernel
     * about the same: the server's share is half of what the kernel grew by. */
    double kern_per_sub =
        ready && kern0 >= 0 && kern1 >= 0 ? (double)(kern1 - kern0) / 2.0 / (double)ready : -1;
    printf("\"published_one_each\":%llu,\"delivered_all\":%llu,\"deliver_all_ms\":%.1f,",
           (unsigned long long)published, (unsigned long long)delivered,
           t_last > t_pub ? (double)(t_last - t_pub) / 1e6 : -1.0);
    printf("\"rss_before_kib\":%lld,\"rss_after_kib\":%lld,\"kib_per_sub\":%.2f,\"kernel_kib_per_sub\":%.2f,"
           "\"idle_server_cpu\":%.1f}\n",
           (long long)rss0, (long long)rss1, ready ? (double)(rss1 - rss0) / (double)ready : 0, kern_per_sub,
           o->hold > 0 ? (double)cpu_idle / (o->hold * 1e9) * 100 : 0);
    return 0; /* how many were held is in the report */
}

/* --- options ------------------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(
        stderr,
        "usage: loadgen run --target HOST:PORT [options]\n"
        "       loadgen raw --listen HOST:PORT --subs N --duration SEC [--size BYTES]\n"
        "run options:\n"
        "  --pub-target H:P     publishers connect there instead (another node of a cluster)\n"
        "  --name NAME          label in the output (default: server)\n"
        "  --tag TAG            channel name prefix, [A-Za-z0-9_] (default: b)\n"
        "  --transport sse|ws|longpoll\n"
        "  --subs N             subscribers (default 0); subscriber i is on channel i %% channels\n"
        "  --channels N         channels (default 1)\n"
        "  --pubs N             publisher connections (default 1; 0 = an external source, the raw "
        "reference)\n"
        "  --window N           publishes in flight per publisher connection (default 1)\n"
        "  --rate R             publishes per second over all publishers (default 0 = as fast as answered)\n"
        "  --duration SEC       measured window (default 5)\n"
        "  --warmup SEC         publishing before the window opens (default 1)\n"
        "  --size BYTES         payload size (default 64)\n"
        "  --src-addrs N        spread subscribers over 127.0.0.2 .. 127.0.0.N+1 (default 16)\n"
        "  --connect-batch N    connections being set up at once (default 256)\n"
        "  --server-pid PID     measure this process's CPU and memory\n"
        "  --idle               only connect the subscribers, measure memory, hold --hold SEC\n"
        "  --procs N            idle subscribers spread over N processes (default 1)\n"
        "  --hold SEC           (default 1)\n"
        "  --drain SEC          how long to wait for late deliveries (default 15)\n"
        "  --spin-us N          poll without sleeping for N µs after the last event (default 0)\n"
        "  --batch-us N         after each round of events, let data gather for N µs (default 0)\n");
}

static int parse_target(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    *o = (opts_t){.name = "server",
                  .tag = "b",
                  .transport = K_SSE,
                  .subs = 0,
                  .channels = 1,
                  .pubs = 1,
                  .window = 1,
                  .size = 64,
                  .nsrc = 16,
                  .procs = 1,
                  .connect_batch = 256,
                  .duration = 5,
                  .warmup = 1,
                  .hold = 1,
                  .drain_max = 15,
                  .spin_us = 0};
    int have_target = 0;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--idle")) {
            o->idle = 1;
            continue;
        }
        if (i + 1 >= argc)
            return -1;
        const char *v = argv[++i];
        if (!strcmp(k, "--target")) {
            if (parse_target(v, &o->addr) < 0)
                return -1;
            have_target = 1;
        } else if (!strcmp(k, "--pub-target")) {
            if (parse_target(v, &o->pub_addr) < 0)
                return -1;
            o->pub_elsewhere = 1;
        } else if (!strcmp(k, "--name"))
            o->name = v;
        else if (!strcmp(k, "--tag"))
            o->tag = v;
        else if (!strcmp(k, "--transport")) {
            if (!strcmp(v, "sse"))
                o->transport = K_SSE;
            else if (!strcmp(v, "ws"))
                o->transport = K_SSE, o->ws = 1;
            else if (!strcmp(v, "longpoll"))
                o->transport = K_LP;
            else
                return -1;
        } else if (!strcmp(k, "--subs"))
            o->subs = atoi(v);
        else if (!strcmp(k, "--channels"))
            o->channels = atoi(v);
        else if (!strcmp(k, "--pubs"))
            o->pubs = atoi(v);
        else if (!strcmp(k, "--window"))
            o->window = atoi(v);
        else if (!strcmp(k, "--rate"))
            o->rate = atof(v);
        else if (!strcmp(k, "--duration"))
            o->duration = atof(v);
        else if (!strcmp(k, "--warmup"))
            o->warmup = atof(v);
        else if (!strcmp(k, "--size"))
            o->size = atoi(v);
        else if (!strcmp(k, "--src-addrs"))
            o->nsrc = atoi(v);
        else if (!strcmp(k, "--connect-batch"))
            o->connect_batch = atoi(v);
        else if (!strcmp(k, "--server-pid"))
            o->server_pid = (pid_t)atoi(v);
        else if (!strcmp(k, "--procs"))
            o->procs = atoi(v);
        else if (!strcmp(k, "--hold"))
            o->hold = atof(v);
        else if (!strcmp(k, "--batch-us"))
            o->batch_us = atoi(v);
        else if (!strcmp(k, "--spin-us"))
            o->spin_us = atoi(v);
        else if (!strcmp(k, "--drain"))
            o->drain_max = atof(v);
        else
            return -1;
    }
    if (!have_target || o->subs < 0 || o->channels < 1 || o->channels > 9999999 || o->pubs < 0 ||
        o->pubs > 99 || o->window < 1 || o->size < LG_PAYLOAD_MIN || o->size > 4096 || o->nsrc < 0 ||
        o->nsrc > 250 || o->connect_batch < 1 || o->procs < 1 || o->procs > 64 || o->duration <= 0)
        return -1;
    if (o->idle && o->subs < 1)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "raw"))
        return lg_raw_main(argc - 1, argv + 1);
    opts_t o;
    if (argc < 2 || strcmp(argv[1], "run") != 0 || parse_opts(argc - 1, argv + 1, &o) < 0) {
        usage();
        return 2;
    }
    if (o.idle)
        return run_idle(&o);
    lg_t *lg = xcalloc(1, sizeof(*lg));
    lg->rss_before = o.server_pid ? lg_proc_rss_kib(o.server_pid) : -1;
    int64_t rss0 = lg->rss_before;
    lg_init(lg, &o, 0, (uint32_t)o.subs);
    lg->rss_before = rss0;
    loop(lg);
    report(lg);
    return 0;
}
