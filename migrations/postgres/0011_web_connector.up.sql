-- The QuickBooks Web Connector's company files (docs/adr/0080): one row per company file,
-- named by its Web Connector user. The .qwc's OwnerID and FileID are made once and kept, so
-- a regenerated .qwc is the same application to the Web Connector. The session columns are
-- the lease that allows one Web Connector session per company file across daemons (fleet
-- mode): a session holds it from `authenticate` until `closeConnection`, `connectionError`
-- or `session_expires_at`. Keep in step with migrations/sqlite/0011.

CREATE TABLE web_connector_files (
    -- The Web Connector user name ([web_connector] username).
    company             TEXT PRIMARY KEY,
    -- GUIDs in braces, as the .qwc writes them.
    owner_id            TEXT NOT NULL,
    file_id             TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- SHA-256 (hex) of the open session's ticket; the ticket itself is never stored.
    session_ticket_hash TEXT,
    -- The daemon holding the session ("host:pid:start").
    session_owner       TEXT,
    session_started_at  TIMESTAMPTZ,
    session_expires_at  TIMESTAMPTZ,
    -- The last call of any session (what `max_age` and `/healthz` report).
    last_seen_at        TIMESTAMPTZ,
    sessions            BIGINT NOT NULL DEFAULT 0,
    -- The last session's error in words (connectionError's HRESULT and its meaning, a
    -- fatal error of the work), and when.
    last_error          TEXT,
    last_error_at       TIMESTAMPTZ
);
