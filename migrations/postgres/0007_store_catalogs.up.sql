-- Store catalogs kept between runs (ADR 0017), so a run can read only what changed since
-- the last one (Shopify: `updated_at:>` on variants, inventory items and levels) and apply
-- it to the kept records. A cache, never a source of truth: the connection decides when
-- to read whole again (daily, another shop or location, a count that does not add up), and
-- dropping these tables only costs one whole read per store.
CREATE TABLE store_catalogs (
    store   TEXT PRIMARY KEY,
    -- What the connection handed back for its next read (opaque; JSON for Shopify).
    cursor  TEXT NOT NULL,
    -- Bumped by every save: a run saves only over the version it read, so two runs of one
    -- store at once never mix their views (the later one is skipped and re-reads).
    version BIGINT NOT NULL,
    read_at TIMESTAMPTZ NOT NULL,
    -- Values invsync wrote to the store since this catalog was read: they changed on the
    -- store, so the next read meets them again; past `bulk_above` it reads whole at once.
    writes  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE store_catalog_records (
    store  TEXT NOT NULL REFERENCES store_catalogs (store) ON DELETE CASCADE,
    -- The connection's id of the record (a Shopify variant GID).
    id     TEXT NOT NULL,
    -- The record as JSON: sku, name, kind, price (a decimal string), quantity.
    record TEXT NOT NULL,
    PRIMARY KEY (store, id)
);
