/* WebSocket opening handshake checks and Sec-WebSocket-Accept. SHA-1 comes from
 * OpenSSL's libcrypto (EVP), as RFC 6455 fixes that digest.
 * SPDX-License-Identifier: MIT */
#include "proto/ws_handshake.h"

#include <openssl/evp.h>
#include <string.h>

#include "core/err.h"

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int cr_ws_key_valid(const char *key, size_t len)
{
    if (len != 24 || key[22] != '=' || key[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (b64_value(key[i]) < 0)
            return 0;
    /* The 22nd character carries the last 2 bits of byte 16; the rest of it must be zero. */
    return (b64_value(key[21]) & 0x0F) == 0;
}

int cr_ws_accept_key(const char *key, size_t len, char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char joined[128];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t glen = sizeof(CR_WS_GUID) - 1;
    if (len + glen > sizeof(joined))
        return CR_EINVAL;
    memcpy(joined, key, len);
    memcpy(joined + len, CR_WS_GUID, glen);
    if (EVP_Digest(joined, len + glen, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return CR_EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < 20; i += 3) {
        unsigned v = (unsigned)md[i] << 16 | (i + 1 < 20 ? (unsigned)md[i + 1] << 8 : 0) |
                     (i + 2 < 20 ? md[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < 20 ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < 20 ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return 0;
}

static int span_ieq(cr_span_t a, cr_span_t b)
{
    for (size_t i = 0; i < a.len; i++) {
        char x = a.ptr[i], y = b.ptr[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return 1;
}

int cr_ws_is_upgrade(const cr_http_request_t *req)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (cr_span_ieq(req->headers[i].name, "Upgrade") &&
            cr_http_token_list_has(req->headers[i].value, "websocket"))
            return 1;
    return 0;
}

/* Whether any header called name has token in its comma-separated list. */
static int any_header_has(const cr_http_request_t *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (cr_span_ieq(req->headers[i].name, name) && cr_http_token_list_has(req->headers[i].value, token))
            return 1;
    return 0;
}

/* Calls fn on each element of a comma-separated list until it returns non-zero; returns that. */
static int list_each(const char *list, int (*fn)(cr_span_t item, const void *arg), const void *arg)
{
    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t n = end ? (size_t)(end - list) : strlen(list);
        cr_span_t item = {list, n};
        while (item.len && item.ptr[0] == ' ')
            item.ptr++, item.len--;
        while (item.len && item.ptr[item.len - 1] == ' ')
            item.len--;
        int r = item.len ? fn(item, arg) : 0;
        if (r)
            return r;
        list = end ? end + 1 : NULL;
    }
    return 0;
}

static int origin_matches(cr_span_t allowed, const void *arg)
{
    cr_span_t origin = *(const cr_span_t *)arg;
    return origin.len == allowed.len && span_ieq(origin, allowed);
}

typedef struct {
    const cr_http_request_t *req;
    cr_ws_handshake_t *out;
} pick_t;

static int protocol_offered(cr_span_t proto, const void *arg)
{
    const pick_t *p = arg;
    char tok[CR_WS_PROTOCOL_MAX + 1];
    if (proto.len > CR_WS_PROTOCOL_MAX)
        return 0;
    memcpy(tok, proto.ptr, proto.len);
    tok[proto.len] = '\0';
    if (!any_header_has(p->req, "Sec-WebSocket-Protocol", tok))
        return 0;
    memcpy(p->out->protocol, tok, proto.len + 1);
    return 1;
}

int cr_ws_handshake_check(const cr_http_request_t *req, const cr_ws_policy_t *pol, cr_ws_handshake_t *out,
                          const char **why)
{
    *why = NULL;
    if (!cr_span_eq(req->method, "GET") || req->minor_version != 1) {
        *why = "a WebSocket handshake is a GET over HTTP/1.1";
        return CR_EBADREQ;
    }
    if (!any_header_has(req, "Upgrade", "websocket")) {
        *why = "Upgrade must name websocket";
        return CR_EBADREQ;
    }
    if (!any_header_has(req, "Connection", "upgrade")) {
        *why = "Connection must include the upgrade token";
        return CR_EBADREQ;
    }
    const cr_http_header_t *ver = cr_http_header_find(req, "Sec-WebSocket-Version");
    if (!ver || !cr_span_eq(ver->value, "13")) {
        *why = ver ? "only version 13 (RFC 6455) is spoken" : "Sec-WebSocket-Version is missing";
        return CR_EWSVERSION;
    }
    const cr_http_header_t *key = cr_http_header_find(req, "Sec-WebSocket-Key");
    if (!key || !cr_ws_key_valid(key->value.ptr, key->value.len)) {
        *why = key ? "Sec-WebSocket-Key must be the base64 of 16 bytes" : "Sec-WebSocket-Key is missing";
        return CR_EBADREQ;
    }
    const cr_http_header_t *origin = cr_http_header_find(req, "Origin");
    if (origin && pol->origins && *pol->origins && !list_each(pol->origins, origin_matches, &origin->value)) {
        *why = "this Origin is not on the server's list";
        return CR_EWSORIGIN;
    }
    if (cr_ws_accept_key(key->value.ptr, key->value.len, out->accept) < 0) {
        *why = "could not compute Sec-WebSocket-Accept";
        return CR_EINVAL;
    }
    pick_t pick = {req, out};
    out->protocol[0] = '\0';
    list_each(pol->protocols, protocol_offered, &pick);
    return 0;
}
