-- The order watch (issue 18, ADR 0100). `sync_runs.trigger` already takes 'order' (0010
-- widened the check for it); what the watch needs besides is:
--
-- * store_order_changes: the SKUs whose held stock an order change moved — a new order, a
--   changed order, one that closed or left an orders file — noted by whichever read
--   applied the change (a scheduled run's or the watch's own), in the same transaction as
--   the feed. The watch pushes those SKUs' quantities to every store and then deletes the
--   rows it pushed. seen_at is when invsync first saw a change of that order and SKU
--   (the start of the delay /metrics reports), changed_at the latest such change: a row
--   that changed again after the watch took it stays for the next pass.
-- * order_watch_lease: one row, the daemon whose pass is under way (fleet mode: never
--   two passes at once).
CREATE TABLE store_order_changes (
    store      TEXT NOT NULL,
    order_id   TEXT NOT NULL,
    -- The store's SKU on the order line (the watch maps it to the accounting SKU).
    sku        TEXT NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (store, order_id, sku)
);

CREATE TABLE order_watch_lease (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    owner       TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
