-- OAuth tokens of connections whose refresh tokens rotate (QuickBooks Online): one row per
-- connection, e.g. 'quickbooks-online:9130354512345678'. A connection refreshes its tokens
-- while holding this row locked (SELECT … FOR UPDATE), so daemons sharing the database
-- take turns and none ever uses a refresh token another one has already replaced.
CREATE TABLE oauth_tokens (
    connection         TEXT PRIMARY KEY,
    -- The access and refresh tokens, encrypted by the connector (XChaCha20-Poly1305 with
    -- the configured token_key); never stored in the clear. NULL while there are none.
    sealed             BYTEA,
    -- When the access token and the refresh token expire (not secret; for operators).
    access_expires_at  TIMESTAMPTZ,
    refresh_expires_at TIMESTAMPTZ,
    -- 'needs_reauth': the refresh token was refused; `invsync auth quickbooks-online`
    -- stores new tokens. status_reason says what happened.
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_reauth')),
    status_reason      TEXT,
    -- Incremented by every write; 0 for a row that holds nothing yet.
    version            BIGINT NOT NULL DEFAULT 0,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
