//! Reading vendor JSON leniently into typed structs: a field of an unexpected type reads
//! as absent, and a list element that does not fit is skipped, as reading it by hand with
//! `serde_json::Value::as_*` would. For answers where one odd field must not lose the
//! rest (order lists: an order with a garbled line still holds its other lines).

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::Value;

/// `#[serde(default, deserialize_with = "lenient::or_none")]`: the value if it has the
/// field's type, else `None`.
pub(crate) fn or_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(T::deserialize(value).ok())
}

/// `#[serde(default, deserialize_with = "lenient::each")]`: the elements that have the
/// type; anything but a list is an empty one.
pub(crate) fn each<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| T::deserialize(item).ok())
            .collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Line {
        #[serde(default, deserialize_with = "or_none")]
        sku: Option<String>,
        #[serde(default, deserialize_with = "or_none")]
        quantity: Option<i64>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Order {
        #[serde(default, deserialize_with = "or_none")]
        id: Option<u64>,
        #[serde(default, deserialize_with = "each")]
        lines: Vec<Line>,
    }

    #[test]
    fn odd_fields_read_as_absent_and_odd_elements_are_skipped() {
        let o: Order = serde_json::from_str(
            r#"{"id": "7", "lines": [{"sku": 5, "quantity": 2}, 3, {"sku": "A", "quantity": 1.5}]}"#,
        )
        .expect("lenient");
        assert_eq!(
            o,
            Order {
                id: None,
                lines: vec![
                    Line {
                        sku: None,
                        quantity: Some(2)
                    },
                    Line {
                        sku: Some("A".into()),
                        quantity: None
                    },
                ],
            }
        );
        let o: Order = serde_json::from_str(r#"{"id": 7, "lines": {"a": 1}}"#).expect("lenient");
        assert_eq!(o.id, Some(7));
        assert!(o.lines.is_empty());
    }
}
