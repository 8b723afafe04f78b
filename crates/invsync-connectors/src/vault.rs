//! Where connections keep OAuth tokens that outlive a process.
//!
//! Some platforms (QuickBooks Online) replace the refresh token every time it is used and
//! revoke the old one. The newest one must therefore be stored durably, in the same
//! transaction that used the old one, and two processes must never refresh with the same
//! token (the loser would be locked out, `invalid_grant`). A [`TokenVault`] provides that
//! storage and that lock; the engine implements it over the run-history database (the
//! connectors crate does not depend on the store). Connections encrypt tokens before they
//! reach the vault: a vault only ever sees [`SealedTokens`].

use crate::ConnectorError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// One connection's tokens as a vault stores them: encrypted bytes plus what is not
/// secret (expiry times, whether an operator must connect again).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTokens {
    /// The tokens, encrypted by the connection. `None` when there are none (for example
    /// after the platform refused the refresh token).
    pub sealed: Option<Vec<u8>>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Set when the platform refused the refresh token: what happened. Syncs fail until
    /// an operator connects again.
    pub needs_reauth: Option<String>,
}

impl fmt::Debug for SealedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedTokens")
            .field("sealed", &self.sealed.as_ref().map(|s| s.len()))
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("needs_reauth", &self.needs_reauth)
            .finish()
    }
}

/// What a locked update decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultDecision {
    /// Leave the stored tokens as they are (another process refreshed already).
    Keep,
    /// Store these instead, in the transaction that holds the lock.
    Store(SealedTokens),
}

/// A future a vault update returns.
pub type VaultFuture = Pin<Box<dyn Future<Output = Result<VaultDecision, ConnectorError>> + Send>>;

/// The work a vault runs under its lock: it gets the stored tokens (`None` when nothing
/// is stored for the connection) and decides what to store.
pub type VaultUpdate = Box<dyn FnOnce(Option<SealedTokens>) -> VaultFuture + Send>;

/// Durable, locked storage of one token set per connection key (e.g.
/// `quickbooks-online:<realm id>`), shared by every process that uses the same vault.
#[async_trait]
pub trait TokenVault: Send + Sync {
    /// The stored tokens, without locking.
    async fn load(&self, key: &str) -> Result<Option<SealedTokens>, ConnectorError>;

    /// Runs `update` while holding `key` locked against every other process using this
    /// vault, stores what it decides before the lock is released, and returns the tokens
    /// as stored afterwards. When `update` fails nothing is stored and its error is
    /// returned.
    async fn update(
        &self,
        key: &str,
        update: VaultUpdate,
    ) -> Result<Option<SealedTokens>, ConnectorError>;
}

/// A vault in memory: tokens die with the process. For tests and benchmarks only — a
/// daemon using it would lose a rotated refresh token on exit and be locked out.
#[derive(Default, Clone)]
pub struct MemoryVault {
    // A tokio mutex: it is held across the update's await, which is what serialises
    // concurrent updates.
    entries: Arc<tokio::sync::Mutex<HashMap<String, SealedTokens>>>,
    updates: Arc<Mutex<usize>>,
}

impl MemoryVault {
    pub fn new() -> MemoryVault {
        MemoryVault::default()
    }

    /// How many updates stored something.
    pub fn stores(&self) -> usize {
        self.updates.lock().map(|n| *n).unwrap_or(0)
    }
}

#[async_trait]
impl TokenVault for MemoryVault {
    async fn load(&self, key: &str) -> Result<Option<SealedTokens>, ConnectorError> {
        Ok(self.entries.lock().await.get(key).cloned())
    }

    async fn update(
        &self,
        key: &str,
        update: VaultUpdate,
    ) -> Result<Option<SealedTokens>, ConnectorError> {
        let mut entries = self.entries.lock().await;
        match update(entries.get(key).cloned()).await? {
            VaultDecision::Keep => {}
            VaultDecision::Store(tokens) => {
                entries.insert(key.to_owned(), tokens);
                if let Ok(mut n) = self.updates.lock() {
                    *n += 1;
                }
            }
        }
        Ok(entries.get(key).cloned())
    }
}
