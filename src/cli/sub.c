/* `crier sub`: reads a subscription as Server-Sent Events with libcurl and prints
 * each message's data, one per line (or one JSON object per line). After a drop it
 * reconnects with backoff and Last-Event-ID, so it resumes where it stopped: it must
 * never print a message twice nor skip one the server still holds. The parsing is
 * cr_sse_parser's; this file only moves bytes and decides when to retry.
 * SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/cursor.h"
#include "core/err.h"
#include "proto/json_out.h"
#include "proto/sse_parse.h"

#define MAX_EVENT (16u << 20) /* largest event accepted; the server's own limit is --max-body */
#define DEFAULT_RETRY_MS 1000 /* until the server sends "retry:" */
#define MIN_RETRY_MS 100      /* a "retry: 0" must not turn a dead server into a busy loop */
#define MAX_RETRY_MS 10000    /* backoff cap */
#define IDLE_MS (90 * 1000)   /* no byte (not even a heartbeat) for this long: the link is dead */

static const char usage[] =
    "usage: crier sub [flags] CHANNEL[,CHANNEL...]\n"
    "\n"
    "Subscribes to the channels over Server-Sent Events (GET URL/sub/CHANNEL) and\n"
    "prints each message's data followed by a newline, as soon as it arrives. When\n"
    "the connection drops or the server ends it, reconnects (after the server's\n"
    "retry: delay, default 1 s, doubling up to 10 s while it keeps failing) and\n"
    "resumes with Last-Event-ID: nothing is missed or printed twice while the server\n"
    "still holds the messages. A stream silent for 90 s (no heartbeat) counts as lost.\n"
    "\n"
    "  --url URL            server base URL (default $CRIER_URL, else " CR_CLI_DEFAULT_URL ")\n"
    "  --since WHEN         where to start: a cursor (an event id, e.g. 1795736423362-0,\n"
    "                       or a compound one for several channels), a duration (10m,\n"
    "                       90s, 2h, 1d: messages published that long ago or later), a\n"
    "                       unix time in seconds, or 'all' (everything retained).\n"
    "                       Default: only messages published from now on\n"
    "  --json               print one JSON object per message and line:\n"
    "                       {\"id\":\"...\",\"event\":\"...\",\"data\":\"...\"} (event is \"message\"\n"
    "                       unless the publisher named one; id is null if there is none)\n"
    "  --count N            exit 0 after N messages\n"
    "  -h, --help           this text\n"
    "\n"
    "Flags may also be written --flag=VALUE. Messages published with an event name\n"
    "are printed like the others. crier's own notices go to stderr: a 'crier-gap'\n"
    "event (messages lost to the server's retention) prints 'crier: gap: ...' and\n"
    "carries on; 'crier-deleted' (the channel was deleted) prints a notice and exits 0;\n"
    "'crier-hello' prints the connection's client id (what POST /pub/@ID reaches).\n"
    "Ctrl-C exits 0. An HTTP 4xx answer prints the server's JSON error to stderr and\n"
    "exits 1 without retrying. Exit status: 0 done, 1 failed, 2 bad usage.\n"
    "\n"
    "examples:\n"
    "  crier sub news\n"
    "  crier sub --since all --count 10 --json news,alerts\n";

/* What a reconnect without a last event id must ask for, from the --since given. */
typedef enum since_kind {
    SINCE_NEW,      /* no --since: messages from the first attempt on */
    SINCE_DURATION, /* a span back from the first attempt */
    SINCE_FIXED,    /* a cursor, a unix time or "all": the same value again */
} since_kind_t;

typedef struct sub_opts {
    const char *url, *since, *channels;
    int json;
    long long count; /* 0: no limit */
} sub_opts_t;

