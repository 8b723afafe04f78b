-- The SQLite twin of migrations/postgres/0013_order_watch.up.sql; keep both in step.
-- The order watch (issue 18, ADR 0100): the SKUs order changes moved, until the watch has
-- pushed them, and the one lease of a watch pass. See the Postgres file for the columns.
CREATE TABLE store_order_changes (
    store      TEXT NOT NULL,
    order_id   TEXT NOT NULL,
    sku        TEXT NOT NULL,
    seen_at    TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (store, order_id, sku)
);

CREATE TABLE order_watch_lease (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    owner       TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
