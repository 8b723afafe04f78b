//! Synchronize Products: the product table of one store, its filters, search and pages,
//! and the form that previews or synchronizes the selection.
//!
//! The table comes from `Engine::status` — the planning `invsync status` prints. Reading
//! both catalogs takes as long as the connections take (seconds for 100,000 products), so
//! one read per store is kept in memory ([`Catalog`]) and every request filters and pages
//! it: the first page of a 100,000-product store is served as fast as that of a small
//! one. The page says when it was read; **Reload** reads again, a sync from the page
//! does too, and a config reload makes the next view read again. A stale table never
//! writes anything: Preview and Synchronize plan from a fresh read in the engine.

use crate::auth::{CurrentSession, Posted};
use crate::pages::{self, Section};
use crate::{WebState, session_of};
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use compact_str::CompactString;
use invsync_config::{Config, Master};
use invsync_core::{Field, Status};
use invsync_engine::{StatusReport, StatusRow};
use maud::{Markup, html};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Rows per page.
pub const PAGE_SIZE: usize = 50;

/// One status read of a store, as the page keeps it.
pub struct Loaded {
    /// The read's report without its rows (kept compact in `rows`).
    pub report: StatusReport,
    pub rows: Vec<Row>,
    pub read_at: DateTime<Utc>,
    pub took: Duration,
    /// The config it was read under: a reload makes it stale (held, so that its address
    /// is never another config's).
    config: Arc<Config>,
    /// Rows per status, in `Status::ALL` order.
    counts: [usize; 6],
}

/// A product row as the page keeps it: a status row in about a third of the memory
/// (short strings inline, the repeated notes shared, no per-row allocation for empty
/// lists), so that a kept 100,000-product store costs tens of MB, not hundreds
/// (docs/benchmarks.md, "Web page").
pub struct Row {
    pub sku: CompactString,
    pub store_sku: Option<CompactString>,
    pub name: CompactString,
    pub status: Status,
    pub price_differs: bool,
    pub quantity_differs: bool,
    pub accounting_price: Option<Decimal>,
    pub store_price: Option<Decimal>,
    /// What shoppers pay while the listing is on sale.
    pub sale_price: Option<Decimal>,
    pub accounting_quantity: Option<i64>,
    pub store_quantity: Option<i64>,
    pub offered_quantity: Option<i64>,
    pub held_quantity: Option<i64>,
    pub orders: Box<[CompactString]>,
    pub detail: Arc<str>,
}

impl Row {
    fn new(row: StatusRow, notes: &mut HashMap<String, Arc<str>>) -> Row {
        let detail = match notes.get(&row.detail) {
            Some(shared) => shared.clone(),
            None => {
                let shared: Arc<str> = Arc::from(row.detail.as_str());
                notes.insert(row.detail, shared.clone());
                shared
            }
        };
        Row {
            sku: CompactString::from(row.sku),
            store_sku: row.store_sku.map(CompactString::from),
            name: CompactString::from(row.name),
            status: row.status,
            price_differs: row.differs.contains(&Field::Price),
            quantity_differs: row.differs.contains(&Field::Quantity),
            accounting_price: row.accounting_price,
            store_price: row.store_price,
            sale_price: row.store_sale.map(|s| s.price),
            accounting_quantity: row.accounting_quantity,
            store_quantity: row.store_quantity,
            offered_quantity: row.offered_quantity,
            held_quantity: row.held_quantity,
            orders: row.orders.into_iter().map(CompactString::from).collect(),
            detail,
        }
    }

    /// What differs, in words (`price, quantity`).
    fn differs(&self) -> &'static str {
        match (self.price_differs, self.quantity_differs) {
            (true, true) => "price, quantity",
            (true, false) => "price",
            (false, true) => "quantity",
            (false, false) => "",
        }
    }

    /// Whether the SKUs or the name contain `needle` (already lower-cased), ignoring case.
    fn mentions(&self, needle: &str) -> bool {
        contains_ignoring_case(&self.sku, needle)
            || self
                .store_sku
                .as_deref()
                .is_some_and(|s| contains_ignoring_case(s, needle))
            || contains_ignoring_case(&self.name, needle)
    }
}

