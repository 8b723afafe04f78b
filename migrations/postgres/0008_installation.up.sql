-- This database's installation id (ADR 0016): 128 random bits as 32 lower-case hex digits,
-- made once, the first time a run asks for it (`Db::installation_id`, an insert that keeps
-- the first row when two processes race), and never changed. Idempotency keys start with
-- it, so two databases (a reset, a second installation, the demo database and then
-- Postgres) never send one shop the same key for different writes although both count
-- runs from 1. Deleting the row only makes the next run create a new id.
CREATE TABLE installation (
    -- Always TRUE: the table holds at most one row.
    singleton  BOOLEAN PRIMARY KEY CHECK (singleton),
    id         TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
