/* The SQLite side of the durable engine: opening and checking the database,
 * its schema, the prepared statements the writer thread runs, and reading
 * everything back at start. Called by sqlite.c only; no threads here.
 * SPDX-License-Identifier: MIT */
#ifndef CR_ENGINE_SQLITE_SCHEMA_H
#define CR_ENGINE_SQLITE_SCHEMA_H

#include <sqlite3.h>
#include <stddef.h>

#include "core/channel.h"
#include "core/sched.h"

enum {
    CR_SQ_INS_MSG,
    CR_SQ_UP_CHANNEL,
    CR_SQ_PRUNE,
    CR_SQ_UP_EVICTED,
    CR_SQ_DROP_MSGS,
    CR_SQ_DROP_CHANNEL,
    CR_SQ_SCHED_INS,
    CR_SQ_SCHED_DEL,
    CR_SQ_SCHED_LAST,
    CR_SQ_COUNT
};

typedef struct cr_sq_stmts {
    sqlite3_stmt *s[CR_SQ_COUNT];
} cr_sq_stmts_t;

/* Opens path (created if missing) in WAL mode with an exclusive lock, checks it is
 * an intact crier database and creates the schema. SQLITE_OK, or an SQLite code with
 * a message naming the file in err (and *out left NULL). */
int cr_sq_open(const char *path, int sync_full, sqlite3 **out, char *err, size_t errlen);
int cr_sq_stmts_prepare(sqlite3 *db, cr_sq_stmts_t *st);
void cr_sq_stmts_finalize(cr_sq_stmts_t *st);

/* Writer operations, each inside the caller's transaction. SQLITE_OK or an SQLite code. */
/* Inserts m and moves its channel's last id (created_ms: when the channel began). */
int cr_sq_insert_msg(cr_sq_stmts_t *st, const cr_msg_t *m, int64_t created_ms);
/* Deletes ch's messages with an id up to upto, and those expired at now_ms;
 * remembers upto as the channel's newest evicted id and last as its last id
 * (which the messages deleted can no longer tell). */
int cr_sq_prune(cr_sq_stmts_t *st, const cr_bytes_t *ch, cr_msgid_t upto, cr_msgid_t last, int64_t now_ms);
int cr_sq_drop(cr_sq_stmts_t *st, const cr_bytes_t *ch);
int cr_sq_sched_add(cr_sq_stmts_t *st, const cr_sched_item_t *it);
int cr_sq_sched_del(cr_sq_stmts_t *st, uint64_t id);

/* Reads channels (last id, evicted id), their messages in id order and the
 * scheduled items into reg and sched. SQLITE_OK or an SQLite code. */
int cr_sq_restore(sqlite3 *db, cr_registry_t *reg, cr_sched_t *sched, int64_t now_ms);

#endif
