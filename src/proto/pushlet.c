/* Pushlet / forever-frame encoding.
 * SPDX-License-Identifier: MIT */
#include "proto/pushlet.h"

#include <string.h>

/* Words that can't start an expression statement "word(...)". */
static const char *const reserved[] = {
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    "let",
    "static",
    "implements",
    "interface",
    "package",
    "private",
    "protected",
    "public",
    "await",
    CR_PUSHLET_RELAY,
};

static int ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static int ident_char(unsigned char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

int cr_pushlet_callback_valid(const char *s, size_t len)
{
    if (len == 0 || len > CR_PUSHLET_CALLBACK_MAX)
        return 0;
    size_t first_end = len;
    size_t i = 0;
    while (i < len) {
        if (!ident_start((unsigned char)s[i]))
            return 0; /* also catches an empty identifier: "a..b", ".a", "a." */
        while (i < len && ident_char((unsigned char)s[i]))
            i++;
        if (first_end == len)
            first_end = i;
        if (i == len)
            break;
        if (s[i] != '.')
            return 0;
        i++;
        if (i == len)
            return 0;
    }
    for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
        if (strlen(reserved[k]) == first_end && memcmp(reserved[k], s, first_end) == 0)
            return 0;
    return 1;
}

void cr_pushlet_json(cr_buf_t *out, const char *json, size_t len)
{
    const unsigned char *p = (const unsigned char *)json;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = NULL;
        size_t skip = 1;
        if (p[i] == '<')
            esc = "\\u003c";
        else if (p[i] == '>')
            esc = "\\u003e";
        else if (p[i] == '&')
            esc = "\\u0026";
        else if (p[i] == 0xe2 && i + 2 < len && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
            esc = p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (!esc)
            continue;
        cr_buf_append(out, json + start, i - start);
        cr_buf_puts(out, esc);
        i += skip - 1;
        start = i + 1;
    }
    cr_buf_append(out, json + start, len - start);
}

void cr_pushlet_preamble(cr_buf_t *out, const char *callback, size_t len)
{
    cr_buf_puts(out, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>crier pushlet</title>"
                     "<script>function " CR_PUSHLET_RELAY "(m){");
    cr_buf_append(out, callback, len);
    cr_buf_puts(out, "(m);}</script></head><body>\n<!--");
    size_t at = out->len;
    cr_buf_reserve(out, CR_PUSHLET_PADDING);
    memset(out->data + at, ' ', CR_PUSHLET_PADDING);
    out->len += CR_PUSHLET_PADDING;
    cr_buf_puts(out, "-->\n");
}

void cr_pushlet_call(cr_buf_t *out, const char *json, size_t len)
{
    cr_buf_puts(out, "<script>" CR_PUSHLET_RELAY "(");
    cr_pushlet_json(out, json, len);
    cr_buf_puts(out, ");</script>\n");
}

void cr_pushlet_keepalive(cr_buf_t *out)
{
    cr_buf_puts(out, "<!-- -->\n");
}

void cr_pushlet_end(cr_buf_t *out)
{
    cr_buf_puts(out, "</body></html>\n");
}
