-- Recovery of runs cut short, in time linear in their writes (issue 13, item 1).
--
-- Recovery matches each write intent of a dead run against the run's items by SKU and
-- field. With only the (run_id, id) index every intent scanned all of the run's items:
-- 80,000 intents took 34 s, 250,000 never finished. This index makes each match a lookup,
-- and serves the per-product recount of an interrupted run (GROUP BY sku).
CREATE INDEX sync_run_items_run_sku ON sync_run_items (run_id, sku, field);

-- True from the moment recovery marks a run `interrupted` until it has turned all of the
-- run's write intents into items and counted the run from its items. Recovery works in
-- bounded steps (so it never holds the database or a daemon for long); a process stopped
-- between two steps leaves this set, and the next recovery goes on where it stopped. While
-- it is true, the run's counts are not final yet.
ALTER TABLE sync_runs ADD COLUMN recovery_pending BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX sync_runs_recovery_pending ON sync_runs (id) WHERE recovery_pending;
