/* Chunked body decoder: a byte-at-a-time state machine, except that chunk data is moved in one
 * memmove per call, so the state survives any split of the input. It must never accept framing
 * that a stricter peer would read differently (bare LF, CTLs in extensions, obs-fold in trailers).
 * SPDX-License-Identifier: MIT */
#include "proto/chunked.h"

#include <string.h>

#include "core/err.h"

enum {
    ST_SIZE,    /* hex digits of chunk-size */
    ST_EXT,     /* BWS ";" chunk-ext ..., up to the CR */
    ST_SIZE_LF, /* LF ending the chunk-size line */
    ST_DATA,    /* chunk data */
    ST_DATA_CR, /* CRLF after chunk data */
    ST_DATA_LF,
    ST_TRL_START, /* start of a trailer field line, or of the final empty line */
    ST_TRL_NAME,  /* field-name */
    ST_TRL_VALUE, /* ":" field-value, up to the CR */
    ST_TRL_LF,    /* LF ending a trailer field line */
    ST_END_LF,    /* LF ending the final empty line */
    ST_DONE,
    ST_ERROR
};

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* VCHAR, obs-text, SP, HTAB: what may appear inside an extension or a field value. */
static int is_text(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

void cr_chunked_init(cr_chunked_t *d, uint64_t max_body)
{
    memset(d, 0, sizeof(*d));
    d->_max_body = max_body;
    d->_state = ST_SIZE;
}

/* Advances the state machine by one framing byte (any state but ST_DATA, ST_DONE, ST_ERROR). */
static int step(cr_chunked_t *d, char c)
{
    switch (d->_state) {
    case ST_SIZE: {
        int v = hex_value(c);
        if (v >= 0) {
            if (d->_count == 16)
                return CR_EBADREQ; /* more than 64 bits, even if only leading zeros */
            d->_size = d->_size << 4 | (uint64_t)v;
            d->_count++;
            return 0;
        }
        if (d->_count == 0)
            return CR_EBADREQ;
        /* total <= max_body always holds, so the subtraction cannot wrap. */
        if (d->_size > d->_max_body - d->total)
            return CR_EBODYTOOBIG;
        d->_count = 0;
        if (c == '\r') {
            d->_state = ST_SIZE_LF;
        } else if (c == ';' || c == ' ' || c == '\t') {
            d->_semi = c == ';';
            d->_count = 1;
            d->_state = ST_EXT;
        } else {
            return CR_EBADREQ;
        }
        return 0;
    }
    case ST_EXT:
        if (c == '\r') {
            /* BWS is only allowed before a ';': "5 \r\n" is malformed. */
            if (!d->_semi)
                return CR_EBADREQ;
            d->_state = ST_SIZE_LF;
            return 0;
        }
        if (++d->_count > CR_CHUNKED_MAX_EXT)
            return CR_EBADREQ;
        if (!d->_semi) {
            if (c == ';')
                d->_semi = 1;
            else if (c != ' ' && c != '\t')
                return CR_EBADREQ;
            return 0;
        }
        return is_text((unsigned char)c) ? 0 : CR_EBADREQ;
    case ST_SIZE_LF:
        if (c != '\n')
            return CR_EBADREQ;
        if (d->_size == 0) {
            d->_count = 0;
            d->_state = ST_TRL_START;
        } else {
            d->_state = ST_DATA;
        }
        return 0;
    case ST_DATA_CR:
        if (c != '\r')
            return CR_EBADREQ;
        d->_state = ST_DATA_LF;
        return 0;
    case ST_DATA_LF:
        if (c != '\n')
            return CR_EBADREQ;
        d->_size = 0;
        d->_count = 0;
        d->_semi = 0;
        d->_state = ST_SIZE;
        return 0;
    default:
        break;
    }

    /* Trailer section: count every byte against the bound first. */
    if (++d->_count > CR_CHUNKED_MAX_TRAILER)
        return CR_EBADREQ;
    switch (d->_state) {
    case ST_TRL_START:
        if (c == '\r')
            d->_state = ST_END_LF;
        else if (is_tchar((unsigned char)c))
            d->_state = ST_TRL_NAME;
        else
            return CR_EBADREQ; /* includes obs-fold (a line starting with SP or HTAB) */
        return 0;
    case ST_TRL_NAME:
        if (c == ':')
            d->_state = ST_TRL_VALUE;
        else if (!is_tchar((unsigned char)c))
            return CR_EBADREQ;
        return 0;
    case ST_TRL_VALUE:
        if (c == '\r')
            d->_state = ST_TRL_LF;
        else if (!is_text((unsigned char)c))
            return CR_EBADREQ;
        return 0;
    case ST_TRL_LF:
        if (c != '\n')
            return CR_EBADREQ;
        d->_state = ST_TRL_START;
        return 0;
    case ST_END_LF:
        if (c != '\n')
            return CR_EBADREQ;
        d->_state = ST_DONE;
        d->done = 1;
        return 0;
    default:
        return CR_EBADREQ;
    }
}

ssize_t cr_chunked_decode(cr_chunked_t *d, const char *in, size_t len, char *out, size_t *out_len)
{
    size_t i = 0, o = 0;

    *out_len = 0;
    if (d->_state == ST_ERROR)
        return d->_err;
    while (i < len && d->_state != ST_DONE) {
        if (d->_state == ST_DATA) {
            size_t n = len - i;
            if (n > d->_size)
                n = (size_t)d->_size;
            /* out <= in + i when decoding in place, so memmove keeps the bytes not yet read intact. */
            memmove(out + o, in + i, n);
            i += n;
            o += n;
            d->_size -= n;
            d->total += n;
            if (d->_size == 0)
                d->_state = ST_DATA_CR;
            continue;
        }
        int rc = step(d, in[i]);
        if (rc != 0) {
            d->_state = ST_ERROR;
            d->_err = rc;
            *out_len = o;
            return rc;
        }
        i++;
    }
    *out_len = o;
    return (ssize_t)i;
}
