//! The installation id (`installation`, migration 0008): a random id made once per
//! database, so the idempotency keys of two databases never meet (ADR 0016).

use crate::db::Db;
use crate::error::{Context, StoreError};

/// Hex digits of an installation id (128 random bits).
const ID_LEN: usize = 32;

impl Db {
    /// This database's installation id: 32 lower-case hex digits, random, made the first
    /// time it is asked for and the same ever after. Processes opening a fresh database at
    /// once agree on one id: each inserts its own candidate into a one-row table, the
    /// database keeps the first, and every caller returns what was kept.
    pub async fn installation_id(&self) -> Result<String, StoreError> {
        if let Some(id) = self.stored_installation_id().await? {
            return Ok(id);
        }
        let candidate = format!("{:0ID_LEN$x}", rand::random::<u128>());
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO installation (singleton, id) VALUES (TRUE, $1) ON CONFLICT (singleton) DO NOTHING")
                .bind(&candidate)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .context("create the installation id")?;
        // Ours or a racing process's: the row is there now (unless deleted this instant).
        self.stored_installation_id()
            .await?
            .ok_or(sqlx::Error::RowNotFound)
            .context("read the installation id just created")
    }

    async fn stored_installation_id(&self) -> Result<Option<String>, StoreError> {
        let id: Option<String> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM installation")
                .fetch_optional(pool)
                .await
        })
        .context("read the installation id")?;
        match id {
            // It goes into idempotency keys verbatim: only the form invsync makes.
            Some(id)
                if id.len() != ID_LEN
                    || !id
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Err(StoreError::Corrupt {
                    column: "installation.id",
                    value: id,
                })
            }
            other => Ok(other),
        }
    }
}
