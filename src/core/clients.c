/* Client registry: linear probing with backward-shift deletion, so there are no
 * tombstones and a lookup stops at the first empty slot.
 * SPDX-License-Identifier: MIT */
#include "core/clients.h"

#include <stdlib.h>

#include "core/err.h"

/* Ids are handed out in sequence; a multiplicative mix spreads them over the slots. */
static size_t slot_of(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ULL) >> 32) & (cap - 1);
}

void cr_clients_init(cr_clients_t *t)
{
    t->_slots = NULL;
    t->_cap = 0;
    t->count = 0;
    t->last_id = CR_MSGID_NONE;
}

void cr_clients_destroy(cr_clients_t *t)
{
    free(t->_slots);
    t->_slots = NULL;
    t->_cap = t->count = 0;
}

static void insert(struct cr_client_slot *slots, size_t cap, uint64_t id, cr_sub_t *sub)
{
    size_t i = slot_of(id, cap);
    while (slots[i].id)
        i = (i + 1) & (cap - 1);
    slots[i].id = id;
    slots[i].sub = sub;
}

void cr_clients_put(cr_clients_t *t, uint64_t id, cr_sub_t *sub)
{
    /* Kept at most half full so that probe runs stay short. */
    if ((t->count + 1) * 2 > t->_cap) {
        size_t cap = t->_cap ? t->_cap * 2 : 64;
        struct cr_client_slot *slots = cr_xcalloc(cap, sizeof(*slots));
        for (size_t i = 0; i < t->_cap; i++)
            if (t->_slots[i].id)
                insert(slots, cap, t->_slots[i].id, t->_slots[i].sub);
        free(t->_slots);
        t->_slots = slots;
        t->_cap = cap;
    }
    insert(t->_slots, t->_cap, id, sub);
    t->count++;
}

static long find(const cr_clients_t *t, uint64_t id)
{
    if (!t->_cap || !id)
        return -1;
    for (size_t i = slot_of(id, t->_cap);; i = (i + 1) & (t->_cap - 1)) {
        if (t->_slots[i].id == id)
            return (long)i;
        if (!t->_slots[i].id)
            return -1;
    }
}

cr_sub_t *cr_clients_get(const cr_clients_t *t, uint64_t id)
{
    long i = find(t, id);
    return i < 0 ? NULL : t->_slots[i].sub;
}

void cr_clients_del(cr_clients_t *t, uint64_t id)
{
    long at = find(t, id);
    if (at < 0)
        return;
    size_t mask = t->_cap - 1, hole = (size_t)at;
    /* Pull back every later entry of the run that may now sit past the hole. */
    for (size_t j = (hole + 1) & mask; t->_slots[j].id; j = (j + 1) & mask) {
        size_t home = slot_of(t->_slots[j].id, t->_cap);
        /* The entry at j may move to the hole unless its home lies cyclically in (hole, j]. */
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            t->_slots[hole] = t->_slots[j];
            hole = j;
        }
    }
    t->_slots[hole].id = 0;
    t->_slots[hole].sub = NULL;
    t->count--;
}

int cr_client_id_parse(const char *s, size_t len, uint64_t *id)
{
    if (len < 2 || len > 17 || s[0] != 'c')
        return CR_ENOTFOUND;
    uint64_t v = 0;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return CR_ENOTFOUND;
        v = v << 4 | (uint64_t)d;
    }
    if (!v)
        return CR_ENOTFOUND;
    *id = v;
    return 0;
}
