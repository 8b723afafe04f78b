//! SOAP 1.1, document/literal, as the Web Connector speaks it
//! (`QBWebConnectorSvc.wsdl`, target namespace `http://developer.intuit.com/`,
//! `elementFormDefault="qualified"`): [`parse_call`] reads one request envelope with a
//! namespace-aware XML reader (quick-xml) — never by scanning text — and [`response`] /
//! [`fault`] write the answers. [`OPERATIONS`] is the one table of element names both
//! sides use; a test checks it against the WSDL.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use std::collections::BTreeMap;

/// The Web Connector service's namespace.
pub const INTUIT_NS: &str = "http://developer.intuit.com/";
/// SOAP 1.1's envelope namespace.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// One operation of the service: its request element, the request's child elements in
/// order, and the result element inside `{name}Response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub name: &'static str,
    pub params: &'static [&'static str],
    pub result: &'static str,
}

/// The eight operations of `QBWebConnectorSvc.wsdl`.
pub const OPERATIONS: [Operation; 8] = [
    Operation {
        name: "serverVersion",
        params: &["strVersion"],
        result: "serverVersionResult",
    },
    Operation {
        name: "clientVersion",
        params: &["strVersion"],
        result: "clientVersionResult",
    },
    Operation {
        name: "authenticate",
        params: &["strUserName", "strPassword"],
        result: "authenticateResult",
    },
    Operation {
        name: "sendRequestXML",
        params: &[
            "ticket",
            "strHCPResponse",
            "strCompanyFileName",
            "qbXMLCountry",
            "qbXMLMajorVers",
            "qbXMLMinorVers",
        ],
        result: "sendRequestXMLResult",
    },
    Operation {
        name: "receiveResponseXML",
        params: &["ticket", "response", "hresult", "message"],
        result: "receiveResponseXMLResult",
    },
    Operation {
        name: "connectionError",
        params: &["ticket", "hresult", "message"],
        result: "connectionErrorResult",
    },
    Operation {
        name: "getLastError",
        params: &["ticket"],
        result: "getLastErrorResult",
    },
    Operation {
        name: "closeConnection",
        params: &["ticket"],
        result: "closeConnectionResult",
    },
];

/// The element `authenticateResult`'s items are named (`ArrayOfString`).
pub const ARRAY_ITEM: &str = "string";

/// One parsed request: the operation and its parameters by name (absent ones are absent;
/// the WSDL makes all but the version numbers optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub operation: &'static Operation,
    pub params: BTreeMap<&'static str, String>,
}

impl Call {
    /// A parameter's text, `""` when it was left out.
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }
}

/// What is wrong with a request; answered as a SOAP `Client` fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SoapError(pub String);

fn bad(message: impl Into<String>) -> SoapError {
    SoapError(message.into())
}

/// The deepest nesting a request may have (an envelope, a body, an operation, its
/// parameters, with room for a header's contents).
const MAX_DEPTH: usize = 16;

