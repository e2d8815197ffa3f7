/* Intrusive doubly linked list: a node lives inside the object it links, so
 * linking and unlinking cost O(1) and no allocation. A head is a node whose
 * next/prev point to itself when the list is empty.
 * SPDX-License-Identifier: MIT */
#ifndef CR_CORE_LIST_H
#define CR_CORE_LIST_H

#include <stddef.h>

typedef struct cr_list {
    struct cr_list *next, *prev;
} cr_list_t;

#define CR_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void cr_list_init(cr_list_t *h)
{
    h->next = h->prev = h;
}

static inline int cr_list_empty(const cr_list_t *h)
{
    return h->next == h;
}

/* Whether node n is on some list (nodes are kept self-linked when off a list). */
static inline int cr_list_linked(const cr_list_t *n)
{
    return n->next != n;
}

static inline void cr_list_push_back(cr_list_t *h, cr_list_t *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static inline void cr_list_remove(cr_list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

#endif
