-- The QuickBooks Web Connector's company files; the SQLite twin of
-- migrations/postgres/0011 (which explains each column). Timestamps are TEXT, UTC,
-- 2026-11-27T21:26:03.123Z.

CREATE TABLE web_connector_files (
    company             TEXT PRIMARY KEY,
    owner_id            TEXT NOT NULL,
    file_id             TEXT NOT NULL,
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    session_ticket_hash TEXT,
    session_owner       TEXT,
    session_started_at  TEXT,
    session_expires_at  TEXT,
    last_seen_at        TEXT,
    sessions            INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    last_error_at       TEXT
);
