/* Query-string helpers: find one key in "a=1&b=2" and percent-decode its value into a caller's
 * buffer. Pure functions over borrowed bytes; they never allocate.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_QUERY_H
#define CR_PROTO_QUERY_H

#include <stddef.h>

#include "core/bytes.h"

/* Finds the first field named key in query (fields separated by '&', no leading '?'; empty fields
 * are skipped). Field names are compared after decoding ("%6Bey" and "k+y" can match "key" and
 * "k y"); a name whose encoding is bad matches nothing. The value is decoded with '+' meaning
 * space and written to out, NUL-terminated. A key present without '=' is found with an empty
 * value. outlen may be NULL.
 * Returns 1 when found (value in out, *outlen set), 0 when absent (out = "", *outlen = 0),
 * CR_EPARAM when the value's percent-encoding is bad (see cr_percent_decode) or the decoded value
 * does not fit in outcap - 1 bytes (out = "", *outlen = 0 when outcap > 0). */
int cr_query_get(cr_span_t query, const char *key, char *out, size_t outcap, size_t *outlen);

/* Percent-decodes in[0..len) into out, NUL-terminated ('+' is left alone: this is the decoding
 * for paths; cr_query_get applies the form rule on top). outlen may be NULL.
 * Returns 0, or CR_EPARAM when a '%' is not followed by two hex digits, when the result would
 * hold a NUL byte ("%00" or a raw NUL, which a C-string consumer would silently truncate at), or
 * when the result does not fit in outcap - 1 bytes. On error out = "" (when outcap > 0) and *outlen = 0. */
int cr_percent_decode(const char *in, size_t len, char *out, size_t outcap, size_t *outlen);

#endif
