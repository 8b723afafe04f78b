//! Manual mappings (`invsync map`): "this store listing is that accounting item", which
//! overrides automatic matching by SKU (product.md rule 2).

use crate::db::Db;
use crate::error::{Context, StoreError};
use chrono::{DateTime, Utc};
use invsync_core::SkuKey;
use serde::Serialize;

/// A `mappings` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingRow {
    pub store: String,
    /// The store SKU as the operator wrote it (trimmed).
    pub store_sku: String,
    pub accounting_sku: String,
    /// When this link (store SKU → this accounting SKU) was made; re-adding the same link
    /// keeps it, pointing the SKU elsewhere renews it.
    pub created_at: DateTime<Utc>,
}

impl From<MappingRow> for invsync_core::Mapping {
    fn from(row: MappingRow) -> Self {
        invsync_core::Mapping {
            store_sku: row.store_sku,
            accounting_sku: row.accounting_sku,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RawMapping {
    store: String,
    store_sku: String,
    accounting_sku: String,
    created_at: DateTime<Utc>,
}

impl Db {
    /// Maps a store SKU to an accounting SKU, replacing the store SKU's previous mapping.
    /// Store SKUs are keyed by their matching form ([`SkuKey`]: trimmed, case-insensitive),
    /// so ` mug-1` and `MUG-1` are the same listing, exactly as automatic matching sees
    /// them. Both SKUs are stored trimmed and must not be empty.
    pub async fn add_mapping(
        &self,
        store: &str,
        store_sku: &str,
        accounting_sku: &str,
    ) -> Result<(), StoreError> {
        let key = SkuKey::new(store_sku).ok_or(StoreError::EmptySku { what: "store SKU" })?;
        let accounting_sku = accounting_sku.trim();
        if accounting_sku.is_empty() {
            return Err(StoreError::EmptySku {
                what: "accounting SKU",
            });
        }
        on_pool!(self,
            pg: "INSERT INTO mappings (store, store_sku, store_sku_key, accounting_sku) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (store, store_sku_key) DO UPDATE SET \
                   store_sku = excluded.store_sku, \
                   accounting_sku = excluded.accounting_sku, \
                   created_at = CASE WHEN mappings.accounting_sku = excluded.accounting_sku \
                                     THEN mappings.created_at ELSE now() END",
            sqlite: "INSERT INTO mappings (store, store_sku, store_sku_key, accounting_sku) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (store, store_sku_key) DO UPDATE SET \
                   store_sku = excluded.store_sku, \
                   accounting_sku = excluded.accounting_sku, \
                   created_at = CASE WHEN mappings.accounting_sku = excluded.accounting_sku \
                                     THEN mappings.created_at \
                                     ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END",
            |pool, sql| sqlx::query(sql)
                .bind(store)
                .bind(store_sku.trim())
                .bind(key.as_str())
                .bind(accounting_sku)
                .execute(pool)
                .await
                .map(|_| ())
        )
        .context("add a mapping")?;
        Ok(())
    }

    /// Removes the mapping of a store SKU (matched by its [`SkuKey`]). Returns whether
    /// one existed.
    pub async fn remove_mapping(&self, store: &str, store_sku: &str) -> Result<bool, StoreError> {
        let Some(key) = SkuKey::new(store_sku) else {
            return Ok(false);
        };
        let affected = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM mappings WHERE store = $1 AND store_sku_key = $2")
                .bind(store)
                .bind(key.as_str())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .context("remove a mapping")?;
        Ok(affected > 0)
    }

    /// Mappings of one store, or of all, ordered by store and store SKU key.
    pub async fn list_mappings(&self, store: Option<&str>) -> Result<Vec<MappingRow>, StoreError> {
        let raw: Vec<RawMapping> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT store, store_sku, accounting_sku, created_at FROM mappings \
                 WHERE (CAST($1 AS TEXT) IS NULL OR store = $1) \
                 ORDER BY store, store_sku_key",
            )
            .bind(store)
            .fetch_all(pool)
            .await
        })
        .context("list mappings")?;
        Ok(raw
            .into_iter()
            .map(|r| MappingRow {
                store: r.store,
                store_sku: r.store_sku,
                accounting_sku: r.accounting_sku,
                created_at: r.created_at,
            })
            .collect())
    }
}
