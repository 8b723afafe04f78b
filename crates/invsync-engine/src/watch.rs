//! The order watch (issue 18, ADR 0100): between scheduled runs, read every store's orders
//! incrementally and push the quantities of only the SKUs that order changes moved to
//! every store that shares the stock — each push an ordinary run of the engine
//! ([`SyncRequest::order_push`]: `trigger = 'order'`, quantity only, those SKUs), so the
//! same rules apply as to any run: reserve arithmetic, buffer, share, max_quantity,
//! compare-and-set, intents.
//!
//! A pass is [`Engine::watch_orders`] (one incremental order read per store through
//! connections opened once for it, the accounting side's posted-order check for the
//! orders still held, then the changes noted in `store_order_changes` by any read since
//! the last pass), one push per [`OrderWatch::targets`] store, then
//! [`Engine::acknowledge_order_changes`]. The daemon (`invsync-daemon::watch`) and the
//! simulation (`invsync-sim`) drive it.
//!
//! Where the accounting side is cheap to read again ([`Connection::cheap_to_watch`]: a
//! file, QuickBooks Desktop's kept snapshot), a pass also compares its quantities with
//! those the watch last pushed (kept under [`ACCOUNTING_BASELINE`]) and pushes the SKUs
//! whose quantity moved — a sale at the till, a delivery — the same way (ADR 0102).

use crate::connections::Connections;
use crate::orders::held_orders;
use crate::snapshot::mappings;
use crate::{Engine, EngineError, SyncRequest, UnreadOrders};
use invsync_config::Master;
use invsync_connectors::Connection;
use invsync_core::Record;
use invsync_core::{ChangeResult, FieldSet, Selection, Side, SkuKey, Trigger};
use invsync_store::OrderChange;
use invsync_store::StoredCatalog;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// What one read of the order watch found to push.
#[derive(Debug, Default)]
pub struct OrderWatch {
    /// The changes not pushed yet (noted by this read or any read since the last pass).
    pub changes: Vec<OrderChange>,
    /// Their SKUs, as the accounting side spells them (manual mappings applied), sorted.
    pub skus: Vec<SkuKey>,
    /// The stores whose quantity the watch writes: those with a schedule that updates
    /// their quantity, the master store excepted (quantity flows out of it), in config
    /// order.
    pub targets: Vec<String>,
    /// Stores whose orders could not be read this time (their changes wait for a read
    /// that works; the other stores' are pushed).
    pub unread: Vec<UnreadOrders>,
    /// When the oldest change was first seen (database clock): the start of the delay
    /// to the last store written.
    pub first_seen: Option<chrono::DateTime<chrono::Utc>>,
    /// The accounting SKU of each change (parallel to `changes`; `None` for a SKU with
    /// no matching form, which matches nothing).
    change_skus: Vec<Option<SkuKey>>,
    /// SKUs some push could not write (a failed write): their changes stay.
    retry: BTreeSet<SkuKey>,
    /// Some push did not run through (busy store, a read failed, stopped): every change
    /// stays.
    retry_all: bool,
    /// The accounting side as this pass read it, when it is watched: what to keep as the
    /// baseline once the pushes are done.
    accounting: Option<AccountingSeen>,
}

/// The kept-catalog key of the accounting quantities the watch last pushed (store names
/// take no `:`, so no store's kept catalog can have it).
pub const ACCOUNTING_BASELINE: &str = "order-watch:accounting";

/// The order watch's accounting baseline as this process last loaded or saved it, with
/// the version it has in the database (ADR 0102). Another instance's save moves the
/// version on, so a pass loads theirs. The daemon makes an engine per pass (the config may
/// have been reloaded) and hands each the same one ([`Engine::with_watch_baseline`]).
#[derive(Debug, Default)]
pub struct WatchBaseline(Mutex<Option<Arc<StoredCatalog>>>);

impl WatchBaseline {
    fn get(&self, version: i64) -> Option<Arc<StoredCatalog>> {
        let cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().filter(|c| c.version == version).cloned()
    }

    fn set(&self, baseline: Option<Arc<StoredCatalog>>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = baseline;
    }
}

/// One pass's read of a watched accounting side.
#[derive(Debug)]
struct AccountingSeen {
    /// The baseline this pass compared with (`None`: the first pass keeps one, pushes
    /// nothing).
    kept: Option<Arc<StoredCatalog>>,
    /// The accounting records now, keyed by SKU (one per SKU).
    now: Vec<Record>,
    /// The SKUs whose quantity moved since the baseline.
    moved: BTreeSet<SkuKey>,
}

impl OrderWatch {
    /// Nothing moved: a quiet pass.
    pub fn is_quiet(&self) -> bool {
        self.skus.is_empty()
    }

