//! Reading vendor JSON leniently into typed structs: a field of an unexpected type reads
//! as absent, and a list element that does not fit is skipped, as reading it by hand with
//! `serde_json::Value::as_*` would. For answers where one odd field must not lose the
//! rest (order lists: an order with a garbled line still holds its other lines).
//!
//! A lenient struct derives `Deserialize` with `#[serde(default)]` and types its fields
//! [`Lenient`] (one value) or [`Each`] (a list).

use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::Value;

/// The value if it has the type, else none.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lenient<T>(pub Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Lenient(fitting(Value::deserialize(deserializer)?)))
    }
}

/// The elements that have the type; anything but a list is an empty one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Each<T>(pub Vec<T>);

impl<T> Default for Each<T> {
    fn default() -> Self {
        Each(Vec::new())
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Each<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Each(match Value::deserialize(deserializer)? {
            Value::Array(items) => items.into_iter().filter_map(fitting).collect(),
            _ => Vec::new(),
        }))
    }
}

/// `value` as a `T`, if it is one. Never a list: serde would take one for a struct's
/// fields in order, and no field read leniently is a list.
fn fitting<T: DeserializeOwned>(value: Value) -> Option<T> {
    if value.is_array() {
        return None;
    }
    T::deserialize(value).ok()
}

/// Decodes a value leniently: anything that is not an object reads as the default (an
/// order without an id, a line without a SKU).
pub(crate) fn decode<T: DeserializeOwned + Default>(value: Value) -> T {
    if !value.is_object() {
        // serde would take a list for the struct's fields in order.
        return T::default();
    }
    serde_json::from_value(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize, PartialEq)]
    #[serde(default)]
    struct Line {
        sku: Lenient<String>,
        quantity: Lenient<i64>,
    }

    #[derive(Debug, Default, serde::Deserialize, PartialEq)]
    #[serde(default)]
    struct Order {
        id: Lenient<u64>,
        lines: Each<Line>,
    }

    #[test]
    fn odd_fields_read_as_absent_and_odd_elements_are_skipped() {
        let o: Order = decode(serde_json::json!(
            {"id": "7", "lines": [{"sku": 5, "quantity": 2}, 3, ["B", 1], {"sku": "A", "quantity": 1.5}]}
        ));
        assert_eq!(
            o,
            Order {
                id: Lenient(None),
                lines: Each(vec![
                    Line {
                        sku: Lenient(None),
                        quantity: Lenient(Some(2))
                    },
                    Line {
                        sku: Lenient(Some("A".into())),
                        quantity: Lenient(None)
                    },
                ]),
            }
        );
        let o: Order = decode(serde_json::json!({"id": 7, "lines": {"a": 1}}));
        assert_eq!(o.id, Lenient(Some(7)));
        assert!(o.lines.0.is_empty());
        assert_eq!(decode::<Order>(serde_json::json!([1, 2])), Order::default());
    }
}
