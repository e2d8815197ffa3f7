/* Channels and their registry: a channel is a name, its retained history, its
 * last assigned id and the list of subscription nodes to fan out to.
 * Fan-out never frees anything: a subscriber that fails is only marked, and is
 * unlinked later by its owner. No I/O.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_CHANNEL_H
#define CR_CORE_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "core/history.h"
#include "core/list.h"
#include "core/msg.h"

#define CR_CHANNEL_NAME_MAX 255

typedef struct cr_channel {
    cr_bytes_t *name;
    struct cr_channel *_hnext;
    cr_history_t history;
    cr_list_t subs; /* cr_subnode_t.link */
    size_t nsubs;
    size_t elsewhere;         /* --threads: how many other loops have subscribers on it */
    struct cr_registry *_reg; /* its registry: counts and tells with nsubs (cr_channel_sub_linked) */
    cr_msgid_t last_id;       /* last id assigned, even if no longer retained */
    uint64_t published;       /* messages published since the channel was created */
    int64_t created_ms;
    int64_t last_publish_ms; /* 0: never */
    int stored;              /* the durable store has the channel's row (engine/sqlite) */
} cr_channel_t;

typedef struct cr_registry {
    cr_channel_t **_buckets;
    size_t _nbuckets;
    size_t count;
    size_t subs; /* the sum of its channels' nsubs (/metrics), kept as they change */
    /* When set, called as a channel gets its first subscriber (here 1) or loses its last
     * (here 0): with several loops, the others learn which have subscribers on it. */
    void (*presence)(void *arg, cr_channel_t *ch, int here);
    void *presence_arg;
} cr_registry_t;

/* A subscription node was linked to ch's subs, or unlinked from them: the counts follow. */
static inline void cr_channel_sub_linked(cr_channel_t *ch)
{
    ch->_reg->subs++;
    if (ch->nsubs++ == 0 && ch->_reg->presence)
        ch->_reg->presence(ch->_reg->presence_arg, ch, 1);
}
static inline void cr_channel_sub_unlinked(cr_channel_t *ch)
{
    ch->_reg->subs--;
    if (--ch->nsubs == 0 && ch->_reg->presence)
        ch->_reg->presence(ch->_reg->presence_arg, ch, 0);
}

/* Whether name[0..len) is 1-255 bytes of [A-Za-z0-9_.~:-]. */
int cr_channel_name_valid(const char *name, size_t len);
/* Splits "a,b,c" into at most max names (spans into s). Returns the count, or
 * CR_ECHANNEL for an invalid or empty name, CR_ETOOMANYCH beyond max, or when a name repeats. */
int cr_channel_list_parse(cr_span_t s, cr_span_t *out, size_t max);

void cr_registry_init(cr_registry_t *r);
/* Frees every channel; they must have no subscribers left. */
void cr_registry_destroy(cr_registry_t *r);
cr_channel_t *cr_registry_find(const cr_registry_t *r, const char *name, size_t len);
/* Finds or creates the channel (name must be valid). */
cr_channel_t *cr_registry_get(cr_registry_t *r, const char *name, size_t len, int64_t now_ms);
/* Unlinks and frees ch, dropping its history. It must have no subscribers. */
void cr_registry_remove(cr_registry_t *r, cr_channel_t *ch);
/* Calls fn for each channel; fn may not add or remove channels. */
void cr_registry_foreach(const cr_registry_t *r, void (*fn)(cr_channel_t *ch, void *arg), void *arg);

#endif
