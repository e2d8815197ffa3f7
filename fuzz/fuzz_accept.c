/* libFuzzer target for Accept negotiation. The whole input is the header value. Checks: no read
 * past the end, weights in 0..1000, cr_accept_best agrees with picking by hand from
 * cr_accept_quality, and the result does not depend on the letter case of the header.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/accept.h"
#include "fuzz_check.h"

static const char *const offers[] = {
    "*/*",        "text/event-stream", "application/x-ndjson",     "multipart/mixed",
    "text/plain", "image/png",         "multipart/x-mixed-replace"};
#define NOFFERS (sizeof(offers) / sizeof(offers[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = malloc(size ? size : 1), *up = malloc(size ? size : 1); /* exact size for ASan */
    memcpy(h, data, size);
    for (size_t i = 0; i < size; i++)
        up[i] = (h[i] >= 'a' && h[i] <= 'z') ? (char)(h[i] - 'a' + 'A') : h[i];
    cr_span_t v = {h, size}, vu = {up, size};

    int want = -1;
    unsigned wq = 0;
    int wspec = -1;
    for (size_t k = 0; k < NOFFERS; k++) {
        unsigned q = 5000, qu = 5000;
        int spec = 9, specu = 9;
        int r = cr_accept_quality(v, offers[k], &q, &spec);
        int ru = cr_accept_quality(vu, offers[k], &qu, &specu);
        check(r == ru && q == qu && spec == specu);
        check(q <= 1000);
        check(r ? (spec >= CR_ACCEPT_ANY && spec <= CR_ACCEPT_EXACT) : (spec == -1 && q == 0));
        if (r && q > 0 && (want < 0 || q > wq || (q == wq && spec > wspec))) {
            want = (int)k;
            wq = q;
            wspec = spec;
        }
    }
    cr_accept_match_t m = {NOFFERS, 0, -1};
    int r = cr_accept_best(v, offers, NOFFERS, &m);
    if (want < 0) {
        check(r == 0 && m.offer == NOFFERS);
    } else {
        check(r == 1 && m.offer == (size_t)want && m.q == wq && m.spec == wspec);
    }
    free(h);
    free(up);
    return 0;
}
