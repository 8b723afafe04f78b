-- `sync_runs.trigger` gains the values product.md's run-history contract lists beside
-- `schedule` and `manual`: `web` (a run started from the "Synchronize Products" page,
-- issue 16) and `order` (a run started by the order watch). Only the check widens; no
-- row changes.
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_trigger_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_trigger_check
    CHECK (trigger IN ('schedule', 'manual', 'web', 'order'));
