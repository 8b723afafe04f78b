use super::*;
use crate::matching::match_catalogs;
use crate::model::Mapping;
use crate::model::{Sale, SaleAction, SalePolicy};
use crate::orders::OrderLine;
use proptest::prelude::*;
use rust_decimal::Decimal;

fn rec(sku: &str, price: Option<&str>, quantity: Option<i64>, kind: ItemKind) -> Record {
    Record {
        id: "".into(),
        sku: sku.into(),
        name: "".into(),
        kind,
        price: price.map(|p| p.parse::<Decimal>().expect("price")),
        quantity,
        sale: None,
    }
}

fn inv(sku: &str, price: &str, quantity: i64) -> Record {
    rec(sku, Some(price), Some(quantity), ItemKind::Inventory)
}

fn untracked(sku: &str, price: &str) -> Record {
    rec(sku, Some(price), None, ItemKind::Untracked)
}

fn not_stocked(sku: &str, price: &str) -> Record {
    rec(sku, Some(price), None, ItemKind::NotStocked)
}

/// A listing whose regular price is `price`, on sale at `sale` (until the end of 2026).
fn on_sale(sku: &str, price: &str, sale: &str, quantity: i64) -> Record {
    Record {
        sale: Some(Box::new(Sale {
            price: sale.parse().expect("sale price"),
            until: Some(
                chrono::DateTime::parse_from_rfc3339("2026-12-31T23:59:59Z")
                    .expect("date")
                    .to_utc(),
            ),
        })),
        ..inv(sku, price, quantity)
    }
}

fn base(sku: &str) -> Record {
    rec(sku, Some("1"), Some(0), ItemKind::Base)
}

fn order(sku: &str, quantity: i64) -> OrderLine {
    OrderLine {
        store: "web".into(),
        order: "1001".into(),
        sku: sku.into(),
        quantity,
    }
}

/// A table case: the two catalogs, orders, settings, request, and the expected result
/// rendered compactly.
struct Case {
    why: &'static str,
    acct: Vec<Record>,
    store: Vec<Record>,
    orders: Vec<OrderLine>,
    mode: InOrdersMode,
    rules: QuantityRules,
    master: Master,
    update: Side,
    fields: FieldSet,
    selection: Selection,
    sale_price: SalePolicy,
    /// `Ok(["SKU:status", "SKU:field old->new", "SKU:field skipped(reason)"])` or the error.
    want: Result<Vec<&'static str>, &'static str>,
}

