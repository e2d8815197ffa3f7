/* The client registry: client id -> the live subscriber it names, so that a
 * message can be addressed to one connection (POST /pub/@c1f). An open-addressed
 * table of (id, subscriber) pairs, 16 bytes a slot and no allocation per client.
 * Entries are borrowed pointers: the owner removes its entry before freeing the
 * subscriber. Also the id sequence of addressed messages. No I/O.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_CLIENTS_H
#define CR_CORE_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"
#include "core/sub.h"

typedef struct cr_clients {
    struct cr_client_slot {
        uint64_t id; /* 0: empty (client ids start at 1) */
        cr_sub_t *sub;
    } * _slots;
    size_t _cap; /* a power of two, or 0 before the first put */
    size_t count;
    cr_msgid_t last_id; /* last id given to an addressed message */
} cr_clients_t;

void cr_clients_init(cr_clients_t *t);
/* Frees the table (not the subscribers). */
void cr_clients_destroy(cr_clients_t *t);
/* Registers sub under id (id > 0, not registered yet). */
void cr_clients_put(cr_clients_t *t, uint64_t id, cr_sub_t *sub);
/* The subscriber registered under id, or NULL. */
cr_sub_t *cr_clients_get(const cr_clients_t *t, uint64_t id);
/* Forgets id; nothing happens if it is not registered. */
void cr_clients_del(cr_clients_t *t, uint64_t id);

/* Parses a client id as shown to clients, "c" and 1-16 lowercase or uppercase
 * hex digits, not zero. 0 or CR_ENOTFOUND (no such client can exist). */
int cr_client_id_parse(const char *s, size_t len, uint64_t *id);

#endif