    /// Takes one push's outcome into account ([`SyncRequest::order_push`] through
    /// [`Engine::sync`]); returns whether the store got everything. A push that did not
    /// run through (it could not start, a read failed, it was stopped) keeps every change
    /// for the next pass; a change whose write failed keeps its SKU's changes. What the
    /// rules hold back or reject (a negative quantity to fix at its source, SKUs on
    /// neither side) is done: pushing it again would change nothing.
    pub fn account(&mut self, result: &Result<crate::RunReport, EngineError>) -> bool {
        let report = match result {
            Ok(report) if report.input_error => return true,
            Ok(report)
                if report.error.is_none()
                    && report.status != invsync_core::RunStatus::Interrupted =>
            {
                report
            }
            _ => {
                self.retry_all = true;
                return false;
            }
        };
        let mut complete = true;
        for change in &report.changes {
            if matches!(change.result, ChangeResult::Failed | ChangeResult::Pending)
                && let Some(key) = SkuKey::new(&change.sku)
            {
                self.retry.insert(key);
                complete = false;
            }
        }
        complete
    }

    /// Whether every push so far wrote everything.
    pub fn complete(&self) -> bool {
        !self.retry_all && self.retry.is_empty()
    }

    /// The changes every store got (all of them when [`OrderWatch::complete`]).
    pub fn pushed(&self) -> Vec<&OrderChange> {
        if self.retry_all {
            return Vec::new();
        }
        self.changes
            .iter()
            .zip(&self.change_skus)
            .filter(|(c, sku)| {
                sku.as_ref().is_none_or(|k| !self.retry.contains(k))
                    && SkuKey::new(&c.sku).is_none_or(|k| !self.retry.contains(&k))
            })
            .map(|(c, _)| c)
            .collect()
    }
}

impl SyncRequest {
    /// The order watch's push to one store: only the quantities of `skus` (accounting or
    /// store SKUs), store side, recorded as `trigger = 'order'`. The planner and every
    /// rule are those of any run; only the selection and the field are narrowed.
    pub fn order_push(store: &str, skus: &[SkuKey]) -> SyncRequest {
        SyncRequest {
            store: store.to_owned(),
            update: Side::Store,
            fields: FieldSet::QUANTITY,
            selection: Selection::Skus(skus.iter().cloned().collect::<HashSet<_>>()),
            dry_run: false,
            trigger: Trigger::Order,
            schedule: None,
            scheduled_for: None,
        }
    }
}

impl Engine {
    /// Shares the order watch's held accounting baseline with other engines of this
    /// process (each engine otherwise holds its own).
    pub fn with_watch_baseline(mut self, baseline: Arc<WatchBaseline>) -> Engine {
        self.watch_baseline = baseline;
        self
    }

    /// The stores the order watch writes quantities to (see [`OrderWatch::targets`]).
    pub fn order_watch_targets(&self) -> Vec<String> {
        let config = self.config();
        let master = match &config.inventory.master {
            Master::Accounting => None,
            Master::Store(m) => Some(m.as_str()),
        };
        config
            .stores
            .keys()
            .filter(|name| Some(name.as_str()) != master)
            .filter(|name| {
                config
                    .schedules
                    .iter()
                    .any(|s| &s.store == *name && s.update == Side::Store && s.fields.quantity)
            })
            .cloned()
            .collect()
    }

    /// One read of the order watch: every store's orders since its cursor (a quiet store
    /// costs one call), applied and noted like any run's read, the accounting side asked
    /// which held orders it has posted; then every change not pushed yet, with its SKUs
    /// in accounting terms. Reads nothing when no store's quantity is synced.
    pub async fn watch_orders(&self) -> Result<OrderWatch, EngineError> {
        let targets = self.order_watch_targets();
        if targets.is_empty() {
            return Ok(OrderWatch::default());
        }
        let connections = Connections::open_all(self)?;
        let held = held_orders(self, &connections, "the order watch", true).await?;
        let accounting = self.watch_accounting(connections.accounting()).await;
        drop(connections);
        let changes = self.db().order_changes().await?;
        let unread: HashSet<&str> = held.unread.iter().map(|u| u.store.as_str()).collect();
        let mut by_store: HashMap<&str, HashMap<SkuKey, String>> = HashMap::new();
        let mut skus = BTreeSet::new();
        let mut change_skus = Vec::with_capacity(changes.len());
        for change in &changes {
            if !by_store.contains_key(change.store.as_str()) {
                let maps = mappings(self.db(), &change.store)
                    .await?
                    .into_iter()
                    .filter_map(|m| SkuKey::new(&m.store_sku).map(|k| (k, m.accounting_sku)))
                    .collect();
                by_store.insert(&change.store, maps);
            }
            let Some(key) = SkuKey::new(&change.sku) else {
                // A SKU with no matching form matches nothing: nothing to push for it.
                change_skus.push(None);
                continue;
            };
            let accounting = by_store
                .get(change.store.as_str())
                .and_then(|maps| maps.get(&key))
                .and_then(|a| SkuKey::new(a))
                .unwrap_or(key);
            skus.insert(accounting.clone());
            change_skus.push(Some(accounting));
        }
        let first_seen = changes.iter().map(|c| c.seen_at).min();
        if let Some(seen) = &accounting {
            skus.extend(seen.moved.iter().cloned());
        }
        tracing::debug!(
            accounting_moved = accounting.as_ref().map_or(0, |a| a.moved.len()),
            changes = changes.len(),
            skus = skus.len(),
            unread = unread.len(),
            "order watch read"
        );
        Ok(OrderWatch {
            changes,
            skus: skus.into_iter().collect(),
            targets,
            unread: held.unread,
            first_seen,
            change_skus,
            retry: BTreeSet::new(),
            retry_all: false,
            accounting,
        })
    }

