/* Helpers of the load generator that do no I/O on sockets: clocks, the bench
 * payload, HTTP response heads, the chunked decoder, the latency histogram
 * and the /proc readers used to measure the server under test.
 * SPDX-License-Identifier: MIT */
#include "lg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t lg_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- payload -------------------------------------------------------------------------------------- */

static void put_dec(char *out, size_t width, uint64_t v)
{
    for (size_t i = width; i-- > 0;) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void lg_payload_format(char *out, size_t size, const lg_payload_t *p)
{
    /* "p00 c0000000 s0000000000 t<17 digits of µs> " = 44 bytes */
    out[0] = 'p';
    put_dec(out + 1, 2, p->pub);
    out[3] = ' ';
    out[4] = 'c';
    put_dec(out + 5, 7, p->chan);
    out[12] = ' ';
    out[13] = 's';
    put_dec(out + 14, 10, p->seq);
    out[24] = ' ';
    out[25] = 't';
    put_dec(out + 26, 17, (uint64_t)p->sent_ns / 1000); /* µs: latency is reported in µs anyway */
    out[43] = ' ';
    memset(out + LG_PAYLOAD_MIN, 'x', size - LG_PAYLOAD_MIN);
}

static int get_dec(const char *p, size_t width, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < width; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int lg_payload_parse(const char *p, size_t n, lg_payload_t *out)
{
    uint64_t pub, chan, seq, us;
    if (n < LG_PAYLOAD_MIN || p[0] != 'p' || p[4] != 'c' || p[13] != 's' || p[25] != 't')
        return -1;
    if (get_dec(p + 1, 2, &pub) || get_dec(p + 5, 7, &chan) || get_dec(p + 14, 10, &seq) ||
        get_dec(p + 26, 17, &us))
        return -1;
    out->pub = (uint32_t)pub;
    out->chan = (uint32_t)chan;
    out->seq = (uint32_t)seq;
    out->sent_ns = (int64_t)us * 1000;
    return 0;
}

/* --- response heads ------------------------------------------------------------------------------ */

static int name_is(const char *p, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n == k && strncasecmp(p, name, k) == 0;
}

static int value_has(const char *p, size_t n, const char *token)
{
    size_t k = strlen(token);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(p + i, token, k) == 0)
            return 1;
    return 0;
}

ssize_t lg_resp_parse(const char *p, size_t n, lg_resp_t *r)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end)
        return n > 64 * 1024 ? -1 : 0;
    memset(r, 0, sizeof(*r));
    r->content_length = -1;
    if (end - p < 12 || memcmp(p, "HTTP/1.", 7) != 0)
        return -1;
    int http10 = p[7] == '0';
    r->status = atoi(p + 9);
    if (r->status < 100 || r->status > 599)
        return -1;
    int keep_alive = 0;
    const char *line = (const char *)memchr(p, '\n', (size_t)(end + 4 - p)) + 1;
    while (line < end + 2) {
        const char *eol = memchr(line, '\n', (size_t)(end + 4 - line));
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon) {
            size_t nlen = (size_t)(colon - line);
            const char *v = colon + 1;
            const char *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            size_t vlen = (size_t)(ve - v);
            if (name_is(line, nlen, "content-length"))
                r->content_length = strtoll(v, NULL, 10);
            else if (name_is(line, nlen, "transfer-encoding"))
                r->chunked = value_has(v, vlen, "chunked");
            else if (name_is(line, nlen, "connection")) {
                r->close = value_has(v, vlen, "close");
                keep_alive = value_has(v, vlen, "keep-alive");
            } else if (name_is(line, nlen, "x-crier-cursor"))
                r->cursor = (lg_span_t){v, vlen};
            else if (name_is(line, nlen, "last-modified"))
                r->last_mod = (lg_span_t){v, vlen};
            else if (name_is(line, nlen, "etag"))
                r->etag = (lg_span_t){v, vlen};
        }
        line = eol + 1;
    }
    if (http10 && !keep_alive)
        r->close = 1;
    return end + 4 - p;
}

/* --- chunked ------------------------------------------------------------------------------------- */

enum { CK_SIZE, CK_EXT, CK_SIZE_LF, CK_DATA, CK_DATA_CR, CK_DATA_LF, CK_TRAILER, CK_TRAILER_LF };

void lg_chunk_init(lg_chunk_t *c)
{
    memset(c, 0, sizeof(*c));
}

