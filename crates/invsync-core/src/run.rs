//! Run vocabulary shared by the engine and the run-history store.

use crate::plan::{Plan, SkipReason, Status};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// `sync_runs.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Partial,
    Failed,
    Skipped,
    Interrupted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Partial,
        RunStatus::Failed,
        RunStatus::Skipped,
        RunStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Skipped => "skipped",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn is_terminal(self) -> bool {
        self != RunStatus::Running
    }

    /// The status of a run that finished normally, from its counts: any failed product
    /// makes it `partial`, or `failed` when nothing was updated.
    pub fn from_counts(counts: &RunCounts) -> RunStatus {
        match (counts.failed, counts.updated) {
            (0, _) => RunStatus::Succeeded,
            (_, 0) => RunStatus::Failed,
            _ => RunStatus::Partial,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a run status"))
    }
}

/// `sync_runs.trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Manual,
    /// Started from the "Synchronize Products" web page (or its Run now).
    Web,
    /// Started by the order watch: only the quantities of the SKUs that store orders
    /// touched since its last pass (issue 18).
    Order,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Web => "web",
            Trigger::Order => "order",
        }
    }
}

impl FromStr for Trigger {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "schedule" => Ok(Trigger::Schedule),
            "manual" => Ok(Trigger::Manual),
            "web" => Ok(Trigger::Web),
            "order" => Ok(Trigger::Order),
            other => Err(format!("`{other}` is not a trigger")),
        }
    }
}

/// `sync_run_items.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemOutcome {
    Updated,
    Failed,
    Skipped,
}

impl ItemOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemOutcome::Updated => "updated",
            ItemOutcome::Failed => "failed",
            ItemOutcome::Skipped => "skipped",
        }
    }
}

impl FromStr for ItemOutcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "updated" => Ok(ItemOutcome::Updated),
            "failed" => Ok(ItemOutcome::Failed),
            "skipped" => Ok(ItemOutcome::Skipped),
            other => Err(format!("`{other}` is not an item outcome")),
        }
    }
}

/// The per-product counts of a run (`sync_runs` count columns). Each checked product lands
/// in exactly one bucket once the run has finished, so for a finished run
/// `checked = in_sync + updated + failed + skipped_in_orders + skipped_base + unmapped +
/// conflicts + skipped_other`. An interrupted run leaves unattempted products uncounted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub checked: i64,
    pub in_sync: i64,
    pub updated: i64,
    pub skipped_in_orders: i64,
    pub skipped_base: i64,
    pub unmapped: i64,
    pub failed: i64,
    /// Products never synced because their SKU is ambiguous (extension).
    pub conflicts: i64,
    /// Products with a difference invsync could not act on (extension): the target
    /// changed between read and write (not overwritten; the next run plans it again), a
    /// side has no value, or the master has no quantity. The item rows say which.
    pub skipped_other: i64,
}

/// The start of the `error` of an item held back because its product is in an unposted
/// order (`SkipReason::InOrders`, as recorded): how recovery tells those skips from others.
pub const IN_ORDERS_ITEM_PREFIX: &str = "in-orders:";

/// What one product's item rows say, for [`RunCounts::recount_from_items`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ItemSummary {
    /// An item `failed`.
    pub failed: bool,
    /// An item `updated`.
    pub updated: bool,
    /// An item `skipped` for another reason than an unposted order (stale, no value, …).
    pub skipped_other: bool,
    /// An item `skipped` because the product is in an unposted order.
    pub skipped_in_orders: bool,
}

/// What happened to one planned change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeResult {
    /// Not attempted (dry run, or the run was interrupted first).
    Pending,
    Applied,
    Failed,
    /// The target changed since it was read; left alone.
    Stale,
}