/// `haystack` contains `needle` (lower-case), ignoring case; without allocating when both
/// are ASCII, which SKUs nearly always are.
fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(needle)
}

/// A store's read, or why it failed.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Loaded>>>>;

/// The kept reads, one per store. A store's first view reads it; views meanwhile wait for
/// that read instead of starting their own.
#[derive(Default)]
pub struct Catalog {
    stores: Mutex<HashMap<String, Slot>>,
}

impl Catalog {
    fn slot(&self, store: &str) -> Slot {
        let mut stores = match self.stores.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        stores.entry(store.to_owned()).or_default().clone()
    }

    /// The store's kept read, reading it first when there is none (or the config changed).
    /// The read runs in its own task: a browser that gives up waiting does not cancel it,
    /// and the next view gets its result.
    pub async fn get(&self, state: &WebState, store: &str) -> Result<Arc<Loaded>, String> {
        let slot = self.slot(store);
        let tasks = state.inner.tasks.clone();
        let state = state.clone();
        let store = store.to_owned();
        let read = tasks.spawn(async move {
            let mut kept = slot.lock().await;
            let config = state.config();
            if let Some(loaded) = kept.as_ref().filter(|l| Arc::ptr_eq(&l.config, &config)) {
                return Ok(loaded.clone());
            }
            let started = Instant::now();
            let report = state.engine().status(&store).await.map_err(|e| {
                let e = invsync_engine::error_chain(&e);
                warn!(trigger = "web", store, error = %e, "web: the store's products could not be read");
                e
            })?;
            let took = started.elapsed();
            info!(trigger = "web", store, products = report.rows.len(), took_ms = took.as_millis() as u64, "web: read the store's products");
            let loaded = Arc::new(Loaded::new(report, took, config));
            *kept = Some(loaded.clone());
            Ok(loaded)
        });
        read.await
            .unwrap_or_else(|e| Err(format!("the read stopped: {e}")))
    }

    /// The store's kept read, without reading (`None` while a read is under way).
    pub fn kept(&self, store: &str) -> Option<Arc<Loaded>> {
        let slot = self.slot(store);
        let kept = slot.try_lock().ok()?;
        kept.clone()
    }

    /// Forgets the store's read: the next view reads again.
    pub fn invalidate(&self, store: &str) {
        if let Ok(mut stores) = self.stores.lock() {
            stores.remove(store);
        }
    }
}

impl Loaded {
    fn new(mut report: StatusReport, took: Duration, config: Arc<Config>) -> Loaded {
        let mut notes = HashMap::new();
        let rows: Vec<Row> = std::mem::take(&mut report.rows)
            .into_iter()
            .map(|r| Row::new(r, &mut notes))
            .collect();
        let counts = Status::ALL.map(|s| rows.iter().filter(|r| r.status == s).count());
        Loaded {
            report,
            rows,
            read_at: Utc::now(),
            took,
            config,
            counts,
        }
    }

    pub fn count(&self, status: Status) -> usize {
        Status::ALL
            .iter()
            .position(|s| *s == status)
            .map_or(0, |i| self.counts[i])
    }

    /// The rows the filter and search select, in the report's order.
    pub fn matching<'a>(&'a self, filter: &'a Filter) -> impl Iterator<Item = &'a Row> + 'a {
        let needle = filter.q.trim().to_lowercase();
        self.rows.iter().filter(move |row| {
            filter.status.is_none_or(|s| row.status == s)
                && (needle.is_empty() || row.mentions(&needle))
        })
    }
}

/// The table's filter: a status (`None`: all) and a search.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<Status>,
    pub q: String,
}

impl Filter {
    /// From the `status` and `q` parameters (`all` or nothing: every status).
    pub fn parse(status: Option<&str>, q: Option<&str>) -> Result<Filter, String> {
        let status = match status.map(str::trim) {
            None | Some("") | Some("all") => None,
            Some(s) => Some(s.parse::<Status>()?),
        };
        Ok(Filter {
            status,
            q: q.unwrap_or("").trim().to_owned(),
        })
    }