size_t lg_chunk_decode(lg_chunk_t *c, char *p, size_t n, size_t *used)
{
    size_t r = 0, w = 0;
    int line_empty = 1; /* in the trailer: did the current line have any bytes? */
    while (r < n && !c->done) {
        char ch = p[r];
        switch (c->st) {
        case CK_SIZE:
            if (isxdigit((unsigned char)ch)) {
                c->left =
                    c->left * 16 + (uint64_t)(isdigit((unsigned char)ch) ? ch - '0' : (ch | 32) - 'a' + 10);
                r++;
            } else {
                c->st = ch == '\r' ? CK_SIZE_LF : CK_EXT;
                r++;
                if (ch == '\n')
                    goto size_done;
            }
            break;
        case CK_EXT:
            if (ch == '\n') {
                r++;
                goto size_done;
            }
            r++;
            break;
        case CK_SIZE_LF:
            r++;
        size_done:
            if (c->left == 0) {
                c->st = CK_TRAILER;
                line_empty = 1;
            } else {
                c->st = CK_DATA;
            }
            break;
        case CK_DATA: {
            size_t take = n - r < c->left ? n - r : (size_t)c->left;
            memmove(p + w, p + r, take);
            w += take;
            r += take;
            c->left -= take;
            if (c->left == 0)
                c->st = CK_DATA_CR;
            break;
        }
        case CK_DATA_CR:
            r++;
            c->st = ch == '\r' ? CK_DATA_LF : CK_SIZE;
            if (ch == '\n')
                c->st = CK_SIZE;
            break;
        case CK_DATA_LF:
            r++;
            c->st = CK_SIZE;
            break;
        case CK_TRAILER:
            r++;
            if (ch == '\n') {
                if (line_empty)
                    c->done = 1;
                line_empty = 1;
            } else if (ch != '\r') {
                line_empty = 0;
            }
            break;
        }
    }
    *used = r;
    return w;
}

/* --- histogram ------------------------------------------------------------------------------------ */

void lg_hist_init(lg_hist_t *h)
{
    h->n = 0;
    h->max_us = 0;
    h->us = calloc(LG_HIST_US, sizeof(uint32_t));
    h->ms = calloc(LG_HIST_MS, sizeof(uint32_t));
    if (!h->us || !h->ms)
        abort();
}

void lg_hist_free(lg_hist_t *h)
{
    free(h->us);
    free(h->ms);
}

void lg_hist_add(lg_hist_t *h, int64_t us)
{
    if (us < 0)
        us = 0;
    h->n++;
    if ((uint64_t)us > h->max_us)
        h->max_us = (uint64_t)us;
    if (us < LG_HIST_US)
        h->us[us]++;
    else if (us / 1000 < LG_HIST_MS)
        h->ms[us / 1000]++;
    else
        h->ms[LG_HIST_MS - 1]++;
}

uint64_t lg_hist_pct(const lg_hist_t *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t seen = 0;
    for (uint64_t i = 0; i < LG_HIST_US; i++) {
        seen += h->us[i];
        if (seen > want)
            return i;
    }
    for (uint64_t i = 0; i < LG_HIST_MS; i++) {
        seen += h->ms[i];
        if (seen > want)
            return i * 1000 + 500;
    }
    return h->max_us;
}

/* --- /proc ------------------------------------------------------------------------------------------ */

int64_t lg_proc_cpu_ns(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name may hold spaces: fields are counted after its closing parenthesis. */
    char *s = strrchr(buf, ')');
    if (!s)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
     */
    if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (int64_t)((ut + st) * (1000000000ULL / (unsigned long long)hz));
}

int64_t lg_proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int64_t kib = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

/* The slab memory of /proc inodes, in KiB (0 if /proc/slabinfo is unreadable). Anything that
 * lists a process's /proc/PID/fd (a monitoring agent on the test machines does) makes one per
 * descriptor, so they grow with the connections without being any socket's cost. */
static int64_t proc_inode_kib(void)
{
    char line[512];
    int64_t kib = 0;
    FILE *f = fopen("/proc/slabinfo", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        long long active, num, size;
        if (strncmp(line, "proc_inode_cache ", 17) == 0 &&
            sscanf(line + 17, "%lld %lld %lld", &active, &num, &size) == 3)
            kib = num * size / 1024;
    }
    fclose(f);
    return kib;
}

int64_t lg_kernel_sock_kib(void)
{
    char line[256];
    int64_t slab = -1, pages = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "Slab:", 5) == 0)
            slab = strtoll(line + 5, NULL, 10);
    fclose(f);
    if ((f = fopen("/proc/net/sockstat", "r"))) {
        while (fgets(line, sizeof(line), f)) {
            const char *m = strncmp(line, "TCP:", 4) == 0 ? strstr(line, " mem ") : NULL;
            if (m)
                pages = strtoll(m + 5, NULL, 10);
        }
        fclose(f);
    }
    return slab < 0 ? -1 : slab - proc_inode_kib() + pages * (sysconf(_SC_PAGESIZE) / 1024);
}

int lg_proc_cores(lg_cores_t *out)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char line[512];
    long hz = sysconf(_SC_CLK_TCK);
    memset(out, 0, sizeof(*out));
    while (fgets(line, sizeof(line), f)) {
        int cpu;
        unsigned long long us, ni, sy, id, io, irq, si, st;
        if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &us, &ni, &sy, &id, &io, &irq,
                   &si, &st) != 9 ||
            cpu < 0 || cpu >= LG_MAX_CORES)
            continue;
        int64_t tick = 1000000000 / hz;
        out->busy_ns[cpu] = (int64_t)(us + ni + sy + irq + si + st) * tick;
        out->irq_ns[cpu] = (int64_t)(irq + si) * tick;
        if (cpu + 1 > out->n)
            out->n = cpu + 1;
    }
    fclose(f);
    return 0;
}
