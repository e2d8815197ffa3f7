/* The raw reference for fan-out: no server logic at all, just a plain loop of
 * write() calls, one SSE-shaped frame per message per socket, to the same
 * number of connected loopback sockets the servers get. Whatever rate this
 * reaches is the physical limit of one-write-per-delivery fan-out here.
 * SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lg.h"

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the end of the request head; the request itself does not matter. */
static int read_head(int fd)
{
    char buf[4096];
    size_t have = 0;
    while (have < sizeof(buf)) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        if (memmem(buf, have, "\r\n\r\n", 4))
            return 0;
    }
    return -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen raw --listen HOST:PORT --subs N --duration SEC [--size BYTES]\n");
}

int lg_raw_main(int argc, char **argv)
{
    const char *listen_at = NULL;
    int subs = 1000, size = 64;
    double duration = 5;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        if (!strcmp(argv[i], "--listen"))
            listen_at = argv[++i];
        else if (!strcmp(argv[i], "--subs"))
            subs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--duration"))
            duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--size"))
            size = atoi(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    if (!listen_at || subs < 1 || size < LG_PAYLOAD_MIN || size > 4096) {
        usage();
        return 2;
    }
    char host[64];
    const char *colon = strrchr(listen_at, ':');
    if (!colon || (size_t)(colon - listen_at) >= sizeof(host)) {
        usage();
        return 2;
    }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        usage();
        return 2;
    }

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 4096) < 0) {
        perror("raw: listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);

    int *fds = calloc((size_t)subs, sizeof(int));
    static const char head[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        ": raw\n\n";
    for (int i = 0; i < subs; i++) {
        fds[i] = accept(ls, NULL, NULL);
        if (fds[i] < 0 || read_head(fds[i]) < 0 || write_all(fds[i], head, sizeof(head) - 1) < 0) {
            perror("raw: accept");
            return 1;
        }
        /* Like a server, don't wait for acks on small writes. */
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    close(ls);

    /* The frame has the shape and size of crier's: "id: <ms>-<n>\ndata: <payload>\n\n". */
    char frame[4200];
    int64_t t0 = lg_now_ns(), end = t0 + (int64_t)(duration * 1e9);
    uint32_t k = 0;
    for (;; k++) {
        int64_t now = lg_now_ns();
        if (now >= end)
            break;
        int n = snprintf(frame, sizeof(frame), "id: 1800000000000-%u\ndata: ", k);
        lg_payload_t p = {.pub = 0, .chan = 0, .seq = k, .sent_ns = now};
        lg_payload_format(frame + n, (size_t)size, &p);
        n += size;
        frame[n++] = '\n';
        frame[n++] = '\n';
        for (int i = 0; i < subs; i++)
            if (write_all(fds[i], frame, (size_t)n) < 0) {
                perror("raw: write");
                return 1;
            }
    }
    double secs = (double)(lg_now_ns() - t0) / 1e9;
    for (int i = 0; i < subs; i++)
        close(fds[i]);
    printf("{\"rounds\":%u,\"writes\":%llu,\"seconds\":%.3f,\"writes_per_s\":%.0f}\n", k,
           (unsigned long long)k * (unsigned)subs, secs, (double)k * subs / secs);
    free(fds);
    return 0;
}
