//! Order tracking in the engine: each store's connection gets back the cursor it returned
//! last time, and once a day the engine asks for a snapshot again (a changed-since read
//! cannot see orders that were trashed or deleted).

use async_trait::async_trait;
mod support;

use invsync_config::ConnectionConfig;
use invsync_connectors::{
    Catalog, Connection, ConnectorError, OpenContext, OrderFeed, Write, WriteOutcome,
};
use invsync_core::FieldSet;
use invsync_engine::{Engine, NoProgress, Opener, SyncRequest};
use invsync_store::PoolOptions;
use secrecy::ExposeSecret as _;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The store file, reading orders like a platform: a snapshot with cursor `c1` when given
/// no cursor, otherwise an empty change feed with cursor `c2`.
struct Incremental {
    inner: Box<dyn Connection>,
    given: Arc<Mutex<Vec<Option<String>>>>,
}

#[async_trait]
impl Connection for Incremental {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        self.inner.read_catalog().await
    }
    async fn read_orders(&self, cursor: Option<&str>) -> Result<Option<OrderFeed>, ConnectorError> {
        self.given
            .lock()
            .expect("lock")
            .push(cursor.map(str::to_owned));
        Ok(Some(match cursor {
            None => OrderFeed {
                cursor: Some("c1".into()),
                ..self.inner.read_orders(None).await?.unwrap_or_default()
            },
            Some(_) => OrderFeed {
                orders: Vec::new(),
                snapshot: None,
                cursor: Some("c2".into()),
            },
        }))
    }
    fn write_batch_size(&self) -> usize {
        self.inner.write_batch_size()
    }
    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.inner.write(writes).await
    }
}

#[tokio::test]
async fn cursors_come_back_and_a_day_old_snapshot_is_taken_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| support::write(dir.path(), name, text);
    write("accounting.csv", "sku,name,price,quantity\nA,A,1.00,5\n");
    write("shop.csv", "sku,name,price,quantity\nA,A,1.00,9\n");
    write("shop-orders.csv", "order,sku,quantity\n1001,A,1\n");
    write(
        "invsync.toml",
        "[database]\nurl = \"sqlite://invsync.db\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n[stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\norders = \"shop-orders.csv\"\n",
    );
    let config = support::load_config(dir.path());
    let url = config.database.url.expose_secret().to_owned();
    let db = support::open_db(&config, &PoolOptions::default()).await;
    let given = Arc::new(Mutex::new(Vec::new()));
    let opener: Opener = {
        let given = Arc::clone(&given);
        Arc::new(move |name: &str, c: &ConnectionConfig, ctx: &OpenContext| {
            let inner = invsync_connectors::open(name, c, ctx)?;
            Ok(if name == "shop" {
                Box::new(Incremental {
                    inner,
                    given: Arc::clone(&given),
                }) as Box<dyn Connection>
            } else {
                inner
            })
        })
    };
    let engine = Engine::new(Arc::new(config), db.clone()).with_opener(opener);
    let request = SyncRequest {
        dry_run: true,
        ..support::request("shop", FieldSet::QUANTITY)
    };
    let sync = || async {
        let report = engine
            .sync(&request, &NoProgress, &CancellationToken::new())
            .await
            .expect("sync");
        assert_eq!(report.counts.skipped_in_orders, 1, "order 1001 holds A");
    };
    sync().await;
    sync().await;
    // The snapshot is a day old: the next read is a snapshot again.
    let pool = sqlx::SqlitePool::connect(&url).await.expect("pool");
    sqlx::query("UPDATE store_order_cursors SET snapshot_at = '2026-01-01T00:00:00.000Z'")
        .execute(&pool)
        .await
        .expect("age the snapshot");
    sync().await;
    sync().await;
    assert_eq!(
        *given.lock().expect("lock"),
        vec![None, Some("c1".to_owned()), None, Some("c1".to_owned())]
    );
}
