-- The SQLite twin of migrations/postgres/0007_store_catalogs.up.sql; keep both in step.
CREATE TABLE store_catalogs (
    store   TEXT PRIMARY KEY,
    cursor  TEXT NOT NULL,
    version INTEGER NOT NULL,
    read_at TEXT NOT NULL,
    writes  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE store_catalog_records (
    store  TEXT NOT NULL REFERENCES store_catalogs (store) ON DELETE CASCADE,
    id     TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (store, id)
);
