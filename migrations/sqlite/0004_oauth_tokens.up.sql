-- OAuth tokens of connections whose refresh tokens rotate (QuickBooks Online); the SQLite
-- twin of migrations/postgres/0004_oauth_tokens.up.sql. Keep both in step. A connection
-- refreshes its tokens inside a BEGIN IMMEDIATE transaction (SQLite's single writer lock),
-- so processes sharing the file take turns.
CREATE TABLE oauth_tokens (
    connection         TEXT PRIMARY KEY,
    -- The access and refresh tokens, encrypted by the connector (XChaCha20-Poly1305 with
    -- the configured token_key); never stored in the clear. NULL while there are none.
    sealed             BLOB,
    -- When the access token and the refresh token expire (not secret; for operators).
    access_expires_at  TEXT,
    refresh_expires_at TEXT,
    -- 'needs_reauth': the refresh token was refused; `invsync auth quickbooks-online`
    -- stores new tokens. status_reason says what happened.
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_reauth')),
    status_reason      TEXT,
    -- Incremented by every write; 0 for a row that holds nothing yet.
    version            INTEGER NOT NULL DEFAULT 0,
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