typedef struct sub {
    sub_opts_t o;
    since_kind_t since_kind;
    int64_t since_ms; /* SINCE_DURATION: its length */
    int64_t t0_ms;    /* monotonic time of the first attempt */
    cr_sse_parser_t parser;
    CURL *curl;
    CURLM *multi;
    cr_buf_t url, line;
    char errbuf[CURL_ERROR_SIZE];
    long long printed;
    int done;      /* the exit code is decided (count reached, channel deleted, stdout gone) */
    int exit_code; /* valid when done */

    /* The current response. */
    long status;
    int head_checked;
    int stream_ok; /* a 200 text/event-stream */
    int too_big;   /* an event over MAX_EVENT */
    int64_t last_byte_ms;
    cr_buf_t errbody;
} sub_t;

static volatile sig_atomic_t interrupted;
static int wake_fds[2] = {-1, -1}; /* the signal handler writes to [1]; waits poll [0] */

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    interrupted = 1;
    if (wake_fds[1] >= 0 && write(wake_fds[1], "", 1) < 0) {
        /* The pipe is full: a wake-up is already pending. */
    }
    errno = saved;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is(const cr_sse_event_t *ev, const char *type)
{
    return ev->type_len == strlen(type) && memcmp(ev->type, type, ev->type_len) == 0;
}

/* --- output ----------------------------------------------------------------------------------------- */

static void finish(sub_t *s, int code)
{
    if (!s->done) {
        s->done = 1;
        s->exit_code = code;
    }
}

static void print_message(sub_t *s, const cr_sse_event_t *ev)
{
    cr_buf_t *b = &s->line;
    b->len = 0;
    if (s->o.json) {
        cr_buf_puts(b, "{\"id\":");
        if (ev->id_len)
            cr_json_string(b, ev->id, ev->id_len);
        else
            cr_buf_puts(b, "null");
        cr_buf_puts(b, ",\"event\":");
        cr_json_string(b, ev->type, ev->type_len);
        cr_buf_puts(b, ",\"data\":");
        cr_json_string(b, ev->data, ev->data_len);
        cr_buf_puts(b, "}\n");
    } else {
        cr_buf_append(b, ev->data, ev->data_len);
        cr_buf_putc(b, '\n');
    }
    if (fwrite(b->data, 1, b->len, stdout) != b->len || fflush(stdout) != 0) {
        /* A reader that went away (crier sub ... | head) is a normal way to stop. */
        if (errno != EPIPE)
            perror("crier sub: stdout");
        finish(s, errno == EPIPE ? 0 : 1);
        return;
    }
    s->printed++;
    if (s->o.count && s->printed >= s->o.count)
        finish(s, 0);
}

static void on_event(void *arg, const cr_sse_event_t *ev)
{
    sub_t *s = arg;
    if (s->done)
        return;
    if (is(ev, "crier-hello")) {
        /* The connection's client id: what POST /pub/@<id> addresses. A notice, not a message. */
        fprintf(stderr, "crier: connected as client %.*s\n", (int)ev->data_len, ev->data);
    } else if (is(ev, "crier-gap")) {
        fprintf(stderr, "crier: gap: messages were dropped by the server's retention before delivery: %s\n",
                ev->data);
    } else if (is(ev, "crier-deleted")) {
        fprintf(stderr, "crier: channel deleted: %s\n", ev->data);
        finish(s, 0);
    } else if (is(ev, "crier-close")) {
        /* The server is ending this stream (shutdown, or we read too slowly): resume after it. */
        fprintf(stderr, "crier: the server closed the stream: %s\n", ev->data);
    } else {
        print_message(s, ev);
    }
}

/* --- one connection --------------------------------------------------------------------------------- */

