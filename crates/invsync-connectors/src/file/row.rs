//! The format-independent view of one catalog product, with the byte spans of the values
//! invsync may rewrite. Reading and writing use the same parse, so a write edits exactly
//! the bytes the value was read from.

use super::text::{ParseError, parse_kind, parse_price, parse_quantity};
use invsync_core::{FieldValue, ItemKind};
use rust_decimal::Decimal;
use std::borrow::Cow;

/// Where a value sits in the file and how a new value is written there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ValueSpan {
    pub start: usize,
    pub end: usize,
    /// Wrap the new value in `"`: the span is a whole JSON string. CSV spans cover the
    /// text inside the quotes (if any), so CSV quoting is kept as it was.
    pub json_string: bool,
}

impl ValueSpan {
    /// The bytes that replace the span. Prices use `Decimal`'s `Display`, which keeps the
    /// planned value's scale (`13.00` stays `13.00`); neither a number nor a sign needs
    /// escaping in CSV or JSON.
    pub fn render(self, value: FieldValue) -> String {
        if self.json_string {
            format!("\"{value}\"")
        } else {
            value.to_string()
        }
    }
}

/// One scalar as found in the file: its text (unquoted, unescaped) and where it is.
#[derive(Debug, Clone)]
pub(super) struct Scalar<'a> {
    pub text: Cow<'a, str>,
    /// Where an error about this value points: the cell or JSON value.
    pub offset: usize,
    pub span: ValueSpan,
}

/// One product of a catalog file.
#[derive(Debug, Clone)]
pub(super) struct ProductRow<'a> {
    /// Where the row or JSON object starts.
    pub offset: usize,
    pub sku: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub kind: ItemKind,
    pub price: Option<(Decimal, ValueSpan)>,
    pub quantity: Option<(i64, ValueSpan)>,
}

/// The parts of a product before their values are checked.
pub(super) struct RawProduct<'a> {
    pub offset: usize,
    pub sku: Cow<'a, str>,
    pub name: Cow<'a, str>,
    /// The `kind` text and where it is, when present.
    pub kind: Option<(Cow<'a, str>, usize)>,
    /// `None` when the cell, key or value is absent (a JSON `null` is absent).
    pub price: Option<Scalar<'a>>,
    pub quantity: Option<Scalar<'a>>,
}

impl<'a> RawProduct<'a> {
    /// Checks the values: an `inventory` product needs a price and a quantity, an
    /// `untracked` one a price; a `base` product may leave them empty, but what is there
    /// must still parse (product.md, "File connections").
    pub fn check(self) -> Result<ProductRow<'a>, ParseError> {
        let kind = match &self.kind {
            Some((text, offset)) => parse_kind(text).map_err(|m| ParseError::new(*offset, m))?,
            None => ItemKind::Inventory,
        };
        // An empty value is reported where it is (the cell); an absent one at the row.
        let price_at = self.price.as_ref().map_or(self.offset, |s| s.offset);
        let quantity_at = self.quantity.as_ref().map_or(self.offset, |s| s.offset);
        let price = non_empty(self.price)
            .map(|s| {
                parse_price(s.text.trim_ascii())
                    .map(|p| (p, s.span))
                    .map_err(|m| ParseError::new(s.offset, m))
            })
            .transpose()?;
        let quantity = non_empty(self.quantity)
            .map(|s| {
                parse_quantity(s.text.trim_ascii())
                    .map(|q| (q, s.span))
                    .map_err(|m| ParseError::new(s.offset, m))
            })
            .transpose()?;
        if kind != ItemKind::Base {
            let missing = match (&price, &quantity) {
                (None, _) => Some(("price", price_at)),
                (_, None) if kind == ItemKind::Inventory => Some(("quantity", quantity_at)),
                _ => None,
            };
            if let Some((what, at)) = missing {
                return Err(ParseError::new(
                    at,
                    format!(
                        "{what} is empty; an inventory product needs a price and a quantity, \
                         an untracked one a price (use kind base for a display-only product)"
                    ),
                ));
            }
        }
        Ok(ProductRow {
            offset: self.offset,
            sku: self.sku,
            name: self.name,
            kind,
            price,
            quantity,
        })
    }
}

fn non_empty(scalar: Option<Scalar<'_>>) -> Option<Scalar<'_>> {
    scalar.filter(|s| !s.text.trim_ascii().is_empty())
}
