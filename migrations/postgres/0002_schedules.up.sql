-- Schedule state for `invsync daemon` (issue: the daemon). Due times live here, judged by
-- the database clock, so restarts never reset a schedule and several daemons on one
-- Postgres claim each slot exactly once. Keep in step with migrations/sqlite/0002.

CREATE TABLE sync_schedules (
    -- The schedule's name from the config ([[schedules]] name, default "<store>-<update>").
    name             TEXT PRIMARY KEY,
    store            TEXT NOT NULL,
    -- How it fires, as `invsync config check` shows it ("every 15m", "cron \"0 0 3 * * *\"
    -- (Europe/Berlin)"). A changed cadence recomputes next_due_at.
    cadence          TEXT NOT NULL,
    -- When the next slot is due. A schedule that never ran is due when it is first seen.
    next_due_at      TIMESTAMPTZ NOT NULL,
    -- The daemon running the current slot ("host:pid:start"), until lease_until. A slot
    -- is only claimed when no lease is held or the holder's lease has lapsed, so a run
    -- longer than its interval delays the next one instead of overlapping it.
    lease_owner      TEXT,
    lease_until      TIMESTAMPTZ,
    last_run_id      BIGINT,
    last_started_at  TIMESTAMPTZ,
    last_finished_at TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX sync_schedules_next_due_at ON sync_schedules (next_due_at);

-- The slot a scheduled run was due at (NULL for manual runs): started_at − scheduled_for is
-- how late it started.
ALTER TABLE sync_runs ADD COLUMN scheduled_for TIMESTAMPTZ;
