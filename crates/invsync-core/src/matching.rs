//! Matching accounting items to store listings (product.md rule 2).
//!
//! Automatic matching is by SKU (trimmed, case-insensitive). A manual mapping for a store
//! SKU overrides it. A SKU that appears twice on one side is a `conflict`, and so is an
//! accounting item that two listings claim: neither is ever synced, because any value
//! written would be a guess. Records without a partner are `unmapped`.
//!
//! Every record of both sides ends up in exactly one [`Pair`].

use crate::model::{Mapping, Record};
use crate::sku::{SkuKey, sku_eq, with_normalized};
use hashbrown::HashTable;
use std::collections::HashMap;
use std::hash::BuildHasher;

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Why a record could not be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairKind {
    /// An accounting item and a store listing that belong together.
    Matched { manual: bool },
    /// The record has no partner.
    Unmapped(UnmappedReason),
    /// The record is ambiguous and is never synced.
    Conflict(ConflictReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnmappedReason {
    /// The record has no SKU.
    NoSku,
    /// An accounting item that no listing of this store matches.
    NoListing,
    /// A listing whose SKU matches no accounting item.
    NoItem,
    /// A listing manually mapped to an accounting SKU that does not exist.
    MappedItemMissing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictReason {
    /// The SKU appears more than once on the accounting side.
    DuplicateAccountingSku,
    /// The SKU appears more than once in the store.
    DuplicateStoreSku,
    /// The listing would match an accounting SKU that appears more than once.
    MatchesDuplicateItem,
    /// Several listings match the same accounting item.
    ItemClaimedTwice,
}

impl PairKind {
    pub fn describe(self) -> &'static str {
        match self {
            PairKind::Matched { manual: false } => "matched by SKU",
            PairKind::Matched { manual: true } => "matched by manual mapping",
            PairKind::Unmapped(UnmappedReason::NoSku) => "has no SKU",
            PairKind::Unmapped(UnmappedReason::NoListing) => "no listing in this store",
            PairKind::Unmapped(UnmappedReason::NoItem) => "no accounting item with this SKU",
            PairKind::Unmapped(UnmappedReason::MappedItemMissing) => {
                "manually mapped to an accounting SKU that does not exist"
            }
            PairKind::Conflict(ConflictReason::DuplicateAccountingSku) => {
                "SKU appears more than once on the accounting side"
            }
            PairKind::Conflict(ConflictReason::DuplicateStoreSku) => {
                "SKU appears more than once in the store"
            }
            PairKind::Conflict(ConflictReason::MatchesDuplicateItem) => {
                "matches an accounting SKU that appears more than once"
            }
            PairKind::Conflict(ConflictReason::ItemClaimedTwice) => {
                "several listings match the same accounting item"
            }
        }
    }
}

/// One product as matching sees it: indexes into the accounting and store record slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub accounting: Option<u32>,
    pub store: Option<u32>,
    pub kind: PairKind,
}

/// The result of matching one store against the accounting side.
#[derive(Debug, Clone, Default)]
pub struct Matching {
    /// Matched and unmatched accounting items in accounting order, then store-only
    /// records in store order.
    pub pairs: Vec<Pair>,
}

impl Matching {
    /// For each accounting record, the store record it is matched with (if any).
    pub fn store_of_accounting(&self, accounting_len: usize) -> Vec<Option<u32>> {
        let mut out = vec![None; accounting_len];
        for pair in &self.pairs {
            if let (Some(a), Some(s), PairKind::Matched { .. }) =
                (pair.accounting, pair.store, pair.kind)
                && let Some(slot) = out.get_mut(a as usize)
            {
                *slot = Some(s);
            }
        }
        out
    }
}

/// The SKUs of one side, indexed for matching. The table holds record indexes only (4 bytes
/// each), never keys: a million-product catalog indexes in a few MB, and candidates are
/// compared against the records themselves (case-insensitively, without building keys).
struct SideIndex<'a> {
    records: &'a [Record],
    table: HashTable<u32>,
    /// `dup[i]`: record `i`'s SKU key appears more than once on this side.
    dup: Vec<bool>,
    /// The hash of each record's key (0 for none), kept when the caller reuses them.
    hashes: Vec<u64>,
    hasher: foldhash::fast::RandomState,
}

