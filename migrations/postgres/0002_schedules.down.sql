ALTER TABLE sync_runs DROP COLUMN scheduled_for;
DROP TABLE sync_schedules;
