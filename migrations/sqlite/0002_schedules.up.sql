-- Schedule state for `invsync daemon`; the SQLite twin of migrations/postgres/0002.
-- Timestamps are TEXT, UTC, 2026-11-27T21:26:03.123Z (sortable as strings).

CREATE TABLE sync_schedules (
    name             TEXT PRIMARY KEY,
    store            TEXT NOT NULL,
    cadence          TEXT NOT NULL,
    next_due_at      TEXT NOT NULL,
    lease_owner      TEXT,
    lease_until      TEXT,
    last_run_id      INTEGER,
    last_started_at  TEXT,
    last_finished_at TEXT,
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX sync_schedules_next_due_at ON sync_schedules (next_due_at);

ALTER TABLE sync_runs ADD COLUMN scheduled_for TEXT;
