/* libFuzzer target for query-string lookup and percent-decoding. Byte 0 gives the key length
 * (mod 16) and byte 1 an output capacity; then the key, then the query. Checks: results stay in
 * bounds and NUL-terminated, a smaller buffer never finds something different, and decoding
 * undoes percent-encoding.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/query.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t klen = data[0] % 16, cap = data[1];
    if (size - 2 < klen)
        return 0;
    char key[17];
    memcpy(key, data + 2, klen);
    key[klen] = '\0';
    size_t qlen = size - 2 - klen;
    char *q = malloc(qlen ? qlen : 1); /* exactly sized so ASan sees a read past the end */
    memcpy(q, data + 2 + klen, qlen);
    cr_span_t query = {q, qlen};

    char *big = malloc(qlen + 1), *small = malloc(cap ? cap : 1);
    size_t nbig = 99, nsmall = 99;
    int rbig = cr_query_get(query, key, big, qlen + 1, &nbig);
    int rsmall = cr_query_get(query, key, small, cap, &nsmall);
    check(rbig == 1 || rbig == 0 || rbig == CR_EPARAM);
    check(rsmall == 1 || rsmall == 0 || rsmall == CR_EPARAM);
    if (rbig == 1) {
        check(nbig <= qlen && big[nbig] == '\0');
    } else {
        check(nbig == 0 && big[0] == '\0');
    }
    if (rsmall == 1) {
        check(rbig == 1 && nsmall == nbig && nsmall < cap && memcmp(small, big, nbig + 1) == 0);
    } else if (rsmall == 0) {
        check(rbig == 0 && nsmall == 0);
    } else {
        check(rbig == CR_EPARAM || (rbig == 1 && nbig + 1 > cap));
    }

    /* Decoding the whole query, then re-encoding every byte and decoding again, is the identity. */
    size_t n = 99;
    if (cr_percent_decode(q, qlen, big, qlen + 1, &n) == 0) {
        check(n <= qlen && big[n] == '\0');
        char *enc = malloc(3 * n + 1), *dec = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            snprintf(enc + 3 * i, 4, "%%%02X", (unsigned char)big[i]);
        size_t m = 99;
        check(cr_percent_decode(enc, 3 * n, dec, n + 1, &m) == 0 && m == n && memcmp(dec, big, n) == 0);
        free(enc);
        free(dec);
    } else {
        check(n == 0);
    }
    free(q);
    free(big);
    free(small);
    return 0;
}
