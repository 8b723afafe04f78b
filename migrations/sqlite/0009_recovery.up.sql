-- The SQLite twin of migrations/postgres/0009_recovery.up.sql; keep both in step.
--
-- Recovery matches each write intent of a dead run against the run's items by SKU and
-- field; this index makes each match a lookup (it was a scan of the run's items) and
-- serves the per-product recount of an interrupted run.
CREATE INDEX sync_run_items_run_sku ON sync_run_items (run_id, sku, field);

-- True (1) from the moment recovery marks a run `interrupted` until it has turned all of
-- the run's write intents into items and counted the run from its items; the next
-- recovery goes on where a stopped one left off. While it is true, the counts are not
-- final yet.
ALTER TABLE sync_runs ADD COLUMN recovery_pending BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX sync_runs_recovery_pending ON sync_runs (id) WHERE recovery_pending;
