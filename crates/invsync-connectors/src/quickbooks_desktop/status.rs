//! What QuickBooks' answers mean and what to do about them: every `statusCode` of issue 15
//! (item 10) and the HRESULTs the Web Connector reports, each turned into an
//! [`Outcome`] — fine, empty, a warning, or a [`QbError`] for one item or the whole run
//! with words that say what to do.
//!
//! Sources: Intuit, *Status codes in response messages* (QuickBooks Desktop SDK,
//! developer.intuit.com/app/developer/qbdesktop/docs/develop/exploring-the-quickbooks-desktop-sdk/status-codes-in-response-messages:
//! ranges 0–499 info, 500–999 warnings, 1000+ errors; 1 "No match"), the onscreen
//! reference's HRESULT table (QBD-errorcodes), and how consolibyte/quickbooks-php
//! handles them (`QuickBooks/Callbacks/SQL/Errors.php`: 3170/3175/3176/3180 are
//! "send the request again" when the message says the record was locked or modified by
//! another user; 3250/3260 are configuration, not data). `3391` is the iterator lost
//! with its session, as issue 15 names it.

use crate::ErrorKind;
use std::fmt;

/// `statusSeverity` of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warn,
    Error,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "Info" | "INFO" | "info" => Some(Severity::Info),
            "Warn" | "Warning" | "WARN" | "warn" | "warning" => Some(Severity::Warn),
            "Error" | "ERROR" | "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

/// The status attributes of one response (`statusCode`, `statusSeverity`,
/// `statusMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: i64,
    pub severity: Severity,
    pub message: String,
}

/// Whom an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This item (or this one request): the others of the message set stand.
    Item,
    /// Every request of the session or run: the configuration, QuickBooks itself, or a bug.
    Run,
}

/// What to do next about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send the same request in the next Web Connector session (a lock, QuickBooks busy).
    RetryNextSession,
    /// Read the item again and plan it again: it changed in QuickBooks since it was read
    /// (compare-and-set, never an overwrite).
    ReReadAndPlan,
    /// Start the iterator again from `Start`: the old one died with its session.
    RestartIterator,
    /// Nothing will change until someone fixes something (data in QuickBooks, the
    /// configuration, permissions) — or it is a bug in invsync.
    Fix,
}

/// A QuickBooks error, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QbError {
    /// `3200`, or the HRESULT as QuickBooks writes it (`0x80040400`).
    pub code: String,
    pub scope: Scope,
    pub next: Next,
    pub kind: ErrorKind,
    /// What happened and what to do, in words for an operator (QuickBooks' own message
    /// appended).
    pub message: String,
}

impl QbError {
    /// Whether the same request may succeed later without anyone fixing anything.
    pub fn retryable(&self) -> bool {
        matches!(
            self.next,
            Next::RetryNextSession | Next::ReReadAndPlan | Next::RestartIterator
        )
    }

    /// The error as a connection error of `connection`.
    pub fn to_connector_error(&self, connection: &str) -> crate::ConnectorError {
        crate::ConnectorError {
            connection: connection.to_owned(),
            kind: self.kind,
            retryable: self.retryable(),
            status: None,
            message: self.to_string(),
        }
    }
}

impl fmt::Display for QbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QuickBooks {}: {}", self.code, self.message)
    }
}

/// How one response went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `0`.
    Ok,
    /// `1`: a query matched nothing — an empty answer, not an error.
    NoMatch,
    /// `500`–`999`: QuickBooks did the request but says something may be off; the data
    /// that came back is used, the warning is kept for the run.
    Warning(String),
    Error(QbError),
}