    /// The accounting side's quantities against the watch's baseline, when that side is
    /// cheap to read again. A read that fails leaves the baseline alone (the next pass,
    /// or a schedule, sees the change): it never fails the pass's order pushes.
    async fn watch_accounting(&self, connection: &dyn Connection) -> Option<AccountingSeen> {
        if !connection.cheap_to_watch() {
            return None;
        }
        let read = async {
            let kept = self.accounting_baseline().await?;
            let catalog = connection.read_catalog().await?;
            Ok::<_, EngineError>((kept, catalog))
        };
        let (kept, catalog) = match read.await {
            Ok(read) => read,
            Err(e) => {
                tracing::debug!(error = %crate::error_chain(&e), "order watch: the accounting side was not read; its changes wait");
                return None;
            }
        };
        let mut now: Vec<Record> = Vec::with_capacity(catalog.records.len());
        let mut seen = HashSet::new();
        for mut record in catalog.records {
            let Some(key) = SkuKey::new(&record.sku) else {
                continue;
            };
            if seen.insert(key.clone()) {
                record.id = key.as_str().into();
                now.push(record);
            }
        }
        let moved = match &kept {
            None => BTreeSet::new(),
            Some(kept) => {
                let before: HashMap<&str, Option<i64>> = kept
                    .records
                    .iter()
                    .map(|r| (r.id.as_str(), r.quantity))
                    .collect();
                now.iter()
                    .filter(|r| before.get(r.id.as_str()).is_none_or(|q| *q != r.quantity))
                    .filter_map(|r| SkuKey::new(&r.sku))
                    .collect()
            }
        };
        Some(AccountingSeen { kept, now, moved })
    }

    /// The baseline in the database: the one this process holds when its version is still
    /// the kept one (one small query), else loaded (every record parsed) and held.
    async fn accounting_baseline(&self) -> Result<Option<Arc<StoredCatalog>>, EngineError> {
        let Some(version) = self.db().catalog_version(ACCOUNTING_BASELINE).await? else {
            return Ok(None);
        };
        if let Some(held) = self.watch_baseline.get(version) {
            return Ok(Some(held));
        }
        let loaded = self
            .db()
            .stored_catalog(ACCOUNTING_BASELINE)
            .await?
            .map(Arc::new);
        self.watch_baseline.set(loaded.clone());
        Ok(loaded)
    }

    /// Forgets the changes a pass pushed to every target ([`OrderWatch::pushed`]; a
    /// change noted again since stays for the next pass).
    pub async fn acknowledge_order_changes(&self, watch: &OrderWatch) -> Result<(), EngineError> {
        let pushed: Vec<OrderChange> = watch.pushed().into_iter().cloned().collect();
        if !pushed.is_empty() {
            self.db().clear_order_changes(&pushed).await?;
        }
        // Saved when there is none yet (a quiet first pass too) or something moved.
        if let Some(seen) = &watch.accounting
            && !watch.retry_all
            && (seen.kept.is_none() || !seen.moved.is_empty())
        {
            // A moved SKU some store did not get keeps its old quantity in the baseline,
            // so the next pass pushes it again.
            let before: HashMap<&str, &Record> = seen
                .kept
                .iter()
                .flat_map(|k| &k.records)
                .map(|r| (r.id.as_str(), r))
                .collect();
            let records: Vec<Record> = seen
                .now
                .iter()
                .filter_map(|r| {
                    let retried = SkuKey::new(&r.sku).is_some_and(|k| watch.retry.contains(&k));
                    if retried {
                        before.get(r.id.as_str()).map(|b| (*b).clone())
                    } else {
                        Some(r.clone())
                    }
                })
                .collect();
            let cursor = "v1";
            let saved = self
                .db()
                .save_catalog(
                    ACCOUNTING_BASELINE,
                    seen.kept.as_deref(),
                    &records,
                    Some(cursor),
                    chrono::Utc::now(),
                )
                .await?;
            // What the database now holds (a save moves the version on by one), or, when
            // another instance saved first, nothing: the next pass loads theirs.
            self.watch_baseline.set((!saved.superseded).then(|| {
                Arc::new(StoredCatalog {
                    records,
                    cursor: cursor.into(),
                    version: seen.kept.as_ref().map_or(1, |k| k.version + 1),
                    writes: 0,
                })
            }));
        }
        Ok(())
    }
}