    pub fn status_param(&self) -> &'static str {
        self.status.map_or("all", Status::as_str)
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ProductsQuery {
    store: Option<String>,
    status: Option<String>,
    q: Option<String>,
    page: Option<usize>,
}

/// The store a request names, or the first configured one.
pub fn pick_store(config: &Config, store: Option<&str>) -> Result<String, String> {
    match store.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if config.stores.contains_key(s) => Ok(s.to_owned()),
        Some(s) => Err(format!("`{s}` is not a configured store")),
        None => config
            .stores
            .keys()
            .next()
            .cloned()
            .ok_or_else(|| "no store is configured".to_owned()),
    }
}

/// `/` and `/products`.
pub async fn page(
    State(state): State<WebState>,
    Query(query): Query<ProductsQuery>,
    request: Request,
) -> Response {
    let session = session_of(request.extensions());
    let config = state.config();
    let store = match pick_store(&config, query.store.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            return pages::problem(StatusCode::NOT_FOUND, "Synchronize Products", &e, "");
        }
    };
    let filter = match Filter::parse(query.status.as_deref(), query.q.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            return pages::problem(StatusCode::BAD_REQUEST, "Synchronize Products", &e, "");
        }
    };
    let stores: Vec<String> = config.stores.keys().cloned().collect();
    let loaded = state.inner.catalog.get(&state, &store).await;
    let body = html! {
        (pages::store_picker("/products", &stores, &store, false))
        @match &loaded {
            Err(e) => {
                p.notice.error role="alert" {
                    "The products of store " code { (store) } " could not be read: " (e)
                }
                @if let Some(session) = &session { (reload_form(session, &store)) }
            }
            Ok(loaded) => {
                (table_section(&config, session.as_ref(), &store, loaded, &filter, query.page.unwrap_or(1)))
            }
        }
    };
    pages::layout(
        "Synchronize Products",
        Section::Products,
        session.as_ref(),
        body,
    )
    .into_response()
}

fn reload_form(session: &CurrentSession, store: &str) -> Markup {
    html! {
        form.inline method="post" action="/products/reload" {
            (pages::csrf(session))
            input type="hidden" name="store" value=(store);
            button type="submit" { "Reload from the connections" }
        }
    }
}

/// `POST /products/reload`: read the store again.
pub async fn reload(State(state): State<WebState>, posted: Posted) -> Response {
    let config = state.config();
    let store = match pick_store(&config, posted.get("store")) {
        Ok(s) => s,
        Err(e) => {
            return pages::problem(StatusCode::BAD_REQUEST, "Reload", &e, "");
        }
    };
    info!(trigger = "web", store = %store, "web: reload the store's products");
    state.inner.catalog.invalidate(&store);
    Redirect::to(&format!("/products?store={}", pages::enc(&store))).into_response()
}

/// Whether a row can be selected, and if not (or only in part) why.
fn selectable(row: &Row) -> (bool, Option<String>) {
    match row.status {
        Status::OutOfSync => (true, None),
        Status::InOrders => (
            true,
            Some(if row.orders.is_empty() {
                "Its quantity is held back until the orders holding it are posted; its price can sync.".to_owned()
            } else {
                format!(
                    "Its quantity is held back until {} {} posted; its price can sync.",
                    row.orders.join(", "),
                    if row.orders.len() == 1 { "is" } else { "are" }
                )
            }),
        ),
        Status::Base => (
            false,
            Some("Cannot be selected: a base product (a parent, bundle or kit) is display-only and never synced.".to_owned()),
        ),
        Status::Unmapped => (
            false,
            Some("Cannot be selected: it has no partner on the other side (map it under Mappings).".to_owned()),
        ),
        Status::Conflict => (
            false,
            Some("Cannot be selected: its SKU appears twice on one side, so it is never synced.".to_owned()),
        ),
        Status::InSync => (false, None),
    }
}

/// The filter buttons, in the order the issue names them.
const FILTERS: [(Option<Status>, &str); 7] = [
    (Some(Status::OutOfSync), "Out of Sync"),
    (Some(Status::InOrders), "In Orders"),
    (Some(Status::Base), "Base"),
    (Some(Status::InSync), "In Sync"),
    (Some(Status::Unmapped), "Unmapped"),
    (Some(Status::Conflict), "Conflict"),
    (None, "All"),
];