/// Reads a SOAP 1.1 request: `Envelope` (SOAP namespace) → optional `Header` (ignored) →
/// `Body` → one operation element in the Intuit namespace → its parameters, each text only.
pub fn parse_call(body: &str) -> Result<Call, SoapError> {
    let mut reader = NsReader::from_str(body);
    let mut depth = 0usize;
    let mut stage = Stage::Envelope;
    let mut operation: Option<&'static Operation> = None;
    let mut params: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut current: Option<(&'static str, String)> = None;
    let mut header_depth: Option<usize> = None;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| bad(format!("not well-formed XML: {e}")))?;
        let in_ns = |want: &str| matches!(&ns, ResolveResult::Bound(n) if n.as_ref() == want);
        match event {
            Event::Start(start) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(bad("nested too deeply"));
                }
                if header_depth.is_some() {
                    continue;
                }
                let local = start.local_name().as_ref().to_owned();
                stage = match stage {
                    Stage::Envelope if local == "Envelope" && in_ns(SOAP_ENV_NS) => Stage::Body,
                    Stage::Envelope => {
                        return Err(bad(format!(
                            "expected a SOAP 1.1 Envelope ({SOAP_ENV_NS}), found `{local}`"
                        )));
                    }
                    Stage::Body if local == "Header" && in_ns(SOAP_ENV_NS) => {
                        header_depth = Some(depth);
                        Stage::Body
                    }
                    Stage::Body if local == "Body" && in_ns(SOAP_ENV_NS) => Stage::Operation,
                    Stage::Body => {
                        return Err(bad(format!("expected the SOAP Body, found `{local}`")));
                    }
                    Stage::Operation => {
                        operation = Some(operation_named(&local, in_ns(INTUIT_NS))?);
                        Stage::Param
                    }
                    Stage::Param => {
                        let name = param_named(operation, &local, in_ns(INTUIT_NS))?;
                        if params.contains_key(name) {
                            return Err(bad(format!("`{local}` given twice")));
                        }
                        current = Some((name, String::new()));
                        Stage::Text
                    }
                    Stage::Text => {
                        return Err(bad(format!(
                            "`{local}` inside a parameter: parameters are text (escape XML inside them)"
                        )));
                    }
                    Stage::Done => return Err(bad("more than one operation in the Body")),
                };
            }
            Event::Empty(start) => {
                if header_depth.is_some() {
                    continue;
                }
                let local = start.local_name().as_ref().to_owned();
                match stage {
                    Stage::Operation => {
                        operation = Some(operation_named(&local, in_ns(INTUIT_NS))?);
                        stage = Stage::Done;
                    }
                    Stage::Param => {
                        let name = param_named(operation, &local, in_ns(INTUIT_NS))?;
                        if params.insert(name, String::new()).is_some() {
                            return Err(bad(format!("`{local}` given twice")));
                        }
                    }
                    _ => return Err(bad(format!("unexpected empty element `{local}`"))),
                }
            }
            Event::End(_) => {
                if let Some(h) = header_depth {
                    if depth == h {
                        header_depth = None;
                    }
                    depth -= 1;
                    continue;
                }
                depth = depth.saturating_sub(1);
                stage = match stage {
                    Stage::Text => {
                        if let Some((name, text)) = current.take() {
                            params.insert(name, text);
                        }
                        Stage::Param
                    }
                    Stage::Param => Stage::Done,
                    other => other,
                };
            }
            Event::Text(text) => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&text.xml10_content());
                } else if !text.xml10_content().trim().is_empty() && header_depth.is_none() {
                    return Err(bad("text outside a parameter"));
                }
            }
            Event::CData(text) => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&text.xml10_content());
                } else if header_depth.is_none() {
                    return Err(bad("CDATA outside a parameter"));
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = reference.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| bad(format!("unknown entity `&{name};`")))?
                            .to_owned()
                    }
                    Err(e) => return Err(bad(format!("bad character reference: {e}"))),
                };
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&resolved);
                } else if header_depth.is_none() {
                    return Err(bad("text outside a parameter"));
                }
            }
            Event::DocType(_) => return Err(bad("a DOCTYPE is not allowed in SOAP")),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    let operation = operation.ok_or_else(|| bad("the SOAP Body holds no operation"))?;
    if !matches!(stage, Stage::Done | Stage::Param) || depth != 0 {
        return Err(bad("the envelope ends early"));
    }
    Ok(Call { operation, params })
}

/// The operation an element in the Body names (`intuit`: it is in the Intuit namespace).
fn operation_named(local: &str, intuit: bool) -> Result<&'static Operation, SoapError> {
    OPERATIONS
        .iter()
        .find(|op| op.name == local)
        .filter(|_| intuit)
        .ok_or_else(|| {
            bad(format!(
                "`{local}` is not an operation of the Web Connector service (namespace {INTUIT_NS})"
            ))
        })
}

