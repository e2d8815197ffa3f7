/* Unit tests of the relay line codec: line splitting fed whole, at every split
 * point and byte by byte (inputs end on a guard page), command parsing of good
 * and bad lines, and the message framing a client reads back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/relay_line.h"
#include "test_util.h"

static int parse(const char *s, cr_relay_cmd_t *cmd, const char **why)
{
    return cr_relay_line_parse((cr_span_t){s, strlen(s)}, cmd, why);
}

static void assert_span(cr_span_t s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

static void test_parse_good(void **state)
{
    (void)state;
    cr_relay_cmd_t c;
    const char *why;
    assert_int_equal(parse("sub news", &c, &why), 0);
    assert_int_equal(c.verb, CR_RELAY_SUB);
    assert_span(c.channel, "news");
    assert_int_equal(c.since.len, 0);
    assert_int_equal(parse("  SUB\tscores.eu  since   1700000000000-3 ", &c, &why), 0);
    assert_int_equal(c.verb, CR_RELAY_SUB);
    assert_span(c.channel, "scores.eu");
    assert_span(c.since, "1700000000000-3");
    assert_int_equal(parse("unsub news", &c, &why), 0);
    assert_int_equal(c.verb, CR_RELAY_UNSUB);
    assert_span(c.channel, "news");
    assert_int_equal(parse("ping", &c, &why), 0);
    assert_int_equal(c.verb, CR_RELAY_PING);
    assert_int_equal(c.token.len, 0);
    assert_int_equal(parse("ping t-42", &c, &why), 0);
    assert_span(c.token, "t-42");
    assert_int_equal(parse("", &c, &why), 0);
    assert_int_equal(c.verb, CR_RELAY_NONE);
    assert_int_equal(parse(" \t ", &c, &why), 0);
    assert_int_equal(c.verb, CR_RELAY_NONE);
    /* Names are checked by the caller, against the channel rules: the parser passes them on. */
    assert_int_equal(parse("sub bad/name", &c, &why), 0);
    assert_span(c.channel, "bad/name");
}

static void test_parse_bad(void **state)
{
    (void)state;
    static const char *bad[] = {"sub",           "sub a b",     "sub a since", "sub a since x y",
                                "sub a until 1", "unsub",       "unsub a b",   "ping a b",
                                "publish a x",   "subscribe a", "sub\x01 a",   "sub caf\xc3\xa9",
                                "sub a\x7f",     "\x1b[2Jsub a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_relay_cmd_t c;
        const char *why = NULL;
        assert_int_equal(parse(bad[i], &c, &why), CR_ERELAYCMD);
        assert_non_null(why);
        assert_null(strchr(why, '\n'));
    }
    cr_relay_cmd_t c;
    const char *why;
    parse("frobnicate", &c, &why);
    assert_non_null(strstr(why, "sub CHANNEL"));
}

static void test_split_limits(void **state)
{
    (void)state;
    cr_span_t line;
    tu_guard_t g = TU_GUARD_INIT;
    char *p = tu_guard_copy(&g, "ab\r\ncd", 6);
    assert_int_equal(cr_relay_line_split(p, 6, 16, &line), 4);
    assert_span(line, "ab");
    assert_int_equal(cr_relay_line_split(p + 4, 2, 16, &line), CR_EAGAIN);
    /* A line of exactly max bytes fits, with "\n" or "\r\n"; one more does not. */
    char buf[40];
    memset(buf, 'x', sizeof(buf));
    memcpy(buf + 8, "\r\n", 2);
    p = tu_guard_copy(&g, buf, 10);
    assert_int_equal(cr_relay_line_split(p, 10, 8, &line), 10);
    assert_int_equal(line.len, 8);
    p = tu_guard_copy(&g, buf, 9);
    assert_int_equal(cr_relay_line_split(p, 9, 8, &line), CR_EAGAIN); /* "\r" may be half a break */
    p = tu_guard_copy(&g, buf, 10);
    assert_int_equal(cr_relay_line_split(p, 10, 7, &line), CR_ELINETOOLONG);
    p = tu_guard_copy(&g, buf, 8);
    assert_int_equal(cr_relay_line_split(p, 8, 8, &line), CR_EAGAIN);
    memset(buf, 'x', sizeof(buf));
    p = tu_guard_copy(&g, buf, 9);
    assert_int_equal(cr_relay_line_split(p, 9, 8, &line), CR_ELINETOOLONG);
    /* A newline far past the limit is not looked for. */
    buf[39] = '\n';
    p = tu_guard_copy(&g, buf, 40);
    assert_int_equal(cr_relay_line_split(p, 40, 8, &line), CR_ELINETOOLONG);
    p = tu_guard_copy(&g, "", 0);
    assert_int_equal(cr_relay_line_split(p, 0, 8, &line), CR_EAGAIN);
    tu_guard_free(&g);
}