static int is_event_stream(const char *ctype)
{
    static const char want[] = "text/event-stream";
    size_t n = sizeof(want) - 1;
    return ctype && strncasecmp(ctype, want, n) == 0 &&
           (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

static void check_head(sub_t *s)
{
    if (s->head_checked)
        return;
    s->head_checked = 1;
    const char *ctype = NULL;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    curl_easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &ctype);
    s->stream_ok = s->status == 200 && is_event_stream(ctype);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    sub_t *s = arg;
    size_t n = size * nmemb;
    s->last_byte_ms = now_ms();
    check_head(s);
    if (!s->stream_ok)
        return cr__cli_collect(ptr, size, nmemb, &s->errbody);
    if (cr_sse_parser_feed(&s->parser, ptr, n) < 0) {
        s->too_big = 1;
        return 0;
    }
    /* Returning less than n makes curl abort the transfer. */
    return s->done ? 0 : n;
}

/* The URL of the next attempt. With a last event id, Last-Event-ID says where to resume (and
 * ?since= must be absent, as the server prefers it). Without one, nothing was delivered yet: ask
 * again from where the first attempt started, measured on our monotonic clock so that the two
 * machines' clocks need not agree. */
static void build_url(sub_t *s, int first)
{
    cr__cli_url(&s->url, cr__cli_base_url(s->o.url), "sub", s->o.channels);
    if (s->parser.last_id.len == 0 && (s->o.since || !first)) {
        char tmp[64];
        const char *since = tmp;
        if (s->since_kind == SINCE_FIXED || first) {
            since = s->o.since;
        } else {
            long long ms = (long long)(s->since_ms + (now_ms() - s->t0_ms) + 1);
            snprintf(tmp, sizeof(tmp), "%lldms", ms);
        }
        char *esc = curl_easy_escape(s->curl, since, 0);
        cr_buf_puts(&s->url, "?since=");
        cr_buf_puts(&s->url, esc ? esc : "");
        curl_free(esc);
    }
    cr_buf_putc(&s->url, '\0');
}

static struct curl_slist *build_headers(sub_t *s)
{
    struct curl_slist *h = curl_slist_append(NULL, "Accept: text/event-stream");
    h = h ? curl_slist_append(h, "Cache-Control: no-cache") : NULL;
    if (h && s->parser.last_id.len) {
        /* The parser never keeps CR, LF or NUL in an id, so it is safe as a header value. */
        cr_buf_t b = CR_BUF_INIT;
        cr_buf_puts(&b, "Last-Event-ID: ");
        cr_buf_append(&b, s->parser.last_id.data, s->parser.last_id.len);
        cr_buf_putc(&b, '\0');
        struct curl_slist *n = curl_slist_append(h, b.data);
        cr_buf_free(&b);
        if (!n)
            curl_slist_free_all(h);
        h = n;
    }
    if (!h) {
        fputs("crier: out of memory\n", stderr);
        abort();
    }
    return h;
}

/* Runs one request until the server ends it, it fails, we are done or interrupted. */
static CURLcode run_once(sub_t *s, int first)
{
    s->status = 0;
    s->head_checked = 0;
    s->stream_ok = 0;
    s->too_big = 0;
    s->errbody.len = 0;
    s->errbuf[0] = '\0';
    cr_sse_parser_reset(&s->parser);
    build_url(s, first);
    struct curl_slist *headers = build_headers(s);
    curl_easy_setopt(s->curl, CURLOPT_URL, s->url.data);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, headers);
    curl_multi_add_handle(s->multi, s->curl);

    CURLcode result = CURLE_OK;
    s->last_byte_ms = now_ms();
    int running = 1;
    while (running) {
        if (curl_multi_perform(s->multi, &running) != CURLM_OK)
            break;
        if (!running || interrupted || s->done)
            break;
        struct curl_waitfd wake = {wake_fds[0], CURL_WAIT_POLLIN, 0};
        curl_multi_poll(s->multi, &wake, 1, 1000, NULL);
        if (interrupted)
            break;
        if (now_ms() - s->last_byte_ms > IDLE_MS) {
            snprintf(s->errbuf, sizeof(s->errbuf), "nothing received for %d s", IDLE_MS / 1000);
            result = CURLE_OPERATION_TIMEDOUT;
            break;
        }
    }
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(s->multi, &left)))
        if (m->msg == CURLMSG_DONE && m->easy_handle == s->curl && result == CURLE_OK)
            result = m->data.result;
    check_head(s);
    curl_multi_remove_handle(s->multi, s->curl);
    curl_slist_free_all(headers);
    return result;
}

