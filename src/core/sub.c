/* Subscription bookkeeping, catch-up and fan-out.
 * SPDX-License-Identifier: MIT */
#include "core/sub.h"

#include <stdlib.h>

#include "core/err.h"

void cr_sub_init(cr_sub_t *sub, cr_sub_deliver_fn deliver, size_t nch)
{
    sub->deliver = deliver;
    sub->nch = nch;
    sub->nodes = cr_xcalloc(nch, sizeof(*sub->nodes));
    for (size_t i = 0; i < nch; i++) {
        cr_list_init(&sub->nodes[i].link);
        sub->nodes[i].sub = sub;
    }
    sub->catching_up = 1;
    sub->closing = 0;
    sub->close_reason = 0;
    sub->_pending = NULL;
    sub->_npending = sub->_cappending = 0;
}

void cr_sub_attach(cr_sub_t *sub, size_t idx, cr_channel_t *ch, cr_msgid_t cursor)
{
    cr_subnode_t *n = &sub->nodes[idx];
    n->ch = ch;
    n->cursor = cursor;
    cr_list_push_back(&ch->subs, &n->link);
    cr_channel_sub_linked(ch);
}

static void mark_closing(cr_sub_t *sub, int r)
{
    sub->closing = 1;
    sub->close_reason = r;
}

int cr_sub_offer(cr_sub_t *sub, size_t idx, cr_msg_t *msg)
{
    cr_subnode_t *n = &sub->nodes[idx];
    if (sub->closing || cr_msgid_cmp(msg->id, n->cursor) <= 0)
        return 0;
    n->cursor = msg->id;
    int r = sub->deliver(sub, msg, idx);
    if (r != 0)
        mark_closing(sub, r);
    return r;
}

static void hold(cr_sub_t *sub, size_t idx, cr_msg_t *msg)
{
    if (sub->_npending == sub->_cappending) {
        sub->_cappending = sub->_cappending ? sub->_cappending * 2 : 4;
        sub->_pending = cr_xrealloc(sub->_pending, sub->_cappending * sizeof(*sub->_pending));
    }
    sub->_pending[sub->_npending++] = (struct cr_sub_held){cr_msg_ref(msg), idx};
}

/* Replays the nodes' histories merged in id order (ties by node order), one
 * message at a time from each history's read position: no copy, no sort, and
 * nothing past the first non-zero deliver (a long poll takes what it needs). */
static int replay(cr_sub_t *sub)
{
    size_t small[8];
    size_t *pos = sub->nch <= 8 ? small : cr_xmalloc(sub->nch * sizeof(*pos));
    for (size_t i = 0; i < sub->nch; i++)
        pos[i] = cr_history_first_after(&sub->nodes[i].ch->history, sub->nodes[i].cursor);
    int r = 0;
    while (r == 0) {
        size_t best = SIZE_MAX;
        cr_msg_t *m = NULL;
        for (size_t i = 0; i < sub->nch; i++) {
            const cr_history_t *h = &sub->nodes[i].ch->history;
            if (pos[i] == h->count)
                continue;
            cr_msg_t *c = cr_history_at(h, pos[i]);
            if (!m || cr_msgid_cmp(c->id, m->id) < 0) {
                m = c;
                best = i;
            }
        }
        if (!m)
            break;
        pos[best]++;
        r = cr_sub_offer(sub, best, m);
    }
    if (pos != small)
        free(pos);
    return r;
}

int cr_sub_catch_up(cr_sub_t *sub)
{
    int r = replay(sub);
    sub->catching_up = 0;
    /* Held live messages came after the history snapshot; the cursor check drops
     * any the replay already delivered. */
    for (size_t i = 0; i < sub->_npending; i++) {
        if (r == 0) {
            if (sub->_pending[i].idx == CR_SUB_DIRECT)
                r = cr_sub_direct(sub, sub->_pending[i].msg);
            else
                r = cr_sub_offer(sub, sub->_pending[i].idx, sub->_pending[i].msg);
        }
        cr_msg_unref(sub->_pending[i].msg);
    }
    free(sub->_pending);
    sub->_pending = NULL;
    sub->_npending = sub->_cappending = 0;
    return r;
}

