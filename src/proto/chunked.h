/* Incremental decoder for chunked request bodies (RFC 9112 §7.1). Bytes in, data bytes out,
 * in pieces of any size down to one byte; it may decode in place. Chunk extensions and trailer
 * fields are validated, bounded and dropped. It never allocates and never reads a socket.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_CHUNKED_H
#define CR_PROTO_CHUNKED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bytes allowed between a chunk-size and the CRLF ending its line (the extensions). */
#define CR_CHUNKED_MAX_EXT 256
/* Bytes allowed for the whole trailer section, its final empty line included. */
#define CR_CHUNKED_MAX_TRAILER 4096

typedef struct cr_chunked {
    uint64_t _max_body;
    uint64_t _size;  /* chunk-size being read, then the data bytes left in the chunk */
    uint32_t _count; /* hex digits read, extension bytes, or trailer bytes: whatever is bounded now */
    uint8_t _state;
    uint8_t _semi;  /* a ';' was seen in the current extension */
    int _err;       /* sticky error once decoding failed */
    uint64_t total; /* data bytes decoded so far */
    int done;       /* the last chunk and the trailer section were read */
} cr_chunked_t;

/* Starts decoding a body of at most max_body data bytes. */
void cr_chunked_init(cr_chunked_t *d, uint64_t max_body);

/* Decodes in[0..len), appending data bytes to out, which must have room for len bytes. out may
 * equal in (decoding in place): output never runs ahead of input. *out_len is set to the number
 * of data bytes written by this call.
 * Returns the number of input bytes consumed, which is len unless done became 1: the bytes after
 * the body belong to the next request. Once done, further calls consume nothing and return 0.
 * CR_EBADREQ      malformed framing: bad hex, a missing CRLF, a chunk-size of more than 16 hex
 *                 digits, extensions longer than CR_CHUNKED_MAX_EXT or with CTLs, a malformed
 *                 trailer field or a trailer section longer than CR_CHUNKED_MAX_TRAILER;
 * CR_EBODYTOOBIG  a chunk-size would take total past max_body (reported on reading the size,
 *                 before any of the chunk's data).
 * Errors are sticky: every later call returns the same code. After an error, out holds
 * unspecified bytes. */
ssize_t cr_chunked_decode(cr_chunked_t *d, const char *in, size_t len, char *out, size_t *out_len);

#endif