impl RunCounts {
    /// Tallies a plan whose changes ended with `results` (parallel to `plan.changes`).
    /// Products with changes still `Pending` are left out of every bucket but `checked`.
    pub fn tally(plan: &Plan, results: &[ChangeResult]) -> RunCounts {
        #[derive(Clone, Copy, Default)]
        struct Seen {
            applied: bool,
            failed: bool,
            stale: bool,
            pending: bool,
            held_back: bool,
        }
        let mut seen = vec![Seen::default(); plan.products.len()];
        for (change, result) in plan.changes.iter().zip(results) {
            if let Some(s) = seen.get_mut(change.product as usize) {
                match result {
                    ChangeResult::Pending => s.pending = true,
                    ChangeResult::Applied => s.applied = true,
                    ChangeResult::Failed => s.failed = true,
                    ChangeResult::Stale => s.stale = true,
                }
            }
        }
        for skip in &plan.skipped {
            if skip.reason != SkipReason::InOrders
                && skip.reason.is_difference()
                && let Some(s) = seen.get_mut(skip.product as usize)
            {
                s.held_back = true;
            }
        }
        let mut c = RunCounts {
            checked: plan.products.len() as i64,
            ..RunCounts::default()
        };
        for (product, s) in plan.products.iter().zip(&seen) {
            let bucket = match product.status {
                Status::Conflict => &mut c.conflicts,
                Status::Unmapped => &mut c.unmapped,
                Status::Base => &mut c.skipped_base,
                _ if s.failed => &mut c.failed,
                _ if s.applied => &mut c.updated,
                _ if s.pending => continue,
                _ if s.stale || s.held_back => &mut c.skipped_other,
                Status::InOrders => &mut c.skipped_in_orders,
                _ => &mut c.in_sync,
            };
            *bucket += 1;
        }
        c
    }

    /// Counts products by what their item rows say — all a run that was cut short leaves
    /// behind (recovery, ADR 0004): each `(summary, n)` is `n` products whose items add up
    /// to `summary`. The item-borne buckets (`failed`, `updated`, `skipped_other`,
    /// `skipped_in_orders`) are replaced, by the precedence of [`RunCounts::tally`]; the
    /// buckets items cannot show (`in_sync`, `skipped_base`, `unmapped`, `conflicts`) are
    /// kept, and `checked` grows to at least the sum of the buckets.
    pub fn recount_from_items(
        &self,
        products: impl IntoIterator<Item = (ItemSummary, i64)>,
    ) -> RunCounts {
        let mut c = RunCounts {
            failed: 0,
            updated: 0,
            skipped_other: 0,
            skipped_in_orders: 0,
            ..*self
        };
        for (s, n) in products {
            let bucket = if s.failed {
                &mut c.failed
            } else if s.updated {
                &mut c.updated
            } else if s.skipped_other {
                &mut c.skipped_other
            } else if s.skipped_in_orders {
                &mut c.skipped_in_orders
            } else {
                continue;
            };
            *bucket += n;
        }
        c.checked = c.checked.max(c.bucket_total());
        c
    }

