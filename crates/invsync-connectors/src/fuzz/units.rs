//! The shared HTTP helpers and BigCommerce's pacing on arbitrary headers and bodies.

use crate::http::{retry_after, status_error, truncate};
use proptest::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use std::time::Duration;

fn config(default: u32) -> ProptestConfig {
    ProptestConfig::with_cases(super::cases(default))
}

/// Header values as servers send them, and as they should not.
pub(crate) fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "0", "1", "-1", "1.5", "-0", "NaN", "inf", "-inf", "1e308", "1e400",
            "18446744073709551615", "18446744073709551616", "99999999999999999999",
            "3600", "3601", "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT", "Mon, 01 Jan 0001 00:00:00 GMT", " 5 ", "",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => "[0-9]{1,30}".prop_map(String::into_bytes),
        1 => any::<u64>().prop_map(|n| n.to_string().into_bytes()),
        1 => any::<f64>().prop_map(|f| f.to_string().into_bytes()),
        1 => "[ -~]{0,40}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..20),
    ]
}

fn headers(pairs: &[(&'static str, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(*name, value);
        }
    }
    map
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn retry_after_is_sane_or_absent(value in header_value()) {
        if let Some(wait) = retry_after(&headers(&[("retry-after", value)])) {
            prop_assert!(wait <= Duration::from_secs(3600));
        }
    }

    #[test]
    fn status_errors_keep_their_status_and_stay_short(
        status in 100u16..1000,
        detail in any::<String>(),
        hint in "[ -~]{0,20}",
    ) {
        let Ok(status) = StatusCode::from_u16(status) else { return Ok(()) };
        let e = status_error("shop", status, &detail, &hint);
        prop_assert_eq!(e.status, Some(status.as_u16()));
        prop_assert!(e.message.contains(status.as_str()));
        prop_assert!(e.message.chars().count() <= 300 + hint.chars().count() + 100);
    }

    #[test]
    fn truncate_cuts_on_characters(text in any::<String>(), max in 0usize..50) {
        let cut = truncate(&text, max);
        prop_assert!(text.starts_with(cut));
        prop_assert!(cut.chars().count() <= max);
    }
}
