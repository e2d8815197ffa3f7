/* The JSON form of a message, shared by NDJSON streaming and polling:
 * {"id","channel","time","event"?,"content_type"?,"data"|"data_base64"}.
 * A payload that is not valid UTF-8 goes as base64 in "data_base64", so that
 * binary messages survive JSON intact.
 * SPDX-License-Identifier: MIT */
#ifndef CR_TRANSPORT_MSG_JSON_H
#define CR_TRANSPORT_MSG_JSON_H

#include "core/buf.h"
#include "core/msg.h"

/* Appends the JSON object of m (no trailing newline). */
void cr_msg_json(cr_buf_t *out, const cr_msg_t *m);
/* Frame encoder for CR_WIRE_JSON. */
cr_bytes_t *cr_msg_json_encode(const cr_msg_t *m);

#endif
