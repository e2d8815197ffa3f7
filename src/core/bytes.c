/* Refcounted byte blocks and the aborting allocator.
 * SPDX-License-Identifier: MIT */
#include "core/bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long live_blocks;

void *cr_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "crier: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

void *cr_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "crier: out of memory allocating %zu x %zu bytes\n", n, size);
        abort();
    }
    return p;
}

void *cr_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "crier: out of memory reallocating %zu bytes\n", n);
        abort();
    }
    return q;
}

char *cr_xstrndup(const char *s, size_t n)
{
    char *d = cr_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

cr_bytes_t *cr_bytes_new(size_t len)
{
    if (len >= CR_BYTES_STATIC) {
        fprintf(stderr, "crier: block of %zu bytes is too large\n", len);
        abort();
    }
    cr_bytes_t *b = cr_xmalloc(sizeof(*b) + len + 1);
    atomic_init(&b->refcnt, 1);
    b->len = (uint32_t)len;
    b->data[len] = '\0'; /* handy for debugging and for text payloads; not counted in len */
    atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
    return b;
}

cr_bytes_t *cr_bytes_copy(const void *data, size_t len)
{
    cr_bytes_t *b = cr_bytes_new(len);
    if (len)
        memcpy(b->data, data, len);
    return b;
}

cr_bytes_t *cr_bytes_ref(cr_bytes_t *b)
{
    if (atomic_load_explicit(&b->refcnt, memory_order_relaxed) != CR_BYTES_STATIC)
        atomic_fetch_add_explicit(&b->refcnt, 1, memory_order_relaxed);
    return b;
}

void cr_bytes_unref(cr_bytes_t *b)
{
    if (!b || atomic_load_explicit(&b->refcnt, memory_order_relaxed) == CR_BYTES_STATIC)
        return;
    if (atomic_fetch_sub_explicit(&b->refcnt, 1, memory_order_acq_rel) == 1) {
        atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
        free(b);
    }
}

long cr_bytes_live(void)
{
    return atomic_load_explicit(&live_blocks, memory_order_relaxed);
}

int cr_span_ieq(cr_span_t a, const char *lit)
{
    size_t i = 0;
    for (; i < a.len; i++) {
        char c = a.ptr[i], d = lit[i];
        if (d == '\0')
            return 0;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (d >= 'A' && d <= 'Z')
            d = (char)(d - 'A' + 'a');
        if (c != d)
            return 0;
    }
    return lit[i] == '\0';
}
