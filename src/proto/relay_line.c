/* Relay line protocol: command parser and output framing.
 * SPDX-License-Identifier: MIT */
#include "proto/relay_line.h"

#include <string.h>

#include "core/err.h"

ssize_t cr_relay_line_split(const char *buf, size_t len, size_t max, cr_span_t *line)
{
    /* Look no further than a maximal line and its "\r\n": beyond that it is too long anyway. */
    size_t scan = len < max + 2 ? len : max + 2;
    const char *nl = memchr(buf, '\n', scan);
    if (!nl) {
        /* A lone trailing '\r' may still be the first half of a line break. */
        size_t body = len && buf[len - 1] == '\r' ? len - 1 : len;
        return body > max ? CR_ELINETOOLONG : CR_EAGAIN;
    }
    size_t n = (size_t)(nl - buf);
    size_t body = n && buf[n - 1] == '\r' ? n - 1 : n;
    if (body > max)
        return CR_ELINETOOLONG;
    line->ptr = buf;
    line->len = body;
    return (ssize_t)(n + 1);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits line into at most max words; returns how many there were (up to max + 1
 * to say "too many"), or -1 on a control or non-ASCII byte. */
static int words(cr_span_t line, cr_span_t *w, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < line.len) {
        unsigned char c = (unsigned char)line.ptr[i];
        if (is_space((char)c)) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < line.len && !is_space(line.ptr[i])) {
            c = (unsigned char)line.ptr[i];
            if (c < 0x21 || c > 0x7e)
                return -1;
            i++;
        }
        if (n == max)
            return max + 1;
        w[n++] = (cr_span_t){line.ptr + start, i - start};
    }
    return n;
}

static int word_is(cr_span_t w, const char *lit)
{
    return cr_span_ieq(w, lit);
}

int cr_relay_line_parse(cr_span_t line, cr_relay_cmd_t *cmd, const char **why)
{
    cr_span_t w[4];
    memset(cmd, 0, sizeof(*cmd));
    *why = NULL;
    int n = words(line, w, 4);
    if (n < 0) {
        *why = "a command holds only printable ASCII, spaces and tabs";
        return CR_ERELAYCMD;
    }
    if (n == 0) {
        cmd->verb = CR_RELAY_NONE;
        return 0;
    }
    if (word_is(w[0], "sub")) {
        if (n == 2 || (n == 4 && word_is(w[2], "since"))) {
            cmd->verb = CR_RELAY_SUB;
            cmd->channel = w[1];
            if (n == 4)
                cmd->since = w[3];
            return 0;
        }
        *why = "expected: sub CHANNEL [since CURSOR]";
        return CR_ERELAYCMD;
    }
    if (word_is(w[0], "unsub")) {
        if (n == 2) {
            cmd->verb = CR_RELAY_UNSUB;
            cmd->channel = w[1];
            return 0;
        }
        *why = "expected: unsub CHANNEL";
        return CR_ERELAYCMD;
    }
    if (word_is(w[0], "ping")) {
        if (n <= 2) {
            cmd->verb = CR_RELAY_PING;
            if (n == 2)
                cmd->token = w[1];
            return 0;
        }
        *why = "expected: ping [TOKEN]";
        return CR_ERELAYCMD;
    }
    *why = "unknown command: expected sub CHANNEL [since CURSOR], unsub CHANNEL or ping [TOKEN]";
    return CR_ERELAYCMD;
}

void cr_relay_frame_msg(cr_buf_t *out, const char *channel, size_t channel_len, const char *id, size_t id_len,
                        const char *payload, size_t payload_len)
{
    cr_buf_reserve(out, 4 + channel_len + 1 + id_len + 24 + payload_len + 1);
    cr_buf_append(out, "msg ", 4);
    cr_buf_append(out, channel, channel_len);
    cr_buf_putc(out, ' ');
    cr_buf_append(out, id, id_len);
    cr_buf_printf(out, " %zu\n", payload_len);
    cr_buf_append(out, payload, payload_len);
    cr_buf_putc(out, '\n');
}

void cr_relay_frame_line(cr_buf_t *out, const char *word, const char *arg, size_t arg_len)
{
    cr_buf_puts(out, word);
    if (arg_len) {
        cr_buf_putc(out, ' ');
        for (size_t i = 0; i < arg_len; i++)
            cr_buf_putc(out, (unsigned char)arg[i] < 0x20 ? ' ' : arg[i]);
    }
    cr_buf_putc(out, '\n');
}