/// Where a SKU key was seen on one side: once (with the index) or more than once.
#[derive(Clone, Copy)]
enum Seen {
    Once(u32),
    Many,
}

impl<'a> SideIndex<'a> {
    fn build(
        records: &'a [Record],
        keep_hashes: bool,
        hasher: foldhash::fast::RandomState,
    ) -> SideIndex<'a> {
        let mut table: HashTable<u32> = HashTable::with_capacity(records.len());
        let mut dup = vec![false; records.len()];
        let mut hashes = Vec::with_capacity(if keep_hashes { records.len() } else { 0 });
        for (i, record) in records.iter().enumerate() {
            let Some(hash) = with_normalized(&record.sku, |key| hasher.hash_one(key)) else {
                if keep_hashes {
                    hashes.push(0);
                }
                continue;
            };
            if keep_hashes {
                hashes.push(hash);
            }
            match table.entry(
                hash,
                |j| same_key(records, *j, &record.sku),
                |j| rehash(&hasher, records, *j),
            ) {
                hashbrown::hash_table::Entry::Occupied(seen) => {
                    let j = *seen.get() as usize;
                    dup[i] = true;
                    if let Some(d) = dup.get_mut(j) {
                        *d = true;
                    }
                }
                hashbrown::hash_table::Entry::Vacant(slot) => {
                    slot.insert(as_index(i));
                }
            }
        }
        SideIndex {
            records,
            table,
            dup,
            hashes,
            hasher,
        }
    }

    /// The record whose key matches `sku` (raw or normalised), hashed as `hash`.
    fn seen(&self, hash: u64, sku: &str) -> Option<Seen> {
        let j = *self.table.find(hash, |j| same_key(self.records, *j, sku))?;
        Some(if self.is_dup(j as usize) {
            Seen::Many
        } else {
            Seen::Once(j)
        })
    }

    fn is_dup(&self, i: usize) -> bool {
        self.dup.get(i).copied().unwrap_or(false)
    }
}

fn same_key(records: &[Record], i: u32, sku: &str) -> bool {
    records.get(i as usize).is_some_and(|r| sku_eq(&r.sku, sku))
}

fn rehash(hasher: &foldhash::fast::RandomState, records: &[Record], i: u32) -> u64 {
    records
        .get(i as usize)
        .and_then(|r| with_normalized(&r.sku, |k| hasher.hash_one(k)))
        .unwrap_or(0)
}

/// Record indexes are `u32` to keep per-product bookkeeping small; catalogs are far below
/// four billion products, and connections refuse larger ones before matching.
fn as_index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

const UNCLAIMED: u32 = u32::MAX;
const CLAIMED_TWICE: u32 = u32::MAX - 1;

