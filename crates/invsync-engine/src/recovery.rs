//! Runs left behind by processes that are gone (ADR 0052): marked `interrupted` in one
//! cheap statement, then settled in bounded steps — the one recovery every caller uses:
//! [`crate::Engine::recover`] within a budget (`invsync sync`, `invsync runs`), the
//! daemon in the background until it stops.

use crate::STALE_AFTER;
use invsync_store::{Db, ProcessIdentity, StoreError};

/// What a recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Runs it marked `interrupted` (their process is gone).
    pub marked: Vec<i64>,
    /// Runs still pending recovery when it stopped: their counts are not final yet, and
    /// the next recovery goes on with them.
    pub pending: Vec<i64>,
}

/// Marks the runs whose process is gone (`me`'s host: by pid; any host: a heartbeat older
/// than [`STALE_AFTER`]) as `interrupted`, then settles runs pending recovery — their
/// write intents become items of unknown outcome, their counts those of their items — one
/// bounded step after another until none is left or `stop()` says so (asked between
/// steps). Each marked run is logged by the store.
pub async fn recover_dead_runs(
    db: &Db,
    me: &ProcessIdentity,
    stop: impl Fn() -> bool,
) -> Result<Recovered, StoreError> {
    let marked = db.mark_interrupted(me, STALE_AFTER).await?;
    db.settle_pending(None, stop).await?;
    let pending = db.runs_pending_recovery().await?;
    Ok(Recovered { marked, pending })
}
