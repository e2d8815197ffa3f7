/* crier's one error idiom: 0 on success, a negative code on failure.
 * Where an errno exists the code is -errno (so libuv's UV_E* pass through);
 * crier's own codes sit below -1000 and never collide with an errno.
 * err.c maps every code to text, an HTTP status and a WebSocket close code.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_ERR_H
#define CR_CORE_ERR_H

#include <errno.h>

#define CR_OK 0
#define CR_ENOMEM (-ENOMEM)
#define CR_EINVAL (-EINVAL)

enum {
    CR_EAGAIN = -1001,       /* codec needs more input */
    CR_EBADREQ = -1002,      /* malformed HTTP request -> 400 */
    CR_EHDRTOOBIG = -1003,   /* header block too large or too many headers -> 431 */
    CR_EBODYTOOBIG = -1004,  /* body larger than the message limit -> 413 */
    CR_ENOTFOUND = -1005,    /* unknown route or object -> 404 */
    CR_EMETHOD = -1006,      /* method not allowed on route -> 405 */
    CR_ECHANNEL = -1007,     /* bad channel name -> 400 */
    CR_ECURSOR = -1008,      /* bad cursor / since value -> 400 */
    CR_ETOOMANYCH = -1009,   /* too many channels in one request -> 400 */
    CR_EPARAM = -1010,       /* bad header or query parameter -> 400 */
    CR_ENOTSUP = -1011,      /* operation not supported by this engine/transport -> 501 */
    CR_ESLOW = -1012,        /* subscriber could not keep up: output queue over limit */
    CR_ETIMEOUT = -1013,     /* a client timed out -> 408 */
    CR_EGONE = -1014,        /* channel deleted -> 410 */
    CR_EUNAVAIL = -1015,     /* store unavailable -> 503 */
    CR_EVERSION = -1016,     /* unsupported HTTP version -> 505 */
    CR_ETOOMANYCONN = -1017, /* connection limit reached -> 503 */
    CR_ELINETOOLONG = -1018, /* relay: a command line over the limit (the connection is closed) */
    CR_ERELAYCMD = -1019,    /* relay: a command line that can't be understood (answered, kept) */
    CR_EWSPROTO = -1040,     /* WebSocket protocol violation -> close 1002 */
    CR_EUTF8 = -1041,        /* WebSocket text that is not UTF-8 -> close 1007 */
    CR_EWSTOOBIG = -1042,    /* WebSocket message over the size limit -> close 1009 */
    CR_EWSVERSION = -1043,   /* WebSocket version other than 13 -> 426 */
    CR_EWSORIGIN = -1044     /* WebSocket Origin not allowed -> 403 */
};

/* Human-readable text for a code (never NULL). */
const char *cr_err_text(int code);
/* HTTP status to answer a request that failed with this code (500 if unknown). */
int cr_err_http_status(int code);
/* WebSocket close code to end a connection that failed with this code (1011 if unknown). */
int cr_err_ws_close(int code);

#endif