/// Matches a store's listings to the accounting items. `mappings` are this store's manual
/// mappings.
pub fn match_catalogs(accounting: &[Record], store: &[Record], mappings: &[Mapping]) -> Matching {
    // One hasher for both sides: the store side's hashes are looked up in the accounting index.
    let hasher = foldhash::fast::RandomState::default();
    let acct = SideIndex::build(accounting, false, hasher.clone());
    let listings = SideIndex::build(store, true, hasher);
    let manual: Map<SkuKey, Option<SkuKey>> = mappings
        .iter()
        .filter_map(|m| SkuKey::new(&m.store_sku).map(|k| (k, SkuKey::new(&m.accounting_sku))))
        .collect();

    // First pass: which accounting item each listing points at.
    let mut target: Vec<Result<(u32, bool), PairKind>> = Vec::with_capacity(store.len());
    let mut claimed = vec![UNCLAIMED; accounting.len()];
    for (j, listing) in store.iter().enumerate() {
        let outcome = (|| {
            if listing.sku.trim().is_empty() {
                return Err(PairKind::Unmapped(UnmappedReason::NoSku));
            }
            if listings.is_dup(j) {
                return Err(PairKind::Conflict(ConflictReason::DuplicateStoreSku));
            }
            let mapped = if manual.is_empty() {
                None
            } else {
                SkuKey::new(&listing.sku).and_then(|k| manual.get(&k))
            };
            let found = match mapped {
                Some(Some(target)) => {
                    acct.seen(acct.hasher.hash_one(target.as_str()), target.as_str())
                }
                Some(None) => return Err(PairKind::Unmapped(UnmappedReason::MappedItemMissing)),
                None => acct.seen(listings.hashes.get(j).copied().unwrap_or(0), &listing.sku),
            };
            let is_manual = mapped.is_some();
            match found {
                Some(Seen::Once(i)) => Ok((i, is_manual)),
                Some(Seen::Many) => Err(PairKind::Conflict(ConflictReason::MatchesDuplicateItem)),
                None if is_manual => Err(PairKind::Unmapped(UnmappedReason::MappedItemMissing)),
                None => Err(PairKind::Unmapped(UnmappedReason::NoItem)),
            }
        })();
        if let Ok((i, _)) = outcome
            && let Some(slot) = claimed.get_mut(i as usize)
        {
            *slot = if *slot == UNCLAIMED {
                as_index(j)
            } else {
                CLAIMED_TWICE
            };
        }
        target.push(outcome);
    }

    let mut pairs = Vec::with_capacity(accounting.len() + store.len() / 8);
    for (i, item) in accounting.iter().enumerate() {
        let kind_alone = if item.sku.trim().is_empty() {
            Some(PairKind::Unmapped(UnmappedReason::NoSku))
        } else if acct.is_dup(i) {
            Some(PairKind::Conflict(ConflictReason::DuplicateAccountingSku))
        } else {
            match claimed[i] {
                UNCLAIMED => Some(PairKind::Unmapped(UnmappedReason::NoListing)),
                CLAIMED_TWICE => Some(PairKind::Conflict(ConflictReason::ItemClaimedTwice)),
                _ => None,
            }
        };
        match kind_alone {
            Some(kind) => pairs.push(Pair {
                accounting: Some(as_index(i)),
                store: None,
                kind,
            }),
            None => {
                let j = claimed[i];
                let manual = matches!(target.get(j as usize), Some(Ok((_, true))));
                pairs.push(Pair {
                    accounting: Some(as_index(i)),
                    store: Some(j),
                    kind: PairKind::Matched { manual },
                });
            }
        }
    }
    for (j, outcome) in target.iter().enumerate() {
        let kind = match outcome {
            Err(kind) => *kind,
            Ok((i, _)) if claimed[*i as usize] == CLAIMED_TWICE => {
                PairKind::Conflict(ConflictReason::ItemClaimedTwice)
            }
            Ok(_) => continue, // emitted with its accounting item above
        };
        pairs.push(Pair {
            accounting: None,
            store: Some(as_index(j)),
            kind,
        });
    }
    Matching { pairs }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ItemKind;
    use proptest::prelude::*;

    fn rec(sku: &str) -> Record {
        Record {
            id: "".into(),
            sku: sku.into(),
            name: "".into(),
            kind: ItemKind::Inventory,
            price: None,
            quantity: None,
            sale: None,
        }
    }

    fn map(store_sku: &str, accounting_sku: &str) -> Mapping {
        Mapping {
            store_sku: store_sku.into(),
            accounting_sku: accounting_sku.into(),
        }
    }

    /// Renders pairs as `acct-sku|store-sku:kind` for readable table tests.
    fn render(acct: &[Record], store: &[Record], m: &Matching) -> Vec<String> {
        m.pairs
            .iter()
            .map(|p| {
                let a = p
                    .accounting
                    .map(|i| acct[i as usize].sku.as_str())
                    .unwrap_or("-");
                let s = p
                    .store
                    .map(|j| store[j as usize].sku.as_str())
                    .unwrap_or("-");
                let k = match p.kind {
                    PairKind::Matched { manual: false } => "auto".to_string(),
                    PairKind::Matched { manual: true } => "manual".to_string(),
                    PairKind::Unmapped(r) => format!("unmapped({r:?})"),
                    PairKind::Conflict(r) => format!("conflict({r:?})"),
                };
                format!("{a}|{s}:{k}")
            })
            .collect()
    }

    #[test]
    fn table() {
        type Case<'a> = (
            &'a str,
            &'a [&'a str],
            &'a [&'a str],
            &'a [(&'a str, &'a str)],
            &'a [&'a str],
        );
        let cases: &[Case] = &[
            ("exact SKU", &["A"], &["A"], &[], &["A|A:auto"]),
            (
                "case and whitespace are ignored",
                &["mug-1"],
                &[" MUG-1 "],
                &[],
                &["mug-1| MUG-1 :auto"],
            ),
            (
                "unmatched on both sides",
                &["A"],
                &["B"],
                &[],
                &["A|-:unmapped(NoListing)", "-|B:unmapped(NoItem)"],
            ),
            (
                "no SKU",
                &[""],
                &["  "],
                &[],
                &["|-:unmapped(NoSku)", "-|  :unmapped(NoSku)"],
            ),
            (
                "duplicate accounting SKU",
                &["A", "a"],
                &["A"],
                &[],
                &[
                    "A|-:conflict(DuplicateAccountingSku)",
                    "a|-:conflict(DuplicateAccountingSku)",
                    "-|A:conflict(MatchesDuplicateItem)",
                ],
            ),
            (
                "duplicate store SKU",
                &["A"],
                &["A", "A "],
                &[],
                &[
                    "A|-:unmapped(NoListing)",
                    "-|A:conflict(DuplicateStoreSku)",
                    "-|A :conflict(DuplicateStoreSku)",
                ],
            ),
            (
                "manual mapping",
                &["ACC-1"],
                &["WEB-1"],
                &[("web-1", "acc-1")],
                &["ACC-1|WEB-1:manual"],
            ),
            (
                "manual mapping overrides the automatic match",
                &["A", "B"],
                &["A"],
                &[("A", "B")],
                &["A|-:unmapped(NoListing)", "B|A:manual"],
            ),
            (
                "manual mapping to a missing item",
                &["A"],
                &["X"],
                &[("X", "NOPE")],
                &["A|-:unmapped(NoListing)", "-|X:unmapped(MappedItemMissing)"],
            ),
            (
                "two listings claim one item",
                &["A"],
                &["A", "X"],
                &[("X", "A")],
                &[
                    "A|-:conflict(ItemClaimedTwice)",
                    "-|A:conflict(ItemClaimedTwice)",
                    "-|X:conflict(ItemClaimedTwice)",
                ],
            ),
        ];
        for (why, acct, store, maps, want) in cases {
            let acct: Vec<Record> = acct.iter().map(|s| rec(s)).collect();
            let store: Vec<Record> = store.iter().map(|s| rec(s)).collect();
            let maps: Vec<Mapping> = maps.iter().map(|(s, a)| map(s, a)).collect();
            let m = match_catalogs(&acct, &store, &maps);
            assert_eq!(render(&acct, &store, &m), *want, "{why}");
        }
    }

    proptest! {
        /// Every record of both sides is in exactly one pair, a matched pair joins records
        /// whose keys agree (or a manual mapping joins them), and no record is matched twice.
        #[test]
        fn every_record_in_exactly_one_pair(
            acct in proptest::collection::vec("[ABCab ]{0,3}", 0..30),
            store in proptest::collection::vec("[ABCab ]{0,3}", 0..30),
            maps in proptest::collection::vec(("[ABC]{1,2}", "[ABC]{1,2}"), 0..4),
        ) {
            let acct: Vec<Record> = acct.iter().map(|s| rec(s)).collect();
            let store: Vec<Record> = store.iter().map(|s| rec(s)).collect();
            let maps: Vec<Mapping> = maps.iter().map(|(s, a)| map(s, a)).collect();
            let m = match_catalogs(&acct, &store, &maps);
            let mut seen_a = vec![0; acct.len()];
            let mut seen_s = vec![0; store.len()];
            for p in &m.pairs {
                if let Some(i) = p.accounting { seen_a[i as usize] += 1; }
                if let Some(j) = p.store { seen_s[j as usize] += 1; }
                if let (Some(i), Some(j)) = (p.accounting, p.store) {
                    let matched = matches!(p.kind, PairKind::Matched { .. });
                    prop_assert!(matched);
                    let (ka, ks) = (SkuKey::new(&acct[i as usize].sku), SkuKey::new(&store[j as usize].sku));
                    let mapped = maps.iter().any(|mp| SkuKey::new(&mp.store_sku) == ks && SkuKey::new(&mp.accounting_sku) == ka);
                    prop_assert!(ka == ks || mapped);
                    prop_assert!(ka.is_some());
                }
            }
            prop_assert!(seen_a.iter().all(|&n| n == 1));
            prop_assert!(seen_s.iter().all(|&n| n == 1));
        }
    }
}