#[derive(Clone, Copy)]
enum Master {
    Accounting,
    ThisStore,
    Other(&'static [Option<i64>]),
}

impl Default for Case {
    fn default() -> Self {
        Case {
            why: "",
            acct: vec![],
            store: vec![],
            orders: vec![],
            mode: InOrdersMode::Skip,
            rules: QuantityRules::default(),
            master: Master::Accounting,
            update: Side::Store,
            fields: FieldSet::BOTH,
            selection: Selection::All,
            sale_price: SalePolicy::Hold,
            want: Ok(vec![]),
        }
    }
}

fn run_case(c: &Case) -> Result<Vec<String>, String> {
    let matching = match_catalogs(&c.acct, &c.store, &[]);
    let orders = OrderBook::from_lines(&c.orders);
    let master = match c.master {
        Master::Accounting => MasterQuantities::Accounting,
        Master::ThisStore => MasterQuantities::ThisStore,
        Master::Other(q) => MasterQuantities::OtherStore(q),
    };
    let input = PlanInput {
        accounting: &c.acct,
        store: &c.store,
        matching: &matching,
        master,
        orders: &orders,
        in_orders: c.mode,
        rules: c.rules,
        sale_price: c.sale_price,
    };
    let request = PlanRequest {
        update: c.update,
        fields: c.fields,
        selection: c.selection.clone(),
    };
    let plan = plan(&input, &request).map_err(|e| e.to_string())?;
    let sku_of = |p: &ProductPlan| {
        p.accounting
            .map(|i| c.acct[i as usize].sku.to_string())
            .or_else(|| p.store.map(|j| c.store[j as usize].sku.to_string()))
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for p in &plan.products {
        out.push(format!("{}:{}", sku_of(p), p.status));
    }
    for ch in &plan.changes {
        let sku = sku_of(&plan.products[ch.product as usize]);
        let sale = match ch.sale {
            None => "",
            Some(SaleAction::End) => " ending the sale",
            Some(SaleAction::Set) => " as the sale price",
        };
        out.push(format!("{sku}:{} {}->{}{sale}", ch.field, ch.old, ch.new));
    }
    for s in &plan.skipped {
        let sku = sku_of(&plan.products[s.product as usize]);
        let reason = match s.reason {
            // The sale's price is enough to tell cases apart.
            SkipReason::OnSale(sale) => format!("OnSale({})", sale.price),
            SkipReason::SaleNotBelowRegular { sale, regular } => {
                format!("SaleNotBelowRegular({}, {regular})", sale.price)
            }
            other => format!("{other:?}"),
        };
        out.push(format!("{sku}:{} skipped({reason})", s.field));
    }
    Ok(out)
}

#[test]
fn table() {
    let skus =
        |list: &[&str]| Selection::Skus(list.iter().filter_map(|s| SkuKey::new(s)).collect());
    let cases = vec![
        Case {
            why: "price and quantity flow from the accounting master to the store",
            acct: vec![inv("A", "12.50", 7)],
            store: vec![inv("a", "11.00", 9)],
            want: Ok(vec![
                "A:out-of-sync",
                "A:quantity 9->7",
                "A:price 11.00->12.50",
            ]),
            ..Case::default()
        },
        Case {
            why: "equal decimals with different scale are in sync",
            acct: vec![inv("A", "12.5", 3)],
            store: vec![inv("A", "12.50", 3)],
            want: Ok(vec!["A:in-sync"]),
            ..Case::default()
        },
        Case {
            why: "only the requested field is compared",
            acct: vec![inv("A", "12.5", 3)],
            store: vec![inv("A", "10", 3)],
            fields: FieldSet::QUANTITY,
            want: Ok(vec!["A:in-sync"]),
            ..Case::default()
        },
        Case {
            why: "base on either side is never synced",
            acct: vec![base("A"), inv("B", "1", 1)],
            store: vec![inv("A", "2", 2), base("B")],
            want: Ok(vec!["A:base", "B:base"]),
            ..Case::default()
        },
        Case {
            why: "conflicts and unmapped products are never synced",
            acct: vec![inv("A", "1", 1), inv("a", "1", 1), inv("C", "1", 1)],
            store: vec![inv("A", "2", 2), inv("D", "2", 2)],
            want: Ok(vec![
                "A:conflict",
                "a:conflict",
                "C:unmapped",
                "A:conflict",
                "D:unmapped",
            ]),
            ..Case::default()
        },
        Case {
            why: "in-orders (skip): quantity held back, price still synced",
            acct: vec![inv("A", "5", 10)],
            store: vec![inv("A", "4", 8)],
            orders: vec![order("a", 2)],
            want: Ok(vec![
                "A:in-orders",
                "A:price 4->5",
                "A:quantity skipped(InOrders)",
            ]),
            ..Case::default()
        },
        Case {
            why: "in-orders with nothing to write is still in-orders",
            acct: vec![inv("A", "5", 10)],
            store: vec![inv("A", "5", 10)],
            orders: vec![order("A", 2)],
            want: Ok(vec!["A:in-orders"]),
            ..Case::default()
        },
        Case {
            why: "in-orders (reserve): the store is offered master minus reserved",
            acct: vec![inv("A", "5", 10)],
            store: vec![inv("A", "5", 8)],
            orders: vec![order("A", 2), order("A", 1)],
            mode: InOrdersMode::Reserve,
            want: Ok(vec!["A:in-orders", "A:quantity 8->7"]),
            ..Case::default()
        },
        Case {
            why: "reserve only holds back in-orders SKUs",
            acct: vec![inv("B", "5", 10)],
            store: vec![inv("B", "5", 8)],
            orders: vec![order("A", 2)],
            mode: InOrdersMode::Reserve,
            want: Ok(vec!["B:out-of-sync", "B:quantity 8->10"]),
            ..Case::default()
        },
        Case {
            why: "store quantity rules: buffer, share and cap",
            acct: vec![inv("A", "5", 100), inv("B", "5", 3)],
            store: vec![inv("A", "5", 100), inv("B", "5", 3)],
            rules: QuantityRules {
                buffer: 2,
                max_quantity: Some(40),
                share: 50,
            },
            want: Ok(vec![
                "A:out-of-sync",
                "B:out-of-sync",
                "A:quantity 100->40",
                "B:quantity 3->0",
            ]),
            ..Case::default()
        },
        Case {
            why: "a negative master quantity offers 0",
            acct: vec![inv("A", "5", -4)],
            store: vec![inv("A", "5", 1)],
            fields: FieldSet::QUANTITY,
            want: Ok(vec!["A:out-of-sync", "A:quantity 1->0"]),
            ..Case::default()
        },
        Case {
            why: "accounting side: price from the store",
            acct: vec![inv("A", "5", 1)],
            store: vec![inv("A", "6", 9)],
            update: Side::Accounting,
            fields: FieldSet::PRICE,
            want: Ok(vec!["A:out-of-sync", "A:price 5->6"]),
            ..Case::default()
        },
        Case {
            why: "accounting side: exactly one field",
            update: Side::Accounting,
            fields: FieldSet::BOTH,
            want: Err(
                "an accounting-side update carries exactly one field (price or quantity), not price,quantity",
            ),
            ..Case::default()
        },
        Case {
            why: "accounting side: quantity never flows into the accounting master",
            update: Side::Accounting,
            fields: FieldSet::QUANTITY,
            want: Err(
                "quantity only flows out of the master inventory location; updating the accounting side's quantity from a store would write it into the accounting side, which is the master",
            ),
            ..Case::default()
        },
        Case {
            why: "accounting side: quantity only from the master store",
            update: Side::Accounting,
            fields: FieldSet::QUANTITY,
            master: Master::Other(&[]),
            want: Err(
                "quantity only flows out of the master inventory location; updating the accounting side's quantity from a store that is not the master would write it into the accounting side",
            ),
            ..Case::default()
        },
        Case {
            why: "store side: quantity never flows into the master store",
            update: Side::Store,
            fields: FieldSet::QUANTITY,
            master: Master::ThisStore,
            want: Err(
                "quantity only flows out of the master inventory location; updating the store side's quantity from the accounting side would write it into this store, which is the master",
            ),
            ..Case::default()
        },
        Case {
            why: "store side: no fields",
            fields: FieldSet::default(),
            want: Err("no fields to update: choose price, quantity or both"),
            ..Case::default()
        },
        Case {
            why: "accounting side: quantity from the master store, rules not applied",
            acct: vec![inv("A", "5", 10)],
            store: vec![inv("A", "5", 4)],
            rules: QuantityRules {
                buffer: 2,
                max_quantity: Some(1),
                share: 50,
            },
            update: Side::Accounting,
            fields: FieldSet::QUANTITY,
            master: Master::ThisStore,
            want: Ok(vec!["A:out-of-sync", "A:quantity 10->4"]),
            ..Case::default()
        },
        Case {
            why: "accounting side from the master store: in-orders held back even in reserve mode",
            acct: vec![inv("A", "5", 10)],
            store: vec![inv("A", "5", 4)],
            orders: vec![order("A", 6)],
            mode: InOrdersMode::Reserve,
            update: Side::Accounting,
            fields: FieldSet::QUANTITY,
            master: Master::ThisStore,
            want: Ok(vec!["A:in-orders", "A:quantity skipped(InOrders)"]),
            ..Case::default()
        },
        Case {
            why: "another store is the master: its quantity, or a skip where it has none",
            acct: vec![inv("A", "5", 10), inv("B", "5", 10)],
            store: vec![inv("A", "5", 1), inv("B", "5", 1)],
            fields: FieldSet::QUANTITY,
            master: Master::Other(&[Some(3), None]),
            want: Ok(vec![
                "A:out-of-sync",
                "B:out-of-sync",
                "A:quantity 1->3",
                "B:quantity skipped(NoMasterQuantity)",
            ]),
            ..Case::default()
        },
        Case {
            why: "a missing value is skipped, not guessed",
            acct: vec![rec("A", None, Some(1), ItemKind::Inventory)],
            store: vec![rec("A", Some("3"), None, ItemKind::Inventory)],
            want: Ok(vec![
                "A:out-of-sync",
                "A:price skipped(MissingValue(Accounting))",
                "A:quantity skipped(MissingValue(Store))",
            ]),
            ..Case::default()
        },
        Case {
            why: "selection by SKU matches either side's SKU",
            acct: vec![inv("A", "1", 1), inv("B", "1", 1), inv("C", "1", 1)],
            store: vec![inv("A", "2", 1), inv("B", "2", 1), inv("c", "2", 1)],
            fields: FieldSet::PRICE,
            selection: skus(&["b", "C"]),
            want: Ok(vec![
                "B:out-of-sync",
                "C:out-of-sync",
                "B:price 2->1",
                "C:price 2->1",
            ]),
            ..Case::default()
        },
        Case {
            why: "stock not tracked in the store: the price syncs, the quantity is held back (no difference)",
            acct: vec![inv("A", "5", 10), inv("B", "5", 10)],
            store: vec![untracked("A", "4"), untracked("B", "5")],
            want: Ok(vec![
                "A:out-of-sync",
                "B:in-sync",
                "A:price 4->5",
                "A:quantity skipped(StockNotTracked(Store))",
                "B:quantity skipped(StockNotTracked(Store))",
            ]),
            ..Case::default()
        },
        Case {
            why: "a non-inventory accounting item with a price: the price syncs to a tracked listing",
            acct: vec![untracked("A", "5")],
            store: vec![inv("A", "4", 3)],
            want: Ok(vec![
                "A:out-of-sync",
                "A:price 4->5",
                "A:quantity skipped(StockNotTracked(Accounting))",
            ]),
            ..Case::default()
        },
        Case {
            why: "untracked stock and a price-only sync: nothing to say about quantity",
            acct: vec![inv("A", "5", 10)],
            store: vec![untracked("A", "5")],
            fields: FieldSet::PRICE,
            want: Ok(vec!["A:in-sync"]),
            ..Case::default()
        },
        Case {
            why: "untracked stock on the accounting side is never written from the master store",
            acct: vec![untracked("A", "5")],
            store: vec![inv("A", "5", 3)],
            update: Side::Accounting,
            fields: FieldSet::QUANTITY,
            master: Master::ThisStore,
            want: Ok(vec![
                "A:in-sync",
                "A:quantity skipped(StockNotTracked(Accounting))",
            ]),
            ..Case::default()
        },
        Case {
            why: "not stocked at the synced location: the price syncs, the quantity is a held-back difference",
            acct: vec![inv("A", "5", 10), inv("B", "5", 10)],
            store: vec![not_stocked("A", "4"), not_stocked("B", "5")],
            want: Ok(vec![
                "A:out-of-sync",
                "B:out-of-sync",
                "A:price 4->5",
                "A:quantity skipped(NotStocked(Store))",
                "B:quantity skipped(NotStocked(Store))",
            ]),
            ..Case::default()
        },
        Case {
            why: "on sale (hold): the price shoppers pay differs, so it is held back and never in sync, even when the regular price matches",
            acct: vec![inv("A", "3.60", 5), inv("B", "3.60", 5)],
            store: vec![
                on_sale("A", "3.35", "3.35", 5),
                on_sale("B", "3.60", "3.35", 5),
            ],
            want: Ok(vec![
                "A:out-of-sync",
                "B:out-of-sync",
                "A:price skipped(OnSale(3.35))",
                "B:price skipped(OnSale(3.35))",
            ]),
            ..Case::default()
        },
        Case {
            why: "on sale at the accounting price: shoppers pay it, so it is in sync",
            acct: vec![inv("A", "3.35", 5)],
            store: vec![on_sale("A", "3.60", "3.35", 5)],
            want: Ok(vec!["A:in-sync"]),
            ..Case::default()
        },
        Case {
            why: "on sale (clear): the sale ends and the regular price is written; old is what shoppers paid",
            acct: vec![inv("A", "3.60", 5), inv("B", "3.60", 5)],
            store: vec![
                on_sale("A", "3.35", "3.35", 5),
                on_sale("B", "3.60", "3.35", 5),
            ],
            fields: FieldSet::PRICE,
            sale_price: SalePolicy::Clear,
            want: Ok(vec![
                "A:out-of-sync",
                "B:out-of-sync",
                "A:price 3.35->3.60 ending the sale",
                "B:price 3.35->3.60 ending the sale",
            ]),
            ..Case::default()
        },
        Case {
            why: "on sale (write): the price becomes the sale price while it is below the regular price",
            acct: vec![inv("A", "3.00", 5), inv("B", "4.00", 5)],
            store: vec![
                on_sale("A", "3.60", "3.35", 5),
                on_sale("B", "3.60", "3.35", 5),
            ],
            fields: FieldSet::PRICE,
            sale_price: SalePolicy::Write,
            want: Ok(vec![
                "A:out-of-sync",
                "B:out-of-sync",
                "A:price 3.35->3.00 as the sale price",
                "B:price skipped(SaleNotBelowRegular(3.35, 3.60))",
            ]),
            ..Case::default()
        },
        Case {
            why: "on sale: the quantity still syncs",
            acct: vec![inv("A", "3.60", 7)],
            store: vec![on_sale("A", "3.60", "3.35", 5)],
            fields: FieldSet::QUANTITY,
            want: Ok(vec!["A:out-of-sync", "A:quantity 5->7"]),
            ..Case::default()
        },
        Case {
            why: "accounting side from a listing on sale: held back whatever the policy (the sale price is not the accounting price)",
            acct: vec![inv("A", "3.60", 5), inv("B", "3.35", 5)],
            store: vec![
                on_sale("A", "3.60", "3.35", 5),
                on_sale("B", "3.60", "3.35", 5),
            ],
            update: Side::Accounting,
            fields: FieldSet::PRICE,
            sale_price: SalePolicy::Clear,
            want: Ok(vec![
                "A:out-of-sync",
                "B:in-sync",
                "A:price skipped(OnSale(3.35))",
            ]),
            ..Case::default()
        },
        Case {
            why: "selection by status",
            acct: vec![inv("A", "1", 1), inv("B", "1", 1), base("C")],
            store: vec![inv("A", "1", 1), inv("B", "2", 1), inv("C", "2", 1)],
            selection: Selection::Statuses(vec![Status::OutOfSync, Status::Base]),
            want: Ok(vec!["B:out-of-sync", "C:base", "B:price 2->1"]),
            ..Case::default()
        },
    ];
    for c in &cases {
        let got = run_case(c);
        let want = c
            .want
            .clone()
            .map(|v| v.into_iter().map(String::from).collect::<Vec<_>>())
            .map_err(String::from);
        assert_eq!(got, want, "{}", c.why);
    }
}

// ---- property tests -------------------------------------------------------------------

fn arb_record() -> impl Strategy<Value = Record> {
    (
        "[ABCD]{0,2}",
        proptest::option::weighted(0.9, 0i64..500),
        proptest::option::weighted(0.9, -5i64..50),
        prop_oneof![
            6 => Just(ItemKind::Inventory),
            1 => Just(ItemKind::Untracked),
            1 => Just(ItemKind::NotStocked),
            2 => Just(ItemKind::Base)
        ],
        proptest::option::weighted(0.2, 0i64..500),
    )
        .prop_map(|(sku, cents, quantity, kind, sale)| Record {
            id: "".into(),
            sku: sku.into(),
            name: "".into(),
            kind,
            price: cents.map(|c| Decimal::new(c, 2)),
            quantity,
            sale: sale.map(|c| {
                Box::new(Sale {
                    price: Decimal::new(c, 2),
                    until: None,
                })
            }),
        })
}

#[derive(Debug, Clone)]
struct World {
    acct: Vec<Record>,
    store: Vec<Record>,
    maps: Vec<Mapping>,
    orders: Vec<OrderLine>,
    mode: InOrdersMode,
    rules: QuantityRules,
    master: u8, // 0 accounting, 1 this store, 2 another store
    other: Vec<Option<i64>>,
    update: Side,
    fields: FieldSet,
    sale_price: SalePolicy,
}

fn arb_world() -> impl Strategy<Value = World> {
    (
        proptest::collection::vec(arb_record(), 0..12),
        proptest::collection::vec(arb_record(), 0..12),
        proptest::collection::vec(("[ABCD]{1,2}", "[ABCD]{1,2}"), 0..3),
        proptest::collection::vec(("[ABCD]{1,2}", 0i64..4), 0..4),
        any::<bool>(),
        (0u32..5, proptest::option::of(0u32..30), 0u8..=100),
        0u8..3,
        proptest::collection::vec(proptest::option::of(-3i64..40), 12),
        any::<bool>(),
        1u8..4,
        prop_oneof![
            Just(SalePolicy::Hold),
            Just(SalePolicy::Clear),
            Just(SalePolicy::Write)
        ],
    )
        .prop_map(
            |(
                acct,
                store,
                maps,
                orders,
                reserve,
                (buffer, cap, share),
                master,
                other,
                acct_side,
                fields,
                sale_price,
            )| World {
                acct,
                store,
                maps: maps
                    .into_iter()
                    .map(|(s, a)| Mapping {
                        store_sku: s,
                        accounting_sku: a,
                    })
                    .collect(),
                orders: orders
                    .into_iter()
                    .map(|(sku, q)| OrderLine {
                        store: "s".into(),
                        order: "1".into(),
                        sku: sku.into(),
                        quantity: q,
                    })
                    .collect(),
                mode: if reserve {
                    InOrdersMode::Reserve
                } else {
                    InOrdersMode::Skip
                },
                rules: QuantityRules {
                    buffer,
                    max_quantity: cap,
                    share,
                },
                master,
                other,
                update: if acct_side {
                    Side::Accounting
                } else {
                    Side::Store
                },
                fields: FieldSet {
                    price: fields & 1 != 0,
                    quantity: fields & 2 != 0,
                },
                sale_price,
            },
        )
}

impl World {
    fn plan(&self) -> (Matching, Result<Plan, PlanError>) {
        let matching = match_catalogs(&self.acct, &self.store, &self.maps);
        let orders = OrderBook::from_lines(&self.orders);
        let master = match self.master {
            0 => MasterQuantities::Accounting,
            1 => MasterQuantities::ThisStore,
            _ => MasterQuantities::OtherStore(&self.other),
        };
        let input = PlanInput {
            accounting: &self.acct,
            store: &self.store,
            matching: &matching,
            master,
            orders: &orders,
            in_orders: self.mode,
            rules: self.rules,
            sale_price: self.sale_price,
        };
        let request = PlanRequest {
            update: self.update,
            fields: self.fields,
            selection: Selection::All,
        };
        let plan = plan(&input, &request);
        (matching, plan)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A plan never writes a `base`, `conflict` or `unmapped` product, and never the
    /// quantity of an `in-orders` product in skip mode (or on the accounting side).
    #[test]
    fn never_writes_what_must_not_be_synced(w in arb_world()) {
        let (_, plan) = w.plan();
        let Ok(plan) = plan else { return Ok(()) };
        for ch in &plan.changes {
            let p = plan.products[ch.product as usize];
            prop_assert!(!matches!(p.status, Status::Base | Status::Conflict | Status::Unmapped), "{p:?}");
            if p.status == Status::InOrders && ch.field == Field::Quantity {
                prop_assert!(w.mode == InOrdersMode::Reserve && ch.side == Side::Store, "{ch:?}");
            }
        }
    }

    /// An accounting-side plan carries exactly one field.
    #[test]
    fn accounting_side_plans_carry_one_field(w in arb_world()) {
        let (_, plan) = w.plan();
        if w.update == Side::Accounting {
            if let Ok(plan) = plan {
                prop_assert_eq!(w.fields.len(), 1);
                prop_assert!(plan.changes.iter().all(|c| w.fields.contains(c.field)));
            }
            if w.fields.len() != 1 {
                prop_assert!(w.plan().1.is_err());
            }
        }
    }

    /// Quantity never flows into the master from a non-master.
    #[test]
    fn quantity_never_flows_into_the_master(w in arb_world()) {
        let (_, plan) = w.plan();
        let into_master = match w.update {
            Side::Accounting => w.master != 1, // accounting written from a store that is not the master
            Side::Store => w.master == 1,      // the master store written from accounting
        };
        if into_master && w.fields.quantity {
            prop_assert!(plan.is_err());
        }
        if let Ok(plan) = plan && into_master {
            prop_assert!(plan.changes.iter().all(|c| c.field != Field::Quantity));
        }
    }

    /// Every change starts from the value that was read and changes it; a store is never
    /// offered more than the master can still sell.
    #[test]
    fn changes_are_real_and_within_the_master(w in arb_world()) {
        let (_, plan) = w.plan();
        let Ok(plan) = plan else { return Ok(()) };
        let orders = OrderBook::from_lines(&w.orders);
        for ch in &plan.changes {
            let target = match ch.side { Side::Store => &w.store, Side::Accounting => &w.acct };
            let record = &target[ch.record as usize];
            let read = match ch.field {
                // What shoppers paid: the sale price of a listing on sale.
                Field::Price if ch.side == Side::Store => record.charged_price().map(FieldValue::Price),
                _ => record.value(ch.field),
            };
            prop_assert_eq!(read, Some(ch.old));
            prop_assert_eq!(ch.sale.is_some(), ch.side == Side::Store && record.sale.is_some() && ch.field == Field::Price);
            if ch.field == Field::Quantity {
                prop_assert!(record.kind == ItemKind::Inventory, "{record:?}");
            }
            prop_assert_ne!(ch.old, ch.new);
            if let (Side::Store, FieldValue::Quantity(q)) = (ch.side, ch.new) {
                let p = plan.products[ch.product as usize];
                let a = p.accounting.expect("matched") as usize;
                let master = match w.master { 0 => w.acct[a].quantity, _ => w.other[a] }.expect("master");
                let reserved = match w.mode {
                    InOrdersMode::Reserve => SkuKey::new(&w.acct[a].sku).and_then(|k| orders.held(&k)).map_or(0, |h| h.quantity),
                    InOrdersMode::Skip => 0,
                };
                prop_assert!(q >= 0);
                prop_assert!(q <= (master - reserved).max(0));
            }
        }
    }

    /// Applying a plan and planning again yields nothing to do.
    #[test]
    fn applying_a_plan_then_planning_again_is_a_no_op(w in arb_world()) {
        let (_, plan) = w.plan();
        let Ok(plan) = plan else { return Ok(()) };
        let mut after = w.clone();
        for ch in &plan.changes {
            let target = match ch.side { Side::Store => &mut after.store, Side::Accounting => &mut after.acct };
            target[ch.record as usize].apply(ch.new, ch.sale);
        }
        let (_, again) = after.plan();
        let again = again.expect("the same request stays valid");
        prop_assert!(again.changes.is_empty(), "{:?}", again.changes);
        prop_assert_eq!(again.products.len(), plan.products.len());
    }
}

/// Issue 17 item 3: every quantity write of a run goes before any price write, so stock
/// never waits behind a catalog-wide price change; within a field the catalog's order holds.
#[test]
fn quantities_are_written_before_prices() {
    let c = Case {
        acct: vec![
            inv("A", "12.50", 7),
            inv("B", "3.00", 1),
            inv("C", "4.00", 2),
        ],
        store: vec![
            inv("A", "11.00", 9),
            inv("B", "2.00", 1),
            inv("C", "4.00", 5),
        ],
        ..Case::default()
    };
    let out = run_case(&c).expect("a valid request");
    let changes: Vec<&str> = out
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains("->"))
        .collect();
    assert_eq!(
        changes,
        [
            "A:quantity 9->7",
            "C:quantity 5->2",
            "A:price 11.00->12.50",
            "B:price 2.00->3.00"
        ]
    );
}

#[test]
fn status_names_round_trip() {
    for s in Status::ALL {
        assert_eq!(s.as_str().parse::<Status>(), Ok(s));
    }
    assert!("broken".parse::<Status>().is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A listing on sale is never reported in sync while shoppers pay another price than
    /// the accounting side's (rule 3), and an untracked product's quantity is never written.
    #[test]
    fn a_sale_at_another_price_is_never_in_sync(w in arb_world()) {
        let (_, plan) = w.plan();
        let Ok(plan) = plan else { return Ok(()) };
        for p in plan.products.iter().filter(|_| w.fields.price) {
            let (Some(a), Some(s)) = (p.accounting, p.store) else { continue };
            let (acct, listing) = (&w.acct[a as usize], &w.store[s as usize]);
            if p.status == Status::InSync
                && let (Some(sale), Some(price)) = (listing.sale.as_deref().copied(), acct.price)
            {
                prop_assert_eq!(sale.price, price, "{:?} / {:?}", acct, listing);
            }
        }
        for ch in plan.changes.iter().filter(|c| c.field == Field::Quantity) {
            let p = plan.products[ch.product as usize];
            let (Some(a), Some(s)) = (p.accounting, p.store) else { continue };
            prop_assert!(w.acct[a as usize].kind == ItemKind::Inventory);
            prop_assert!(w.store[s as usize].kind == ItemKind::Inventory);
        }
    }
}
