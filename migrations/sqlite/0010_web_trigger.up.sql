-- The SQLite twin of migrations/postgres/0010_web_trigger.up.sql; keep both in step:
-- `sync_runs.trigger` also takes `web` (the web page, issue 16) and `order` (the order
-- watch), the values product.md's run-history contract lists.
--
-- SQLite cannot change a CHECK in place: the table is rebuilt, with its columns as of
-- 0009, inside the one transaction all migrations run in (`Db::migrate`). PRAGMA
-- foreign_keys cannot be switched off inside a transaction, and `sync_run_items` and
-- `sync_write_intents` refer to `sync_runs` with ON DELETE CASCADE: dropping the old
-- `sync_runs` would delete every item, and renaming it takes the children's references
-- along. So the two children are rebuilt as well (renamed away, made again referring to
-- the new `sync_runs`, copied), and the old tables dropped once nothing refers to them.
-- Ids are copied, and each AUTOINCREMENT counter keeps its value (no id is handed out
-- twice). This copies every item once: on a large history it takes a while.
ALTER TABLE sync_runs RENAME TO sync_runs_old;
ALTER TABLE sync_run_items RENAME TO sync_run_items_old;
ALTER TABLE sync_write_intents RENAME TO sync_write_intents_old;

CREATE TABLE sync_runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The schedule's name; NULL for a manual run.
    schedule          TEXT,
    store             TEXT NOT NULL,
    trigger           TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual', 'web', 'order')),
    update_side       TEXT NOT NULL CHECK (update_side IN ('store', 'accounting')),
    fields            TEXT NOT NULL CHECK (fields IN ('price', 'quantity', 'price,quantity')),
    started_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at       TEXT,
    status            TEXT NOT NULL DEFAULT 'running' CHECK (status IN
                          ('running', 'succeeded', 'partial', 'failed', 'skipped', 'interrupted')),
    checked           INTEGER NOT NULL DEFAULT 0,
    in_sync           INTEGER NOT NULL DEFAULT 0,
    updated           INTEGER NOT NULL DEFAULT 0,
    skipped_in_orders INTEGER NOT NULL DEFAULT 0,
    skipped_base      INTEGER NOT NULL DEFAULT 0,
    unmapped          INTEGER NOT NULL DEFAULT 0,
    failed            INTEGER NOT NULL DEFAULT 0,
    -- Extensions: products never synced because their SKU is ambiguous, and products with
    -- a difference that could not be acted on (see invsync_core::RunCounts).
    conflicts         INTEGER NOT NULL DEFAULT 0,
    skipped_other     INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    -- Extensions for crash recovery: the owning process refreshes heartbeat_at while the
    -- run is in progress; a run whose heartbeat is stale, or whose owner process is gone,
    -- is marked 'interrupted' instead of staying 'running' forever.
    heartbeat_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    owner_host        TEXT,
    owner_pid         INTEGER,
    -- The owner's start time (Linux /proc/<pid>/stat field 22), to tell a reused pid apart.
    owner_start       TEXT,
    -- 0002, 0009.
    scheduled_for     TEXT,
    recovery_pending  BOOLEAN NOT NULL DEFAULT FALSE,
    -- A run has a finish time exactly when it is no longer running.
    CONSTRAINT sync_runs_finished_when_not_running
        CHECK ((status = 'running') = (finished_at IS NULL))
);
INSERT INTO sync_runs (id, schedule, store, trigger, update_side, fields, started_at, finished_at, status, checked, in_sync, updated, skipped_in_orders, skipped_base, unmapped, failed, conflicts, skipped_other, error, heartbeat_at, owner_host, owner_pid, owner_start, scheduled_for, recovery_pending)
    SELECT id, schedule, store, trigger, update_side, fields, started_at, finished_at, status, checked, in_sync, updated, skipped_in_orders, skipped_base, unmapped, failed, conflicts, skipped_other, error, heartbeat_at, owner_host, owner_pid, owner_start, scheduled_for, recovery_pending FROM sync_runs_old;
DELETE FROM sqlite_sequence WHERE name = 'sync_runs';
INSERT INTO sqlite_sequence (name, seq) SELECT 'sync_runs', seq FROM sqlite_sequence WHERE name = 'sync_runs_old';

CREATE TABLE sync_run_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    sku         TEXT NOT NULL,
    field       TEXT NOT NULL CHECK (field IN ('price', 'quantity')),
    old_value   TEXT,
    new_value   TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('updated', 'failed', 'skipped')),
    error       TEXT,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO sync_run_items (id, run_id, sku, field, old_value, new_value, outcome, error, recorded_at)
    SELECT id, run_id, sku, field, old_value, new_value, outcome, error, recorded_at FROM sync_run_items_old;
DELETE FROM sqlite_sequence WHERE name = 'sync_run_items';
INSERT INTO sqlite_sequence (name, seq) SELECT 'sync_run_items', seq FROM sqlite_sequence WHERE name = 'sync_run_items_old';

CREATE TABLE sync_write_intents (
    run_id     INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    -- The idempotency key sent with the write (invsync-run-{id}-change-{n}).
    key        TEXT NOT NULL,
    sku        TEXT NOT NULL,
    field      TEXT NOT NULL,
    old_value  TEXT NOT NULL,
    new_value  TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (run_id, key)
);
INSERT INTO sync_write_intents (run_id, key, sku, field, old_value, new_value, created_at)
    SELECT run_id, key, sku, field, old_value, new_value, created_at FROM sync_write_intents_old;

DROP TABLE sync_write_intents_old;
DROP TABLE sync_run_items_old;
DROP TABLE sync_runs_old;
CREATE UNIQUE INDEX sync_runs_one_running_per_store ON sync_runs (store) WHERE status = 'running';
CREATE INDEX sync_runs_store_started_at ON sync_runs (store, started_at DESC);
CREATE INDEX sync_runs_started_at ON sync_runs (started_at DESC);
CREATE INDEX sync_runs_recovery_pending ON sync_runs (id) WHERE recovery_pending;
CREATE INDEX sync_run_items_run_id ON sync_run_items (run_id, id);
CREATE INDEX sync_run_items_run_sku ON sync_run_items (run_id, sku, field);
