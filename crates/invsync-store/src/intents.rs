//! Write intents (`sync_write_intents`): the writes a run is about to send, recorded before
//! each batch goes out, with the idempotency key sent along. A run that finishes deletes
//! them (its items say what happened). A run cut short keeps them, and when recovery marks
//! it `interrupted` every intent without a matching item becomes a `failed` item saying
//! the outcome is unknown (`recovery.rs`) — the run history never silently lacks a write
//! that may have reached the platform.

use crate::db::{Db, Pool};
use crate::error::{Context, StoreError};
use crate::text::storable;
use invsync_core::Field;
use std::borrow::Cow;

/// One write about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteIntent {
    /// The idempotency key sent with the write.
    pub key: String,
    pub sku: String,
    pub field: Field,
    pub old_value: String,
    pub new_value: String,
}

/// The error of an item made from an intent whose outcome is unknown; also how
/// [`Db::finish_run_late`] recognises such items once the real outcome arrives.
pub(crate) const UNKNOWN_OUTCOME: &str = "outcome unknown";

/// Intents per SQLite statement (6 parameters each, under the 999 limit).
const SQLITE_INTENTS_PER_STATEMENT: usize = 999 / 6;

impl Db {
    /// Records writes a run is about to send. Recording the same key twice keeps the first.
    pub async fn record_intents(
        &self,
        run_id: i64,
        intents: &[WriteIntent],
    ) -> Result<(), StoreError> {
        if intents.is_empty() {
            return Ok(());
        }
        let result = match &self.pool {
            Pool::Postgres(pool) => {
                let keys: Vec<&str> = intents.iter().map(|i| i.key.as_str()).collect();
                let skus: Vec<Cow<'_, str>> = intents.iter().map(|i| storable(&i.sku)).collect();
                let skus: Vec<&str> = skus.iter().map(|s| s.as_ref()).collect();
                let fields: Vec<&str> = intents.iter().map(|i| i.field.as_str()).collect();
                let olds: Vec<&str> = intents.iter().map(|i| i.old_value.as_str()).collect();
                let news: Vec<&str> = intents.iter().map(|i| i.new_value.as_str()).collect();
                sqlx::query(
                    "INSERT INTO sync_write_intents (run_id, key, sku, field, old_value, new_value) \
                     SELECT $1, t.key, t.sku, t.field, t.old_value, t.new_value \
                     FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                          AS t(key, sku, field, old_value, new_value) \
                     ON CONFLICT (run_id, key) DO NOTHING",
                )
                .bind(run_id)
                .bind(keys)
                .bind(skus)
                .bind(fields)
                .bind(olds)
                .bind(news)
                .execute(pool)
                .await
                .map(|_| ())
            }
            Pool::Sqlite(pool) => {
                async {
                    let mut tx = crate::db::begin(pool, None).await?;
                    for chunk in intents.chunks(SQLITE_INTENTS_PER_STATEMENT) {
                        let rows = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
                        let sql = format!(
                            "INSERT INTO sync_write_intents \
                             (run_id, key, sku, field, old_value, new_value) VALUES {rows} \
                             ON CONFLICT (run_id, key) DO NOTHING"
                        );
                        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for i in chunk {
                            query = query
                                .bind(run_id)
                                .bind(i.key.as_str())
                                .bind(storable(&i.sku))
                                .bind(i.field.as_str())
                                .bind(i.old_value.as_str())
                                .bind(i.new_value.as_str());
                        }
                        query.execute(&mut *tx).await?;
                    }
                    tx.commit().await
                }
                .await
            }
        };
        match result {
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                Err(StoreError::RunNotFound { run_id })
            }
            other => other.context("record write intents"),
        }
    }

    /// The intents a run still has (tests).
    #[cfg(feature = "testing")]
    pub async fn write_intents(&self, run_id: i64) -> Result<Vec<WriteIntent>, StoreError> {
        let rows: Vec<(String, String, String, String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT key, sku, field, old_value, new_value FROM sync_write_intents \
                 WHERE run_id = $1 ORDER BY key",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await
        })
        .context("read write intents")?;
        rows.into_iter()
            .map(|(key, sku, field, old_value, new_value)| {
                Ok(WriteIntent {
                    key,
                    sku,
                    field: field.parse().map_err(|_| StoreError::Corrupt {
                        column: "sync_write_intents.field",
                        value: field.clone(),
                    })?,
                    old_value,
                    new_value,
                })
            })
            .collect()
    }

    /// Deletes a finished run's intents, and — for a run whose real outcome arrived after
    /// recovery had settled its intents — the unknown-outcome items its real items now
    /// replace.
    pub(crate) async fn clear_intents(&self, run_id: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            async {
                let mut tx = crate::db::begin(pool, None).await?;
                sqlx::query("DELETE FROM sync_write_intents WHERE run_id = $1")
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "DELETE FROM sync_run_items AS u WHERE u.run_id = $1 AND u.error LIKE $2 \
                     AND EXISTS (SELECT 1 FROM sync_run_items t WHERE t.run_id = u.run_id \
                       AND t.id > u.id AND t.sku = u.sku AND t.field = u.field \
                       AND t.old_value = u.old_value AND t.new_value = u.new_value)",
                )
                .bind(run_id)
                .bind(format!("{UNKNOWN_OUTCOME}:%"))
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }
            .await
        })
        .context("clear a finished run's write intents")
    }
}
