/* Helpers shared by the unit tests, header-only so each test stays one file.
 *  - a guard buffer: input copied so that its last byte sits right before a PROT_NONE page,
 *    so a codec reading one byte too far crashes instead of passing by luck;
 *  - a feeder: runs a codec over one input given whole, split at every point, and byte by byte.
 * Test-only code: it aborts on mmap failure rather than returning errors.
 * SPDX-License-Identifier: MIT */
#ifndef CR_TESTS_TEST_UTIL_H
#define CR_TESTS_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct tu_guard {
    char *map;     /* writable pages followed by one PROT_NONE page */
    size_t usable; /* bytes before the PROT_NONE page */
} tu_guard_t;

#define TU_GUARD_INIT                                                                                        \
    {                                                                                                        \
        NULL, 0                                                                                              \
    }

static inline void tu_guard_free(tu_guard_t *g)
{
    if (g->map)
        munmap(g->map, g->usable + (size_t)sysconf(_SC_PAGESIZE));
    g->map = NULL;
    g->usable = 0;
}

/* Copies data[0..len) so that it ends exactly at a PROT_NONE page and returns the (writable) copy.
 * The mapping is reused while it is large enough, so a previous copy is overwritten. */
static inline char *tu_guard_copy(tu_guard_t *g, const void *data, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (len > g->usable) {
        tu_guard_free(g);
        size_t usable = (len + page - 1) / page * page;
        if (usable == 0)
            usable = page;
        void *m = mmap(NULL, usable + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            perror("mmap");
            abort();
        }
        if (mprotect((char *)m + usable, page, PROT_NONE) != 0) {
            perror("mprotect");
            abort();
        }
        g->map = m;
        g->usable = usable;
    }
    char *p = g->map + g->usable - len;
    if (len)
        memcpy(p, data, len);
    return p;
}

/* What the feeder drives. Each schedule is begin, then piece for consecutive pieces covering the
 * whole input in order, then end (where the callback checks what it decoded). */
typedef struct tu_feed_ops {
    void (*begin)(void *ctx, const char *schedule);
    /* piece = input[off..off+len), as a writable copy ending at a PROT_NONE page; valid until
     * the callback returns. */
    void (*piece)(void *ctx, char *piece, size_t len, size_t off);
    void (*end)(void *ctx);
} tu_feed_ops_t;

static inline void tu_feed_run(const char *in, size_t len, const tu_feed_ops_t *ops, void *ctx, tu_guard_t *g,
                               const char *schedule, size_t split, size_t step)
{
    ops->begin(ctx, schedule);
    size_t off = 0;
    while (off < len) {
        size_t n = step ? step : (off < split ? split - off : len - off);
        if (n > len - off)
            n = len - off;
        ops->piece(ctx, tu_guard_copy(g, in + off, n), n, off);
        off += n;
    }
    ops->end(ctx);
}

/* Runs ops over in[0..len): whole, at every 2-way split point (1..len-1), then one byte at a
 * time. Returns the number of schedules run. */
static inline size_t tu_feed(const char *in, size_t len, const tu_feed_ops_t *ops, void *ctx)
{
    tu_guard_t g = TU_GUARD_INIT;
    char name[48];
    size_t runs = 0;

    tu_feed_run(in, len, ops, ctx, &g, "whole", len, 0);
    runs++;
    for (size_t k = 1; k < len; k++) {
        snprintf(name, sizeof(name), "split at %zu", k);
        tu_feed_run(in, len, ops, ctx, &g, name, k, 0);
        runs++;
    }
    if (len > 1) {
        tu_feed_run(in, len, ops, ctx, &g, "1 byte at a time", len, 1);
        runs++;
    }
    tu_guard_free(&g);
    return runs;
}

#endif
