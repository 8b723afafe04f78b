//! What the CSV and JSON parsers share: error positions and the rules for the values of
//! a cell (price, quantity, kind).
//!
//! Every value is parsed from its literal text. Money never goes through `f64`
//! (house style: money is `rust_decimal::Decimal`), so `12.50` stays exactly `12.50`.

use invsync_core::ItemKind;
use rust_decimal::Decimal;
use std::fmt;

/// The UTF-8 byte order mark some spreadsheet programs put at the start of a CSV export.
pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A malformed file: where (a byte offset into the file) and what is wrong. The connection
/// turns it into `path:line:column: message` once it knows the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParseError {
    pub offset: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(offset: usize, message: impl Into<String>) -> Self {
        ParseError {
            offset,
            message: message.into(),
        }
    }
}

/// 1-based line and column of a byte offset, as an editor shows them: the column counts
/// characters, not bytes, and a leading byte order mark is not counted.
pub(super) fn line_col(src: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let mut line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    if line_start == 0 && src.starts_with(BOM) {
        line_start = BOM.len().min(offset);
    }
    // Counting the bytes that do not continue a UTF-8 sequence counts characters, and
    // still gives a sensible answer for a file that is not valid UTF-8.
    let column = src[line_start..offset]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    (line, column)
}

/// Counts lines while a parser walks forward through a file, so that giving every row
/// its line number costs one pass over the file in total.
#[derive(Debug, Default)]
pub(super) struct LineCounter {
    offset: usize,
    line: usize,
}

impl LineCounter {
    /// The 1-based line of `offset`. Offsets must not decrease between calls.
    pub fn line_at(&mut self, src: &[u8], offset: usize) -> usize {
        let offset = offset.min(src.len());
        if offset > self.offset {
            self.line += memchr::memchr_iter(b'\n', &src[self.offset..offset]).count();
            self.offset = offset;
        }
        self.line + 1
    }
}

/// A value quoted for an error message, shortened so that a runaway cell (a whole file
/// swallowed by an unclosed quote) does not produce a megabyte of message.
pub(super) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_CHARS: usize = 40;
        match self.0.char_indices().nth(MAX_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => write!(f, "{:?}…", &self.0[..cut]),
        }
    }
}

/// Parses a price: an optional sign, digits and an optional decimal point, e.g. `12.50`.
/// Anything else (`12,50`, `$12`, `1_000`, `1e3`, `NaN`) is refused rather than guessed
/// at: a misread price would be pushed to every store.
pub(super) fn parse_price(text: &str) -> Result<Decimal, String> {
    if !is_plain_decimal(text) {
        let hint = if text.contains(',') {
            " (use a dot as the decimal separator and no thousands separators)"
        } else if text
            .bytes()
            .any(|b| !b.is_ascii_digit() && !b"+-.".contains(&b))
        {
            " (only digits, one dot and a leading sign are allowed; no currency symbols)"
        } else {
            ""
        };
        return Err(format!(
            "price {} is not a decimal number like 12.50{hint}",
            Quoted(text)
        ));
    }
    // `from_str_exact` refuses to round: a price with more digits than a Decimal holds
    // is an error, not a silently different price.
    Decimal::from_str_exact(text)
        .map_err(|e| format!("price {} cannot be represented exactly: {e}", Quoted(text)))
}

/// Parses a quantity: an optional sign and digits, within `i64`.
pub(super) fn parse_quantity(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("quantity {} is not a whole number", Quoted(text)));
    }
    text.parse::<i64>()
        .map_err(|_| format!("quantity {} is out of range", Quoted(text)))
}

/// Parses a `kind` cell: `inventory` (also when empty), `untracked` (sold, stock not
/// tracked: its quantity is ignored) or `base`, any case (product.md, "File connections").
pub(super) fn parse_kind(text: &str) -> Result<ItemKind, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("inventory") {
        Ok(ItemKind::Inventory)
    } else if text.eq_ignore_ascii_case("base") {
        Ok(ItemKind::Base)
    } else if text.eq_ignore_ascii_case("untracked") {
        Ok(ItemKind::Untracked)
    } else {
        Err(format!(
            "kind {} is not inventory, untracked or base",
            Quoted(text)
        ))
    }
}

