//! Validation of qbXML documents against the real qbXML 13.0 XSDs
//! (`../shared/specs/quickbooks-desktop/`), by `xmllint` from libxml2 (package
//! `libxml2-utils`; `.ci/run` installs it). A missing `xmllint` or spec fails the test —
//! it is never skipped.
//!
//! The schema's entry point is `qbxmlops130.xsd` (it declares `QBXML` and every message),
//! which includes `qbxmltypes130.xsd`, `qbxmlso130.xsd` and — under the name its
//! publisher gave its copy, `qbxml130_modified.xsd` — `qbxml130.xsd`. Each validation
//! links the four files into a fresh temporary folder under those names (removed
//! afterwards), so the specs stay unmodified where they are.

use std::path::Path;
use std::process::Command;

/// The spec files and the names the schema includes them by.
const FILES: &[(&str, &str)] = &[
    ("quickbooks-desktop/qbxmlops130.xsd", "qbxmlops130.xsd"),
    ("quickbooks-desktop/qbxmltypes130.xsd", "qbxmltypes130.xsd"),
    ("quickbooks-desktop/qbxmlso130.xsd", "qbxmlso130.xsd"),
    ("quickbooks-desktop/qbxml130.xsd", "qbxml130_modified.xsd"),
];

/// Validates one document; `Err` holds xmllint's complaints.
pub fn validate(document: &str) -> Result<(), String> {
    validate_all(&[document])
        .pop()
        .unwrap_or_else(|| Err("xmllint gave no verdict".into()))
}

/// Panics with xmllint's complaints and the document when it is not valid.
pub fn assert_valid(document: &str) {
    if let Err(e) = validate(document) {
        panic!("qbXML not valid against qbxml130.xsd:\n{e}\n--- document ---\n{document}");
    }
}

/// Validates several documents with one xmllint run (the schema is compiled once): one
/// verdict per document, in order.
pub fn validate_all(documents: &[&str]) -> Vec<Result<(), String>> {
    if documents.is_empty() {
        return Vec::new();
    }
    let dir = tempfile::tempdir().expect("a temporary folder for xmllint");
    for (spec, name) in FILES {
        let source = crate::specs::path(spec);
        link_or_copy(&source, &dir.path().join(name));
    }
    let mut paths = Vec::new();
    for (n, document) in documents.iter().enumerate() {
        let path = dir.path().join(format!("doc{n}.xml"));
        std::fs::write(&path, document).expect("write a document to validate");
        paths.push(path);
    }
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(dir.path().join("qbxmlops130.xsd"))
        .args(&paths)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run xmllint ({e}): install libxml2-utils (`apt-get install libxml2-utils`; .ci/run does)"
            )
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("failed to compile") && !stderr.contains("WXS schema"),
        "xmllint could not compile the qbXML schema:\n{stderr}"
    );
    paths
        .iter()
        .map(|path| {
            let name = path.display().to_string();
            let verdict = format!("{name} validates");
            let complaints: Vec<&str> = stderr
                .lines()
                .filter(|line| line.starts_with(&name) && *line != verdict)
                .collect();
            if stderr.lines().any(|line| line == verdict) && complaints.is_empty() {
                Ok(())
            } else if complaints.is_empty() {
                Err(format!("xmllint gave no verdict for {name}:\n{stderr}"))
            } else {
                Err(complaints.join("\n"))
            }
        })
        .collect()
}

fn link_or_copy(source: &Path, target: &Path) {
    #[cfg(unix)]
    if std::os::unix::fs::symlink(source, target).is_ok() {
        return;
    }
    std::fs::copy(source, target)
        .unwrap_or_else(|e| panic!("cannot copy {} for xmllint: {e}", source.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validator_accepts_valid_and_refuses_invalid_qbxml() {
        let valid = r#"<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="continueOnError"><ItemInventoryQueryRq requestID="1" iterator="Start"><MaxReturned>5</MaxReturned></ItemInventoryQueryRq></QBXMLMsgsRq></QBXML>"#;
        // Wrong order: IncludeRetElement must come after the filter.
        let misordered = r#"<?xml version="1.0"?><QBXML><QBXMLMsgsRq onError="continueOnError"><ItemInventoryQueryRq requestID="1"><IncludeRetElement>ListID</IncludeRetElement><MaxReturned>5</MaxReturned></ItemInventoryQueryRq></QBXMLMsgsRq></QBXML>"#;
        let too_long = r#"<?xml version="1.0"?><QBXML><QBXMLMsgsRq onError="continueOnError"><InventoryAdjustmentAddRq><InventoryAdjustmentAdd><AccountRef><FullName>A</FullName></AccountRef><RefNumber>123456789012</RefNumber><InventoryAdjustmentLineAdd><ItemRef><ListID>1</ListID></ItemRef><QuantityAdjustment><QuantityDifference>1</QuantityDifference></QuantityAdjustment></InventoryAdjustmentLineAdd></InventoryAdjustmentAdd></InventoryAdjustmentAddRq></QBXMLMsgsRq></QBXML>"#;
        let verdicts = validate_all(&[valid, misordered, too_long, "<QBXML><oops></QBXML>"]);
        assert!(verdicts[0].is_ok(), "{verdicts:?}");
        assert!(
            verdicts[1]
                .as_ref()
                .expect_err("misordered")
                .contains("MaxReturned")
        );
        assert!(
            verdicts[2]
                .as_ref()
                .expect_err("too long")
                .contains("RefNumber")
        );
        assert!(verdicts[3].is_err());
    }
}