/// The parameter of `operation` an element inside it names.
fn param_named(
    operation: Option<&'static Operation>,
    local: &str,
    intuit: bool,
) -> Result<&'static str, SoapError> {
    let op = operation.ok_or_else(|| bad("a parameter outside an operation"))?;
    op.params
        .iter()
        .copied()
        .find(|p| *p == local)
        .filter(|_| intuit)
        .ok_or_else(|| bad(format!("`{local}` is not a parameter of {}", op.name)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Envelope,
    Body,
    Operation,
    Param,
    Text,
    Done,
}

/// What a result element holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Text(String),
    Int(i32),
    Strings(Vec<String>),
}

fn envelope(inner: impl FnOnce(&mut Writer<Vec<u8>>) -> std::io::Result<()>) -> String {
    let mut writer = Writer::new(Vec::new());
    let written = (|| -> std::io::Result<()> {
        writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
        let mut env = BytesStart::new("soap:Envelope");
        env.push_attribute(("xmlns:soap", SOAP_ENV_NS));
        env.push_attribute(("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"));
        env.push_attribute(("xmlns:xsd", "http://www.w3.org/2001/XMLSchema"));
        writer.write_event(Event::Start(env))?;
        writer.write_event(Event::Start(BytesStart::new("soap:Body")))?;
        inner(&mut writer)?;
        writer.write_event(Event::End(BytesEnd::new("soap:Body")))?;
        writer.write_event(Event::End(BytesEnd::new("soap:Envelope")))
    })();
    // Writing into a Vec cannot fail; an error here would be a bug in quick-xml.
    debug_assert!(written.is_ok());
    String::from_utf8(writer.into_inner()).unwrap_or_default()
}

/// The answer envelope of `operation`: `<{name}Response xmlns="…"><{result}>…`.
pub fn response(operation: &Operation, answer: &Answer) -> String {
    envelope(|w| {
        let mut start = BytesStart::new(format!("{}Response", operation.name));
        start.push_attribute(("xmlns", INTUIT_NS));
        w.write_event(Event::Start(start))?;
        w.write_event(Event::Start(BytesStart::new(operation.result)))?;
        match answer {
            Answer::Text(text) => w.write_event(Event::Text(BytesText::new(text)))?,
            Answer::Int(n) => w.write_event(Event::Text(BytesText::new(&n.to_string())))?,
            Answer::Strings(items) => {
                for item in items {
                    w.write_event(Event::Start(BytesStart::new(ARRAY_ITEM)))?;
                    w.write_event(Event::Text(BytesText::new(item)))?;
                    w.write_event(Event::End(BytesEnd::new(ARRAY_ITEM)))?;
                }
            }
        }
        w.write_event(Event::End(BytesEnd::new(operation.result)))?;
        w.write_event(Event::End(BytesEnd::new(format!(
            "{}Response",
            operation.name
        ))))
    })
}

