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
    CR_SQ_DELETE,
    CR_SQ_UP_EVICTED,
    CR_SQ_DROP_TAIL,
    CR_SQ_DROP_CHANNEL,
    CR_SQ_SCHED_INS,
    CR_SQ_SCHED_DEL,
    CR_SQ_SCHED_LAST,
    CR_SQ_BEGIN,
    CR_SQ_COMMIT,
    CR_SQ_ROLLBACK,
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

/* The writer's transaction around a batch; prepared once, since parsing even these
 * short statements on every commit was a visible share of the writer's time. */
int cr_sq_begin(cr_sq_stmts_t *st);
int cr_sq_commit(cr_sq_stmts_t *st);
int cr_sq_rollback(cr_sq_stmts_t *st);

/* Writer operations, each inside the caller's transaction. SQLITE_OK or an SQLite code. */
/* Inserts m as row m->store_key and, when new_channel, its channel's row unless it exists
 * (created_ms: when the channel began). */
int cr_sq_insert_msg(cr_sq_stmts_t *st, const cr_msg_t *m, int64_t created_ms, int new_channel);
/* Deletes the rows keys[0..n). */
int cr_sq_delete(cr_sq_stmts_t *st, const uint64_t *keys, size_t n);
/* Remembers ch's newest evicted id and its last id (which deleted rows can no longer tell). */
int cr_sq_mark(cr_sq_stmts_t *st, const cr_bytes_t *ch, cr_msgid_t evicted, cr_msgid_t last);
/* Forgets channel ch: the rows keys[0..n), any of its rows above key after, and its row. */
int cr_sq_drop(cr_sq_stmts_t *st, const cr_bytes_t *ch, const uint64_t *keys, size_t n, uint64_t after);
int cr_sq_sched_add(cr_sq_stmts_t *st, const cr_sched_item_t *it);
int cr_sq_sched_del(cr_sq_stmts_t *st, uint64_t id);

/* Reads channels (last id, evicted id), their messages in publish order and the
 * scheduled items into reg and sched; *next_key goes above every row key read.
 * SQLITE_OK or an SQLite code. */
int cr_sq_restore(sqlite3 *db, cr_registry_t *reg, cr_sched_t *sched, int64_t now_ms, uint64_t *next_key);

#endif
