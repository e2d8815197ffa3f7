/* Query-string lookup and percent-decoding (RFC 3986 §2.1, application/x-www-form-urlencoded).
 * Field names are matched while decoding, byte by byte, so a lookup needs no scratch buffer.
 * SPDX-License-Identifier: MIT */
#include "proto/query.h"

#include <string.h>

#include "core/err.h"

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

/* Decodes the byte at in[*i], advancing *i. Returns the byte (0..255) or CR_EPARAM. */
static int decode_one(const char *in, size_t len, size_t *i, int plus_is_space)
{
    char c = in[*i];
    if (c == '+' && plus_is_space) {
        (*i)++;
        return ' ';
    }
    if (c != '%') {
        if (c == '\0')
            return CR_EPARAM;
        (*i)++;
        return (unsigned char)c;
    }
    if (len - *i < 3)
        return CR_EPARAM;
    int hi = hex_value(in[*i + 1]), lo = hex_value(in[*i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return CR_EPARAM;
    *i += 3;
    return hi << 4 | lo;
}

static int decode(const char *in, size_t len, int plus_is_space, char *out, size_t outcap, size_t *outlen)
{
    size_t i = 0, o = 0;

    if (outlen)
        *outlen = 0;
    if (outcap == 0)
        return CR_EPARAM;
    while (i < len) {
        int b = decode_one(in, len, &i, plus_is_space);
        if (b < 0 || o + 1 >= outcap) {
            out[0] = '\0';
            return CR_EPARAM;
        }
        out[o++] = (char)b;
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return 0;
}

/* Whether the form-decoded name[0..len) equals key. */
static int name_matches(const char *name, size_t len, const char *key)
{
    size_t i = 0, k = 0;
    while (i < len) {
        int b = decode_one(name, len, &i, 1);
        if (b < 0 || key[k] == '\0' || (unsigned char)key[k] != b)
            return 0;
        k++;
    }
    return key[k] == '\0';
}

int cr_percent_decode(const char *in, size_t len, char *out, size_t outcap, size_t *outlen)
{
    return decode(in, len, 0, out, outcap, outlen);
}

int cr_query_get(cr_span_t query, const char *key, char *out, size_t outcap, size_t *outlen)
{
    size_t pos = 0;

    /* Indices rather than pointers: query.ptr may be NULL when query.len is 0. */
    while (pos < query.len) {
        const char *f = query.ptr + pos;
        size_t rest = query.len - pos;
        const char *amp = memchr(f, '&', rest);
        size_t flen = amp ? (size_t)(amp - f) : rest;
        const char *eq = memchr(f, '=', flen);
        size_t nlen = eq ? (size_t)(eq - f) : flen;

        if (flen > 0 && name_matches(f, nlen, key)) {
            size_t voff = eq ? nlen + 1 : flen;
            int rc = decode(f + voff, flen - voff, 1, out, outcap, outlen);
            return rc < 0 ? rc : 1;
        }
        pos += amp ? flen + 1 : flen;
    }
    if (outlen)
        *outlen = 0;
    if (outcap > 0)
        out[0] = '\0';
    return 0;
}