    /// Sum of the buckets; equals `checked` for a finished run.
    pub fn bucket_total(&self) -> i64 {
        self.in_sync
            + self.updated
            + self.failed
            + self.skipped_in_orders
            + self.skipped_base
            + self.unmapped
            + self.conflicts
            + self.skipped_other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_orders_items_are_recognised_by_their_prefix() {
        assert!(
            SkipReason::InOrders
                .to_string()
                .starts_with(IN_ORDERS_ITEM_PREFIX)
        );
        assert!(
            !SkipReason::NoMasterQuantity
                .to_string()
                .starts_with(IN_ORDERS_ITEM_PREFIX)
        );
    }

    #[test]
    fn a_recount_from_items_follows_the_tally_precedence() {
        let summary = |failed, updated, skipped_other, skipped_in_orders| ItemSummary {
            failed,
            updated,
            skipped_other,
            skipped_in_orders,
        };
        let before = RunCounts {
            checked: 0,
            failed: 250,
            updated: 0,
            conflicts: 2,
            unmapped: 3,
            ..RunCounts::default()
        };
        let after = before.recount_from_items([
            (summary(true, true, false, false), 7), // failed wins over updated
            (summary(false, true, true, true), 11), // updated over any skip
            (summary(false, false, true, true), 13), // a stale write over in-orders
            (summary(false, false, false, true), 17), // in-orders only
            (summary(false, false, false, false), 19), // nothing to count
        ]);
        assert_eq!(
            after,
            RunCounts {
                checked: 7 + 11 + 13 + 17 + 2 + 3,
                failed: 7,
                updated: 11,
                skipped_other: 13,
                skipped_in_orders: 17,
                conflicts: 2,
                unmapped: 3,
                in_sync: 0,
                skipped_base: 0,
            }
        );
        // A run that had counted more keeps its `checked`.
        let counted = RunCounts {
            checked: 1000,
            ..before
        };
        assert_eq!(counted.recount_from_items([]).checked, 1000);
    }
    use crate::matching::{ConflictReason, PairKind, UnmappedReason};
    use crate::model::{Field, FieldValue, Side};
    use crate::plan::{PlannedChange, ProductPlan, SkippedChange};
    use proptest::prelude::*;

    /// One product of a finished (or cut short) run: its status, what happened to each of
    /// its planned changes, and the differences held back (with why).
    type Product<'a> = (Status, &'a [ChangeResult], &'a [SkipReason]);

    fn plan_of(products: &[Product<'_>]) -> (Plan, Vec<ChangeResult>) {
        let mut plan = Plan::default();
        let mut results = Vec::new();
        for (n, (status, changes, skips)) in products.iter().enumerate() {
            let product = u32::try_from(n).expect("small");
            let pair = match status {
                Status::Conflict => PairKind::Conflict(ConflictReason::DuplicateStoreSku),
                Status::Unmapped => PairKind::Unmapped(UnmappedReason::NoItem),
                _ => PairKind::Matched { manual: false },
            };
            plan.products.push(ProductPlan {
                accounting: Some(product),
                store: Some(product),
                status: *status,
                pair,
                price_differs: false,
                quantity_differs: false,
            });
            for (i, result) in changes.iter().enumerate() {
                plan.changes.push(PlannedChange {
                    product,
                    side: Side::Store,
                    record: product,
                    field: if i == 0 {
                        Field::Price
                    } else {
                        Field::Quantity
                    },
                    old: FieldValue::Quantity(1),
                    new: FieldValue::Quantity(2),
                    sale: None,
                });
                results.push(*result);
            }
            for reason in *skips {
                plan.skipped.push(SkippedChange {
                    product,
                    field: Field::Quantity,
                    old: None,
                    new: None,
                    reason: *reason,
                });
            }
        }
        (plan, results)
    }

    /// Which bucket one product lands in (`None`: only counted as checked).
    fn bucket(product: Product<'_>) -> Option<&'static str> {
        let (plan, results) = plan_of(&[product]);
        let c = RunCounts::tally(&plan, &results);
        assert_eq!(c.checked, 1);
        let buckets = [
            ("in_sync", c.in_sync),
            ("updated", c.updated),
            ("failed", c.failed),
            ("skipped_in_orders", c.skipped_in_orders),
            ("skipped_base", c.skipped_base),
            ("unmapped", c.unmapped),
            ("conflicts", c.conflicts),
            ("skipped_other", c.skipped_other),
        ];
        let hit: Vec<&str> = buckets
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, _)| *name)
            .collect();
        assert!(hit.len() <= 1, "{product:?} counted twice: {hit:?}");
        hit.first().copied()
    }

    #[test]
    fn each_product_lands_in_one_bucket() {
        use ChangeResult::{Applied, Failed, Pending, Stale};
        use SkipReason::{InOrders, MissingValue, NoMasterQuantity};
        let cases: &[(&str, Product<'_>, Option<&str>)] = &[
            ("nothing to do", (Status::InSync, &[], &[]), Some("in_sync")),
            (
                "written",
                (Status::OutOfSync, &[Applied], &[]),
                Some("updated"),
            ),
            (
                "one field written, the other failed: failed wins",
                (Status::OutOfSync, &[Applied, Failed], &[]),
                Some("failed"),
            ),
            (
                "changed since read and left alone",
                (Status::OutOfSync, &[Stale], &[]),
                Some("skipped_other"),
            ),
            (
                "a side has no value",
                (Status::OutOfSync, &[], &[MissingValue(Side::Store)]),
                Some("skipped_other"),
            ),
            (
                "the master has no quantity",
                (Status::OutOfSync, &[], &[NoMasterQuantity]),
                Some("skipped_other"),
            ),
            (
                "written, another field held back: updated",
                (Status::OutOfSync, &[Applied], &[NoMasterQuantity]),
                Some("updated"),
            ),
            (
                "in orders, quantity held back",
                (Status::InOrders, &[], &[InOrders]),
                Some("skipped_in_orders"),
            ),
            (
                "in orders, price written: updated",
                (Status::InOrders, &[Applied], &[InOrders]),
                Some("updated"),
            ),
            (
                "stock not tracked and the price in sync: in sync (no difference held back)",
                (
                    Status::InSync,
                    &[],
                    &[SkipReason::StockNotTracked(Side::Store)],
                ),
                Some("in_sync"),
            ),
            (
                "stock not tracked, price written: updated",
                (
                    Status::OutOfSync,
                    &[Applied],
                    &[SkipReason::StockNotTracked(Side::Store)],
                ),
                Some("updated"),
            ),
            (
                "not stocked at the location: held back",
                (
                    Status::OutOfSync,
                    &[],
                    &[SkipReason::NotStocked(Side::Store)],
                ),
                Some("skipped_other"),
            ),
            (
                "on sale in the store: the price is held back, never in sync",
                (
                    Status::OutOfSync,
                    &[],
                    &[SkipReason::OnSale(crate::model::Sale {
                        price: rust_decimal::Decimal::ONE,
                        until: None,
                    })],
                ),
                Some("skipped_other"),
            ),
            ("base", (Status::Base, &[], &[]), Some("skipped_base")),
            ("unmapped", (Status::Unmapped, &[], &[]), Some("unmapped")),
            ("conflict", (Status::Conflict, &[], &[]), Some("conflicts")),
            (
                "not attempted (interrupted): checked only",
                (Status::OutOfSync, &[Pending], &[]),
                None,
            ),
            (
                "one field written before the stop: updated",
                (Status::OutOfSync, &[Applied, Pending], &[]),
                Some("updated"),
            ),
        ];
        for (why, product, want) in cases {
            assert_eq!(bucket(*product), *want, "{why}");
        }
    }

    #[test]
    fn the_status_follows_the_counts() {
        let counts = |updated, failed| RunCounts {
            updated,
            failed,
            ..RunCounts::default()
        };
        assert_eq!(RunStatus::from_counts(&counts(0, 0)), RunStatus::Succeeded);
        assert_eq!(RunStatus::from_counts(&counts(3, 0)), RunStatus::Succeeded);
        assert_eq!(RunStatus::from_counts(&counts(3, 1)), RunStatus::Partial);
        assert_eq!(RunStatus::from_counts(&counts(0, 1)), RunStatus::Failed);
    }

    #[test]
    fn names_round_trip() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
        }
        for t in [
            Trigger::Schedule,
            Trigger::Manual,
            Trigger::Web,
            Trigger::Order,
        ] {
            assert_eq!(t.as_str().parse::<Trigger>(), Ok(t));
        }
        for o in [
            ItemOutcome::Updated,
            ItemOutcome::Failed,
            ItemOutcome::Skipped,
        ] {
            assert_eq!(o.as_str().parse::<ItemOutcome>(), Ok(o));
        }
    }

