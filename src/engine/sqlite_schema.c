/* Schema, statements and start-up reading of the durable engine.
 * SPDX-License-Identifier: MIT */
#include "engine/sqlite_schema.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

#define SCHEMA_VERSION 2

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS channels(name TEXT PRIMARY KEY, last_ms INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL, ev_ms INTEGER NOT NULL DEFAULT 0, ev_seq INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL DEFAULT 0)"
    " WITHOUT ROWID;"
    /* Rows in publish order, keyed by a number the engine gives each message, and no
     * index by channel: a commit then appends to the last pages instead of touching one
     * index page per channel, and deletes name their rows. */
    "CREATE TABLE IF NOT EXISTS msgs(k INTEGER PRIMARY KEY, ch TEXT NOT NULL, ms INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, time INTEGER NOT NULL, exp INTEGER NOT NULL, ctype BLOB, event BLOB,"
    " payload BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sched(id INTEGER PRIMARY KEY, due INTEGER NOT NULL, created INTEGER NOT NULL,"
    " ttl INTEGER NOT NULL, chans TEXT NOT NULL, ctype BLOB, event BLOB, payload BLOB NOT NULL);"
    "PRAGMA user_version = 2;";

static const char *const sql[CR_SQ_COUNT] = {
    [CR_SQ_INS_MSG] =
        "INSERT INTO msgs(k, ch, ms, seq, time, exp, ctype, event, payload) VALUES(?,?,?,?,?,?,?,?,?)",
    /* Only a read once the row exists: a channel's last id is the newest of its messages,
     * and is written here only when pruning is about to delete them. */
    [CR_SQ_UP_CHANNEL] = "INSERT OR IGNORE INTO channels(name, last_ms, last_seq, created) VALUES(?,?,?,?)",
    [CR_SQ_DELETE] = "DELETE FROM msgs WHERE k = ?",
    [CR_SQ_UP_EVICTED] =
        "UPDATE channels SET ev_ms = ?2, ev_seq = ?3, last_ms = ?4, last_seq = ?5 WHERE name = ?1",
    [CR_SQ_DROP_TAIL] = "DELETE FROM msgs WHERE k > ?2 AND ch = ?1",
    [CR_SQ_DROP_CHANNEL] = "DELETE FROM channels WHERE name = ?",
    [CR_SQ_SCHED_INS] = "INSERT INTO sched(id, due, created, ttl, chans, ctype, event, payload) "
                        "VALUES(?,?,?,?,?,?,?,?)",
    [CR_SQ_SCHED_DEL] = "DELETE FROM sched WHERE id = ?",
    [CR_SQ_SCHED_LAST] = "INSERT INTO meta(k, v) VALUES('sched_last', ?1) ON CONFLICT(k) DO "
                         "UPDATE SET v = max(v, excluded.v)",
    [CR_SQ_BEGIN] = "BEGIN IMMEDIATE",
    [CR_SQ_COMMIT] = "COMMIT",
    [CR_SQ_ROLLBACK] = "ROLLBACK",
};

static int exec_check(sqlite3 *db, const char *path, const char *what, const char *stmt, char *err,
                      size_t errlen)
{
    int rc = sqlite3_exec(db, stmt, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        const char *hint = (rc & 0xff) == SQLITE_BUSY ? " (is another crier using this data directory?)" : "";
        snprintf(err, errlen, "%s: %s: %s%s", path, what, sqlite3_errmsg(db), hint);
    }
    return rc;
}

/* quick_check answers one row "ok", or rows naming what is damaged. */
static int integrity(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        return rc;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(s, 0);
        if (r && strcmp(r, "ok") == 0) {
            rc = SQLITE_OK;
        } else {
            snprintf(err, errlen, "%s: database is damaged: %s", path, r ? r : "?");
            rc = SQLITE_CORRUPT;
        }
    } else {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
    }
    sqlite3_finalize(s);
    return rc;
}

static int version_of(sqlite3 *db, int *v)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(s);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

