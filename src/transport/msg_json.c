/* JSON form of a message.
 * SPDX-License-Identifier: MIT */
#include "transport/msg_json.h"

#include "proto/json_out.h"

void cr_msg_json(cr_buf_t *out, const cr_msg_t *m)
{
    char id[CR_MSGID_MAX_LEN];
    size_t idlen = cr_msgid_format(m->id, id);
    cr_buf_puts(out, "{\"id\":\"");
    cr_buf_append(out, id, idlen);
    cr_buf_puts(out, "\",\"channel\":");
    cr_json_string(out, m->channel->data, m->channel->len);
    cr_buf_printf(out, ",\"time\":%lld", (long long)m->time_ms);
    if (m->event) {
        cr_buf_puts(out, ",\"event\":");
        cr_json_string(out, m->event->data, m->event->len);
    }
    if (m->content_type) {
        cr_buf_puts(out, ",\"content_type\":");
        cr_json_string(out, m->content_type->data, m->content_type->len);
    }
    if (cr_utf8_valid((const unsigned char *)m->payload->data, m->payload->len)) {
        cr_buf_puts(out, ",\"data\":");
        cr_json_string(out, m->payload->data, m->payload->len);
    } else {
        cr_buf_puts(out, ",\"data_base64\":\"");
        cr_base64(out, (const unsigned char *)m->payload->data, m->payload->len);
        cr_buf_putc(out, '"');
    }
    cr_buf_putc(out, '}');
}

cr_bytes_t *cr_msg_json_encode(const cr_msg_t *m)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_msg_json(&b, m);
    cr_bytes_t *out = cr_buf_to_bytes(&b);
    cr_buf_free(&b);
    return out;
}