    fn arb_product() -> impl Strategy<Value = (Status, Vec<ChangeResult>, Vec<SkipReason>)> {
        let result = prop_oneof![
            Just(ChangeResult::Pending),
            Just(ChangeResult::Applied),
            Just(ChangeResult::Failed),
            Just(ChangeResult::Stale),
        ];
        let reason = prop_oneof![
            Just(SkipReason::InOrders),
            Just(SkipReason::NoMasterQuantity),
            Just(SkipReason::MissingValue(Side::Accounting)),
        ];
        (
            proptest::sample::select(Status::ALL.to_vec()),
            proptest::collection::vec(result, 0..3),
            proptest::collection::vec(reason, 0..2),
        )
    }

    proptest! {
        /// Every product is counted once: for a finished run (nothing pending) the buckets
        /// add up to `checked`; a run cut short leaves exactly its unattempted products out.
        #[test]
        fn buckets_add_up_to_checked(products in proptest::collection::vec(arb_product(), 0..20)) {
            let products: Vec<Product<'_>> = products
                .iter()
                .map(|(s, c, k)| (*s, c.as_slice(), k.as_slice()))
                .collect();
            let (plan, results) = plan_of(&products);
            let c = RunCounts::tally(&plan, &results);
            prop_assert_eq!(c.checked, products.len() as i64);
            let uncounted = products
                .iter()
                .filter(|(status, changes, _)| {
                    !matches!(status, Status::Base | Status::Unmapped | Status::Conflict)
                        && changes.contains(&ChangeResult::Pending)
                        && !changes.iter().any(|r| matches!(r, ChangeResult::Applied | ChangeResult::Failed))
                })
                .count() as i64;
            prop_assert_eq!(c.bucket_total() + uncounted, c.checked);
        }
    }
}