/// Classifies the status of the response to a request of kind `request` (its element
/// name, e.g. `ItemInventoryModRq`, named in messages).
pub fn classify(status: &Status, request: &str) -> Outcome {
    let code = status.code;
    let theirs = status.message.trim();
    let with_theirs = |ours: &str| {
        if theirs.is_empty() {
            ours.to_owned()
        } else {
            format!("{ours} (QuickBooks says: {theirs})")
        }
    };
    let error = |scope: Scope, next: Next, kind: ErrorKind, ours: &str| {
        Outcome::Error(QbError {
            code: code.to_string(),
            scope,
            next,
            kind,
            message: with_theirs(ours),
        })
    };
    match code {
        0 => Outcome::Ok,
        1 => Outcome::NoMatch,
        2..=499 => Outcome::Ok,
        500..=999 => Outcome::Warning(with_theirs(&format!(
            "{request} was done with warning {code}; check the result in QuickBooks if it looks incomplete"
        ))),
        3100 => error(
            Scope::Item,
            Next::Fix,
            ErrorKind::InvalidData,
            "another QuickBooks list entry already has this name; rename one of them in QuickBooks",
        ),
        3120 => error(
            Scope::Item,
            Next::Fix,
            ErrorKind::NotFound,
            "the object this request names is not in the company file (deleted or made inactive in QuickBooks?); the next read leaves it out",
        ),
        3140 => error(
            Scope::Run,
            Next::Fix,
            ErrorKind::InvalidData,
            "the request refers to something QuickBooks does not have: check `adjustment_account` (an account's full name, e.g. \"Inventory Adjustments\") and `site` (an Advanced Inventory site) against QuickBooks' lists",
        ),
        3170 | 3175 | 3176 | 3180 => error(
            Scope::Item,
            Next::RetryNextSession,
            ErrorKind::Unavailable,
            "the record is locked or in use in QuickBooks (someone has it open, or another user changed the list); it is sent again in the next Web Connector session",
        ),
        3200 => error(
            Scope::Item,
            Next::ReReadAndPlan,
            ErrorKind::Unavailable,
            "the item changed in QuickBooks since invsync read it (its EditSequence is out of date); it is read again and planned again, never overwritten",
        ),
        3231 => error(
            Scope::Item,
            Next::RetryNextSession,
            ErrorKind::Unavailable,
            "QuickBooks did not process this request because an earlier request of the same message failed; it is sent again in the next session",
        ),
        3250 => error(
            Scope::Run,
            Next::Fix,
            ErrorKind::Unsupported,
            "this QuickBooks edition or company file does not have the feature turned on (inventory, or Advanced Inventory sites when `site` is set): turn it on in QuickBooks' preferences or remove `site`",
        ),
        3260 => error(
            Scope::Run,
            Next::Fix,
            ErrorKind::Auth,
            "the QuickBooks user the Web Connector logs in as may not do this: give that user permission for inventory items and adjustments in QuickBooks (Company > Users)",
        ),
        3391 => error(
            Scope::Item,
            Next::RestartIterator,
            ErrorKind::Unavailable,
            "the read's iterator is gone (iterators live only as long as their Web Connector session); the read starts again from the beginning",
        ),
        _ if status.severity != Severity::Error && code < 1000 => Outcome::Ok,
        _ => error(
            Scope::Item,
            Next::Fix,
            ErrorKind::Other,
            &format!("{request} failed with status {code}"),
        ),
    }
}

/// An HRESULT the Web Connector reports for a whole message set (in `receiveResponseXML`'s
/// `hresult` or in `connectionError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HResult(pub u32);

impl HResult {
    /// QuickBooks rejected the qbXML itself (not well-formed or not valid).
    pub const PARSE_ERROR: HResult = HResult(0x8004_0400);
    /// "Could not start QuickBooks."
    pub const COULD_NOT_START: HResult = HResult(0x8004_0408);
    /// No company file open and none named.
    pub const NO_COMPANY_FILE: HResult = HResult(0x8004_0416);
    /// The QuickBooks user denied the application access.
    pub const ACCESS_DENIED: HResult = HResult(0x8004_0420);

    /// Reads `0x80040400` (any case, with or without `0x`) or a decimal (the Web Connector
    /// sometimes sends a signed decimal).
    pub fn parse(text: &str) -> Option<HResult> {
        let text = text.trim();
        let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"));
        match hex {
            Some(hex) => u32::from_str_radix(hex, 16).ok().map(HResult),
            None => text
                .parse::<i64>()
                .ok()
                .and_then(|n| {
                    u32::try_from(n)
                        .ok()
                        .or_else(|| i32::try_from(n).ok().map(|n| n as u32))
                })
                .map(HResult),
        }
    }

