//! `invsync-bench quickbooks-desktop`: the qbXML layer (builders and parsers of
//! `invsync_connectors::quickbooks_desktop`) against the QuickBooks Desktop company fake,
//! message set by message set, as the Web Connector would carry them — without the Web
//! Connector's SOAP round trips, which the endpoint adds later (issue 15).
//!
//! It reads N inventory items with an iterator (`MaxReturned`), writes P prices in message
//! sets of `--per-message-set` mods, adds A inventory adjustments in message sets of the
//! same size, then looks every adjustment up again by its marker (what a session does
//! after an answer was lost) and checks none is found missing. It counts round trips
//! (message sets) against the least `MaxReturned` and the message-set size allow, and
//! sets the fake's latency model (150 ms + 0.2 ms per item returned, issue 15 item 15)
//! against the time invsync and the fake spend on the text: the modeled time is the
//! bound; the CPU time on top of it is what this side adds.

use anyhow::{Context as _, bail, ensure};
use invsync_connectors::quickbooks_desktop::{
    AdjustmentAdd, AdjustmentLine, AdjustmentMarker, ItemList, ItemQuery, MessageSet, Outcome,
    PriceMod, RefQuery, ResponseSet, SkuField, TxnKind, classify, parse_response_set,
};
use invsync_test_support::quickbooks_desktop::{
    Company, DEFAULT_ADJUSTMENT_ACCOUNT, LatencyModel, NewItem, Stats,
};
use rust_decimal::Decimal;
use std::time::{Duration, Instant};

pub struct Options {
    pub items: usize,
    pub prices: usize,
    pub adjustments: usize,
    pub max_returned: u32,
    pub per_message_set: usize,
}

/// What one phase took.
struct Phase {
    name: &'static str,
    round_trips: u64,
    minimum: u64,
    modeled: Duration,
    cpu: Duration,
}

