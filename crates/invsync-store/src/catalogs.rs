//! Store catalogs kept between runs (`store_catalogs`, `store_catalog_records`; ADR 0017):
//! what a store's last catalog read gave and the cursor its connection handed back, so the
//! next run reads only what changed. A cache: losing it costs one whole read.
//!
//! A save writes only the difference from the catalog the run loaded, in one transaction
//! with the cursor, and only over the version it loaded: when another run of the same
//! store saved in between, this run's view is not saved (that run's is as new), and the
//! next read starts from whichever was saved.

use crate::db::{Db, Pool};
use crate::error::{Context, StoreError};
use crate::time::{Ts, truncate};
use chrono::{DateTime, Utc};
use invsync_core::Record;
use std::collections::HashMap;

/// Records per SQLite statement (3 parameters each, under the 999 limit).
const SQLITE_ROWS_PER_STATEMENT: usize = 999 / 3;
/// Records per Postgres statement (arrays, one round trip each).
const PG_ROWS_PER_STATEMENT: usize = 10_000;

/// A store's kept catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCatalog {
    pub records: Vec<Record>,
    pub cursor: String,
    /// What [`Db::save_catalog`] must be given back.
    pub version: i64,
    /// Values invsync wrote to the store since the catalog was read
    /// ([`Db::count_catalog_writes`]).
    pub writes: u64,
}

/// What a save did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogSaved {
    /// Records written (new or changed).
    pub written: u64,
    /// Records deleted (gone from the catalog).
    pub deleted: u64,
    /// Another run saved this store's catalog after this one loaded it: nothing written.
    pub superseded: bool,
}

impl CatalogSaved {
    const SUPERSEDED: CatalogSaved = CatalogSaved {
        written: 0,
        deleted: 0,
        superseded: true,
    };

    fn wrote(upserts: &[(&str, String)], deletes: &[&str]) -> CatalogSaved {
        CatalogSaved {
            written: upserts.len() as u64,
            deleted: deletes.len() as u64,
            superseded: false,
        }
    }
}

impl Db {
    /// The store's kept catalog, if any. A record that no longer parses (a format from
    /// another version) drops the whole cache from the database: the next read is whole
    /// and the next save starts it again.
    pub async fn stored_catalog(&self, store: &str) -> Result<Option<StoredCatalog>, StoreError> {
        let head: Option<(String, i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT cursor, version, writes FROM store_catalogs WHERE store = $1")
                .bind(store)
                .fetch_optional(pool)
                .await
        })
        .context("read the kept catalog")?;
        let Some((cursor, version, writes)) = head else {
            return Ok(None);
        };
        let rows: Vec<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT record FROM store_catalog_records WHERE store = $1")
                .bind(store)
                .fetch_all(pool)
                .await
        })
        .context("read the kept catalog")?;
        let mut records = Vec::with_capacity(rows.len());
        for (json,) in rows {
            match serde_json::from_str::<Record>(&json) {
                Ok(r) => records.push(r),
                Err(e) => {
                    tracing::warn!(store, error = %e, "a kept catalog record does not parse; forgetting the kept catalog, the next read is whole");
                    // Dropped, not only skipped: a save over "nothing loaded" only inserts,
                    // so a kept catalog left in place would never be saved over again. Only
                    // the version read goes: a newer save since is kept.
                    on_pool!(self, |pool| {
                        sqlx::query("DELETE FROM store_catalogs WHERE store = $1 AND version = $2")
                            .bind(store)
                            .bind(version)
                            .execute(pool)
                            .await
                            .map(|_| ())
                    })
                    .context("forget the kept catalog")?;
                    return Ok(None);
                }
            }
        }
        Ok(Some(StoredCatalog {
            records,
            cursor,
            version,
            writes: u64::try_from(writes).unwrap_or_default(),
        }))
    }

    /// The version of the store's kept catalog (one row, no records): whether a catalog
    /// loaded earlier is still the kept one. A save moves it on; it starts at 1 again only
    /// after the catalog was forgotten (`save_catalog` without a cursor).
    pub async fn catalog_version(&self, store: &str) -> Result<Option<i64>, StoreError> {
        let version: Option<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT version FROM store_catalogs WHERE store = $1")
                .bind(store)
                .fetch_optional(pool)
                .await
        })
        .context("read the kept catalog's version")?;
        Ok(version.map(|(v,)| v))
    }

    /// Adds `n` values written to the store to its kept catalog's count (nothing when none
    /// is kept). The next save starts the count again.
    pub async fn count_catalog_writes(&self, store: &str, n: u64) -> Result<(), StoreError> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        on_pool!(self, |pool| {
            sqlx::query("UPDATE store_catalogs SET writes = writes + $2 WHERE store = $1")
                .bind(store)
                .bind(n)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .context("count the writes on the kept catalog")
    }

    /// Saves a store's catalog after a read: `loaded` is what the run loaded (`None`: it
    /// found nothing kept), `records` and `cursor` what the read gave. `cursor: None`
    /// forgets the store's catalog (its connection reads whole catalogs only).
    pub async fn save_catalog(
        &self,
        store: &str,
        loaded: Option<&StoredCatalog>,
        records: &[Record],
        cursor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<CatalogSaved, StoreError> {
        let Some(cursor) = cursor else {
            on_pool!(self, |pool| {
                sqlx::query("DELETE FROM store_catalogs WHERE store = $1")
                    .bind(store)
                    .execute(pool)
                    .await
                    .map(|_| ())
            })
            .context("forget the kept catalog")?;
            return Ok(CatalogSaved::default());
        };
        // The difference from what was loaded: new or changed records, and ids gone.
        let before: HashMap<&str, &Record> = loaded
            .map(|l| l.records.iter().map(|r| (r.id.as_str(), r)).collect())
            .unwrap_or_default();
        let upserts: Vec<(&str, String)> = records
            .iter()
            .filter(|r| before.get(r.id.as_str()) != Some(r))
            .map(|r| {
                serde_json::to_string(r)
                    .map(|json| (r.id.as_str(), json))
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))
            })
            .collect::<Result<_, _>>()
            .context("encode the catalog")?;
        let now_ids: std::collections::HashSet<&str> =
            records.iter().map(|r| r.id.as_str()).collect();
        let deletes: Vec<&str> = before
            .keys()
            .copied()
            .filter(|id| !now_ids.contains(id))
            .collect();
        let version = loaded.map(|l| l.version);
        let now = Ts(truncate(now));
        let saved = match &self.pool {
            Pool::Postgres(pool) => {
                save_pg(pool, store, version, cursor, now, &upserts, &deletes).await
            }
            Pool::Sqlite(pool) => {
                save_sqlite(pool, store, version, cursor, now, &upserts, &deletes).await
            }
        }
        .context("save the kept catalog")?;
        if saved.superseded {
            tracing::debug!(
                store,
                "another run saved this store's catalog meanwhile; this read is not kept"
            );
        }
        Ok(saved)
    }
}