/// The rules of a sync from this store's page, in words (the page enforces them; the
/// engine checks them again).
fn rules(config: &Config, store: &str) -> (bool, Vec<String>) {
    let store_is_master = matches!(&config.inventory.master, Master::Store(m) if m == store);
    let mut rules = vec![
        "Store: the store's price and quantity are wrong and get the accounting side's (price, quantity or both).".to_owned(),
        "Accounting: the accounting side is wrong; exactly one field per run.".to_owned(),
    ];
    if store_is_master {
        rules.push(format!("Store `{store}` is the master inventory location: quantity flows out of it, so Store + Quantity is not possible; Accounting + Quantity takes its stock into the accounting side."));
    } else {
        let master = match &config.inventory.master {
            Master::Accounting => "the accounting side".to_owned(),
            Master::Store(m) => format!("store `{m}`"),
        };
        rules.push(format!("Quantity goes into the accounting side only from the master inventory location, which is {master}: Accounting + Quantity is not possible for this store."));
    }
    (store_is_master, rules)
}

fn table_section(
    config: &Config,
    session: Option<&CurrentSession>,
    store: &str,
    loaded: &Loaded,
    filter: &Filter,
    page: usize,
) -> Markup {
    let report = &loaded.report;
    let matching: Vec<&Row> = loaded.matching(filter).collect();
    let total = matching.len();
    let pages_n = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages_n);
    let shown = &matching[(page - 1) * PAGE_SIZE..(page * PAGE_SIZE).min(total)];
    let selectable_n = matching.iter().filter(|r| selectable(r).0).count();
    let (store_is_master, rule_lines) = rules(config, store);
    let link = |status: &str, q: &str, page: usize| {
        format!(
            "/products?store={}&status={}&q={}&page={page}",
            pages::enc(store),
            pages::enc(status),
            pages::enc(q)
        )
    };
    html! {
        div.readat {
            (loaded.rows.len()) " products, read " (pages::time(loaded.read_at))
            " in " (format!("{:.1}", loaded.took.as_secs_f64())) " s. "
            @if let Some(session) = session { (reload_form(session, store)) }
        }
        @for unknown in &report.orders_unknown {
            p.notice.warn role="status" {
                "The open orders of store " code { (unknown.store) } " could not be read (" (unknown.error)
                "): quantities are not compared, and a sync does not write them."
            }
        }
        @if !report.unreadable.is_empty() {
            p.notice.warn role="status" {
                (report.unreadable.len()) " product(s) could not be read and are never synced until their data is fixed: "
                (report.unreadable.iter().take(5).map(|u| format!("{} ({}: {})", u.sku.as_deref().unwrap_or("?"), u.connection, u.error)).collect::<Vec<_>>().join("; "))
            }
        }
        form.filters method="get" action="/products" role="search" {
            input type="hidden" name="store" value=(store);
            div.buttons role="group" aria-label="Filter by status" {
                @for (status, label) in FILTERS {
                    @let value = status.map_or("all", Status::as_str);
                    @let n = status.map_or(loaded.rows.len(), |s| loaded.count(s));
                    @let current = filter.status == status;
                    button type="submit" name="status" value=(value) aria-pressed=(current) class=(if current { "filter current" } else { "filter" }) {
                        (label) " " span.n { "(" (n) ")" }
                    }
                }
            }
            label for="q" { "Search SKU or name" }
            input #q type="search" name="q" value=(filter.q) placeholder="SKU or name";
            button type="submit" name="status" value=(filter.status_param()) { "Search" }
        }
        @if let Some(session) = session {
            form #sync-form.sync method="post" action="/sync" data-store-is-master=(store_is_master) {
                (pages::csrf(session))
                input type="hidden" name="store" value=(store);
                input type="hidden" name="status" value=(filter.status_param());
                input type="hidden" name="q" value=(filter.q);
                div.controls {
                    fieldset {
                        legend { "Which side is wrong (gets updated)" }
                        label { input type="radio" name="update" value="store" checked; " Store" }
                        label { input type="radio" name="update" value="accounting"; " Accounting" }
                    }
                    fieldset {
                        legend { "Fields" }
                        label { input #field-price type="checkbox" name="field" value="price" checked; " Price" }
                        label { input #field-quantity type="checkbox" name="field" value="quantity" checked[!store_is_master]; " Quantity" }
                        p #field-why.why aria-live="polite" {
                            @if store_is_master { "Quantity: this store is the master, so its quantity is never overwritten (choose Accounting to take its stock into the accounting side)." }
                        }
                    }
                    div.go {
                        label.all {
                            input #all-matching type="checkbox" name="all_matching" value="1";
                            " Select all " (selectable_n) " matching"
                        }
                        button type="submit" name="action" value="preview" { "Preview" }
                        button.primary type="submit" name="action" value="sync" { "Synchronize" }
                    }
                }
                details.rules {
                    summary { "What may be synced" }
                    ul { @for r in &rule_lines { li { (r) } } }
                }
                (table(shown))
            }
        } @else {
            (table(shown))
        }
        nav.pager aria-label="Pages" {
            @if page > 1 {
                a href=(link(filter.status_param(), &filter.q, page - 1)) rel="prev" { "← Previous" }
            }
            span { "Page " (page) " of " (pages_n) " — " (total) " matching" }
            @if page < pages_n {
                a href=(link(filter.status_param(), &filter.q, page + 1)) rel="next" { "Next →" }
            }
        }
    }
}

