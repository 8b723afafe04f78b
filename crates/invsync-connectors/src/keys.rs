//! Idempotency keys of writes (ADR 0016).
//!
//! A platform that takes idempotency keys (Shopify's `@idempotent(key:)`) answers a key it
//! has seen with the first call's result, so a key must never be used for two different
//! writes — not in two runs, not by two databases syncing one shop (a reset, a second
//! installation, the demo database and then Postgres all count runs from 1) — and must be
//! the same for every retry of one write. A key is therefore made of
//!
//! * the database's installation id (random, made once: `Db::installation_id`),
//! * the run id, the round (`change` for the plan, `replan` for writes planned again after
//!   a stale answer) and the change's number in it, and
//! * a digest of the write itself (record id, SKU, field, old and new value), so two
//!   different writes never share a key even if run ids repeat (a database restored from
//!   a backup keeps its installation id and counts its runs again from the backup's).
//!
//! `invsync-{installation}-run-{run}-{round}-{n}-{digest}`, at most 110 ASCII characters
//! (letters, digits, `-`), well inside the 255 Shopify allows for its idempotency keys
//! (the `idempotencyKey` arguments of its Admin API schema; `@idempotent` documents no
//! limit of its own and recommends UUIDs).

use invsync_core::{Field, FieldValue};

/// The longest key [`WriteKeys::key`] makes: 32 hex digits of installation id, a negative
/// 19-digit run id, the longer round name, a 20-digit change number, 16 hex digits.
pub const MAX_KEY_LEN: usize =
    "invsync-".len() + 32 + "-run--".len() + 19 + "-replan-".len() + 20 + "-".len() + 16;

/// Which writes of a run a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRound {
    /// The run's plan.
    Change,
    /// Writes planned again after the first round found their targets changed.
    Replan,
}

impl KeyRound {
    fn as_str(self) -> &'static str {
        match self {
            KeyRound::Change => "change",
            KeyRound::Replan => "replan",
        }
    }
}

/// Makes the idempotency keys of one round of one run's writes.
#[derive(Debug, Clone)]
pub struct WriteKeys {
    /// `invsync-{installation}-run-{run}-{round}-`
    prefix: String,
}

impl WriteKeys {
    /// `installation`: the database's installation id (32 lower-case hex digits).
    pub fn new(installation: &str, run_id: i64, round: KeyRound) -> WriteKeys {
        WriteKeys {
            prefix: format!("invsync-{installation}-run-{run_id}-{}-", round.as_str()),
        }
    }

    /// The key of change `n` of this round, which writes `new` over `old` into `field` of
    /// the record `id` (`sku`). The same arguments always give the same key.
    pub fn key(
        &self,
        n: usize,
        id: &str,
        sku: &str,
        field: Field,
        old: FieldValue,
        new: FieldValue,
    ) -> String {
        let (old, new) = (old.to_string(), new.to_string());
        let digest = stable_hash([
            id.as_bytes(),
            sku.as_bytes(),
            field.as_str().as_bytes(),
            old.as_bytes(),
            new.as_bytes(),
        ]);
        format!("{}{n}-{digest:016x}", self.prefix)
    }
}

/// FNV-1a, 64 bit, over `parts`, each followed by a zero byte (so `["ab", "c"]` and
/// `["a", "bc"]` differ): stable across processes, platforms and versions, unlike std's
/// hasher, as keys must be.
pub(crate) fn stable_hash<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().copied().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    const INSTALLATION: &str = "0123456789abcdef0123456789abcdef";

    fn key(installation: &str, run: i64, round: KeyRound, n: usize, new: i64) -> String {
        WriteKeys::new(installation, run, round).key(
            n,
            "gid://shopify/ProductVariant/1",
            "MUG-1",
            Field::Quantity,
            FieldValue::Quantity(4),
            FieldValue::Quantity(new),
        )
    }

    #[test]
    fn a_write_keeps_its_key_and_every_part_changes_it() {
        let base = key(INSTALLATION, 1, KeyRound::Change, 0, 10);
        assert_eq!(
            base,
            key(INSTALLATION, 1, KeyRound::Change, 0, 10),
            "retries"
        );
        assert!(
            base.starts_with(&format!("invsync-{INSTALLATION}-run-1-change-0-")),
            "{base}"
        );
        let others = [
            key(
                "fedcba9876543210fedcba9876543210",
                1,
                KeyRound::Change,
                0,
                10,
            ),
            key(INSTALLATION, 2, KeyRound::Change, 0, 10),
            key(INSTALLATION, 1, KeyRound::Replan, 0, 10),
            key(INSTALLATION, 1, KeyRound::Change, 1, 10),
            key(INSTALLATION, 1, KeyRound::Change, 0, 11),
        ];
        for other in &others {
            assert_ne!(&base, other);
        }
        let keys = WriteKeys::new(INSTALLATION, 1, KeyRound::Change);
        let price = |id: &str, sku: &str, old: &str, new: &str| {
            keys.key(
                0,
                id,
                sku,
                Field::Price,
                FieldValue::Price(old.parse::<Decimal>().expect("old")),
                FieldValue::Price(new.parse::<Decimal>().expect("new")),
            )
        };
        let one = price("1", "A", "1.00", "2.00");
        for other in [
            price("2", "A", "1.00", "2.00"),
            price("1", "B", "1.00", "2.00"),
            price("1", "A", "1.50", "2.00"),
            price("1", "A", "1.00", "2.50"),
            // Parts are delimited: moving a character from one to the next is another write.
            price("1A", "", "1.00", "2.00"),
        ] {
            assert_ne!(one, other);
        }
    }

    #[test]
    fn the_longest_key_fits_the_limit_and_charset() {
        let longest = WriteKeys::new(INSTALLATION, i64::MIN, KeyRound::Replan).key(
            usize::MAX,
            "x",
            "y",
            Field::Quantity,
            FieldValue::Quantity(i64::MIN),
            FieldValue::Quantity(i64::MAX),
        );
        assert_eq!(longest.len(), MAX_KEY_LEN, "{longest}");
        const { assert!(MAX_KEY_LEN <= 255) };
        assert!(
            longest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{longest}"
        );
    }

    #[test]
    fn the_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors: "" and "a" (here each part ends in a zero byte,
        // so one empty part is the vector of "\0").
        assert_eq!(stable_hash([]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash([&b""[..]]), 0xaf63_bd4c_8601_b7df);
    }
}
