/* libFuzzer target for the chunked body decoder. Byte 0 picks max_body, byte 1 a piece size;
 * the rest is the body. It is decoded whole into a separate buffer, in place in pieces of that
 * size, and one byte at a time: all three must agree on the data, the bytes consumed, done and
 * the error, because a decoder whose answer depends on packet boundaries is a smuggling bug.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/chunked.h"
#include "fuzz_check.h"

typedef struct result {
    ssize_t err;
    size_t consumed, out_len;
    int done;
    uint64_t total;
} result_t;

/* Decodes in[0..len) in pieces of step bytes (0: whole), each piece copied to an exactly sized
 * heap block so ASan sees any read past it. Data goes to out (or in place when in_place). */
static result_t run(const char *in, size_t len, uint64_t max_body, size_t step, int in_place, char *out)
{
    result_t r = {0, 0, 0, 0, 0};
    cr_chunked_t d;
    cr_chunked_init(&d, max_body);
    size_t off = 0;
    while (off < len) {
        size_t n = step == 0 || step > len - off ? len - off : step;
        char *piece = malloc(n);
        memcpy(piece, in + off, n);
        char *dst = in_place ? piece : out + r.out_len;
        size_t w = 0;
        ssize_t rc = cr_chunked_decode(&d, piece, n, dst, &w);
        if (rc < 0) {
            check(rc == CR_EBADREQ || rc == CR_EBODYTOOBIG);
            size_t w2 = 1;
            check(cr_chunked_decode(&d, piece, n, dst, &w2) == rc && w2 == 0); /* sticky */
            free(piece);
            r.err = rc;
            return r;
        }
        check((size_t)rc <= n && w <= (size_t)rc);
        check((size_t)rc == n || d.done);
        if (in_place)
            memcpy(out + r.out_len, piece, w);
        free(piece);
        r.out_len += w;
        r.consumed += (size_t)rc;
        check(d.total == r.out_len && d.total <= max_body);
        off += n;
    }
    r.done = d.done;
    r.total = d.total;
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t max_body = data[0] == 255 ? UINT64_MAX : (uint64_t)data[0] * 64;
    size_t step = data[1];
    const char *in = (const char *)data + 2;
    size_t len = size - 2;

    char *a = malloc(len + 1), *b = malloc(len + 1), *c = malloc(len + 1);
    result_t whole = run(in, len, max_body, 0, 0, a);
    result_t pieces = run(in, len, max_body, step, 1, b);
    result_t bytes = run(in, len, max_body, 1, 0, c);

    check(whole.err == pieces.err && whole.err == bytes.err);
    if (whole.err == 0) {
        check(whole.consumed == pieces.consumed && whole.consumed == bytes.consumed);
        check(whole.done == pieces.done && whole.done == bytes.done);
        check(whole.out_len == pieces.out_len && whole.out_len == bytes.out_len);
        check(memcmp(a, b, whole.out_len) == 0 && memcmp(a, c, whole.out_len) == 0);
        check(whole.done || whole.consumed == len);
    }
    free(a);
    free(b);
    free(c);
    return 0;
}