/* Feeds a session's input in pieces to a line buffer, as the relay does, and
 * records the parsed commands (verb letter and words) and errors. */
typedef struct feed {
    char acc[4096];
    size_t len;
    char out[1024];
    int too_long;
} feed_t;

static void f_begin(void *ctx, const char *schedule)
{
    (void)schedule;
    feed_t *f = ctx;
    f->len = 0;
    f->out[0] = '\0';
    f->too_long = 0;
}

static void f_piece(void *ctx, char *piece, size_t len, size_t off)
{
    (void)off;
    feed_t *f = ctx;
    if (f->too_long)
        return;
    memcpy(f->acc + f->len, piece, len);
    f->len += len;
    size_t used = 0;
    for (;;) {
        cr_span_t line;
        ssize_t n = cr_relay_line_split(f->acc + used, f->len - used, 32, &line);
        if (n == CR_EAGAIN)
            break;
        if (n == CR_ELINETOOLONG) {
            strcat(f->out, "TOOLONG;");
            f->too_long = 1;
            return;
        }
        assert_true(n > 0);
        used += (size_t)n;
        cr_relay_cmd_t c;
        const char *why;
        char item[128];
        if (cr_relay_line_parse(line, &c, &why) < 0)
            snprintf(item, sizeof(item), "ERR;");
        else
            snprintf(item, sizeof(item), "%d:%.*s:%.*s:%.*s;", (int)c.verb, (int)c.channel.len, c.channel.ptr,
                     (int)c.since.len, c.since.ptr, (int)c.token.len, c.token.ptr);
        strcat(f->out, item);
    }
    memmove(f->acc, f->acc + used, f->len - used);
    f->len -= used;
}

static const char *feed_want;

static void f_end(void *ctx)
{
    feed_t *f = ctx;
    assert_string_equal(f->out, feed_want);
}

static void test_split_fed_in_pieces(void **state)
{
    (void)state;
    static const tu_feed_ops_t ops = {f_begin, f_piece, f_end};
    feed_t f;
    const char *in = "sub a\r\n\nping x\nbogus\r\nsub b since all\nunsub a\n";
    feed_want = "1:a::;0:::;3:::x;ERR;1:b:all:;2:a::;";
    assert_true(tu_feed(in, strlen(in), &ops, &f) > 2);
    /* The line over the limit ends the session wherever the pieces fall; what came before still counts. */
    in = "ping 1\nsub aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nping 2\n";
    feed_want = "3:::1;TOOLONG;";
    tu_feed(in, strlen(in), &ops, &f);
}

static void test_frames(void **state)
{
    (void)state;
    cr_buf_t b = CR_BUF_INIT;
    const char payload[] = "line one\nline two\r\n\0end";
    cr_relay_frame_msg(&b, "news", 4, "17-0", 4, payload, sizeof(payload) - 1);
    const char want[] = "msg news 17-0 23\nline one\nline two\r\n\0end\n";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.data, want, b.len);
    /* A reader takes the header line, then exactly LEN bytes and one "\n". */
    const char *nl = memchr(b.data, '\n', b.len);
    char head[64];
    snprintf(head, sizeof(head), "%.*s", (int)(nl - b.data), b.data);
    size_t len = strtoul(strrchr(head, ' ') + 1, NULL, 10);
    assert_int_equal(len, sizeof(payload) - 1);
    assert_memory_equal(nl + 1, payload, len);
    assert_int_equal(nl[1 + len], '\n');
    cr_buf_free(&b);
    cr_relay_frame_msg(&b, "@c1f", 4, "1-0", 3, "", 0);
    assert_int_equal(b.len, strlen("msg @c1f 1-0 0\n\n"));
    assert_memory_equal(b.data, "msg @c1f 1-0 0\n\n", b.len);
    cr_buf_free(&b);
    cr_relay_frame_line(&b, "err", "bad\ncommand\r", 12);
    assert_int_equal(b.len, 17);
    assert_memory_equal(b.data, "err bad command \n", 17);
    cr_buf_free(&b);
    cr_relay_frame_line(&b, "pong", NULL, 0);
    assert_memory_equal(b.data, "pong\n", 5);
    cr_buf_free(&b);
    assert_int_equal(cr_bytes_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),   cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_split_limits), cmocka_unit_test(test_split_fed_in_pieces),
        cmocka_unit_test(test_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