/// A SOAP 1.1 fault: `soap:Client` (the request is at fault) or `soap:Server`.
pub fn fault(client: bool, message: &str) -> String {
    envelope(|w| {
        w.write_event(Event::Start(BytesStart::new("soap:Fault")))?;
        w.write_event(Event::Start(BytesStart::new("faultcode")))?;
        w.write_event(Event::Text(BytesText::new(if client {
            "soap:Client"
        } else {
            "soap:Server"
        })))?;
        w.write_event(Event::End(BytesEnd::new("faultcode")))?;
        w.write_event(Event::Start(BytesStart::new("faultstring")))?;
        w.write_event(Event::Text(BytesText::new(message)))?;
        w.write_event(Event::End(BytesEnd::new("faultstring")))?;
        w.write_event(Event::End(BytesEnd::new("soap:Fault")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope_of(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Header><x:y xmlns:x="urn:x">ignored</x:y></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
        )
    }

    #[test]
    fn reads_parameters_with_escaped_xml_inside() {
        let call = parse_call(&envelope_of(&format!(
            r#"<receiveResponseXML xmlns="{INTUIT_NS}"><ticket>t-1</ticket><response>&lt;?xml version="1.0"?&gt;&lt;QBXML&gt;&#233;&amp;</response><hresult/><message></message></receiveResponseXML>"#
        )))
        .expect("parses");
        assert_eq!(call.operation.name, "receiveResponseXML");
        assert_eq!(call.param("ticket"), "t-1");
        assert_eq!(call.param("response"), "<?xml version=\"1.0\"?><QBXML>é&");
        assert_eq!(call.param("hresult"), "");
        assert!(call.params.contains_key("message"));
    }

    #[test]
    fn prefixes_do_not_matter_namespaces_do() {
        let call = parse_call(&envelope_of(&format!(
            r#"<i:getLastError xmlns:i="{INTUIT_NS}"><i:ticket>abc</i:ticket></i:getLastError>"#
        )))
        .expect("parses");
        assert_eq!(call.param("ticket"), "abc");
        for wrong in [
            r#"<getLastError xmlns="urn:other"><ticket>abc</ticket></getLastError>"#.to_owned(),
            format!(
                r#"<getLastError xmlns="{INTUIT_NS}"><ticket xmlns="urn:x">abc</ticket></getLastError>"#
            ),
            format!(r#"<deleteEverything xmlns="{INTUIT_NS}"/>"#),
            format!(
                r#"<getLastError xmlns="{INTUIT_NS}"><ticket>a</ticket><ticket>b</ticket></getLastError>"#
            ),
            format!(
                r#"<getLastError xmlns="{INTUIT_NS}"><ticket><b>a</b></ticket></getLastError>"#
            ),
            format!(
                r#"<getLastError xmlns="{INTUIT_NS}"><ticket>a&bogus;</ticket></getLastError>"#
            ),
            format!(
                r#"<getLastError xmlns="{INTUIT_NS}"><ticket>a</ticket></getLastError><closeConnection xmlns="{INTUIT_NS}"/>"#
            ),
        ] {
            assert!(parse_call(&envelope_of(&wrong)).is_err(), "{wrong}");
        }
    }

    #[test]
    fn malformed_input_is_an_error_never_a_panic() {
        let good = envelope_of(&format!(
            r#"<authenticate xmlns="{INTUIT_NS}"><strUserName>u</strUserName><strPassword>p</strPassword></authenticate>"#
        ));
        assert!(parse_call(&good).is_ok());
        for cut in 0..good.len() {
            if good.is_char_boundary(cut) {
                let _ = parse_call(&good[..cut]);
            }
        }
        for junk in [
            "",
            "not xml",
            "<a>",
            "<!DOCTYPE x [<!ENTITY e \"boom\">]><x>&e;</x>",
            &format!(
                "<soap:Envelope xmlns:soap=\"{SOAP_ENV_NS}\"><soap:Body></soap:Body></soap:Envelope>"
            ),
            &"<a>".repeat(100),
        ] {
            assert!(parse_call(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn answers_escape_what_they_carry_and_parse_back() {
        let op = &OPERATIONS[3];
        let text = response(
            op,
            &Answer::Text("<?qbxml version=\"13.0\"?><QBXML a=\"&\"/>".into()),
        );
        assert!(text.contains("&lt;?qbxml"), "{text}");
        assert!(text.contains(&format!("<sendRequestXMLResponse xmlns=\"{INTUIT_NS}\">")));
        let items = ["t".to_owned(), "C:\\a & b.qbw".to_owned()];
        let text = response(&OPERATIONS[2], &Answer::Strings(items.to_vec()));
        assert!(
            text.contains("<string>C:\\a &amp; b.qbw</string>"),
            "{text}"
        );
        let text = fault(true, "bad <thing>");
        assert!(
            text.contains("<faultcode>soap:Client</faultcode>"),
            "{text}"
        );
        assert!(text.contains("bad &lt;thing&gt;"), "{text}");
    }
}
