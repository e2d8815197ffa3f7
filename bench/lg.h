/* The load generator's shared pieces: HTTP/1.1 response heads, an incremental
 * chunked decoder, the 64-byte bench payload, the latency histogram and the
 * /proc readers. Pure helpers: nothing here touches a socket.
 * SPDX-License-Identifier: MIT */
#ifndef CR_BENCH_LG_H
#define CR_BENCH_LG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* --- time ---------------------------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds: the same clock in every process of the machine, so a send
 * time written into a payload by one process can be compared with a receive time in another. */
int64_t lg_now_ns(void);

/* CPU time used by this process (all threads), in nanoseconds. */
int64_t lg_cpu_ns(void);

/* --- the payload ---------------------------------------------------------------------------------- */

/* Every bench message is one line of exactly LG_PAYLOAD_MIN..size bytes:
 * "p<pub:2> c<chan:7> s<seq:10> t<send time, µs:17> " then 'x' padding. */
#define LG_PAYLOAD_MIN 44

typedef struct lg_payload {
    uint32_t pub;
    uint32_t chan;
    uint32_t seq;
    int64_t sent_ns;
} lg_payload_t;

/* Writes a payload of `size` bytes (at least LG_PAYLOAD_MIN) into out. */
void lg_payload_format(char *out, size_t size, const lg_payload_t *p);

/* Parses a payload; 0 on success, -1 if the bytes are not a bench payload. */
int lg_payload_parse(const char *p, size_t n, lg_payload_t *out);

/* --- HTTP/1.1 response heads --------------------------------------------------------------------- */

typedef struct lg_span {
    const char *p;
    size_t n;
} lg_span_t;

typedef struct lg_resp {
    int status;
    int64_t content_length; /* -1: none */
    int chunked;
    int close;          /* Connection: close, or HTTP/1.0 without keep-alive */
    lg_span_t cursor;   /* X-Crier-Cursor */
    lg_span_t last_mod; /* Last-Modified */
    lg_span_t etag;     /* Etag */
} lg_resp_t;

/* Parses the response head at the start of [p, p+n). Returns the head's length including the
 * blank line, 0 if the head is not complete yet, -1 if it is not an HTTP/1.x response.
 * Spans point into p. */
ssize_t lg_resp_parse(const char *p, size_t n, lg_resp_t *r);

/* --- chunked transfer coding, decoded in place --------------------------------------------------- */

typedef struct lg_chunk {
    uint8_t st;
    uint8_t done;
    uint64_t left;
} lg_chunk_t;

void lg_chunk_init(lg_chunk_t *c);

/* Decodes the chunked bytes in [p, p+n), moving the payload bytes to the front of p. Returns
 * how many payload bytes now start at p. Chunk boundaries may fall anywhere: the state carries
 * over to the next call. c->done is set once the last chunk and its trailer are through; then
 * *used says how many input bytes belonged to the body (the rest is the next response). */
size_t lg_chunk_decode(lg_chunk_t *c, char *p, size_t n, size_t *used);

/* --- latency histogram ------------------------------------------------------------------------------ */

#define LG_HIST_US 100000 /* 1 µs bins below 100 ms */
#define LG_HIST_MS 100000 /* then 1 ms bins up to 100 s */

typedef struct lg_hist {
    uint64_t n;
    uint64_t max_us;
    uint32_t *us;
    uint32_t *ms;
} lg_hist_t;

void lg_hist_init(lg_hist_t *h);
void lg_hist_free(lg_hist_t *h);
void lg_hist_add(lg_hist_t *h, int64_t us);
/* The value (µs) at or below which the fraction q of samples lie; 0 when empty. */
uint64_t lg_hist_pct(const lg_hist_t *h, double q);

/* --- /proc ---------------------------------------------------------------------------------------- */

/* CPU time (user + system, all threads) of a process in nanoseconds; -1 if unreadable. */
int64_t lg_proc_cpu_ns(pid_t pid);

/* VmRSS of a process in KiB; -1 if unreadable. */
int64_t lg_proc_rss_kib(pid_t pid);
/* The kernel's slab memory (Slab: in /proc/meminfo, less /proc inodes) plus TCP buffer
 * memory (/proc/net/sockstat), in KiB: what sockets cost the kernel, machine-wide. */
int64_t lg_kernel_sock_kib(void);

/* Per-core time from /proc/stat: busy (everything but idle and iowait) and the part of it spent
 * in interrupts and softirqs, which the kernel charges to no process. */
#define LG_MAX_CORES 8
typedef struct lg_cores {
    int n;
    int64_t busy_ns[LG_MAX_CORES];
    int64_t irq_ns[LG_MAX_CORES];
} lg_cores_t;

int lg_proc_cores(lg_cores_t *out);

/* --- the raw write() reference ------------------------------------------------------------------ */

/* `loadgen raw ...`: accepts N connections, answers each with an event-stream head, then
 * writes one SSE frame at a time to every socket in a plain loop. Returns the exit code. */
int lg_raw_main(int argc, char **argv);

#endif
