-- Run history and manual mappings (product.md, "Run-history contract").
-- Operators query these tables with psql: table and column names are a contract.

-- One row per sync run, written when the run starts and finalised when it ends.
CREATE TABLE sync_runs (
    id                BIGSERIAL PRIMARY KEY,
    -- The schedule's name; NULL for a manual run.
    schedule          TEXT,
    store             TEXT NOT NULL,
    trigger           TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    update_side       TEXT NOT NULL CHECK (update_side IN ('store', 'accounting')),
    fields            TEXT NOT NULL CHECK (fields IN ('price', 'quantity', 'price,quantity')),
    started_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at       TIMESTAMPTZ,
    status            TEXT NOT NULL DEFAULT 'running' CHECK (status IN
                          ('running', 'succeeded', 'partial', 'failed', 'skipped', 'interrupted')),
    checked           BIGINT NOT NULL DEFAULT 0,
    in_sync           BIGINT NOT NULL DEFAULT 0,
    updated           BIGINT NOT NULL DEFAULT 0,
    skipped_in_orders BIGINT NOT NULL DEFAULT 0,
    skipped_base      BIGINT NOT NULL DEFAULT 0,
    unmapped          BIGINT NOT NULL DEFAULT 0,
    failed            BIGINT NOT NULL DEFAULT 0,
    -- Extensions: products never synced because their SKU is ambiguous, and products with
    -- a difference that could not be acted on (see invsync_core::RunCounts).
    conflicts         BIGINT NOT NULL DEFAULT 0,
    skipped_other     BIGINT NOT NULL DEFAULT 0,
    error             TEXT,
    -- Extensions for crash recovery: the owning process refreshes heartbeat_at while the
    -- run is in progress; a run whose heartbeat is stale, or whose owner process is gone,
    -- is marked 'interrupted' instead of staying 'running' forever.
    heartbeat_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    owner_host        TEXT,
    owner_pid         BIGINT,
    -- The owner's start time (Linux /proc/<pid>/stat field 22), to tell a reused pid apart.
    owner_start       TEXT,
    -- A run has a finish time exactly when it is no longer running.
    CONSTRAINT sync_runs_finished_when_not_running
        CHECK ((status = 'running') = (finished_at IS NULL))
);

-- At most one run in progress per store.
CREATE UNIQUE INDEX sync_runs_one_running_per_store ON sync_runs (store) WHERE status = 'running';
-- `invsync runs [--store S]`: newest first.
CREATE INDEX sync_runs_store_started_at ON sync_runs (store, started_at DESC);
CREATE INDEX sync_runs_started_at ON sync_runs (started_at DESC);

-- One row per change a run attempted (or skipped), in the order they were recorded.
CREATE TABLE sync_run_items (
    id          BIGSERIAL PRIMARY KEY,
    run_id      BIGINT NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    sku         TEXT NOT NULL,
    field       TEXT NOT NULL CHECK (field IN ('price', 'quantity')),
    old_value   TEXT,
    new_value   TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('updated', 'failed', 'skipped')),
    error       TEXT,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX sync_run_items_run_id ON sync_run_items (run_id, id);

-- Manual mappings (`invsync map`): they override automatic matching by SKU.
CREATE TABLE mappings (
    store          TEXT NOT NULL,
    -- The store SKU as the operator wrote it.
    store_sku      TEXT NOT NULL,
    -- Its matching form (trimmed, lower-cased: invsync_core::SkuKey).
    store_sku_key  TEXT NOT NULL,
    accounting_sku TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (store, store_sku_key)
);
