-- Runs of the newer triggers are kept, as manual runs (they were started by hand).
UPDATE sync_runs SET trigger = 'manual' WHERE trigger IN ('web', 'order');
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_trigger_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_trigger_check
    CHECK (trigger IN ('schedule', 'manual'));