/// Claims the store's row at `version` (`None`: there must be none) and moves it to the
/// next version with the new cursor; `false` when another run got there first. A macro:
/// the two backends' transactions and results share no trait with `rows_affected`.
macro_rules! claim {
    ($tx:expr, $store:expr, $version:expr, $cursor:expr, $now:expr) => {{
        let done =
            match $version {
                Some(v) => sqlx::query(
                    "UPDATE store_catalogs SET cursor = $2, version = version + 1, read_at = $3, \
                       writes = 0 \
                     WHERE store = $1 AND version = $4",
                )
                .bind($store)
                .bind($cursor)
                .bind($now)
                .bind(v)
                .execute(&mut *$tx)
                .await?,
                None => {
                    sqlx::query(
                        "INSERT INTO store_catalogs (store, cursor, version, read_at) \
                     VALUES ($1, $2, 1, $3) ON CONFLICT (store) DO NOTHING",
                    )
                    .bind($store)
                    .bind($cursor)
                    .bind($now)
                    .execute(&mut *$tx)
                    .await?
                }
            };
        done.rows_affected() == 1
    }};
}

async fn save_pg(
    pool: &sqlx::PgPool,
    store: &str,
    version: Option<i64>,
    cursor: &str,
    now: Ts,
    upserts: &[(&str, String)],
    deletes: &[&str],
) -> Result<CatalogSaved, sqlx::Error> {
    let mut tx = crate::db::begin(pool, None).await?;
    if !claim!(tx, store, version, cursor, now) {
        return Ok(CatalogSaved::SUPERSEDED);
    }
    for chunk in deletes.chunks(PG_ROWS_PER_STATEMENT) {
        sqlx::query("DELETE FROM store_catalog_records WHERE store = $1 AND id = ANY($2::text[])")
            .bind(store)
            .bind(chunk)
            .execute(&mut *tx)
            .await?;
    }
    for chunk in upserts.chunks(PG_ROWS_PER_STATEMENT) {
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| *id).collect();
        let json: Vec<&str> = chunk.iter().map(|(_, j)| j.as_str()).collect();
        sqlx::query(
            "INSERT INTO store_catalog_records (store, id, record) \
             SELECT $1, t.id, t.record FROM UNNEST($2::text[], $3::text[]) AS t(id, record) \
             ON CONFLICT (store, id) DO UPDATE SET record = excluded.record",
        )
        .bind(store)
        .bind(ids)
        .bind(json)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(CatalogSaved::wrote(upserts, deletes))
}

async fn save_sqlite(
    pool: &sqlx::SqlitePool,
    store: &str,
    version: Option<i64>,
    cursor: &str,
    now: Ts,
    upserts: &[(&str, String)],
    deletes: &[&str],
) -> Result<CatalogSaved, sqlx::Error> {
    // IMMEDIATE (`begin`'s default on SQLite): the write lock first, so the version check
    // and the writes see no other writer in between.
    let mut tx = crate::db::begin(pool, None).await?;
    if !claim!(tx, store, version, cursor, now) {
        return Ok(CatalogSaved::SUPERSEDED);
    }
    for chunk in deletes.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("DELETE FROM store_catalog_records WHERE store = ? AND id IN ({marks})");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(store);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *tx).await?;
    }
    for chunk in upserts.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let rows = vec!["(?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO store_catalog_records (store, id, record) VALUES {rows} \
             ON CONFLICT (store, id) DO UPDATE SET record = excluded.record"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, json) in chunk {
            query = query.bind(store).bind(*id).bind(json.as_str());
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(CatalogSaved::wrote(upserts, deletes))
}
