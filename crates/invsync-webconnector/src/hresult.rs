//! The COM errors (HRESULTs) the Web Connector reports in `connectionError` and
//! `receiveResponseXML`, in words that say what to do. Codes are matched without regard to
//! case or a `0x` prefix; unknown codes keep QuickBooks' own message.

/// What `code` means for the operator, if invsync knows the code.
pub fn meaning(code: &str) -> Option<&'static str> {
    let code = code.trim();
    let digits = code
        .strip_prefix("0x")
        .or_else(|| code.strip_prefix("0X"))
        .unwrap_or(code);
    match digits.to_ascii_uppercase().as_str() {
        "80040400" => Some(
            "QuickBooks could not parse a request invsync sent (malformed qbXML): this is a bug in invsync — report it with the request kind from the log",
        ),
        "80040408" => Some(
            "the Web Connector could not start QuickBooks: on the Windows machine, start QuickBooks as the same Windows user that runs the Web Connector, open the company file, and close any dialog QuickBooks shows",
        ),
        "80040416" => Some(
            "no company file is open and none was named: open the company file in QuickBooks, or set web_connector.company_file to its full path",
        ),
        "80040420" => Some(
            "QuickBooks refused access to the company file: in QuickBooks (as the Admin, single-user mode) open Edit > Preferences > Integrated Applications > Company Preferences and allow this application, with access even when QuickBooks is not running",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_codes_in_any_spelling() {
        for code in ["0x80040408", "0X80040408", "80040408", " 0x80040408 "] {
            assert!(super::meaning(code).is_some_and(|m| m.contains("start QuickBooks")));
        }
        assert!(
            super::meaning("0x80040420").is_some_and(|m| m.contains("Integrated Applications"))
        );
        assert!(super::meaning("0x80040400").is_some_and(|m| m.contains("bug")));
        assert!(super::meaning("0x80040416").is_some_and(|m| m.contains("company_file")));
        assert_eq!(super::meaning("0x8000FFFF"), None);
    }
}
