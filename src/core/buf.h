/* A growable byte buffer for building output (headers, frames, JSON) before it
 * is frozen into an immutable cr_bytes_t and shared. No I/O.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_BUF_H
#define CR_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/bytes.h"

typedef struct cr_buf {
    char *data;
    size_t len, cap;
} cr_buf_t;

#define CR_BUF_INIT                                                                                          \
    {                                                                                                        \
        NULL, 0, 0                                                                                           \
    }

void cr_buf_reserve(cr_buf_t *b, size_t extra);
void cr_buf_append(cr_buf_t *b, const void *data, size_t len);
void cr_buf_puts(cr_buf_t *b, const char *s);
void cr_buf_putc(cr_buf_t *b, char c);
void cr_buf_printf(cr_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cr_buf_free(cr_buf_t *b);
/* Copies the contents into a new block (caller owns it) and empties the buffer. */
cr_bytes_t *cr_buf_to_bytes(cr_buf_t *b);

#endif