int cr_sq_open(const char *path, int sync_full, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    *out = NULL;
    int rc =
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(db, 0);
    /* An exclusive lock taken before WAL is first used: no shared-memory file, and a
     * second server on the same directory is refused instead of interleaving. */
    /* auto_vacuum only takes effect on a new database: then pruning can give pages back. */
    if ((rc = exec_check(db, path, "locking", "PRAGMA locking_mode = EXCLUSIVE", err, errlen)) ||
        (rc = exec_check(db, path, "settings", "PRAGMA auto_vacuum = INCREMENTAL", err, errlen)) ||
        (rc = exec_check(db, path, "WAL mode", "PRAGMA journal_mode = WAL", err, errlen)) ||
        (rc = exec_check(db, path, "sync mode",
                         sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", err,
                         errlen)) ||
        /* Checkpoints are where the disk work is: fewer and larger ones write each page
         * once for many commits (messages of many channels touch many index pages). */
        (rc = exec_check(db, path, "settings", "PRAGMA wal_autocheckpoint = 8192", err, errlen)) ||
        (rc = exec_check(db, path, "settings", "PRAGMA journal_size_limit = 33554432", err, errlen)) ||
        (rc = exec_check(db, path, "lock", "BEGIN IMMEDIATE", err, errlen)))
        goto fail;
    if ((rc = integrity(db, path, err, errlen)) != SQLITE_OK)
        goto fail;
    int v = 0;
    if ((rc = version_of(db, &v)) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    if (v != 0 && v != SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: not a crier database of a known version (user_version %d)", path, v);
        rc = SQLITE_MISMATCH;
        goto fail;
    }
    if ((rc = exec_check(db, path, "schema", schema, err, errlen)) ||
        (rc = exec_check(db, path, "schema", "COMMIT", err, errlen)))
        goto fail;
    *out = db;
    return SQLITE_OK;
fail:
    sqlite3_close(db);
    return rc ? rc : SQLITE_ERROR;
}

int cr_sq_stmts_prepare(sqlite3 *db, cr_sq_stmts_t *st)
{
    memset(st, 0, sizeof(*st));
    for (int i = 0; i < CR_SQ_COUNT; i++) {
        int rc = sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->s[i], NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

void cr_sq_stmts_finalize(cr_sq_stmts_t *st)
{
    for (int i = 0; i < CR_SQ_COUNT; i++) {
        sqlite3_finalize(st->s[i]);
        st->s[i] = NULL;
    }
}

static int run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int cr_sq_begin(cr_sq_stmts_t *st)
{
    return run(st->s[CR_SQ_BEGIN]);
}

int cr_sq_commit(cr_sq_stmts_t *st)
{
    return run(st->s[CR_SQ_COMMIT]);
}

int cr_sq_rollback(cr_sq_stmts_t *st)
{
    return run(st->s[CR_SQ_ROLLBACK]);
}

static void bind_bytes(sqlite3_stmt *s, int i, const cr_bytes_t *b)
{
    if (b)
        sqlite3_bind_blob(s, i, b->data, (int)b->len, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static void bind_text(sqlite3_stmt *s, int i, const cr_bytes_t *b)
{
    sqlite3_bind_text(s, i, b->data, (int)b->len, SQLITE_STATIC);
}

int cr_sq_insert_msg(cr_sq_stmts_t *st, const cr_msg_t *m, int64_t created_ms, int new_channel)
{
    sqlite3_stmt *s = st->s[CR_SQ_INS_MSG];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)m->store_key);
    bind_text(s, 2, m->channel);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)m->id.ms);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)m->id.seq);
    sqlite3_bind_int64(s, 5, m->time_ms);
    sqlite3_bind_int64(s, 6, m->expires_ms);
    bind_bytes(s, 7, m->content_type);
    bind_bytes(s, 8, m->event);
    bind_bytes(s, 9, m->payload);
    int rc = run(s);
    if (rc != SQLITE_OK || !new_channel)
        return rc;
    s = st->s[CR_SQ_UP_CHANNEL];
    bind_text(s, 1, m->channel);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)m->id.ms);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)m->id.seq);
    sqlite3_bind_int64(s, 4, created_ms);
    return run(s);
}

int cr_sq_delete(cr_sq_stmts_t *st, const uint64_t *keys, size_t n)
{
    sqlite3_stmt *s = st->s[CR_SQ_DELETE];
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(s, 1, (sqlite3_int64)keys[i]);
        int rc = run(s);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

int cr_sq_mark(cr_sq_stmts_t *st, const cr_bytes_t *ch, cr_msgid_t evicted, cr_msgid_t last)
{
    sqlite3_stmt *s = st->s[CR_SQ_UP_EVICTED];
    bind_text(s, 1, ch);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)evicted.ms);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)evicted.seq);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)last.ms);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)last.seq);
    return run(s);
}

int cr_sq_drop(cr_sq_stmts_t *st, const cr_bytes_t *ch, const uint64_t *keys, size_t n, uint64_t after)
{
    int rc = cr_sq_delete(st, keys, n);
    if (rc != SQLITE_OK)
        return rc;
    bind_text(st->s[CR_SQ_DROP_TAIL], 1, ch);
    sqlite3_bind_int64(st->s[CR_SQ_DROP_TAIL], 2, (sqlite3_int64)after);
    rc = run(st->s[CR_SQ_DROP_TAIL]);
    if (rc != SQLITE_OK)
        return rc;
    bind_text(st->s[CR_SQ_DROP_CHANNEL], 1, ch);
    return run(st->s[CR_SQ_DROP_CHANNEL]);
}

int cr_sq_sched_add(cr_sq_stmts_t *st, const cr_sched_item_t *it)
{
    sqlite3_stmt *s = st->s[CR_SQ_SCHED_INS];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)it->id);
    sqlite3_bind_int64(s, 2, it->due_ms);
    sqlite3_bind_int64(s, 3, it->created_ms);
    sqlite3_bind_int64(s, 4, it->ttl_ms);
    bind_text(s, 5, it->channels);
    bind_bytes(s, 6, it->content_type);
    bind_bytes(s, 7, it->event);
    bind_bytes(s, 8, it->payload);
    int rc = run(s);
    if (rc != SQLITE_OK)
        return rc;
    /* Ids are never reused, even once every item is sent and the table is empty. */
    sqlite3_bind_int64(st->s[CR_SQ_SCHED_LAST], 1, (sqlite3_int64)it->id);
    return run(st->s[CR_SQ_SCHED_LAST]);
}

