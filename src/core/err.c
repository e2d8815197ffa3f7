/* The one table from error code to text and HTTP status.
 * SPDX-License-Identifier: MIT */
#include "core/err.h"

#include <string.h>

typedef struct {
    int code;
    int status;
    const char *text;
} err_row_t;

static const err_row_t rows[] = {
    {CR_EAGAIN, 500, "incomplete input"},
    {CR_EBADREQ, 400, "malformed request"},
    {CR_EHDRTOOBIG, 431, "request header block too large or too many headers"},
    {CR_EBODYTOOBIG, 413, "request body larger than the message size limit"},
    {CR_ENOTFOUND, 404, "not found"},
    {CR_EMETHOD, 405, "method not allowed on this route"},
    {CR_ECHANNEL, 400, "bad channel name: 1-255 bytes of [A-Za-z0-9_.~:-]"},
    {CR_ECURSOR, 400, "bad cursor: expected <ms>-<n>[,...], a duration like 10m, a unix time or 'all'"},
    {CR_ETOOMANYCH, 400, "too many channels in one request"},
    {CR_EPARAM, 400, "bad parameter"},
    {CR_ENOTSUP, 501, "not supported"},
    {CR_ESLOW, 503, "subscriber too slow: output queue over its limit"},
    {CR_ETIMEOUT, 408, "request timed out"},
    {CR_EGONE, 410, "channel deleted"},
    {CR_EUNAVAIL, 503, "message store unavailable"},
    {CR_EVERSION, 505, "HTTP version not supported"},
    {CR_ETOOMANYCONN, 503, "too many connections"},
    {CR_ENOMEM, 503, "out of memory"},
    {CR_EINVAL, 400, "invalid argument"},
};

static const err_row_t *find(int code)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].code == code)
            return &rows[i];
    return NULL;
}

const char *cr_err_text(int code)
{
    const err_row_t *r = find(code);
    if (r)
        return r->text;
    if (code < 0 && code > -1000)
        return strerror(-code);
    return "internal error";
}

int cr_err_http_status(int code)
{
    const err_row_t *r = find(code);
    return r ? r->status : 500;
}
