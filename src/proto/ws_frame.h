/* WebSocket frames (RFC 6455 section 5): an incremental reader for client frames and the
 * header encoder for server frames. The reader is fed whatever bytes arrived, in any split,
 * and gives back whole messages and control frames; it never does I/O. A frame that arrives
 * whole and unfragmented is unmasked in place and handed back pointing into the caller's
 * buffer (no copy); only fragmented or split messages are assembled in the reader's own
 * buffer, bounded by max_message. Text is checked as UTF-8 while it arrives, across fragments.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_WS_FRAME_H
#define CR_PROTO_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/bytes.h"

enum {
    CR_WS_OP_CONT = 0x0,
    CR_WS_OP_TEXT = 0x1,
    CR_WS_OP_BINARY = 0x2,
    CR_WS_OP_CLOSE = 0x8,
    CR_WS_OP_PING = 0x9,
    CR_WS_OP_PONG = 0xA,
};

#define CR_WS_CONTROL_MAX 125
#define CR_WS_HEADER_MAX 14 /* 2 + 8 extended length + 4 mask */

/* What one call of cr_ws_read found. */
typedef struct cr_ws_event {
    int opcode;       /* 0: nothing yet; TEXT/BINARY: a whole message; CLOSE, PING, PONG */
    int compressed;   /* the message had RSV1 (permessage-deflate): data is still compressed and
                         its UTF-8 is not checked yet (the caller inflates, then checks) */
    const char *data; /* payload (close: the reason after the code); valid until the next call */
    size_t len;
    int close_code; /* CLOSE: the status code, or 1005 when the frame carried none */
} cr_ws_event_t;

typedef struct cr_ws_reader {
    size_t max_message;          /* largest message (all fragments together); over it: CR_EWSTOOBIG */
    unsigned allow_rsv1 : 1;     /* permessage-deflate was negotiated */
    unsigned allow_unmasked : 1; /* frames from a server (tests); clients must mask */
    /* private */
    unsigned char _hdr[CR_WS_HEADER_MAX];
    uint8_t _hlen;
    uint8_t _in_payload;
    uint8_t _fin, _op, _rsv1, _masked;
    unsigned char _mask[4];
    uint64_t _plen, _pdone;
    int _msg_op; /* opcode of the fragmented message in progress, 0 if none */
    int _msg_compressed;
    char *_msg;
    size_t _msglen, _msgcap;
    char *_ctl; /* a control frame that came in pieces (allocated only then: idle readers are small) */
    uint8_t _u8need, _u8lo, _u8hi; /* UTF-8 state across fragments */
    int _err;
} cr_ws_reader_t;

/* Sets up r (all zero but for the limit). */
void cr_ws_reader_init(cr_ws_reader_t *r, size_t max_message, int allow_rsv1);
/* Frees what r assembled. */
void cr_ws_reader_free(cr_ws_reader_t *r);

/* Reads client frames from buf[0..len). buf is writable: payloads are unmasked in place.
 * Stops after the first whole message or control frame (ev->opcode != 0; ev->data points into
 * buf or into r and is valid until the next call), or when buf is used up (ev->opcode == 0).
 * Returns the bytes consumed, or (sticky: every later call returns it again):
 * CR_EWSPROTO   unmasked frame, RSV bits not negotiated, reserved opcode, a control frame that
 *               is fragmented or longer than 125 bytes, a continuation without a message or a
 *               new message inside one, a 64-bit length with the top bit set, a close frame of
 *               1 byte or with a code that may not be sent (e.g. 999, 1005, 1006, 2999);
 * CR_EUTF8      a text message (or a close reason) that is not UTF-8;
 * CR_EWSTOOBIG  a message longer than max_message. */
ssize_t cr_ws_read(cr_ws_reader_t *r, char *buf, size_t len, cr_ws_event_t *ev);

/* Writes a server frame header (FIN set, never masked) for a payload of len bytes into out
 * (CR_WS_HEADER_MAX bytes) and returns its length: 2, 4 or 10. */
size_t cr_ws_frame_header(unsigned char *out, int opcode, int rsv1, uint64_t len);

/* Whether a close code may be sent in a close frame (RFC 6455 section 7.4). */
int cr_ws_close_code_valid(int code);

#endif
