/* Subscriptions and fan-out. A subscriber (cr_sub_t) follows one or more
 * channels through one node per channel; each node sits on its channel's list
 * and holds that channel's cursor. A message reaches the subscriber only if it
 * is newer than the node's cursor, which is what makes resume loss- and
 * duplicate-free. While a subscriber catches up on history, live messages wait
 * in a pending list so that order holds. A subscriber is not a socket: the
 * deliver callback belongs to whatever stream carries it. No I/O.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_SUB_H
#define CR_CORE_SUB_H

#include <stddef.h>

#include "core/channel.h"
#include "core/cursor.h"
#include "core/list.h"
#include "core/msg.h"

typedef struct cr_sub cr_sub_t;

/* Hands msg (borrowed; take a reference to keep it) from channel node idx to the
 * subscriber's stream. Returns 0 to keep receiving, 1 when the subscriber is done
 * (a long poll answered), or a negative code when it failed (e.g. CR_ESLOW). On
 * anything but 0 the subscriber is marked closing and receives nothing more; its
 * owner detaches it later, never during a fan-out. */
typedef int (*cr_sub_deliver_fn)(cr_sub_t *sub, cr_msg_t *msg, size_t idx);

/* The idx a deliver callback gets for a message addressed to the subscriber
 * itself (POST /pub/@client): it came from no channel node and moves no cursor. */
#define CR_SUB_DIRECT ((size_t)-1)

typedef struct cr_subnode {
    cr_list_t link; /* on channel->subs */
    cr_sub_t *sub;
    cr_channel_t *ch;
    cr_msgid_t cursor; /* last id delivered (or the resume point) */
} cr_subnode_t;

struct cr_sub {
    cr_sub_deliver_fn deliver;
    size_t nch;
    cr_subnode_t *nodes;
    unsigned catching_up : 1;
    unsigned closing : 1;
    int close_reason; /* the deliver result that ended it */
    struct cr_sub_held {
        cr_msg_t *msg;
        size_t idx;
    } * _pending;
    size_t _npending, _cappending;
};

/* Prepares sub for nch channels (allocates its nodes; not linked anywhere yet). */
void cr_sub_init(cr_sub_t *sub, cr_sub_deliver_fn deliver, size_t nch);
/* Links node idx to ch with the given resume cursor; the sub starts catching up:
 * live messages are held until cr_sub_go_live(). */
void cr_sub_attach(cr_sub_t *sub, size_t idx, cr_channel_t *ch, cr_msgid_t cursor);
/* Replays retained history after each node's cursor in id order (ties by node
 * order), then delivers what was held, then goes live. Returns 0, or the first
 * non-zero deliver result (1: the subscriber is done; negative: it failed). */
int cr_sub_catch_up(cr_sub_t *sub);
/* Offers msg from node idx: delivered if newer than the cursor, which advances. */
int cr_sub_offer(cr_sub_t *sub, size_t idx, cr_msg_t *msg);
/* Unlinks every node and drops held messages. Safe to call twice. Never call it
 * from inside a deliver callback. */
void cr_sub_detach(cr_sub_t *sub);
/* The cursor ids, one per node, into ids[0..nch). */
void cr_sub_cursor(const cr_sub_t *sub, cr_msgid_t *ids);

/* Hands msg, addressed to this subscriber alone, to deliver() with idx
 * CR_SUB_DIRECT: no cursor check, no cursor change. Held in order while the
 * subscriber catches up. Returns the deliver result (0 when held), or
 * CR_ENOTFOUND when the subscriber is closing. */
int cr_sub_direct(cr_sub_t *sub, cr_msg_t *msg);

/* Changing the channel set at run time (a relay client's sub / unsub). Only on a
 * live subscriber (not catching up), and never from inside a fan-out: node
 * indexes move. */

/* The index of the node on ch, or -1. */
long cr_sub_find(const cr_sub_t *sub, const cr_channel_t *ch);
/* Adds a node on ch with the given cursor and returns its index. The node is not
 * linked yet: nothing reaches it until cr_sub_node_live(). */
size_t cr_sub_add(cr_sub_t *sub, cr_channel_t *ch, cr_msgid_t cursor);
/* Replays ch's retained history after node idx's cursor, then links the node so
 * that live messages follow. Nothing can be published between the two, since
 * both happen in one call. Returns 0 or the first non-zero deliver result. */
int cr_sub_node_live(cr_sub_t *sub, size_t idx);
/* Unlinks node idx and drops it; the last node takes its index. */
void cr_sub_remove(cr_sub_t *sub, size_t idx);

/* Fans msg out to every subscriber of ch. Returns the number it was offered to. */
size_t cr_channel_fanout(cr_channel_t *ch, cr_msg_t *msg);

#endif