/* --- the reconnect loop ----------------------------------------------------------------------------- */

/* Sleeps ms unless a signal arrives first. */
static void pause_ms(int64_t ms)
{
    int64_t until = now_ms() + ms;
    while (!interrupted) {
        int64_t left = until - now_ms();
        if (left <= 0)
            return;
        struct pollfd pfd = {wake_fds[0], POLLIN, 0};
        poll(&pfd, 1, (int)left);
    }
}

static void print_body(const cr_buf_t *b, const char *url, long status)
{
    if (b->len) {
        fwrite(b->data, 1, b->len, stderr);
        if (b->data[b->len - 1] != '\n')
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "crier sub: %s: HTTP %ld\n", url, status);
    }
}

/* After an attempt: returns the exit code, or -1 to reconnect with why set to the reason. */
static int judge(sub_t *s, CURLcode cc, cr_buf_t *why)
{
    why->len = 0;
    if (interrupted)
        return 0;
    if (s->done)
        return s->exit_code;
    if (s->too_big) {
        fprintf(stderr, "crier sub: an event is larger than %u MiB: giving up\n", MAX_EVENT >> 20);
        return 1;
    }
    const char *err = s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc);
    if (s->stream_ok) {
        if (cc == CURLE_OK)
            cr_buf_puts(why, "the server ended the stream");
        else
            cr_buf_printf(why, "connection lost (%s)", err);
        return -1;
    }
    if (s->status == 0) {
        cr_buf_printf(why, "%s: %s", s->url.data, err);
        return -1;
    }
    if (s->status == 204) {
        /* The EventSource way to say "stop reconnecting". */
        fputs("crier: the server answered 204 No Content: not reconnecting\n", stderr);
        return 0;
    }
    if (s->status >= 400 && s->status < 500) {
        print_body(&s->errbody, s->url.data, s->status);
        return 1;
    }
    if (s->status >= 500) {
        print_body(&s->errbody, s->url.data, s->status);
        /* Overload (503) and the like pass; "not implemented" and "bad version" will not. */
        if (s->status == 501 || s->status == 505)
            return 1;
        cr_buf_printf(why, "HTTP %ld", s->status);
        return -1;
    }
    const char *ctype = NULL;
    curl_easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &ctype);
    fprintf(stderr, "crier sub: %s answered HTTP %ld with Content-Type %s, not an event stream\n",
            s->url.data, s->status, ctype ? ctype : "(none)");
    return 1;
}

/* Connects, and reconnects until judge() gives an exit code. The delay starts at the server's
 * retry: (or DEFAULT_RETRY_MS) and doubles while attempts keep failing, up to MAX_RETRY_MS; an
 * attempt that got a stream resets it. */
static int run(sub_t *s)
{
    cr_buf_t why = CR_BUF_INIT;
    int failures = 0, rc;
    s->t0_ms = now_ms();
    for (int first = 1;; first = 0) {
        CURLcode cc = run_once(s, first);
        rc = judge(s, cc, &why);
        if (rc >= 0)
            break;
        if (s->stream_ok)
            failures = 0;
        int64_t delay = s->parser.retry_ms >= 0 ? s->parser.retry_ms : DEFAULT_RETRY_MS;
        if (delay < MIN_RETRY_MS)
            delay = MIN_RETRY_MS;
        for (int i = 0; i < failures && delay < MAX_RETRY_MS; i++)
            delay *= 2;
        if (delay > MAX_RETRY_MS)
            delay = MAX_RETRY_MS;
        failures++;
        fprintf(stderr, "crier: %.*s; reconnecting in %.1f s\n", (int)why.len, why.data,
                (double)delay / 1000);
        pause_ms(delay);
        if (interrupted) {
            rc = 0;
            break;
        }
    }
    cr_buf_free(&why);
    return rc;
}

/* --- setup ------------------------------------------------------------------------------------------ */

