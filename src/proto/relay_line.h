/* The raw TCP relay's line protocol, both directions, as a pure codec.
 * Client -> server: one command per line ("\n" or "\r\n"):
 *   sub CHANNEL [since CURSOR]   unsub CHANNEL   ping [TOKEN]
 * Server -> client: one line per event, and messages length-prefixed so that a
 * payload may hold newlines or any byte:
 *   hello CLIENT-ID | ok sub CH | ok unsub CH | pong [TOKEN] | gap CH CURSOR |
 *   gone CH | err REASON | msg CHANNEL ID LEN "\n" PAYLOAD(LEN bytes) "\n"
 * No I/O: lines in -> commands out, fields in -> bytes out.
 * SPDX-License-Identifier: MIT */
#ifndef CR_PROTO_RELAY_LINE_H
#define CR_PROTO_RELAY_LINE_H

#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/bytes.h"

/* Longest command line accepted, without its line break. */
#define CR_RELAY_LINE_MAX 1024

typedef enum cr_relay_verb {
    CR_RELAY_NONE, /* an empty line: ignored */
    CR_RELAY_SUB,
    CR_RELAY_UNSUB,
    CR_RELAY_PING,
} cr_relay_verb_t;

typedef struct cr_relay_cmd {
    cr_relay_verb_t verb;
    cr_span_t channel; /* sub, unsub (not validated here: the caller checks the name) */
    cr_span_t since;   /* sub ... since CURSOR; len 0 when absent */
    cr_span_t token;   /* ping TOKEN; len 0 when absent */
} cr_relay_cmd_t;

/* Finds the first line in buf[0..len). On success *line spans it without its
 * "\n" or "\r\n" and the return value is the bytes it used, break included.
 * Returns CR_EAGAIN when no line is complete yet (and what there is may still
 * become a line of at most max bytes), or CR_ELINETOOLONG when the line is
 * longer than max. */
ssize_t cr_relay_line_split(const char *buf, size_t len, size_t max, cr_span_t *line);

/* Parses one line (as given by cr_relay_line_split). Returns 0 with *cmd filled
 * (spans point into line), or CR_ERELAYCMD with *why set to a static sentence
 * saying what is wrong and what is expected. */
int cr_relay_line_parse(cr_span_t line, cr_relay_cmd_t *cmd, const char **why);

/* Appends "msg CHANNEL ID LEN\n" PAYLOAD "\n". */
void cr_relay_frame_msg(cr_buf_t *out, const char *channel, size_t channel_len, const char *id, size_t id_len,
                        const char *payload, size_t payload_len);
/* Appends "WORD[ ARG]\n" (e.g. "hello c1f", "ok sub news", "gone news"); bytes of
 * arg below 0x20 become spaces, so one line stays one line. */
void cr_relay_frame_line(cr_buf_t *out, const char *word, const char *arg, size_t arg_len);

#endif
