//! How much stock a store is offered (product.md rule 7).
//!
//! `offered = min(max_quantity, max(0, floor((master − reserved) × share / 100) − buffer))`

use serde::{Deserialize, Serialize};

/// Per-store quantity rules from `[stores.NAME]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantityRules {
    /// Safety stock held back from this store.
    pub buffer: u32,
    /// Never advertise more than this here.
    pub max_quantity: Option<u32>,
    /// Percent (0..=100) of the available quantity offered here.
    pub share: u8,
}

impl Default for QuantityRules {
    fn default() -> Self {
        QuantityRules {
            buffer: 0,
            max_quantity: None,
            share: 100,
        }
    }
}

impl QuantityRules {
    pub fn is_default(&self) -> bool {
        *self == QuantityRules::default()
    }
}

/// `buffer 2, max_quantity 50, share 100%`: how dry runs and `status` show them.
impl std::fmt::Display for QuantityRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "buffer {}, max_quantity ", self.buffer)?;
        match self.max_quantity {
            Some(cap) => write!(f, "{cap}")?,
            None => f.write_str("none")?,
        }
        write!(f, ", share {}%", self.share)
    }
}

/// The quantity a store may advertise, given the master's quantity and the quantity held in
/// unposted orders (`reserved`, 0 unless `in_orders = "reserve"`). Never negative, never
/// more than the master can still sell.
pub fn offered_quantity(master: i64, reserved: i64, rules: QuantityRules) -> i64 {
    // i128 so that no input combination can overflow; the result is clamped to
    // 0..=available, which always fits in an i64.
    let available = i128::from(master) - i128::from(reserved.max(0));
    let shared = (available * i128::from(rules.share.min(100))).div_euclid(100);
    let mut offered = (shared - i128::from(rules.buffer)).max(0);
    if let Some(cap) = rules.max_quantity {
        offered = offered.min(i128::from(cap));
    }
    // `offered` is in 0..=max(available, 0) ≤ i64::MAX, so the conversion cannot fail.
    i64::try_from(offered).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules(buffer: u32, max_quantity: Option<u32>, share: u8) -> QuantityRules {
        QuantityRules {
            buffer,
            max_quantity,
            share,
        }
    }

    #[test]
    fn rules_display_every_knob() {
        assert_eq!(
            QuantityRules::default().to_string(),
            "buffer 0, max_quantity none, share 100%"
        );
        assert_eq!(
            rules(2, Some(50), 40).to_string(),
            "buffer 2, max_quantity 50, share 40%"
        );
    }

    #[test]
    fn table() {
        // (master, reserved, rules, offered, why)
        let cases = [
            (
                10,
                0,
                rules(0, None, 100),
                10,
                "defaults pass the master quantity through",
            ),
            (0, 0, rules(0, None, 100), 0, "nothing in stock"),
            (
                -3,
                0,
                rules(0, None, 100),
                0,
                "a negative master never goes below 0",
            ),
            (10, 4, rules(0, None, 100), 6, "reserved stock is held back"),
            (
                10,
                12,
                rules(0, None, 100),
                0,
                "over-reserved never goes below 0",
            ),
            (10, 0, rules(2, None, 100), 8, "buffer is safety stock"),
            (
                1,
                0,
                rules(2, None, 100),
                0,
                "buffer larger than stock gives 0",
            ),
            (10, 0, rules(0, Some(5), 100), 5, "max_quantity caps"),
            (
                3,
                0,
                rules(0, Some(5), 100),
                3,
                "cap above stock changes nothing",
            ),
            (10, 0, rules(0, None, 50), 5, "share takes a percent"),
            (5, 0, rules(0, None, 50), 2, "share rounds down"),
            (
                -5,
                0,
                rules(0, None, 50),
                0,
                "share of a negative is 0, floored",
            ),
            (10, 0, rules(0, None, 0), 0, "share 0 offers nothing"),
            (
                100,
                10,
                rules(5, Some(40), 50),
                40,
                "all rules: min(40, floor(90*0.5)-5=40)",
            ),
            (
                100,
                10,
                rules(6, Some(50), 50),
                39,
                "all rules: floor(45)-6=39",
            ),
            (
                10,
                -4,
                rules(0, None, 100),
                10,
                "a negative reservation is ignored",
            ),
            (
                i64::MAX,
                0,
                rules(0, None, 100),
                i64::MAX,
                "no overflow at the top",
            ),
            (
                i64::MIN,
                i64::MAX,
                rules(u32::MAX, Some(u32::MAX), 100),
                0,
                "no overflow at the bottom",
            ),
        ];
        for (master, reserved, r, want, why) in cases {
            assert_eq!(offered_quantity(master, reserved, r), want, "{why}");
        }
    }

    proptest! {
        /// Rule 7's promise: a store is never offered more than the master can still sell,
        /// and never a negative quantity.
        #[test]
        fn never_more_than_the_master_can_sell(
            master in -1_000_000i64..1_000_000,
            reserved in 0i64..1_000_000,
            buffer in 0u32..1000,
            cap in proptest::option::of(0u32..1_000_000),
            share in 0u8..=100,
        ) {
            let offered = offered_quantity(master, reserved, rules(buffer, cap, share));
            prop_assert!(offered >= 0);
            prop_assert!(offered <= (master - reserved).max(0));
            if let Some(cap) = cap { prop_assert!(offered <= i64::from(cap)); }
        }
    }
}
