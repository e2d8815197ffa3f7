/* Content negotiation on the Accept header (RFC 9110 section 12.5.1): which of the media types
 * the server offers does the client prefer? Pure functions over borrowed bytes: no allocation,
 * no IO, and a malformed header never matches anything rather than failing the request.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_ACCEPT_H
#define CR_PROTO_ACCEPT_H

#include <stddef.h>

#include "core/bytes.h"

/* How precisely a media range named an offer; a higher value wins a tie in q. ("star" stands for
 * '*' in these comments: star-slash-star would end them.) */
enum {
    CR_ACCEPT_ANY = 0,   /* matched by the range star/star */
    CR_ACCEPT_TYPE = 1,  /* matched by a range "type/star" */
    CR_ACCEPT_EXACT = 2, /* matched by a range "type/subtype" */
};

typedef struct cr_accept_match {
    size_t offer; /* index into the offers given to cr_accept_best */
    unsigned q;   /* the client's weight for it, in thousandths: 1..1000 */
    int spec;     /* CR_ACCEPT_ANY, CR_ACCEPT_TYPE or CR_ACCEPT_EXACT */
} cr_accept_match_t;

/* The client's weight for one offered media type ("type/subtype", compared case-insensitively).
 * Of the media ranges that match the offer, the most specific one decides, and the first of
 * equally specific ones (RFC 9110: "the most specific reference has precedence"). Media-type
 * parameters other than q are checked for syntax but do not take part in matching. The offer
 * star/star stands for a representation whose type is not known in advance: only the range
 * star/star matches it.
 * A list element that breaks the grammar (no '/', a bad token, q outside 0..1 or with more than
 * three decimals, a second q, an unterminated quoted-string, ...) is skipped; an unterminated
 * quoted-string runs to the end of the header, so nothing after it counts either.
 * Returns 1 when a range matched (*q in thousandths, 0 meaning "not acceptable"; *spec set),
 * 0 when none did (*q = 0, *spec = -1). q and spec may be NULL. */
int cr_accept_quality(cr_span_t accept, const char *offer, unsigned *q, int *spec);

/* Picks the best of offers[0..noffers), listed in the server's order of preference: the highest
 * q, then the most specific matching range, then the earliest offer. Offers with q = 0 or that no
 * range matches are never picked.
 * Returns 1 with *best filled in, or 0 when the client accepts none of them (*best untouched). */
int cr_accept_best(cr_span_t accept, const char *const *offers, size_t noffers, cr_accept_match_t *best);

#endif
