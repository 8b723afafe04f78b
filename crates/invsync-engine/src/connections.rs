//! The connections of one run (or one `status`), each opened once and handed to every step
//! that needs it: the catalog reads, every store's orders, the posted-order lookups, the
//! re-plan's re-reads and the writes. A second connection to the same platform account
//! within a run would spend a rate budget of its own beside the first one's (issue 14).

use crate::snapshot::SnapshotNeeds;
use crate::{Engine, EngineError};
use invsync_connectors::Connection;
use invsync_core::Side;

pub(crate) struct Connections {
    accounting: Box<dyn Connection>,
    /// In config order: the synced store and, when quantity is synced, every other store
    /// (every store's orders hold stock back; another store may be the master).
    stores: Vec<(String, Box<dyn Connection>)>,
    /// The synced store's place in `stores`.
    synced: usize,
}

impl Connections {
    /// Opens what a request on `store` needs: the accounting side first, then the store,
    /// then (with quantity) the other stores.
    pub fn open(
        engine: &Engine,
        store: &str,
        needs: &SnapshotNeeds,
    ) -> Result<Connections, EngineError> {
        let config = engine.config();
        let store_config = config
            .stores
            .get(store)
            .ok_or_else(|| EngineError::UnknownStore(store.to_owned()))?;
        let accounting = engine.open("accounting", &config.accounting)?;
        let mut own = Some(engine.open(store, &store_config.connection)?);
        let mut stores = Vec::with_capacity(if needs.quantity {
            config.stores.len()
        } else {
            1
        });
        let mut synced = 0;
        for (name, other) in &config.stores {
            if name == store {
                if let Some(own) = own.take() {
                    synced = stores.len();
                    stores.push((name.clone(), own));
                }
            } else if needs.quantity {
                stores.push((name.clone(), engine.open(name, &other.connection)?));
            }
        }
        Ok(Connections {
            accounting,
            stores,
            synced,
        })
    }

    /// Opens the accounting side and every store: what the order watch reads every
    /// store's orders (and asks the accounting side about postings) through.
    pub fn open_all(engine: &Engine) -> Result<Connections, EngineError> {
        let config = engine.config();
        let accounting = engine.open("accounting", &config.accounting)?;
        let mut stores = Vec::with_capacity(config.stores.len());
        for (name, store) in &config.stores {
            stores.push((name.clone(), engine.open(name, &store.connection)?));
        }
        if stores.is_empty() {
            return Err(EngineError::Internal("no store to watch".to_owned()));
        }
        Ok(Connections {
            accounting,
            stores,
            synced: 0,
        })
    }

    pub fn accounting(&self) -> &dyn Connection {
        self.accounting.as_ref()
    }

    /// The store the request is for.
    pub fn store(&self) -> &dyn Connection {
        // `open` puts the synced store in `stores` and remembers where.
        self.stores[self.synced].1.as_ref()
    }

    /// The connection of a side: the one a plan for that side writes through.
    pub fn side(&self, side: Side) -> &dyn Connection {
        match side {
            Side::Store => self.store(),
            Side::Accounting => self.accounting(),
        }
    }

    /// A store's connection, if this run opened it.
    pub fn get(&self, store: &str) -> Option<&dyn Connection> {
        self.stores
            .iter()
            .find(|(name, _)| name == store)
            .map(|(_, c)| c.as_ref())
    }

    /// Every store this run opened, in config order.
    pub fn stores(&self) -> impl Iterator<Item = (&str, &dyn Connection)> {
        self.stores
            .iter()
            .map(|(name, c)| (name.as_str(), c.as_ref()))
    }
}
