//! What POS status codes and HRESULTs mean. qbposXML uses the status attributes and the
//! code ranges of qbXML (Intuit, *Status codes in response messages*: 0–499 info, 500–999
//! warnings, 1000 and up errors; the POS reference pages say the same of `StatusCode`), and
//! the Web Connector reports the same request-processor HRESULTs. No POS-specific list of
//! codes is published that we could find (ADR 0081, "unknown"), so the Desktop meanings
//! are kept and only the advice changes where POS differs: no accounts or sites (a `3140`
//! is a store number, a reason or an item), no `EditSequence` (`3200` cannot happen; if it
//! does it is re-read and planned again, as for Desktop), POS's own user rights and
//! integrated-application settings.

use crate::ErrorKind;
use crate::quickbooks_desktop::{self as qbd, HResult, Next, Outcome, QbError, Scope, Status};

/// Classifies the status of the response to a request of kind `request` (its element
/// name, named in messages).
pub fn classify(status: &Status, request: &str) -> Outcome {
    let pos = |scope: Scope, next: Next, kind: ErrorKind, ours: &str| {
        let theirs = status.message.trim();
        Outcome::Error(QbError {
            code: status.code.to_string(),
            scope,
            next,
            kind,
            message: if theirs.is_empty() {
                ours.to_owned()
            } else {
                format!("{ours} (QuickBooks POS says: {theirs})")
            },
        })
    };
    match status.code {
        3140 => pos(
            Scope::Run,
            Next::Fix,
            ErrorKind::InvalidData,
            "the request refers to something QuickBooks POS does not have: check `store_number` (a store of a multi-store company) and `adjustment_reason` against POS, or the item was deleted in POS",
        ),
        3250 => pos(
            Scope::Run,
            Next::Fix,
            ErrorKind::Unsupported,
            "this QuickBooks POS edition or company does not have the feature turned on (multi-store when `store_number` is set): turn it on in POS or remove `store_number`",
        ),
        3260 => pos(
            Scope::Run,
            Next::Fix,
            ErrorKind::Auth,
            "the QuickBooks POS user the Web Connector logs in as may not do this: give that user the rights to edit items and adjust inventory in POS's security settings",
        ),
        _ => qbd::classify(status, request),
    }
}

/// What an HRESULT means for POS: the Desktop meaning, with POS's own words where the fix
/// differs.
pub fn classify_hresult(hresult: HResult, request: &str, message: &str) -> QbError {
    let mut error = hresult.classify(request, message);
    let ours = match hresult {
        HResult::COULD_NOT_START => Some(
            "the Web Connector could not start QuickBooks POS: make sure POS is installed on the Web Connector's computer, that its company data is reachable (the POS server workstation is on), and that no POS dialog is waiting; the next session tries again",
        ),
        HResult::NO_COMPANY_FILE => Some(
            "no QuickBooks POS company is open and none was named: open the company in POS, or set `company_file` to the POS company name",
        ),
        HResult::ACCESS_DENIED => Some(
            "QuickBooks POS denied invsync access to the company: log in to POS as the administrator and allow invsync when POS asks (or in POS's integrated-application preferences)",
        ),
        _ => None,
    };
    if let Some(ours) = ours {
        let message = message.trim();
        error.message = if message.is_empty() {
            ours.to_owned()
        } else {
            format!("{ours} (QuickBooks POS says: {message})")
        };
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quickbooks_desktop::Severity;

    fn status(code: i64) -> Status {
        Status {
            code,
            severity: if code < 500 {
                Severity::Info
            } else if code < 1000 {
                Severity::Warn
            } else {
                Severity::Error
            },
            message: "msg".into(),
        }
    }

    fn error(code: i64) -> QbError {
        match classify(&status(code), "InventoryQtyAdjustmentAddRq") {
            Outcome::Error(e) => e,
            other => panic!("{code}: {other:?}"),
        }
    }

    #[test]
    fn codes_keep_their_meaning_and_get_pos_advice() {
        assert_eq!(classify(&status(0), "x"), Outcome::Ok);
        assert_eq!(classify(&status(1), "x"), Outcome::NoMatch);
        assert!(matches!(classify(&status(530), "x"), Outcome::Warning(_)));
        for (code, scope, next) in [
            (3120, Scope::Item, Next::Fix),
            (3140, Scope::Run, Next::Fix),
            (3175, Scope::Item, Next::RetryNextSession),
            (3180, Scope::Item, Next::RetryNextSession),
            (3231, Scope::Item, Next::RetryNextSession),
            (3250, Scope::Run, Next::Fix),
            (3260, Scope::Run, Next::Fix),
            (3391, Scope::Item, Next::RestartIterator),
        ] {
            let e = error(code);
            assert_eq!((e.scope, e.next), (scope, next), "{code}");
            assert!(e.message.contains("msg"), "{code}: {}", e.message);
        }
        assert!(error(3140).message.contains("store_number"));
        assert!(!error(3140).message.contains("adjustment_account"));
        assert!(error(3260).message.contains("POS"));
        assert!(error(9999).message.contains("InventoryQtyAdjustmentAddRq"));
    }

    #[test]
    fn hresults_speak_of_pos() {
        let denied = classify_hresult(HResult::ACCESS_DENIED, "x", "");
        assert_eq!(denied.kind, ErrorKind::Auth);
        assert!(denied.message.contains("QuickBooks POS denied"));
        let start = classify_hresult(HResult::COULD_NOT_START, "x", "Could not start.");
        assert!(
            start.retryable()
                && start
                    .message
                    .ends_with("(QuickBooks POS says: Could not start.)")
        );
        let parse = classify_hresult(HResult::PARSE_ERROR, "ItemInventoryModRq", "");
        assert!(
            parse.message.contains("bug in invsync")
                && parse.message.contains("ItemInventoryModRq")
        );
    }
}
