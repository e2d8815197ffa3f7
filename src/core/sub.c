/* Subscription bookkeeping, catch-up and fan-out.
 * SPDX-License-Identifier: MIT */
#include "core/sub.h"

#include <stdlib.h>

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
    ch->nsubs++;
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

typedef struct {
    cr_msg_t *msg;
    size_t idx;
} replay_item_t;

static int replay_cmp(const void *a, const void *b)
{
    const replay_item_t *x = a, *y = b;
    int c = cr_msgid_cmp(x->msg->id, y->msg->id);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void hold(cr_sub_t *sub, size_t idx, cr_msg_t *msg)
{
    if (sub->_npending == sub->_cappending) {
        sub->_cappending = sub->_cappending ? sub->_cappending * 2 : 4;
        sub->_pending = cr_xrealloc(sub->_pending, sub->_cappending * sizeof(*sub->_pending));
    }
    sub->_pending[sub->_npending++] = (struct cr_sub_held){cr_msg_ref(msg), idx};
}

int cr_sub_catch_up(cr_sub_t *sub)
{
    size_t total = 0;
    for (size_t i = 0; i < sub->nch; i++) {
        cr_history_t *h = &sub->nodes[i].ch->history;
        total += h->count - cr_history_first_after(h, sub->nodes[i].cursor);
    }
    int r = 0;
    if (total) {
        replay_item_t *items = cr_xmalloc(total * sizeof(*items));
        size_t k = 0;
        for (size_t i = 0; i < sub->nch; i++) {
            cr_history_t *h = &sub->nodes[i].ch->history;
            for (size_t j = cr_history_first_after(h, sub->nodes[i].cursor); j < h->count; j++)
                items[k++] = (replay_item_t){cr_msg_ref(cr_history_at(h, j)), i};
        }
        if (sub->nch > 1)
            qsort(items, total, sizeof(*items), replay_cmp);
        for (size_t i = 0; i < total; i++) {
            if (r == 0) {
                r = cr_sub_offer(sub, items[i].idx, items[i].msg);
            }
            cr_msg_unref(items[i].msg);
        }
        free(items);
    }
    sub->catching_up = 0;
    /* Held live messages came after the history snapshot; the cursor check drops
     * any the replay already delivered. */
    for (size_t i = 0; i < sub->_npending; i++) {
        if (r == 0) {
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
            n->ch->nsubs--;
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
