/* `crier pub`: publishes one message (an argument, or all of stdin) to one or more
 * channels with a single POST, and prints the server's JSON answer. Also holds the
 * small helpers the HTTP clients share (base URL, channel paths, flags). It never
 * retries: a publish that failed is reported, never silently sent twice.
 * SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"

#define COLLECT_MAX (1u << 20)

static const char usage[] =
    "usage: crier pub [flags] CHANNEL[,CHANNEL...] [MESSAGE]\n"
    "\n"
    "Publishes MESSAGE, or all of standard input when MESSAGE is absent (less one\n"
    "final newline, so that 'echo hi | crier pub ch' sends \"hi\"), to each channel\n"
    "with one POST to URL/pub/CHANNEL. Prints the server's JSON answer\n"
    "({\"id\",\"channel\",\"subscribers\",\"time\"}) and exits 0 when the server accepted\n"
    "it (201 or 202); otherwise prints the server's JSON error to stderr and exits 1.\n"
    "\n"
    "  --url URL            server base URL (default $CRIER_URL, else " CR_CLI_DEFAULT_URL ")\n"
    "  --event NAME         event name for SSE subscribers (sent as X-Event)\n"
    "  --ttl DUR            the message expires after DUR, e.g. 90s, 15m, 2h, 1d (sent as X-TTL)\n"
    "  --type CONTENT-TYPE  the message's Content-Type, kept with it (default: none)\n"
    "  -q, --quiet          print nothing on success\n"
    "  -h, --help           this text\n"
    "  --                   end of flags (for a MESSAGE that starts with '-')\n"
    "\n"
    "Flags may also be written --flag=VALUE. Exit status: 0 published, 1 failed, 2 bad usage.\n"
    "\n"
    "examples:\n"
    "  crier pub news 'hello world'\n"
    "  echo 'from stdin' | crier pub news,alerts\n"
    "  crier pub --event alert --ttl 10m news 'disk almost full'\n";

/* --- shared by pub.c and sub.c ---------------------------------------------------------------------- */

const char *cr__cli_base_url(const char *flag)
{
    if (flag)
        return flag;
    const char *env = getenv("CRIER_URL");
    return env && *env ? env : CR_CLI_DEFAULT_URL;
}

static int channel_byte_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '~' || c == ':' || c == '-';
}

int cr__cli_url(cr_buf_t *out, const char *base, const char *route, const char *channels)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    out->len = 0;
    cr_buf_append(out, base, blen);
    cr_buf_putc(out, '/');
    cr_buf_puts(out, route);
    cr_buf_putc(out, '/');
    size_t seg = 0; /* bytes in the current channel name */
    for (const unsigned char *s = (const unsigned char *)channels;; s++) {
        if (*s == ',' || *s == '\0') {
            if (seg == 0)
                return CR_ECHANNEL;
            if (*s == '\0')
                break;
            cr_buf_putc(out, ',');
            seg = 0;
            continue;
        }
        seg++;
        if (channel_byte_ok(*s)) {
            cr_buf_putc(out, (char)*s);
        } else {
            cr_buf_putc(out, '%');
            cr_buf_putc(out, hex[*s >> 4]);
            cr_buf_putc(out, hex[*s & 15]);
        }
    }
    cr_buf_reserve(out, 1);
    out->data[out->len] = '\0';
    return 0;
}

int cr__cli_flag(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    *value = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (*value)
        (*i)++;
    return 1;
}

size_t cr__cli_collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    cr_buf_t *b = userdata;
    size_t n = size * nmemb;
    if (b->len < COLLECT_MAX)
        cr_buf_append(b, ptr, n < COLLECT_MAX - b->len ? n : COLLECT_MAX - b->len);
    return n;
}

/* --- crier pub -------------------------------------------------------------------------------------- */

typedef struct pub_opts {
    const char *url, *event, *ttl, *type;
    const char *channels, *message;
    int quiet;
} pub_opts_t;

/* Prints a response body (which the server ends without a newline) as one line. */
static void print_body(FILE *f, const cr_buf_t *b)
{
    fwrite(b->data, 1, b->len, f);
    if (b->len && b->data[b->len - 1] != '\n')
        fputc('\n', f);
    fflush(f);
}

static int read_all(FILE *in, cr_buf_t *out)
{
    for (;;) {
        cr_buf_reserve(out, 65536);
        size_t n = fread(out->data + out->len, 1, out->cap - out->len, in);
        out->len += n;
        if (n == 0)
            return ferror(in) ? -1 : 0;
    }
}

