//! Text the run history can hold. Postgres refuses a NUL byte (0x00) in `text` (SQLSTATE
//! 22021, "invalid byte sequence"); SQLite stores it, but `sqlite3` and most tools cut the
//! value there. Either way such a value cannot be on record as it is, so both backends
//! treat it alike: a write whose SKU holds one is never sent (the engine asks
//! [`unstorable`] first), and the text that does go on record — the SKU of that failed
//! item, a platform's error message quoting it — shows each NUL as the two characters `\0`
//! ([`storable`]).

use std::borrow::Cow;

/// Why `text` cannot be stored as it is, or `None` when it can.
pub fn unstorable(text: &str) -> Option<&'static str> {
    text.contains('\0')
        .then_some("contains a NUL byte, which the run history cannot store")
}

/// `text` as the run history stores it: each NUL byte written as `\0`.
pub fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\\0"))
    } else {
        Cow::Borrowed(text)
    }
}

/// [`storable`] for optional values.
pub(crate) fn storable_opt(text: Option<&str>) -> Option<Cow<'_, str>> {
    text.map(storable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_are_unstorable_and_shown_as_backslash_zero() {
        assert_eq!(unstorable("MUG-1"), None);
        assert!(unstorable("BAD\0SKU").is_some_and(|why| why.contains("NUL byte")));
        assert_eq!(storable("BAD\0SKU\0"), "BAD\\0SKU\\0");
        assert!(matches!(storable("MUG-1"), Cow::Borrowed("MUG-1")));
    }
}