int cr_sq_sched_del(cr_sq_stmts_t *st, uint64_t id)
{
    sqlite3_bind_int64(st->s[CR_SQ_SCHED_DEL], 1, (sqlite3_int64)id);
    return run(st->s[CR_SQ_SCHED_DEL]);
}

/* --- start-up ------------------------------------------------------------------------------------- */

static cr_bytes_t *column_bytes(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return NULL;
    const void *p = sqlite3_column_blob(s, i);
    return cr_bytes_copy(p ? p : "", (size_t)sqlite3_column_bytes(s, i));
}

static cr_msgid_t column_id(sqlite3_stmt *s, int i)
{
    return (cr_msgid_t){(uint64_t)sqlite3_column_int64(s, i), (uint64_t)sqlite3_column_int64(s, i + 1)};
}

static int restore_channels(sqlite3 *db, cr_registry_t *reg, int64_t now_ms)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, "SELECT name, last_ms, last_seq, ev_ms, ev_seq, created FROM channels",
                                -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        size_t len = (size_t)sqlite3_column_bytes(s, 0);
        if (!name || !cr_channel_name_valid(name, len))
            continue;
        cr_channel_t *ch = cr_registry_get(reg, name, len, now_ms);
        ch->stored = 1;
        ch->last_id = column_id(s, 1);
        ch->history.evicted_last = column_id(s, 3);
        /* Its life began before the restart: cursors it issued then are still its own. */
        if (sqlite3_column_int64(s, 5) > 0)
            ch->created_ms = sqlite3_column_int64(s, 5);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int restore_msgs(sqlite3 *db, cr_registry_t *reg, int64_t now_ms, uint64_t *next_key)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(
        db, "SELECT ch, ms, seq, time, exp, ctype, event, payload, k FROM msgs ORDER BY k", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    cr_channel_t *ch = NULL;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        size_t len = (size_t)sqlite3_column_bytes(s, 0);
        if (!name || !cr_channel_name_valid(name, len))
            continue;
        if (!ch || ch->name->len != len || memcmp(ch->name->data, name, len) != 0)
            ch = cr_registry_get(reg, name, len, now_ms);
        cr_msgid_t id = column_id(s, 1);
        cr_history_t *h = &ch->history;
        if (h->count && cr_msgid_cmp(cr_history_at(h, h->count - 1)->id, id) >= 0)
            continue;
        cr_bytes_t *ctype = column_bytes(s, 5), *event = column_bytes(s, 6), *payload = column_bytes(s, 7);
        if (!payload)
            payload = cr_bytes_copy("", 0);
        cr_msg_t *m = cr_msg_new(ch->name, ctype, event, payload, sqlite3_column_int64(s, 3),
                                 sqlite3_column_int64(s, 4));
        cr_bytes_unref(ctype);
        cr_bytes_unref(event);
        cr_bytes_unref(payload);
        m->id = id;
        m->store_key = (uint64_t)sqlite3_column_int64(s, 8);
        if (m->store_key >= *next_key)
            *next_key = m->store_key + 1;
        cr_history_append(h, m);
        cr_msg_unref(m);
        /* New ids must stay above every stored one, whatever the clock says now. */
        if (cr_msgid_cmp(ch->last_id, id) < 0)
            ch->last_id = id;
        ch->published++;
        ch->last_publish_ms = m->time_ms;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int restore_sched(sqlite3 *db, cr_sched_t *sched)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'sched_last'", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW && (uint64_t)sqlite3_column_int64(s, 0) >= sched->next_id)
        sched->next_id = (uint64_t)sqlite3_column_int64(s, 0) + 1;
    sqlite3_finalize(s);
    rc = sqlite3_prepare_v2(db, "SELECT id, due, created, ttl, chans, ctype, event, payload FROM sched", -1,
                            &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        cr_bytes_t *chans = column_bytes(s, 4), *ctype = column_bytes(s, 5), *event = column_bytes(s, 6),
                   *payload = column_bytes(s, 7);
        if (chans && payload) {
            cr_sched_item_t *it = cr_sched_item_new(chans, ctype, event, payload, sqlite3_column_int64(s, 1),
                                                    sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3));
            it->id = (uint64_t)sqlite3_column_int64(s, 0);
            cr_sched_push(sched, it);
        }
        cr_bytes_unref(chans);
        cr_bytes_unref(ctype);
        cr_bytes_unref(event);
        cr_bytes_unref(payload);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int cr_sq_restore(sqlite3 *db, cr_registry_t *reg, cr_sched_t *sched, int64_t now_ms, uint64_t *next_key)
{
    int rc = restore_channels(db, reg, now_ms);
    if (rc == SQLITE_OK)
        rc = restore_msgs(db, reg, now_ms, next_key);
    if (rc == SQLITE_OK && sched)
        rc = restore_sched(db, sched);
    return rc;
}