/* Returns -1 to go on, else the exit code (0 after --help, 2 on bad usage). */
static int parse_args(int argc, char **argv, sub_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    const char *count = NULL;
    const cr_cli_valued_t valued[] = {{"--url", &o->url}, {"--since", &o->since}, {"--count", &count}};
    const cr_cli_switch_t switches[] = {{"--json", NULL, &o->json}};
    cr_cli_args_t a = {"crier sub", usage,        valued, sizeof(valued) / sizeof(valued[0]),     switches, 1,
                       0,           &o->channels, 1,      "one channel list only, joined by ','", 0};
    int rc = cr__cli_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (count) {
        char *end = NULL;
        errno = 0;
        o->count = strtoll(count, &end, 10);
        if (errno || end == count || *end || o->count < 1) {
            fprintf(stderr, "crier sub: bad value for --count: %s (a number, 1 or more)\n", count);
            return 2;
        }
    }
    return -1;
}

static void classify_since(sub_t *s)
{
    const char *v = s->o.since;
    s->since_kind = SINCE_NEW;
    s->since_ms = 0;
    if (!v)
        return;
    /* The server reads a value with '-' as a cursor and bare digits as a unix time (core/cursor.c);
     * anything else that is not a duration it will refuse, so it is sent unchanged. */
    s->since_kind = SINCE_FIXED;
    if (!strcmp(v, "all") || strchr(v, '-') || strspn(v, "0123456789") == strlen(v))
        return;
    int64_t ms;
    if (cr_duration_parse(v, strlen(v), &ms) == 0) {
        s->since_kind = SINCE_DURATION;
        s->since_ms = ms;
    }
}

int cr_cli_sub(int argc, char **argv)
{
    sub_t s;
    memset(&s, 0, sizeof(s));
    int rc = parse_args(argc, argv, &s.o);
    if (rc >= 0)
        return rc;
    if (cr__cli_url(&s.url, cr__cli_base_url(s.o.url), "sub", s.o.channels) < 0) {
        fprintf(stderr, "crier sub: bad channel list '%s' (see crier sub --help)\n", s.o.channels);
        cr_buf_free(&s.url);
        return 2;
    }
    classify_since(&s);

    if (pipe2(wake_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        perror("crier sub: pipe");
        cr_buf_free(&s.url);
        return 1;
    }
    struct sigaction sa, old_int, old_term, old_pipe;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* A closed stdout must show up as EPIPE from fwrite, not kill us mid-line. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);

    rc = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("crier sub: libcurl failed to start\n", stderr);
    } else {
        s.curl = curl_easy_init();
        s.multi = curl_multi_init();
        if (!s.curl || !s.multi) {
            fputs("crier sub: libcurl failed to start\n", stderr);
        } else {
            cr_sse_parser_init(&s.parser, MAX_EVENT, on_event, &s);
            curl_easy_setopt(s.curl, CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(s.curl, CURLOPT_WRITEDATA, &s);
            curl_easy_setopt(s.curl, CURLOPT_ERRORBUFFER, s.errbuf);
            curl_easy_setopt(s.curl, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(s.curl, CURLOPT_USERAGENT, "crier-cli");
            curl_easy_setopt(s.curl, CURLOPT_CONNECTTIMEOUT, 10L);
            curl_easy_setopt(s.curl, CURLOPT_TCP_KEEPALIVE, 1L);
            curl_easy_setopt(s.curl, CURLOPT_FOLLOWLOCATION, 1L);
            curl_easy_setopt(s.curl, CURLOPT_MAXREDIRS, 5L);
            rc = run(&s);
            cr_sse_parser_free(&s.parser);
        }
        if (s.multi)
            curl_multi_cleanup(s.multi);
        if (s.curl)
            curl_easy_cleanup(s.curl);
        curl_global_cleanup();
    }

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    close(wake_fds[0]);
    close(wake_fds[1]);
    wake_fds[0] = wake_fds[1] = -1;
    cr_buf_free(&s.url);
    cr_buf_free(&s.line);
    cr_buf_free(&s.errbody);
    return rc;
}
