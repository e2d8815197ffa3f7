/* Channel registry: an open hash table that doubles as it fills.
 * SPDX-License-Identifier: MIT */
#include "core/channel.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '~' || c == ':' || c == '-';
}

int cr_channel_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > CR_CHANNEL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok((unsigned char)name[i]))
            return 0;
    return 1;
}

int cr_channel_list_parse(cr_span_t s, cr_span_t *out, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i < s.len && s.ptr[i] != ',')
            continue;
        cr_span_t name = {s.ptr + start, i - start};
        if (!cr_channel_name_valid(name.ptr, name.len))
            return CR_ECHANNEL;
        if (n == max)
            return CR_ETOOMANYCH;
        for (size_t j = 0; j < n; j++)
            if (out[j].len == name.len && memcmp(out[j].ptr, name.ptr, name.len) == 0)
                return CR_ECHANNEL;
        out[n++] = name;
        start = i + 1;
    }
    return (int)n;
}

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void cr_registry_init(cr_registry_t *r)
{
    r->_nbuckets = 64;
    r->_buckets = cr_xcalloc(r->_nbuckets, sizeof(*r->_buckets));
    r->count = 0;
    r->subs = 0;
    r->presence = NULL;
    r->presence_arg = NULL;
}

static void channel_free(cr_channel_t *ch)
{
    cr_history_clear(&ch->history);
    cr_bytes_unref(ch->name);
    free(ch);
}

void cr_registry_destroy(cr_registry_t *r)
{
    for (size_t i = 0; i < r->_nbuckets; i++) {
        cr_channel_t *ch = r->_buckets[i];
        while (ch) {
            cr_channel_t *next = ch->_hnext;
            channel_free(ch);
            ch = next;
        }
    }
    free(r->_buckets);
    r->_buckets = NULL;
    r->_nbuckets = r->count = 0;
}

cr_channel_t *cr_registry_find(const cr_registry_t *r, const char *name, size_t len)
{
    cr_channel_t *ch = r->_buckets[hash_name(name, len) & (r->_nbuckets - 1)];
    for (; ch; ch = ch->_hnext)
        if (ch->name->len == len && memcmp(ch->name->data, name, len) == 0)
            return ch;
    return NULL;
}

static void grow(cr_registry_t *r)
{
    size_t nb = r->_nbuckets * 2;
    cr_channel_t **b = cr_xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < r->_nbuckets; i++) {
        cr_channel_t *ch = r->_buckets[i];
        while (ch) {
            cr_channel_t *next = ch->_hnext;
            size_t k = hash_name(ch->name->data, ch->name->len) & (nb - 1);
            ch->_hnext = b[k];
            b[k] = ch;
            ch = next;
        }
    }
    free(r->_buckets);
    r->_buckets = b;
    r->_nbuckets = nb;
}

cr_channel_t *cr_registry_get(cr_registry_t *r, const char *name, size_t len, int64_t now_ms)
{
    cr_channel_t *ch = cr_registry_find(r, name, len);
    if (ch)
        return ch;
    if (r->count + 1 > r->_nbuckets)
        grow(r);
    ch = cr_xcalloc(1, sizeof(*ch));
    ch->name = cr_bytes_copy(name, len);
    cr_history_init(&ch->history);
    cr_list_init(&ch->subs);
    ch->_reg = r;
    ch->created_ms = now_ms;
    size_t k = hash_name(name, len) & (r->_nbuckets - 1);
    ch->_hnext = r->_buckets[k];
    r->_buckets[k] = ch;
    r->count++;
    return ch;
}

void cr_registry_remove(cr_registry_t *r, cr_channel_t *ch)
{
    cr_channel_t **pp = &r->_buckets[hash_name(ch->name->data, ch->name->len) & (r->_nbuckets - 1)];
    while (*pp && *pp != ch)
        pp = &(*pp)->_hnext;
    if (*pp) {
        *pp = ch->_hnext;
        r->count--;
    }
    channel_free(ch);
}

void cr_registry_foreach(const cr_registry_t *r, void (*fn)(cr_channel_t *ch, void *arg), void *arg)
{
    for (size_t i = 0; i < r->_nbuckets; i++)
        for (cr_channel_t *ch = r->_buckets[i]; ch; ch = ch->_hnext)
            fn(ch, arg);
}
