DROP INDEX sync_runs_recovery_pending;
ALTER TABLE sync_runs DROP COLUMN recovery_pending;
DROP INDEX sync_run_items_run_sku;
