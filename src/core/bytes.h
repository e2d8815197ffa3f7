/* Refcounted immutable byte blocks, and borrowed spans into someone else's buffer.
 * A cr_bytes_t is one allocation {refcnt, len, data[]}; once built it is never
 * written again, so many connections can queue the same block without copies.
 * Static blocks (CR_BYTES_STATIC) are never freed. No I/O here.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_BYTES_H
#define CR_CORE_BYTES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed view: valid only as long as the buffer it points into. */
typedef struct cr_span {
    const char *ptr;
    size_t len;
} cr_span_t;

#define CR_SPAN_LIT(s) ((cr_span_t){(s), sizeof(s) - 1})

#define CR_BYTES_STATIC UINT32_MAX

typedef struct cr_bytes {
    _Atomic uint32_t refcnt;
    uint32_t len;
    char data[];
} cr_bytes_t;

/* Declares a static block holding a string literal (refcnt CR_BYTES_STATIC). */
#define CR_BYTES_DEFINE(name, lit)                                                                           \
    static struct {                                                                                          \
        _Atomic uint32_t refcnt;                                                                             \
        uint32_t len;                                                                                        \
        char data[sizeof(lit)];                                                                              \
    } name##_storage = {CR_BYTES_STATIC, sizeof(lit) - 1, lit};                                              \
    static cr_bytes_t *const name = (cr_bytes_t *)&name##_storage

/* A new block of len bytes (uninitialised data, caller fills it before sharing).
 * Returns a reference the caller owns. Aborts on OOM. */
cr_bytes_t *cr_bytes_new(size_t len);
/* A new block holding a copy of data[0..len). */
cr_bytes_t *cr_bytes_copy(const void *data, size_t len);
cr_bytes_t *cr_bytes_ref(cr_bytes_t *b);
/* Drops one reference; frees at zero. NULL is allowed. */
void cr_bytes_unref(cr_bytes_t *b);

/* Live (non-static) blocks, for tests that check every reference came back. */
long cr_bytes_live(void);

/* Allocation that aborts on OOM: input can't reach OOM because limits are
 * checked before allocating, so running out is a bug or a dying machine. */
void *cr_xmalloc(size_t n);
void *cr_xcalloc(size_t n, size_t size);
void *cr_xrealloc(void *p, size_t n);
char *cr_xstrndup(const char *s, size_t n);

static inline int cr_span_eq(cr_span_t a, const char *lit)
{
    size_t i = 0;
    for (; i < a.len; i++)
        if (lit[i] == '\0' || lit[i] != a.ptr[i])
            return 0;
    return lit[i] == '\0';
}

/* ASCII case-insensitive comparison against a NUL-terminated literal. */
int cr_span_ieq(cr_span_t a, const char *lit);

#endif
