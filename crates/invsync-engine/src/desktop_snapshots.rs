//! QuickBooks Desktop's accounting snapshot (ADR 0080 §2) kept in the run-history
//! database: the kept-catalog tables of ADR 0017 (`store_catalogs`,
//! `store_catalog_records`) under the key `quickbooks-desktop:{company}` — a name no store
//! can have (store names take no `:`) — with the session's time, the posted order
//! references and the rejects in the row's cursor (JSON). Saved as a difference from the
//! kept version, so a session that changed 10 of 50,000 items writes 10 rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use invsync_connectors::Reject;
use invsync_connectors::quickbooks_desktop::{KeptSnapshot, SnapshotStore};
use invsync_store::Db;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The [`SnapshotStore`] of the daemon and the CLI.
#[derive(Debug, Clone)]
pub struct DbSnapshots {
    db: Db,
}

impl DbSnapshots {
    pub fn new(db: Db) -> DbSnapshots {
        DbSnapshots { db }
    }
}

/// The kept-catalog key of a company file.
pub fn snapshot_key(company: &str) -> String {
    format!("quickbooks-desktop:{company}")
}

#[derive(Serialize, Deserialize)]
struct Head {
    /// Format version of this JSON.
    v: u32,
    read_at: DateTime<Utc>,
    posted: BTreeSet<String>,
    rejects: Vec<KeptReject>,
}

#[derive(Serialize, Deserialize)]
struct KeptReject {
    sku: Option<String>,
    id: Option<String>,
    error: String,
}

#[async_trait]
impl SnapshotStore for DbSnapshots {
    async fn load(&self, company: &str) -> Result<Option<KeptSnapshot>, String> {
        let Some(kept) = self
            .db
            .stored_catalog(&snapshot_key(company))
            .await
            .map_err(|e| crate::error_chain(&e))?
        else {
            return Ok(None);
        };
        let Ok(head) = serde_json::from_str::<Head>(&kept.cursor) else {
            // Another version's format: as if none were kept (the next session reads).
            return Ok(None);
        };
        Ok(Some(KeptSnapshot {
            records: kept.records,
            rejects: head
                .rejects
                .into_iter()
                .map(|r| Reject {
                    sku: r.sku,
                    id: r.id,
                    error: r.error,
                })
                .collect(),
            read_at: head.read_at,
            posted: head.posted,
        }))
    }

    async fn save(&self, company: &str, snapshot: &KeptSnapshot) -> Result<(), String> {
        let key = snapshot_key(company);
        let head = Head {
            v: 1,
            read_at: snapshot.read_at,
            posted: snapshot.posted.clone(),
            rejects: snapshot
                .rejects
                .iter()
                .map(|r| KeptReject {
                    sku: r.sku.clone(),
                    id: r.id.clone(),
                    error: r.error.clone(),
                })
                .collect(),
        };
        let cursor = serde_json::to_string(&head).map_err(|e| e.to_string())?;
        let loaded = self
            .db
            .stored_catalog(&key)
            .await
            .map_err(|e| crate::error_chain(&e))?;
        self.db
            .save_catalog(
                &key,
                loaded.as_ref(),
                &snapshot.records,
                Some(&cursor),
                snapshot.read_at,
            )
            .await
            .map_err(|e| crate::error_chain(&e))?;
        Ok(())
    }

    async fn last_seen(&self, company: &str) -> Option<DateTime<Utc>> {
        self.db
            .find_web_connector_file(company)
            .await
            .ok()
            .flatten()
            .and_then(|row| row.last_seen_at)
    }
}