/* A header value must not hold CR or LF, or it would smuggle headers of its own. */
static int header_value_ok(const char *v)
{
    return !strpbrk(v, "\r\n");
}

/* Returns -1 to go on, else the exit code (0 after --help, 2 on bad usage). */
static int parse_args(int argc, char **argv, pub_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    const cr_cli_valued_t valued[] = {
        {"--url", &o->url}, {"--event", &o->event}, {"--ttl", &o->ttl}, {"--type", &o->type}};
    const cr_cli_switch_t switches[] = {{"--quiet", "-q", &o->quiet}};
    const char *pos[2];
    /* An empty value is one: "--type=" drops the header (see add_header). */
    cr_cli_args_t a = {"crier pub", usage, valued, sizeof(valued) / sizeof(valued[0]),      switches, 1,
                       1,           pos,   2,      "too many arguments: quote the message", 0};
    int rc = cr__cli_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    for (size_t k = 0; k < a.nvalued; k++) {
        if (*valued[k].slot && !header_value_ok(*valued[k].slot)) {
            fprintf(stderr, "crier pub: the value of %s must not contain a line break\n", valued[k].name);
            return 2;
        }
    }
    o->channels = pos[0];
    o->message = a.npos == 2 ? pos[1] : NULL;
    return -1;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *value)
{
    cr_buf_t b = CR_BUF_INIT;
    /* "Name:" with nothing after the colon tells curl to drop a header it would add itself. */
    cr_buf_printf(&b, *value ? "%s: %s" : "%s:%s", name, value);
    cr_buf_putc(&b, '\0');
    struct curl_slist *n = curl_slist_append(h, b.data);
    cr_buf_free(&b);
    if (!n) {
        fputs("crier: out of memory\n", stderr);
        abort();
    }
    return n;
}

/* One POST of body to url; prints the answer. Returns the exit code. */
static int post(const pub_opts_t *o, const char *url, const cr_buf_t *body)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        fputs("crier pub: libcurl failed to start\n", stderr);
        return 1;
    }
    /* Without an explicit type curl would label the body a form. "Expect:" stops curl waiting for a
     * 100 Continue before it sends a large body. */
    struct curl_slist *headers = NULL;
    headers = add_header(headers, "Content-Type", o->type ? o->type : "");
    headers = add_header(headers, "Expect", "");
    if (o->event)
        headers = add_header(headers, "X-Event", o->event);
    if (o->ttl)
        headers = add_header(headers, "X-TTL", o->ttl);

    cr_buf_t resp = CR_BUF_INIT;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->len ? body->data : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cr__cli_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "crier-cli");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    /* A server that stops answering for 30 s fails the publish instead of hanging a script. */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 30L);

    int rc = 1;
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        fprintf(stderr, "crier pub: %s: %s\n", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else if (status == 201 || status == 202) {
        if (!o->quiet)
            print_body(stdout, &resp);
        rc = 0;
    } else if (resp.len) {
        print_body(stderr, &resp);
    } else {
        fprintf(stderr, "crier pub: %s: HTTP %ld\n", url, status);
    }
    cr_buf_free(&resp);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

int cr_cli_pub(int argc, char **argv)
{
    pub_opts_t o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;

    cr_buf_t url = CR_BUF_INIT, body = CR_BUF_INIT;
    if (cr__cli_url(&url, cr__cli_base_url(o.url), "pub", o.channels) < 0) {
        fprintf(stderr, "crier pub: bad channel list '%s' (see crier pub --help)\n", o.channels);
        rc = 2;
    } else if (o.message) {
        cr_buf_puts(&body, o.message);
    } else if (read_all(stdin, &body) < 0) {
        perror("crier pub: reading stdin");
        rc = 1;
    } else if (body.len && body.data[body.len - 1] == '\n') {
        /* The newline that echo and editors add ends the input, it is not part of the message;
         * crier sub prints it back after each message. */
        body.len -= body.len > 1 && body.data[body.len - 2] == '\r' ? 2 : 1;
    }
    if (rc < 0) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK) {
            rc = post(&o, url.data, &body);
            curl_global_cleanup();
        } else {
            fputs("crier pub: libcurl failed to start\n", stderr);
            rc = 1;
        }
    }
    cr_buf_free(&url);
    cr_buf_free(&body);
    return rc;
}
