//! Whole-number keys (`share`, `buffer`, `max_quantity`, `retries`, …).
//!
//! Asked for an integer, the `config` crate rounds what it is given: `50.5` becomes 51,
//! `nan` and `0.4` become 0, `true` and the string `"yes"` become 1. A `share = nan` then
//! loaded as 0 and a quantity sync wrote 0 to every product of the store. So these keys
//! take an integer (TOML) or a string of digits (an `INVSYNC__…` variable, which always
//! arrives as text) and nothing else: a number with a decimal point — `50.0` too, so that
//! no value is ever silently rounded — `nan`, `inf` or a boolean is an error at the key.
//! The range of each key is checked where the key is validated.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// For `#[serde(default, deserialize_with = "crate::integer::option")] key: Option<i64>`.
pub(crate) fn option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    deserializer.deserialize_any(WholeNumber).map(Some)
}

/// What the error says to write instead.
const HOW: &str = "write a whole number without a decimal point, e.g. 50";

struct WholeNumber;

impl<'de> Visitor<'de> for WholeNumber {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| too_large(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| too_large(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| too_large(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // `{v:?}` keeps the decimal point (`50.0`) and spells `NaN` and `inf`.
        Err(E::custom(format!("{v:?} is not a whole number; {HOW}")))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<i64, E> {
        Err(E::custom(format!("{v} is not a whole number; {HOW}")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
        Err(E::custom(format!("is empty; {HOW}")))
    }

    /// Environment overrides are text: digits with an optional sign, nothing else (no
    /// `"yes"`, `"1e3"`, `"50.0"`, `"nan"`).
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        let text = v.trim();
        let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
        if text.is_empty() {
            return Err(E::custom(format!("is empty; {HOW}")));
        }
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom(format!("`{text}` is not a whole number; {HOW}")));
        }
        text.parse::<i64>().map_err(|_| too_large(text))
    }
}

fn too_large<E: de::Error>(v: impl fmt::Display) -> E {
    E::custom(format!("{v} is out of range (far too large)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Keys {
        #[serde(default, deserialize_with = "option")]
        n: Option<i64>,
    }

    fn toml_n(text: &str) -> Result<Option<i64>, String> {
        let value = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .map_err(|e| e.to_string())?;
        value
            .try_deserialize::<Keys>()
            .map(|k| k.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn takes_integers_and_digit_strings_only() {
        assert_eq!(toml_n(""), Ok(None));
        assert_eq!(toml_n("n = 50"), Ok(Some(50)));
        assert_eq!(toml_n("n = -3"), Ok(Some(-3)));
        assert_eq!(toml_n("n = \"42\""), Ok(Some(42)));
        assert_eq!(toml_n("n = \" +7 \""), Ok(Some(7)));
        for (text, says) in [
            ("n = nan", "NaN is not a whole number"),
            ("n = -nan", "NaN is not a whole number"),
            ("n = inf", "inf is not a whole number"),
            ("n = 50.5", "50.5 is not a whole number"),
            ("n = 50.0", "50.0 is not a whole number"),
            ("n = 0.4", "0.4 is not a whole number"),
            ("n = 1e3", "1000.0 is not a whole number"),
            ("n = true", "true is not a whole number"),
            ("n = \"yes\"", "`yes` is not a whole number"),
            ("n = \"nan\"", "`nan` is not a whole number"),
            ("n = \"50.5\"", "`50.5` is not a whole number"),
            ("n = \"\"", "is empty"),
            ("n = \"99999999999999999999\"", "out of range"),
        ] {
            let e = toml_n(text).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
