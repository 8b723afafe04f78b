-- Writes a run is about to send, recorded before each batch goes out (issue 4: "the
-- idempotency key is … recorded before the call"). A finished run deletes its intents. A
-- run cut short (kill -9, power loss) keeps them; when recovery marks it `interrupted`,
-- each intent without a matching item becomes a `failed` item whose error says the outcome
-- is unknown and names the idempotency key, so the run history never silently lacks a
-- write that may have reached the platform.
CREATE TABLE sync_write_intents (
    run_id     BIGINT NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    -- The idempotency key sent with the write (invsync-run-{id}-change-{n}).
    key        TEXT NOT NULL,
    sku        TEXT NOT NULL,
    field      TEXT NOT NULL,
    old_value  TEXT NOT NULL,
    new_value  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, key)
);