void cr_sub_detach(cr_sub_t *sub)
{
    for (size_t i = 0; i < sub->nch; i++) {
        cr_subnode_t *n = &sub->nodes[i];
        if (cr_list_linked(&n->link)) {
            cr_list_remove(&n->link);
            cr_channel_sub_unlinked(n->ch);
        }
    }
    for (size_t i = 0; i < sub->_npending; i++)
        cr_msg_unref(sub->_pending[i].msg);
    free(sub->_pending);
    sub->_pending = NULL;
    sub->_npending = sub->_cappending = 0;
    free(sub->nodes);
    sub->nodes = NULL;
    sub->nch = 0;
}

void cr_sub_cursor(const cr_sub_t *sub, cr_msgid_t *ids)
{
    for (size_t i = 0; i < sub->nch; i++)
        ids[i] = sub->nodes[i].cursor;
}

int cr_sub_direct(cr_sub_t *sub, cr_msg_t *msg)
{
    if (sub->closing)
        return CR_ENOTFOUND;
    if (sub->catching_up) {
        hold(sub, CR_SUB_DIRECT, msg);
        return 0;
    }
    int r = sub->deliver(sub, msg, CR_SUB_DIRECT);
    if (r != 0)
        mark_closing(sub, r);
    return r;
}

long cr_sub_find(const cr_sub_t *sub, const cr_channel_t *ch)
{
    for (size_t i = 0; i < sub->nch; i++)
        if (sub->nodes[i].ch == ch)
            return (long)i;
    return -1;
}

/* Moves node *from into *to: a linked node's neighbours are pointed at its new
 * place. A subscriber is on a channel once, so no two of its nodes are neighbours. */
static void move_node(cr_subnode_t *to, cr_subnode_t *from)
{
    int linked = cr_list_linked(&from->link);
    *to = *from;
    if (linked) {
        to->link.prev->next = &to->link;
        to->link.next->prev = &to->link;
    } else {
        cr_list_init(&to->link);
    }
}

size_t cr_sub_add(cr_sub_t *sub, cr_channel_t *ch, cr_msgid_t cursor)
{
    cr_subnode_t *nodes = cr_xcalloc(sub->nch + 1, sizeof(*nodes));
    for (size_t i = 0; i < sub->nch; i++)
        move_node(&nodes[i], &sub->nodes[i]);
    free(sub->nodes);
    sub->nodes = nodes;
    cr_subnode_t *n = &nodes[sub->nch];
    cr_list_init(&n->link);
    n->sub = sub;
    n->ch = ch;
    n->cursor = cursor;
    return sub->nch++;
}

int cr_sub_node_live(cr_sub_t *sub, size_t idx)
{
    cr_subnode_t *n = &sub->nodes[idx];
    cr_history_t *h = &n->ch->history;
    int r = 0;
    size_t count = h->count;
    for (size_t j = cr_history_first_after(h, n->cursor); j < count && r == 0; j++) {
        cr_msg_t *m = cr_msg_ref(cr_history_at(h, j));
        r = cr_sub_offer(sub, idx, m);
        cr_msg_unref(m);
    }
    if (!cr_list_linked(&n->link)) {
        cr_list_push_back(&n->ch->subs, &n->link);
        cr_channel_sub_linked(n->ch);
    }
    return r;
}

void cr_sub_remove(cr_sub_t *sub, size_t idx)
{
    cr_subnode_t *n = &sub->nodes[idx];
    if (cr_list_linked(&n->link)) {
        cr_list_remove(&n->link);
        cr_channel_sub_unlinked(n->ch);
    }
    size_t last = sub->nch - 1;
    if (idx != last)
        move_node(n, &sub->nodes[last]);
    sub->nch--;
}

size_t cr_channel_fanout(cr_channel_t *ch, cr_msg_t *msg)
{
    size_t n = 0;
    for (cr_list_t *l = ch->subs.next; l != &ch->subs; l = l->next) {
        cr_subnode_t *node = CR_CONTAINER_OF(l, cr_subnode_t, link);
        cr_sub_t *sub = node->sub;
        n++;
        if (sub->closing)
            continue;
        if (sub->catching_up) {
            hold(sub, (size_t)(node - sub->nodes), msg);
            continue;
        }
        cr_sub_offer(sub, (size_t)(node - sub->nodes), msg);
    }
    return n;
}
