//! JSON catalogs: an array of objects. Values are borrowed from the source as
//! `serde_json::value::RawValue`s, which gives their exact byte spans (a write splices the
//! new value into the old value's bytes, so everything else stays byte-identical) and
//! their literal text (numbers become `Decimal`s exactly, never through `f64`).

use super::row::{ProductRow, RawProduct, Scalar, ValueSpan};
use super::text::{BOM, ParseError, offset_in};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The elements of the top-level array, borrowed from `src`, and `src` as text.
pub(super) fn parse_array<'a>(
    src: &'a [u8],
    what: &str,
) -> Result<(&'a str, Vec<&'a RawValue>), ParseError> {
    let text = std::str::from_utf8(src).map_err(|e| {
        ParseError::new(
            e.valid_up_to(),
            "the file is not valid UTF-8 (JSON must be UTF-8)",
        )
    })?;
    // serde_json refuses a byte order mark; some editors write one.
    let body_start = if src.starts_with(BOM) { BOM.len() } else { 0 };
    let body = &text[body_start..];
    let expected = format!("a JSON array of {what} ([{{...}}, ...])");
    match body.bytes().position(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(ParseError::new(
                src.len(),
                format!("the file is empty; expected {expected}"),
            ));
        }
        Some(at) if body.as_bytes()[at] != b'[' => {
            return Err(ParseError::new(
                body_start + at,
                format!("expected {expected}"),
            ));
        }
        Some(_) => {}
    }
    let elements: Vec<&RawValue> =
        serde_json::from_str(body).map_err(|e| syntax_error(body, body_start, &e))?;
    Ok((text, elements))
}

/// A serde_json error with its position turned into a byte offset of the file.
fn syntax_error(body: &str, body_start: usize, error: &serde_json::Error) -> ParseError {
    // serde_json counts lines from 1 and columns in bytes from 1; column 0 means "before
    // the first byte of the line".
    let line_start = if error.line() <= 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', body.as_bytes())
            .nth(error.line() - 2)
            .map_or(body.len(), |i| i + 1)
    };
    // At an unexpected end, serde_json points at the last byte; the end itself is what
    // is wrong.
    let offset = if error.is_eof() {
        body.len()
    } else {
        (line_start + error.column().saturating_sub(1)).min(body.len())
    };
    let full = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&position).unwrap_or(&full);
    ParseError::new(body_start + offset, format!("invalid JSON: {message}"))
}