fn table(rows: &[&Row]) -> Markup {
    html! {
        div.scroll {
            table.products {
                caption.visually-hidden { "Products" }
                thead {
                    tr {
                        th scope="col" { span.visually-hidden { "Select" } input #select-page type="checkbox" aria-label="Select every syncable product on this page" hidden; }
                        th scope="col" { "SKU" }
                        th scope="col" { "Name" }
                        th scope="col" { "Status" }
                        th.num scope="col" { "Price" br; span.side { "accounting" } }
                        th.num scope="col" { "Price" br; span.side { "store" } }
                        th.num scope="col" { "Quantity" br; span.side { "accounting" } }
                        th.num scope="col" { "Quantity" br; span.side { "store" } }
                        th.num scope="col" { "Offered" br; span.side { "to the store" } }
                        th scope="col" { "Orders and notes" }
                    }
                }
                tbody {
                    @if rows.is_empty() {
                        tr { td colspan="10" { "No product matches." } }
                    }
                    @for row in rows {
                        @let (can, why) = selectable(row);
                        tr data-status=(row.status.as_str()) {
                            td {
                                @if can {
                                    input.row type="checkbox" name="sku" value=(row.sku) aria-label=(row.sku) data-in-orders[row.status == Status::InOrders];
                                }
                            }
                            td.sku {
                                (row.sku)
                                @if let Some(s) = &row.store_sku { br; span.small { "store: " (s) } }
                            }
                            td { (row.name) }
                            td {
                                (pages::status_badge(row.status))
                                @if row.price_differs || row.quantity_differs {
                                    br; span.small { (row.differs()) " differs" }
                                }
                            }
                            td.num { (pages::money(row.accounting_price)) }
                            td.num {
                                (pages::money(row.store_price))
                                @if let Some(sale) = row.sale_price { br; span.small { "on sale: " (sale) } }
                            }
                            td.num { (pages::count(row.accounting_quantity)) }
                            td.num { (pages::count(row.store_quantity)) }
                            td.num { (pages::count(row.offered_quantity)) }
                            td.notes {
                                @if !row.orders.is_empty() {
                                    span.orders { "Orders: " (row.orders.join(", ")) }
                                    @if let Some(h) = row.held_quantity { " (" (h) " held)" }
                                    br;
                                }
                                @if let Some(why) = why { span.why { (why) } br; }
                                span.small { (row.detail) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invsync_core::{InOrdersMode, QuantityRules};

    fn status_row(sku: &str, name: &str, status: Status) -> StatusRow {
        StatusRow {
            sku: sku.to_owned(),
            store_sku: (sku == "TEE-S").then(|| "tee-s".to_owned()),
            name: name.to_owned(),
            status,
            differs: Vec::new(),
            accounting_price: None,
            store_price: None,
            store_sale: None,
            accounting_quantity: None,
            store_quantity: None,
            offered_quantity: None,
            held_quantity: None,
            orders: if status == Status::InOrders {
                vec!["shop:#1042".to_owned()]
            } else {
                Vec::new()
            },
            detail: String::new(),
        }
    }

    fn config() -> (tempfile::TempDir, Arc<Config>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("invsync.toml");
        std::fs::write(
            &path,
            "[accounting]\nkind = \"file\"\npath = \"a.csv\"\n[stores.shop]\nkind = \"file\"\npath = \"s.csv\"\n[stores.b]\nkind = \"file\"\npath = \"b.csv\"\n",
        )
        .expect("write");
        let config = invsync_config::load(&path).expect("a valid config");
        (dir, Arc::new(config))
    }

    fn loaded(rows: Vec<StatusRow>) -> Loaded {
        let report = StatusReport {
            store: "shop".to_owned(),
            orders_unknown: Vec::new(),
            in_orders: InOrdersMode::default(),
            rules: QuantityRules::default(),
            rows,
            unreadable: Vec::new(),
        };
        Loaded::new(report, Duration::ZERO, config().1)
    }

    #[test]
    fn filters_search_both_skus_and_the_name_and_count_per_status() {
        let loaded = loaded(vec![
            status_row("MUG-2", "Stoneware mug", Status::OutOfSync),
            status_row("TEE-S", "T-shirt (S)", Status::InSync),
            status_row("TEE-L", "T-shirt (L)", Status::InOrders),
            status_row("TEE", "T-shirt", Status::Base),
        ]);
        let skus =
            |f: &Filter| -> Vec<String> { loaded.matching(f).map(|r| r.sku.to_string()).collect() };
        let all = Filter::parse(Some("all"), None).expect("all");
        assert_eq!(skus(&all), ["MUG-2", "TEE-S", "TEE-L", "TEE"]);
        let out = Filter::parse(Some("out-of-sync"), Some("  ")).expect("status");
        assert_eq!(skus(&out), ["MUG-2"]);
        assert_eq!(out.status_param(), "out-of-sync");
        let shirts = Filter::parse(None, Some("t-SHIRT")).expect("search");
        assert_eq!(skus(&shirts), ["TEE-S", "TEE-L", "TEE"]);
        // The store's own SKU is searched too.
        let store_sku = Filter::parse(Some("in-sync"), Some("tee-s")).expect("search");
        assert_eq!(skus(&store_sku), ["TEE-S"]);
        assert!(Filter::parse(Some("nonsense"), None).is_err());
        assert_eq!(loaded.count(Status::InOrders), 1);
        assert_eq!(loaded.count(Status::Conflict), 0);
    }

    #[test]
    fn base_unmapped_and_conflict_rows_cannot_be_selected_and_say_why() {
        for (status, can, why) in [
            (Status::OutOfSync, true, None),
            (
                Status::InOrders,
                true,
                Some("held back until shop:#1042 is posted"),
            ),
            (Status::Base, false, Some("display-only and never synced")),
            (Status::Unmapped, false, Some("no partner")),
            (Status::Conflict, false, Some("appears twice")),
            (Status::InSync, false, None),
        ] {
            let mut notes = HashMap::new();
            let row = Row::new(status_row("X", "x", status), &mut notes);
            let (selectable, reason) = selectable(&row);
            assert_eq!(selectable, can, "{status}");
            match why {
                Some(why) => assert!(
                    reason.as_deref().is_some_and(|r| r.contains(why)),
                    "{status}: {reason:?}"
                ),
                None => assert!(reason.is_none(), "{status}: {reason:?}"),
            }
        }
    }

    #[test]
    fn the_store_is_the_named_one_or_the_first() {
        let (_dir, config) = config();
        assert_eq!(pick_store(&config, None).as_deref(), Ok("b"));
        assert_eq!(pick_store(&config, Some(" shop ")).as_deref(), Ok("shop"));
        assert!(pick_store(&config, Some("nope")).is_err());
    }
}
