//! Whatever text a parameter or a result carries — qbXML with its own markup, entities,
//! quotes, non-ASCII, company-file paths with `&` — survives the trip both ways: the
//! client fake's envelope read by the endpoint, the endpoint's answer read by the fake.
//! (Two independent implementations checking each other.)

use invsync_test_support::web_connector::{Reply, WebConnectorClient, read_answer};
use invsync_webconnector::soap::{Answer, OPERATIONS, parse_call, response};
use proptest::prelude::*;

/// Characters XML 1.0 can carry (no NUL, no other C0 control but tab, newline and CR —
/// and no CR, which XML parsers normalise to a newline).
fn xml_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('<'),
            Just('>'),
            Just('&'),
            Just('"'),
            Just('\''),
            Just('\n'),
            Just('\t'),
            Just(';'),
            Just('#'),
            any::<char>().prop_filter("XML 1.0 characters", |c| {
                !c.is_control() && *c != '\u{FFFE}' && *c != '\u{FFFF}'
            }),
        ],
        0..200,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn parameters_reach_the_endpoint_unchanged(text in xml_text()) {
        let body = WebConnectorClient::envelope(
            "receiveResponseXML",
            &[("ticket", "t"), ("response", &text), ("hresult", ""), ("message", "")],
        );
        let call = parse_call(&body).expect("parses");
        prop_assert_eq!(call.param("response"), text.as_str());
    }

    #[test]
    fn results_reach_the_web_connector_unchanged(text in xml_text(), items in proptest::collection::vec(xml_text(), 0..5)) {
        let send = &OPERATIONS[3];
        let answer = response(send, &Answer::Text(text.clone()));
        prop_assert_eq!(read_answer(send.name, 200, &answer), Ok(Reply::Text(text)));
        let auth = &OPERATIONS[2];
        let answer = response(auth, &Answer::Strings(items.clone()));
        prop_assert_eq!(read_answer(auth.name, 200, &answer), Ok(Reply::Strings(items)));
    }
}
