//! Store orders the accounting side already has as posted do not hold stock back: the
//! engine asks the accounting connection (`Connection::posted_orders`) after reading every
//! store's open orders and drops the posted lines before planning.

use async_trait::async_trait;
mod support;

use invsync_config::ConnectionConfig;
use invsync_connectors::{Catalog, Connection, ConnectorError, OpenContext, Write, WriteOutcome};
use invsync_core::{FieldSet, OrderLine};
use invsync_engine::{Engine, NoProgress, Opener};
use invsync_store::PoolOptions;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The accounting file, plus "order 1001 of shop is posted".
struct Posting {
    inner: Box<dyn Connection>,
    asked: Arc<Mutex<Vec<OrderLine>>>,
}

#[async_trait]
impl Connection for Posting {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn read_catalog(&self) -> Result<Catalog, ConnectorError> {
        self.inner.read_catalog().await
    }
    fn write_batch_size(&self) -> usize {
        self.inner.write_batch_size()
    }
    async fn write(&self, writes: &[Write]) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.inner.write(writes).await
    }
    async fn posted_orders(
        &self,
        orders: &[OrderLine],
    ) -> Result<Option<Vec<bool>>, ConnectorError> {
        self.asked
            .lock()
            .expect("lock")
            .extend(orders.iter().cloned());
        Ok(Some(
            orders
                .iter()
                .map(|l| l.store == "shop" && l.order == "1001")
                .collect(),
        ))
    }
}

#[tokio::test]
async fn posted_orders_no_longer_hold_stock_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| support::write(dir.path(), name, text);
    write(
        "accounting.csv",
        "sku,name,price,quantity\nA,A,1.00,5\nB,B,2.00,5\nC,C,3.00,5\n",
    );
    write(
        "shop.csv",
        "sku,name,price,quantity\nA,A,1.00,9\nB,B,2.00,9\nC,C,3.00,9\n",
    );
    write(
        "shop-orders.csv",
        "order,sku,quantity\n1001,A,1\n1002,B,1\n",
    );
    write(
        "invsync.toml",
        "[database]\nurl = \"sqlite://invsync.db\"\n[accounting]\nkind = \"file\"\npath = \"accounting.csv\"\n[stores.shop]\nkind = \"file\"\npath = \"shop.csv\"\norders = \"shop-orders.csv\"\n",
    );
    let config = support::load_config(dir.path());
    let db = support::open_db(&config, &PoolOptions::default()).await;
    let asked = Arc::new(Mutex::new(Vec::new()));
    let opener: Opener = {
        let asked = Arc::clone(&asked);
        Arc::new(move |name: &str, c: &ConnectionConfig, ctx: &OpenContext| {
            let inner = invsync_connectors::open(name, c, ctx)?;
            Ok(if name == "accounting" {
                Box::new(Posting {
                    inner,
                    asked: Arc::clone(&asked),
                }) as Box<dyn Connection>
            } else {
                inner
            })
        })
    };
    let engine = Engine::new(Arc::new(config), db).with_opener(opener);
    let report = engine
        .sync(
            &support::request("shop", FieldSet::QUANTITY),
            &NoProgress,
            &CancellationToken::new(),
        )
        .await
        .expect("sync");
    assert_eq!(
        asked.lock().expect("lock").len(),
        2,
        "every open order line was asked about"
    );
    let written: Vec<&str> = report.changes.iter().map(|c| c.sku.as_str()).collect();
    assert_eq!(written, vec!["A", "C"], "A's order is posted; B's is not");
    assert_eq!(report.counts.skipped_in_orders, 1);
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.sku == "B" && s.reason.contains("shop:1002")),
        "{:?}",
        report.skipped
    );
    let shop = std::fs::read_to_string(dir.path().join("shop.csv")).expect("read");
    assert_eq!(
        shop,
        "sku,name,price,quantity\nA,A,1.00,5\nB,B,2.00,9\nC,C,3.00,5\n"
    );
}
