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
        if trimmed.is_ascii() {
            if !trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
                return Some(SkuKey(CompactString::from(trimmed)));
            }
            // The common case — short ASCII SKUs — lower-cases on the stack and builds the
            // key in one go (pushing char by char was a tenth of planning time).
            let mut buf = [0u8; 64];
            if let Some(dst) = buf.get_mut(..trimmed.len()) {
                dst.copy_from_slice(trimmed.as_bytes());
                dst.make_ascii_lowercase();
                if let Ok(lower) = std::str::from_utf8(dst) {
                    return Some(SkuKey(CompactString::from(lower)));
                }
            }
            return Some(SkuKey(CompactString::from(trimmed.to_ascii_lowercase())));
        }
        let mut key = CompactString::with_capacity(trimmed.len());
        for c in trimmed.chars() {
            key.extend(c.to_lowercase());
        }
        Some(SkuKey(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether two SKUs (raw or normalised) match, without building keys for ASCII SKUs.
pub fn sku_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a.is_ascii() && b.is_ascii() {
        return !a.is_empty() && a.eq_ignore_ascii_case(b);
    }
    match (SkuKey::new(a), SkuKey::new(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Calls `f` with the matching form of `raw` (what [`SkuKey::new`] holds) without building a
/// key when it can: short ASCII SKUs are lower-cased in a stack buffer. Matching a million
/// products calls this several million times. `None` for an empty SKU.
pub fn with_normalized<R>(raw: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return None;
    }
    let bytes = trimmed.as_bytes();
    if bytes.is_ascii() && !bytes.iter().any(u8::is_ascii_uppercase) {
        return Some(f(trimmed));
    }
    let mut buf = [0u8; 64];
    if let Some(dst) = buf.get_mut(..bytes.len())
        && bytes.is_ascii()
    {
        dst.copy_from_slice(bytes);
        dst.make_ascii_lowercase();
        // Lower-cased ASCII is still ASCII, hence valid UTF-8: this cannot fail.
        if let Ok(normalized) = std::str::from_utf8(dst) {
            return Some(f(normalized));
        }
    }
    SkuKey::new(trimmed).map(|k| f(k.as_str()))
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
            (
                "A-VERY-LONG-SKU-THAT-DOES-NOT-FIT-INLINE-1234",
                Some("a-very-long-sku-that-does-not-fit-inline-1234"),
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(
                SkuKey::new(raw).as_ref().map(SkuKey::as_str),
                *want,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn with_normalized_agrees_with_sku_key() {
        let long = "X".repeat(100);
        for raw in [
            "MUG-1",
            " mug-1 ",
            "",
            " ",
            "ÄPFEL",
            "\u{212A}elvin",
            long.as_str(),
            "a\tb",
        ] {
            assert_eq!(
                with_normalized(raw, str::to_owned),
                SkuKey::new(raw).map(|k| k.as_str().to_owned()),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn sku_eq_agrees_with_sku_key() {
        let samples = [
            "MUG-1", " mug-1", "MUG-2", "", "  ", "Äpfel", "äPFEL ", "\u{212A}", "k", "K",
        ];
        for a in samples {
            for b in samples {
                let want = SkuKey::new(a).is_some() && SkuKey::new(a) == SkuKey::new(b);
                assert_eq!(sku_eq(a, b), want, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn keys_of_differently_written_skus_are_equal() {
        assert_eq!(SkuKey::new(" SHIRT-l "), SkuKey::new("shirt-L"));
        assert_ne!(SkuKey::new("SHIRT-L"), SkuKey::new("SHIRT-M"));
    }
}
