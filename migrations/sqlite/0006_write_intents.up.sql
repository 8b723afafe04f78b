-- The SQLite twin of migrations/postgres/0006_write_intents.up.sql; keep both in step.
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
