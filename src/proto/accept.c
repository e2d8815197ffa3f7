/* Accept header negotiation (RFC 9110 section 12.5.1). The header is split into list elements
 * first (commas inside quoted-strings do not split), then each element is parsed strictly on its
 * own, so one malformed element can't change how the others are read.
 * SPDX-License-Identifier: MIT */
#include "proto/accept.h"

#include <string.h>

typedef struct range {
    cr_span_t type, subtype;
    unsigned q;
} range_t;

static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

static int span_ieq(cr_span_t a, cr_span_t b)
{
    if (a.len != b.len)
        return 0;
    for (size_t i = 0; i < a.len; i++)
        if (lower(a.ptr[i]) != lower(b.ptr[i]))
            return 0;
    return 1;
}

static int is_star(cr_span_t s)
{
    return s.len == 1 && s.ptr[0] == '*';
}

/* The end of the list element starting at p: the next comma outside a quoted-string, or end. */
static size_t element_end(const char *p, size_t i, size_t end)
{
    int quoted = 0;
    for (; i < end; i++) {
        if (quoted && p[i] == '\\')
            i++; /* a quoted-pair: the next byte is literal, even a quote */
        else if (p[i] == '"')
            quoted = !quoted;
        else if (!quoted && p[i] == ',')
            return i;
    }
    return end;
}

static size_t token(const char *p, size_t i, size_t end)
{
    while (i < end && is_tchar((unsigned char)p[i]))
        i++;
    return i;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths. */
static int parse_q(cr_span_t v, unsigned *q)
{
    if (v.len == 0 || v.len > 5 || (v.ptr[0] != '0' && v.ptr[0] != '1'))
        return 0;
    unsigned n = (unsigned)(v.ptr[0] - '0') * 1000, scale = 100;
    if (v.len > 1 && v.ptr[1] != '.')
        return 0;
    for (size_t i = 2; i < v.len; i++, scale /= 10) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return 0;
        n += (unsigned)(v.ptr[i] - '0') * scale;
    }
    if (n > 1000)
        return 0;
    *q = n;
    return 1;
}

/* One quoted-string from p[i] == '"'; returns the index after the closing quote, or 0. */
static size_t quoted_string(const char *p, size_t i, size_t end)
{
    for (i++; i < end; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"')
            return i + 1;
        if (c == '\\') {
            if (++i == end)
                return 0;
            c = (unsigned char)p[i];
            if (c != '\t' && c < 0x20)
                return 0;
            if (c == 0x7f)
                return 0;
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }
    return 0;
}

/* media-range *( OWS ";" OWS [ parameter ] ) over p[i..end). Returns 1 and fills *r, or 0. */
static int parse_element(const char *p, size_t i, size_t end, range_t *r)
{
    size_t t = token(p, i, end);
    if (t == i || t == end || p[t] != '/')
        return 0;
    r->type = (cr_span_t){p + i, t - i};
    i = t + 1;
    t = token(p, i, end);
    if (t == i)
        return 0;
    r->subtype = (cr_span_t){p + i, t - i};
    if (is_star(r->type) && !is_star(r->subtype))
        return 0;
    r->q = 1000;
    int have_q = 0;
    i = t;
    for (;;) {
        while (i < end && is_ows(p[i]))
            i++;
        if (i == end)
            return 1;
        if (p[i] != ';')
            return 0;
        i++;
        while (i < end && is_ows(p[i]))
            i++;
        if (i == end || p[i] == ';')
            continue; /* the parameter itself is optional */
        t = token(p, i, end);
        if (t == i || t == end || p[t] != '=')
            return 0;
        cr_span_t name = {p + i, t - i};
        i = t + 1;
        if (i < end && p[i] == '"') {
            size_t qe = quoted_string(p, i, end);
            if (qe == 0 || span_ieq(name, CR_SPAN_LIT("q")))
                return 0; /* the weight is a bare qvalue, never quoted */
            i = qe;
            continue;
        }
        t = token(p, i, end);
        if (t == i)
            return 0;
        if (span_ieq(name, CR_SPAN_LIT("q"))) {
            if (have_q || !parse_q((cr_span_t){p + i, t - i}, &r->q))
                return 0;
            have_q = 1;
        }
        i = t;
    }
}

int cr_accept_quality(cr_span_t accept, const char *offer, unsigned *q, int *spec)
{
    const char *slash = strchr(offer, '/');
    int best = -1;
    unsigned bq = 0;
    if (slash) {
        cr_span_t otype = {offer, (size_t)(slash - offer)}, osub = {slash + 1, strlen(slash + 1)};
        size_t i = 0;
        while (i < accept.len) {
            size_t e = element_end(accept.ptr, i, accept.len);
            size_t b = i;
            while (b < e && is_ows(accept.ptr[b]))
                b++;
            range_t r;
            if (b < e && parse_element(accept.ptr, b, e, &r)) {
                int s = -1;
                if (is_star(r.type))
                    s = CR_ACCEPT_ANY;
                else if (span_ieq(r.type, otype) && is_star(r.subtype))
                    s = CR_ACCEPT_TYPE;
                else if (span_ieq(r.type, otype) && span_ieq(r.subtype, osub))
                    s = CR_ACCEPT_EXACT;
                if (s > best) {
                    best = s;
                    bq = r.q;
                }
            }
            i = e + 1;
        }
    }
    if (q)
        *q = bq;
    if (spec)
        *spec = best;
    return best >= 0;
}

int cr_accept_best(cr_span_t accept, const char *const *offers, size_t noffers, cr_accept_match_t *best)
{
    int found = 0;
    for (size_t k = 0; k < noffers; k++) {
        unsigned q;
        int spec;
        if (!cr_accept_quality(accept, offers[k], &q, &spec) || q == 0)
            continue;
        if (found && (q < best->q || (q == best->q && spec <= best->spec)))
            continue;
        *best = (cr_accept_match_t){k, q, spec};
        found = 1;
    }
    return found;
}
