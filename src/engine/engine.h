/* The message store interface. Every engine (memory now; sqlite and redis
 * later) implements every slot; what it can't do returns CR_ENOTSUP.
 * An engine assigns ids, keeps retained history in the channel's cr_history_t
 * (the hot window fan-out and catch-up read from), and answers asynchronously
 * through callbacks so that a durable engine can commit off the event loop.
 * SPDX-License-Identifier: MIT */
#ifndef CR_ENGINE_ENGINE_H
#define CR_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/channel.h"
#include "core/msg.h"

typedef struct cr_engine cr_engine_t;

/* Called once a message is stored (status 0) or could not be (negative code).
 * The memory engine calls it before append returns. */
typedef void (*cr_engine_done_cb)(void *arg, int status);

typedef struct cr_engine_ops {
    const char *name;
    /* Assigns msg->id on ch (strictly above ch->last_id), stores msg (takes its own
     * reference), applies count retention, then calls done. Returns 0 if done will
     * be called, else a negative code (and done is not called). */
    int (*append)(cr_engine_t *e, cr_channel_t *ch, cr_msg_t *msg, cr_engine_done_cb done, void *arg);
    /* Makes every retained message after `after` available in ch->history for a
     * catch-up, with nothing in it past its age or TTL at now_ms, then calls done. */
    int (*load)(cr_engine_t *e, cr_channel_t *ch, cr_msgid_t after, int64_t now_ms, cr_engine_done_cb done,
                void *arg);
    /* Forgets ch's messages. */
    int (*drop)(cr_engine_t *e, cr_channel_t *ch);
    /* Applies age and TTL retention to every channel at time now_ms. */
    void (*prune)(cr_engine_t *e, int64_t now_ms);
    void (*destroy)(cr_engine_t *e);
} cr_engine_ops_t;

typedef struct cr_engine_config {
    size_t max_count;   /* messages kept per channel (0: unlimited) */
    int64_t max_age_ms; /* oldest message kept (0: unlimited) */
} cr_engine_config_t;

struct cr_engine {
    const cr_engine_ops_t *ops;
    cr_registry_t *reg;
    cr_engine_config_t cfg;
};

/* The pure in-memory store. reg is borrowed and must outlive the engine. */
cr_engine_t *cr_engine_memory_new(cr_registry_t *reg, const cr_engine_config_t *cfg);

#endif
