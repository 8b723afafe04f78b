-- The SQLite twin of migrations/postgres/0008_installation.up.sql; keep both in step.
CREATE TABLE installation (
    -- Always 1 (TRUE): the table holds at most one row. No default: an INTEGER PRIMARY
    -- KEY left out takes the next rowid, which the check refuses instead of conflicting.
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
