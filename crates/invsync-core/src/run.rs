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
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }
}

impl FromStr for Trigger {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "schedule" => Ok(Trigger::Schedule),
            "manual" => Ok(Trigger::Manual),
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