/// The values of the keys `names` in a JSON object (absent keys are `None`). Other keys
/// are skipped; a key named twice is an error.
pub(super) fn object_fields<'a, const N: usize>(
    src: &'a str,
    element: &'a RawValue,
    names: [&'static str; N],
    what: &str,
) -> Result<[Option<&'a RawValue>; N], ParseError> {
    let at = offset_in(src, element.get());
    if !element.get().starts_with('{') {
        return Err(ParseError::new(
            at,
            format!("each {what} must be a JSON object ({{...}})"),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(element.get());
    // The outer parse has checked the syntax already, so this can only fail on a bug.
    let fields = ObjectSeed { names }
        .deserialize(&mut de)
        .map_err(|e| ParseError::new(at, format!("invalid JSON object: {e}")))?;
    if let Some((which, value)) = fields.duplicate {
        return Err(ParseError::new(
            offset_in(src, value.get()),
            format!("duplicate key {:?} in one {what}", names[which]),
        ));
    }
    Ok(fields.values)
}

struct ObjectSeed<const N: usize> {
    names: [&'static str; N],
}

struct ObjectFields<'de, const N: usize> {
    values: [Option<&'de RawValue>; N],
    /// The first key seen twice and its second value.
    duplicate: Option<(usize, &'de RawValue)>,
}

impl<'de, const N: usize> DeserializeSeed<'de> for ObjectSeed<N> {
    type Value = ObjectFields<'de, N>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for ObjectSeed<N> {
    type Value = ObjectFields<'de, N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = ObjectFields {
            values: [None; N],
            duplicate: None,
        };
        while let Some(key) = map.next_key_seed(KeySeed { names: &self.names })? {
            match key {
                Some(which) => {
                    let value: &'de RawValue = map.next_value()?;
                    if fields.values[which].is_some() {
                        fields.duplicate.get_or_insert((which, value));
                    } else {
                        fields.values[which] = Some(value);
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// Matches a key against the names without allocating (keys with escapes arrive as
/// transient strings, which is fine: only the index is kept).
struct KeySeed<'n> {
    names: &'n [&'static str],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.names.iter().position(|name| *name == key))
    }
}

/// A JSON value where a scalar is expected.
pub(super) enum JsonScalar<'a> {
    /// The key is absent or `null`.
    Missing,
    Text(Cow<'a, str>),
    /// A number, as its literal text.
    Number(&'a str),
    /// `true`, `false`, an array or an object.
    Other(&'static str),
}

/// Looks at a value and, for a string, decodes its escapes.
pub(super) fn scalar<'a>(
    src: &'a str,
    value: Option<&'a RawValue>,
) -> Result<JsonScalar<'a>, ParseError> {
    let Some(value) = value else {
        return Ok(JsonScalar::Missing);
    };
    let raw = value.get();
    Ok(match raw.as_bytes().first() {
        Some(b'"') => JsonScalar::Text(decode_string(raw).map_err(|e| {
            ParseError::new(offset_in(src, raw), format!("invalid JSON string: {e}"))
        })?),
        Some(b'-' | b'0'..=b'9') => JsonScalar::Number(raw),
        Some(b'n') => JsonScalar::Missing,
        Some(b't' | b'f') => JsonScalar::Other("a boolean"),
        Some(b'[') => JsonScalar::Other("an array"),
        _ => JsonScalar::Other("an object"),
    })
}

fn decode_string(raw: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    // Borrow when the string has no escapes, which is almost always.
    match serde_json::from_str::<&str>(raw) {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(_) => serde_json::from_str::<String>(raw).map(Cow::Owned),
    }
}

/// A text value: a string, or a number taken literally (SKUs and order numbers are
/// sometimes written as numbers). `None` when missing.
pub(super) fn text_value<'a>(
    src: &'a str,
    value: Option<&'a RawValue>,
    key: &str,
) -> Result<Option<Cow<'a, str>>, ParseError> {
    match scalar(src, value)? {
        JsonScalar::Missing => Ok(None),
        JsonScalar::Text(text) => Ok(Some(text)),
        JsonScalar::Number(literal) => Ok(Some(Cow::Borrowed(literal))),
        JsonScalar::Other(what) => Err(type_error(src, value, key, what, "a string")),
    }
}

/// A number value that may also be written as a string; the span remembers which, so a
/// write keeps the type (a string price stays a string).
fn number_value<'a>(
    src: &'a str,
    value: Option<&'a RawValue>,
    key: &str,
) -> Result<Option<Scalar<'a>>, ParseError> {
    let Some(raw) = value else { return Ok(None) };
    let start = offset_in(src, raw.get());
    let span = |json_string| ValueSpan {
        start,
        end: start + raw.get().len(),
        json_string,
    };
    match scalar(src, value)? {
        JsonScalar::Missing => Ok(None),
        JsonScalar::Text(text) => Ok(Some(Scalar {
            text,
            offset: start,
            span: span(true),
        })),
        JsonScalar::Number(literal) => Ok(Some(Scalar {
            text: Cow::Borrowed(literal),
            offset: start,
            span: span(false),
        })),
        JsonScalar::Other(what) => Err(type_error(src, value, key, what, "a number or a string")),
    }
}

pub(super) fn type_error(
    src: &str,
    value: Option<&RawValue>,
    key: &str,
    found: &str,
    want: &str,
) -> ParseError {
    let at = value.map_or(0, |v| offset_in(src, v.get()));
    ParseError::new(at, format!("{key} is {found}; expected {want}"))
}

/// Calls `visit` with every product of a JSON catalog, in file order. Stops at the first
/// malformed product: a malformed file is an error as a whole.
pub(super) fn for_each_product<'a>(
    src: &'a [u8],
    mut visit: impl FnMut(ProductRow<'a>) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let (text, elements) = parse_array(src, "products")?;
    for element in elements {
        let offset = offset_in(text, element.get());
        let [sku, name, price, quantity, kind] = object_fields(
            text,
            element,
            ["sku", "name", "price", "quantity", "kind"],
            "product",
        )?;
        let Some(sku_text) = text_value(text, sku, "sku")? else {
            return Err(ParseError::new(offset, "this product has no \"sku\""));
        };
        let product = RawProduct {
            offset,
            sku: sku_text,
            name: text_value(text, name, "name")?.unwrap_or_default(),
            kind: match kind {
                Some(raw) => {
                    text_value(text, kind, "kind")?.map(|k| (k, offset_in(text, raw.get())))
                }
                None => None,
            },
            price: number_value(text, price, "price")?,
            quantity: number_value(text, quantity, "quantity")?,
        };
        visit(product.check()?)?;
    }
    Ok(())
}
