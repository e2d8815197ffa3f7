/* libFuzzer target for the relay line codec. Byte 0 picks the line limit (1-64, so that
 * over-long lines are reached); the rest is a session's input, split into lines and parsed
 * as the relay does. Checks: every line lies inside the input, holds no '\n' and is at most
 * the limit; a parsed command's spans lie inside its line, hold no space or control byte,
 * and a sub always names a channel. Each line, taken as a payload, frames into a message
 * whose header's length gives back exactly that payload.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/relay_line.h"
#include "fuzz_check.h"

static void check_span(cr_span_t s, cr_span_t line)
{
    if (!s.len)
        return;
    check(s.ptr >= line.ptr && s.ptr + s.len <= line.ptr + line.len);
    for (size_t i = 0; i < s.len; i++)
        check((unsigned char)s.ptr[i] > 0x20 && (unsigned char)s.ptr[i] < 0x7f);
}

static void check_frame(cr_span_t line)
{
    cr_buf_t b = CR_BUF_INIT;
    cr_relay_frame_msg(&b, "ch", 2, "1-0", 3, line.ptr, line.len);
    const char *nl = memchr(b.data, '\n', b.len);
    check(nl != NULL);
    char head[64];
    size_t hlen = (size_t)(nl - b.data);
    check(hlen < sizeof(head));
    memcpy(head, b.data, hlen);
    head[hlen] = '\0';
    size_t n = strtoul(strrchr(head, ' ') + 1, NULL, 10);
    check(n == line.len && b.len == hlen + 1 + n + 1);
    check(memcmp(nl + 1, line.ptr, n) == 0 && b.data[b.len - 1] == '\n');
    cr_buf_free(&b);
    cr_relay_frame_line(&b, "err", line.ptr, line.len);
    check(memchr(b.data, '\n', b.len) == b.data + b.len - 1);
    cr_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = (size_t)(data[0] % 64) + 1;
    /* A copy of exactly the input's size, so that ASan catches a read past its end. */
    char *in = malloc(size - 1 ? size - 1 : 1);
    memcpy(in, data + 1, size - 1);
    size_t len = size - 1, off = 0;
    while (off < len) {
        cr_span_t line;
        ssize_t n = cr_relay_line_split(in + off, len - off, max, &line);
        if (n == CR_EAGAIN || n == CR_ELINETOOLONG)
            break;
        check(n > 0 && (size_t)n <= len - off);
        check(line.ptr == in + off && line.len <= max && line.len < (size_t)n);
        check(memchr(line.ptr, '\n', line.len) == NULL);
        off += (size_t)n;
        cr_relay_cmd_t cmd;
        const char *why = NULL;
        int r = cr_relay_line_parse(line, &cmd, &why);
        if (r < 0) {
            check(r == CR_ERELAYCMD && why && !strchr(why, '\n'));
        } else {
            check(cmd.verb <= CR_RELAY_PING);
            check_span(cmd.channel, line);
            check_span(cmd.since, line);
            check_span(cmd.token, line);
            if (cmd.verb == CR_RELAY_SUB || cmd.verb == CR_RELAY_UNSUB)
                check(cmd.channel.len > 0);
        }
        check_frame(line);
    }
    free(in);
    return 0;
}
