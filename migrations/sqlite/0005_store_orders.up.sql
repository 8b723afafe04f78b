-- The SQLite twin of migrations/postgres/0005_store_orders.up.sql; keep both in step.
CREATE TABLE store_orders (
    store        TEXT NOT NULL,
    -- The platform's stable id (a file: the order column) and the number people and the
    -- accounting side (QuickBooks DocNumber) know the order by.
    order_id     TEXT NOT NULL,
    order_number TEXT NOT NULL,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    -- The platform's last-modified time, when it has one: an older view never replaces a
    -- newer one.
    updated_at   TEXT,
    -- Left the store's open orders (cancelled, closed, fulfilled).
    closed_at    TEXT,
    -- Posted to the accounting side; posted_by says who said so: 'accounting' (the
    -- accounting connection found it, e.g. a QuickBooks DocNumber) or 'absent' (it left an
    -- orders file, which lists only unposted orders; it holds stock again if it returns).
    posted_at    TEXT,
    posted_by    TEXT CHECK (posted_by IN ('accounting', 'absent')),
    PRIMARY KEY (store, order_id)
);
-- What the engine reads on every quantity run: the orders that hold stock.
CREATE INDEX store_orders_holding ON store_orders (store)
    WHERE closed_at IS NULL AND posted_at IS NULL;

CREATE TABLE store_order_lines (
    store    TEXT NOT NULL,
    order_id TEXT NOT NULL,
    line     INTEGER NOT NULL,
    sku      TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (store, order_id, line),
    FOREIGN KEY (store, order_id) REFERENCES store_orders (store, order_id) ON DELETE CASCADE
);

CREATE TABLE store_order_cursors (
    store      TEXT PRIMARY KEY,
    -- Opaque to everything but the store's connector (e.g. an updated-since timestamp).
    cursor      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    -- When the store's orders were last read whole: a daily snapshot releases orders an
    -- incremental read cannot see leave (trashed or deleted ones).
    snapshot_at TEXT NOT NULL
);