/// `[+-]? (digits (. digits)? | . digits)`.
fn is_plain_decimal(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (int, frac) = match body.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (body, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match frac {
        None => !int.is_empty() && all_digits(int),
        Some(frac) => !frac.is_empty() && all_digits(int) && all_digits(frac),
    }
}

/// The byte offset of `part` inside `whole`. `part` must be a slice of `whole` (serde_json
/// hands out borrowed `RawValue`s of the source); anything else gives an offset clamped
/// to the end rather than a panic.
pub(super) fn offset_in(whole: &str, part: &str) -> usize {
    let offset = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    debug_assert!(offset <= whole.len(), "not a slice of the source");
    offset.min(whole.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn prices_are_plain_decimals_kept_exactly() {
        let ok: &[(&str, &str)] = &[
            ("12.50", "12.50"),
            ("0", "0"),
            ("-1.5", "-1.5"),
            ("+3", "3"),
            (".5", "0.5"),
            ("0012.500", "12.500"),
        ];
        for (text, want) in ok {
            let got = parse_price(text).expect(text);
            assert_eq!(got.to_string(), *want, "{text}");
        }
        let bad: &[(&str, &str)] = &[
            ("12,50", "decimal separator"),
            ("$12", "currency"),
            ("1_000", "currency"),
            ("1e3", "currency"),
            ("NaN", "currency"),
            ("12.", "not a decimal number"),
            ("", "not a decimal number"),
            ("-", "not a decimal number"),
            ("1.2.3", "not a decimal number"),
            ("99999999999999999999999999999999", "cannot be represented"),
            (
                "0.00000000000000000000000000000001",
                "cannot be represented",
            ),
        ];
        for (text, reason) in bad {
            let err = parse_price(text).expect_err(text);
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn quantities_are_whole_numbers() {
        assert_eq!(parse_quantity("3"), Ok(3));
        assert_eq!(parse_quantity("-2"), Ok(-2));
        assert_eq!(parse_quantity("+7"), Ok(7));
        for text in ["3.5", "abc", "", "-", "3.0", "1e2", " 3"] {
            assert!(
                parse_quantity(text)
                    .expect_err(text)
                    .contains("not a whole number")
            );
        }
        assert!(
            parse_quantity("99999999999999999999")
                .expect_err("big")
                .contains("out of range")
        );
    }

    #[test]
    fn kinds_default_to_inventory() {
        assert_eq!(parse_kind(""), Ok(ItemKind::Inventory));
        assert_eq!(parse_kind(" Inventory "), Ok(ItemKind::Inventory));
        assert_eq!(parse_kind("BASE"), Ok(ItemKind::Base));
        assert_eq!(parse_kind("Untracked"), Ok(ItemKind::Untracked));
        assert!(
            parse_kind("not-stocked").is_err(),
            "a file has no locations"
        );
        assert!(
            parse_kind("bundle")
                .expect_err("bundle")
                .contains("not inventory, untracked or base")
        );
    }

    #[test]
    fn positions_count_characters_and_skip_the_bom() {
        let src = "\u{feff}ab\nçé,x".as_bytes();
        assert_eq!(line_col(src, 3), (1, 1));
        assert_eq!(line_col(src, 4), (1, 2));
        let x = src.iter().position(|&b| b == b'x').expect("x");
        assert_eq!(line_col(src, x), (2, 4));
        assert_eq!(line_col(src, 10_000), line_col(src, src.len()));
        let mut lines = LineCounter::default();
        assert_eq!(lines.line_at(src, 0), 1);
        assert_eq!(lines.line_at(src, x), 2);
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(100);
        let shown = Quoted(&long).to_string();
        assert!(shown.len() < 60 && shown.ends_with('…'), "{shown}");
        assert_eq!(Quoted("12,5").to_string(), "\"12,5\"");
        assert_eq!(Decimal::from_str("1").ok(), parse_price("1").ok());
    }
}
