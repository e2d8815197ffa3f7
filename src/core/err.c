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
    {CR_EWSPROTO, 400, "WebSocket protocol error"},
    {CR_EUTF8, 400, "WebSocket text message is not valid UTF-8"},
    {CR_EWSTOOBIG, 413, "WebSocket message larger than the size limit"},
    {CR_EWSVERSION, 426, "WebSocket version not supported: Sec-WebSocket-Version must be 13"},
    {CR_EWSORIGIN, 403, "WebSocket Origin not allowed (see --ws-origin)"},
    {CR_ELINETOOLONG, 400, "line too long"},
    {CR_ERELAYCMD, 400, "bad command"},
    {CR_ENOMEM, 503, "out of memory"},
    {-ENOSPC, 503, "message store full: no space left on the device; retry later"},
    {-EIO, 503, "message store write failed (I/O error); retry later"},
    {-EROFS, 503, "message store is read-only; retry later"},
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

int cr_err_ws_close(int code)
{
    switch (code) {
    case CR_EWSPROTO:
        return 1002;
    case CR_EUTF8:
        return 1007;
    case CR_EWSTOOBIG:
    case CR_EBODYTOOBIG:
        return 1009;
    case CR_EGONE:
        return 1000;
    case CR_EUNAVAIL:
    case CR_ETIMEOUT:
        return 1001;
    case CR_ESLOW:
        return 1008;
    default:
        return 1011;
    }
}