    /// What it means and what to do. `request` names the kind of request that was
    /// answered with it (for `0x80040400`, which is a bug in invsync).
    pub fn classify(self, request: &str, message: &str) -> QbError {
        let (next, kind, ours) = match self {
            HResult::PARSE_ERROR => (
                Next::Fix,
                ErrorKind::Other,
                format!(
                    "QuickBooks rejected invsync's {request} as malformed qbXML; this is a bug in invsync — please report it with this message (nothing was changed by that request)"
                ),
            ),
            HResult::COULD_NOT_START => (
                Next::RetryNextSession,
                ErrorKind::Unavailable,
                "the Web Connector could not start QuickBooks: make sure QuickBooks is installed on the Web Connector's computer, that the company file can be opened by the Windows user running the Web Connector, and that no QuickBooks dialog is waiting; the next session tries again".to_owned(),
            ),
            HResult::NO_COMPANY_FILE => (
                Next::Fix,
                ErrorKind::NotFound,
                "no company file is open in QuickBooks and none was named: open the company file in QuickBooks, or set `company_file` to its full path".to_owned(),
            ),
            HResult::ACCESS_DENIED => (
                Next::Fix,
                ErrorKind::Auth,
                "QuickBooks denied invsync access to the company file: log in to QuickBooks as the administrator, open Edit > Preferences > Integrated Applications > Company Preferences and allow invsync (with \"Allow this application to login automatically\")".to_owned(),
            ),
            _ => (
                Next::RetryNextSession,
                ErrorKind::Unavailable,
                format!("the Web Connector reported an error for {request}; the next session tries again"),
            ),
        };
        let message = message.trim();
        QbError {
            code: self.to_string(),
            scope: Scope::Run,
            next,
            kind,
            message: if message.is_empty() {
                ours
            } else {
                format!("{ours} (QuickBooks says: {message})")
            },
        }
    }
}

impl fmt::Display for HResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: i64, severity: Severity) -> Status {
        Status {
            code,
            severity,
            message: "msg".into(),
        }
    }

    fn error(code: i64) -> QbError {
        match classify(&status(code, Severity::Error), "ItemInventoryModRq") {
            Outcome::Error(e) => e,
            other => panic!("{code} should be an error, got {other:?}"),
        }
    }

    #[test]
    fn every_listed_status_code_has_a_meaning() {
        assert_eq!(classify(&status(0, Severity::Info), "X"), Outcome::Ok);
        assert_eq!(classify(&status(1, Severity::Info), "X"), Outcome::NoMatch);
        for code in [500, 501, 510, 530, 531, 550, 560, 570, 600] {
            assert!(matches!(
                classify(&status(code, Severity::Warn), "X"),
                Outcome::Warning(_)
            ));
        }
        let table = [
            (3100, Scope::Item, Next::Fix),
            (3120, Scope::Item, Next::Fix),
            (3140, Scope::Run, Next::Fix),
            (3170, Scope::Item, Next::RetryNextSession),
            (3175, Scope::Item, Next::RetryNextSession),
            (3176, Scope::Item, Next::RetryNextSession),
            (3180, Scope::Item, Next::RetryNextSession),
            (3200, Scope::Item, Next::ReReadAndPlan),
            (3231, Scope::Item, Next::RetryNextSession),
            (3250, Scope::Run, Next::Fix),
            (3260, Scope::Run, Next::Fix),
            (3391, Scope::Item, Next::RestartIterator),
        ];
        for (code, scope, next) in table {
            let e = error(code);
            assert_eq!((e.scope, e.next), (scope, next), "{code}");
            assert!(
                e.message.contains("QuickBooks says: msg"),
                "{code}: {}",
                e.message
            );
            assert_eq!(e.code, code.to_string());
        }
        assert!(error(3140).message.contains("adjustment_account"));
        assert!(error(3200).message.contains("read again"));
        assert!(error(3260).message.contains("permission"));
        assert!(error(3200).retryable() && !error(3100).retryable());
        let unknown = error(9999);
        assert!(unknown.message.contains("ItemInventoryModRq"));
    }

    #[test]
    fn hresults() {
        assert_eq!(HResult::parse("0x80040400"), Some(HResult::PARSE_ERROR));
        assert_eq!(HResult::parse("0X80040408"), Some(HResult::COULD_NOT_START));
        assert_eq!(HResult::parse("-2147220458"), Some(HResult(0x8004_0416)));
        assert_eq!(HResult::parse("nonsense"), None);
        assert_eq!(HResult::ACCESS_DENIED.to_string(), "0x80040420");

        let parse = HResult::PARSE_ERROR.classify("ItemInventoryModRq", "");
        assert!(
            parse.message.contains("bug in invsync")
                && parse.message.contains("ItemInventoryModRq")
        );
        assert_eq!((parse.scope, parse.next), (Scope::Run, Next::Fix));
        let start = HResult::COULD_NOT_START.classify("x", "Could not start QuickBooks.");
        assert!(start.retryable() && start.message.contains("QuickBooks says: Could not start"));
        assert!(
            HResult::NO_COMPANY_FILE
                .classify("x", "")
                .message
                .contains("company_file")
        );
        let denied = HResult::ACCESS_DENIED.classify("x", "");
        assert_eq!(denied.kind, ErrorKind::Auth);
        assert!(denied.message.contains("Integrated Applications"));
        let err = denied.to_connector_error("accounting");
        assert!(!err.retryable && err.message.starts_with("QuickBooks 0x80040420"));
    }
}