pub fn run(o: Options) -> anyhow::Result<()> {
    ensure!(
        o.per_message_set > 0,
        "--per-message-set must be at least 1"
    );
    if o.prices.max(o.adjustments) > o.items {
        bail!("--prices and --adjustments must not exceed --items");
    }
    let model = LatencyModel::default();
    let company = Company::new().without_xsd_check().with_latency(model);
    for n in 0..o.items {
        company.add_item(NewItem::inventory(
            &format!("SKU-{n:06}"),
            Decimal::new(1000 + (n as i64 % 5000), 2),
            1000,
        ));
    }
    let session = "bench";
    let mut phases = Vec::new();

    // Read: every item, page by page.
    let before = company.stats();
    let started = Instant::now();
    let mut items = Vec::with_capacity(o.items);
    let mut query = ItemQuery::start(ItemList::Inventory, o.max_returned, SkuField::Name);
    let mut trips = 0u64;
    loop {
        let mut set = MessageSet::new();
        let id = set.push(query.clone()).context("the read query")?;
        let answer = send(&company, session, &set)?;
        trips += 1;
        let response = answer
            .get(&id.to_string())
            .context("no answer to the read")?;
        match classify(&response.status, "ItemInventoryQueryRq") {
            Outcome::Ok => {}
            Outcome::NoMatch => break,
            other => bail!("read failed: {other:?}"),
        }
        for item in &response.items {
            items.push(item.clone().map_err(|e| anyhow::anyhow!("{e}"))?);
        }
        match &response.iterator {
            Some(it) if it.remaining > 0 => {
                query = ItemQuery::next_page(
                    ItemList::Inventory,
                    &it.id,
                    o.max_returned,
                    SkuField::Name,
                );
            }
            _ => break,
        }
    }
    ensure!(
        items.len() == o.items,
        "read {} of {} items",
        items.len(),
        o.items
    );
    phases.push(phase(
        &company,
        before,
        started,
        "read",
        trips,
        div_ceil(o.items, o.max_returned as usize),
    ));

    // Price writes: compare-and-set on the EditSequence each item was read with.
    let (before, started) = (company.stats(), Instant::now());
    let mut price_sets = Vec::new();
    for chunk in items[..o.prices].chunks(o.per_message_set) {
        let mut set = MessageSet::new();
        for item in chunk {
            set.push(PriceMod {
                list: item.list,
                list_id: item.list_id.clone(),
                edit_sequence: item.edit_sequence.clone().context("no EditSequence")?,
                sales_price: item.sales_price.unwrap_or_default() + Decimal::ONE,
            })?;
        }
        price_sets.push(set);
    }
    let minimum = div_ceil(o.prices, o.per_message_set);
    phases.push(write_phase(
        &company,
        (before, started),
        session,
        "price mods",
        minimum,
        &price_sets,
    )?);

    // Quantity writes: one adjustment per write key.
    let keys: Vec<String> = (0..o.adjustments)
        .map(|n| format!("invsync-bench-run-1-change-{n}-{n:016x}"))
        .collect();
    let (before, started) = (company.stats(), Instant::now());
    let mut adjustment_sets = Vec::new();
    for (chunk, chunk_keys) in items[..o.adjustments]
        .chunks(o.per_message_set)
        .zip(keys.chunks(o.per_message_set))
    {
        let mut set = MessageSet::new();
        for (item, key) in chunk.iter().zip(chunk_keys) {
            set.push(AdjustmentAdd {
                account: DEFAULT_ADJUSTMENT_ACCOUNT.into(),
                site: None,
                marker: AdjustmentMarker::for_write_key(key),
                lines: vec![AdjustmentLine {
                    list_id: item.list_id.clone(),
                    quantity_difference: Decimal::from(-3),
                }],
            })?;
        }
        adjustment_sets.push(set);
    }
    let minimum = div_ceil(o.adjustments, o.per_message_set);
    phases.push(write_phase(
        &company,
        (before, started),
        session,
        "adjustments",
        minimum,
        &adjustment_sets,
    )?);

    // After lost answers: every adjustment looked up by its marker, none sent again.
    let before = company.stats();
    let started = Instant::now();
    let mut trips = 0u64;
    let mut found = 0usize;
    for chunk_keys in keys.chunks(o.per_message_set) {
        let markers: Vec<AdjustmentMarker> = chunk_keys
            .iter()
            .map(|k| AdjustmentMarker::for_write_key(k))
            .collect();
        let mut set = MessageSet::new();
        let id = set.push(RefQuery {
            kind: TxnKind::InventoryAdjustment,
            ref_numbers: markers.iter().map(|m| m.ref_number.clone()).collect(),
        })?;
        let answer = send(&company, session, &set)?;
        trips += 1;
        let response = answer
            .get(&id.to_string())
            .context("no answer to the look-up")?;
        found += markers
            .iter()
            .filter(|m| {
                response
                    .transactions
                    .iter()
                    .any(|t| m.matches(t.ref_number.as_deref(), t.memo.as_deref()))
            })
            .count();
    }
    ensure!(
        found == o.adjustments,
        "found {found} of {} adjustments by marker",
        o.adjustments
    );
    phases.push(phase(
        &company,
        before,
        started,
        "look-ups by marker",
        trips,
        div_ceil(o.adjustments, o.per_message_set),
    ));
    ensure!(
        company.adjustments().len() == o.adjustments,
        "adjustments were sent twice"
    );

    println!(
        "quickbooks-desktop: {} items, MaxReturned {}, {} per message set, latency model {:?} + {:?}/item",
        o.items, o.max_returned, o.per_message_set, model.per_message_set, model.per_item_returned
    );
    println!(
        "| phase | round trips | minimum | ratio | modeled latency | CPU (invsync + fake) | (modeled + CPU) / modeled |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut total = (0, 0, Duration::ZERO, Duration::ZERO);
    for p in &phases {
        total.0 += p.round_trips;
        total.1 += p.minimum;
        total.2 += p.modeled;
        total.3 += p.cpu;
        print_row(p.name, p.round_trips, p.minimum, p.modeled, p.cpu);
    }
    print_row("total", total.0, total.1, total.2, total.3);
    Ok(())
}

fn print_row(name: &str, trips: u64, minimum: u64, modeled: Duration, cpu: Duration) {
    println!(
        "| {name} | {trips} | {minimum} | {:.3} | {:.2} s | {:.3} s | {:.4} |",
        trips as f64 / minimum.max(1) as f64,
        modeled.as_secs_f64(),
        cpu.as_secs_f64(),
        (modeled + cpu).as_secs_f64() / modeled.as_secs_f64().max(f64::MIN_POSITIVE),
    );
}

/// Sends every message set of writes and checks each write was applied; the phase is
/// timed from `(before, started)`, taken before the sets were built.
fn write_phase(
    company: &Company,
    (before, started): (Stats, Instant),
    session: &str,
    name: &'static str,
    minimum: u64,
    sets: &[MessageSet],
) -> anyhow::Result<Phase> {
    for set in sets {
        let answer = send(company, session, set)?;
        expect_all_ok(&answer, set)?;
    }
    Ok(phase(
        company,
        before,
        started,
        name,
        sets.len() as u64,
        minimum,
    ))
}

fn div_ceil(n: usize, d: usize) -> u64 {
    n.div_ceil(d.max(1)) as u64
}

fn phase(
    company: &Company,
    before: Stats,
    started: Instant,
    name: &'static str,
    round_trips: u64,
    minimum: u64,
) -> Phase {
    let after = company.stats();
    Phase {
        name,
        round_trips,
        minimum,
        modeled: after.modeled - before.modeled,
        cpu: started.elapsed(),
    }
}

fn send(company: &Company, session: &str, set: &MessageSet) -> anyhow::Result<ResponseSet> {
    let text = company
        .handle(session, &set.to_xml())
        .map_err(|h| anyhow::anyhow!("the company answered {h}"))?;
    Ok(parse_response_set(&text)?)
}

fn expect_all_ok(answer: &ResponseSet, set: &MessageSet) -> anyhow::Result<()> {
    ensure!(
        answer.responses.len() == set.len(),
        "{} answers to {} requests",
        answer.responses.len(),
        set.len()
    );
    for (id, request) in set.requests() {
        let response = answer
            .get(&id.to_string())
            .context("a request without its answer")?;
        match classify(&response.status, request.element()) {
            Outcome::Ok => {}
            other => bail!("{} {id}: {other:?}", request.element()),
        }
    }
    Ok(())
}
