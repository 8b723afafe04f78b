//! The connectors' [`TokenVault`] over the run-history database: rotating OAuth tokens
//! (QuickBooks Online) live in `oauth_tokens`, encrypted by the connector, and refresh
//! under the row's lock (`invsync_store::Db::with_locked_tokens`), so every process using
//! the same database takes turns. Built by [`crate::Engine::new`]; the CLI's `auth`
//! command uses it to store tokens an operator obtained.

use crate::error_chain;
use async_trait::async_trait;
use invsync_connectors::{
    ConnectorError, ErrorKind, SealedTokens, TokenVault, VaultDecision, VaultUpdate,
};
use invsync_store::{Db, StoreError, TokenDecision, TokenRow, TokenStatus, TokenWrite};

/// A [`TokenVault`] backed by a [`Db`] (Postgres or SQLite).
#[derive(Debug, Clone)]
pub struct DbTokenVault {
    db: Db,
}

impl DbTokenVault {
    pub fn new(db: Db) -> DbTokenVault {
        DbTokenVault { db }
    }
}

fn to_sealed(row: TokenRow) -> SealedTokens {
    SealedTokens {
        sealed: row.sealed,
        access_expires_at: row.access_expires_at,
        refresh_expires_at: row.refresh_expires_at,
        needs_reauth: match row.status {
            TokenStatus::NeedsReauth => Some(
                row.status_reason
                    .unwrap_or_else(|| "the refresh token was refused".to_owned()),
            ),
            TokenStatus::Active => None,
        },
    }
}

fn to_write(tokens: &SealedTokens) -> TokenWrite {
    TokenWrite {
        sealed: tokens.sealed.clone(),
        access_expires_at: tokens.access_expires_at,
        refresh_expires_at: tokens.refresh_expires_at,
        status: if tokens.needs_reauth.is_some() {
            TokenStatus::NeedsReauth
        } else {
            TokenStatus::Active
        },
        status_reason: tokens.needs_reauth.clone(),
    }
}

fn store_error(e: &StoreError, what: &str) -> ConnectorError {
    ConnectorError::new(
        "token store",
        ErrorKind::Other,
        format!("{what}: {}", error_chain(e)),
    )
}

#[async_trait]
impl TokenVault for DbTokenVault {
    async fn load(&self, key: &str) -> Result<Option<SealedTokens>, ConnectorError> {
        self.db
            .load_tokens(key)
            .await
            .map(|row| row.map(to_sealed))
            .map_err(|e| store_error(&e, "cannot read the stored tokens"))
    }

    async fn update(
        &self,
        key: &str,
        update: VaultUpdate,
    ) -> Result<Option<SealedTokens>, ConnectorError> {
        self.db
            .with_locked_tokens(key, move |row| async move {
                let current = row.map(to_sealed);
                match update(current.clone()).await? {
                    VaultDecision::Keep => Ok(TokenDecision::Keep(current)),
                    VaultDecision::Store(tokens) => {
                        Ok(TokenDecision::Write(to_write(&tokens), Some(tokens)))
                    }
                }
            })
            .await
            .map_err(|e| {
                // If this failed after a refresh, the new refresh token is lost and the
                // old one is revoked: say what would fix that.
                store_error(
                    &e,
                    "cannot store the tokens (if this persists after a refresh, run `invsync auth quickbooks-online`)",
                )
            })?
    }
}
