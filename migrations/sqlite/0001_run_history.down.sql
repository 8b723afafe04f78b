-- Reverts 0001_run_history.up.sql. Destroys all run history and mappings.
DROP TABLE mappings;
DROP TABLE sync_run_items;
DROP TABLE sync_runs;
