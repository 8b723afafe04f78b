//! `kind = "quickbooks-desktop"` as a [`Connection`]: the engine's view of the company
//! file's [`Bridge`]. Catalog reads and posted-order answers come from the snapshot the
//! last Web Connector session kept (refused past `max_age`: the run is skipped); writes
//! and re-reads are handed to the next session, which checks each against its own read.

use super::bridge::{Attached, Bridge, KeptSnapshot};
use crate::{Catalog, Connection, ConnectorError, ErrorKind, RecordRef, Write, WriteOutcome};
use async_trait::async_trait;
use invsync_config::QuickBooksDesktopConfig;
use invsync_core::{OrderLine, Record};
use std::sync::{Arc, Mutex};

/// Writes per message set: several mods per round trip (`onError="continueOnError"`).
pub const WRITES_PER_MESSAGE_SET: usize = 100;

pub struct DesktopConnection {
    name: String,
    bridge: Arc<Bridge>,
    order_ref_number: String,
    /// The one snapshot this run plans from (posted orders and catalog alike).
    snapshot: Mutex<Option<Arc<KeptSnapshot>>>,
    attached: Mutex<Option<Attached>>,
}

impl DesktopConnection {
    pub fn new(name: &str, config: &QuickBooksDesktopConfig, bridge: Arc<Bridge>) -> Self {
        DesktopConnection::for_bridge(name, &config.order_ref_number, bridge)
    }

    /// The connection of any bridge (its dialect: Desktop or POS) whose posted orders
    /// carry `order_ref_number` (`{order}`, `{store}` replaced).
    pub fn for_bridge(name: &str, order_ref_number: &str, bridge: Arc<Bridge>) -> Self {
        DesktopConnection {
            name: name.to_owned(),
            bridge,
            order_ref_number: order_ref_number.to_owned(),
            snapshot: Mutex::new(None),
            attached: Mutex::new(None),
        }
    }

    async fn snapshot(&self) -> Result<Arc<KeptSnapshot>, ConnectorError> {
        if let Some(s) = self
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(s);
        }
        let s = self.bridge.snapshot().await.map_err(|mut e| {
            e.connection = self.name.clone();
            e
        })?;
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&s));
        Ok(s)
    }

    /// From the first write or re-read on, a session open in this process waits for this
    /// run's next job instead of ending (until the run drops its connections).
    fn attach(&self) {
        let mut attached = self.attached.lock().unwrap_or_else(|e| e.into_inner());
        if attached.is_none() && self.bridge.serving() {
            *attached = Some(self.bridge.attach());
        }
    }

    fn reference(&self, line: &OrderLine) -> String {
        self.order_ref_number
            .replace("{store}", &line.store)
            .replace("{order}", &line.order)
            .trim()
            .to_owned()
    }
}

#[async_trait]
impl Connection for DesktopConnection {
    fn name(&self) -> &str {
        &self.name
    }

    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        let s = self.snapshot().await?;
        Ok(Catalog {
            records: s.records.clone(),
            rejects: s.rejects.clone(),
        })
    }

    /// The catalog is the snapshot the last Web Connector session kept: no call at all.
    fn cheap_to_watch(&self) -> bool {
        true
    }

    fn write_batch_size(&self) -> usize {
        WRITES_PER_MESSAGE_SET
    }

    async fn read_records(
        &self,
        records: &[RecordRef],
    ) -> Result<Option<Vec<Record>>, ConnectorError> {
        self.attach();
        self.bridge.reread(records.to_vec()).await.map(Some)
    }

    /// Posted when the snapshot's session found the order's reference on a sales receipt
    /// or an invoice; the references asked are what the next session looks up. Unknown is
    /// unposted (the order keeps holding stock: the conservative answer).
    async fn posted_orders(
        &self,
        orders: &[OrderLine],
    ) -> Result<Option<Vec<bool>>, ConnectorError> {
        let refs: Vec<String> = orders.iter().map(|l| self.reference(l)).collect();
        let snapshot = match self.snapshot().await {
            Ok(s) => Some(s),
            Err(e) if e.kind == ErrorKind::Outdated => None,
            Err(e) => return Err(e),
        };
        let answers: Vec<bool> = refs
            .iter()
            .map(|r| snapshot.as_ref().is_some_and(|s| s.posted.contains(r)))
            .collect();
        self.bridge.ask_posted(refs);
        Ok(snapshot.map(|_| answers))
    }

    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.attach();
        self.bridge.write(writes.to_vec()).await.map_err(|mut e| {
            e.connection = self.name.clone();
            e
        })
    }
}
