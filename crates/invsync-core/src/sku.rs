//! SKU normalisation (product.md rule 2): SKUs match when they are equal after trimming
//! surrounding whitespace and ignoring case.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A SKU in its matching form: trimmed and lower-cased. Two SKUs match exactly when their
/// keys are equal. Short keys (up to 24 bytes) live inline, so building a key for every
/// product of a large catalog does not allocate.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SkuKey(CompactString);

impl SkuKey {
    /// The matching key of a SKU as written by a merchant. Returns `None` for a SKU that is
    /// empty once trimmed: such a product can never be matched automatically.
    pub fn new(raw: &str) -> Option<SkuKey> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return None;
        }
        if trimmed.bytes().all(|b| !b.is_ascii_uppercase() && b.is_ascii()) {
            return Some(SkuKey(CompactString::from(trimmed)));
        }
        let mut key = CompactString::with_capacity(trimmed.len());
        if trimmed.is_ascii() {
            for b in trimmed.bytes() {
                key.push(char::from(b.to_ascii_lowercase()));
            }
        } else {
            for c in trimmed.chars() {
                key.extend(c.to_lowercase());
            }
        }
        Some(SkuKey(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SkuKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl fmt::Display for SkuKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_by_trimming_and_ignoring_case() {
        let cases: &[(&str, Option<&str>)] = &[
            ("MUG-1", Some("mug-1")),
            ("  mug-1\t", Some("mug-1")),
            ("Mug-1", Some("mug-1")),
            ("", None),
            ("   ", None),
            ("ÄPFEL-1", Some("äpfel-1")),
            ("a b", Some("a b")),
            ("A-VERY-LONG-SKU-THAT-DOES-NOT-FIT-INLINE-1234", Some("a-very-long-sku-that-does-not-fit-inline-1234")),
        ];
        for (raw, want) in cases {
            assert_eq!(SkuKey::new(raw).as_ref().map(SkuKey::as_str), *want, "{raw:?}");
        }
    }

    #[test]
    fn keys_of_differently_written_skus_are_equal() {
        assert_eq!(SkuKey::new(" SHIRT-l "), SkuKey::new("shirt-L"));
        assert_ne!(SkuKey::new("SHIRT-L"), SkuKey::new("SHIRT-M"));
    }
}
