//! The shared HTTP helpers and BigCommerce's pacing on arbitrary headers and bodies.

use invsync_connectors::http::{retry_after, status_error, truncate};
use invsync_connectors::testing::header_value;
use proptest::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use std::time::Duration;

fn config(default: u32) -> ProptestConfig {
    ProptestConfig::with_cases(super::cases(default))
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
