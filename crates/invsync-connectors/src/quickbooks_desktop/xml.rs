//! The XML underneath qbXML: a checked text type for what goes into a request, and a small
//! element tree read with quick-xml for what comes back. Nothing here scans XML as text.

use quick_xml::events::Event;
use std::borrow::Cow;

/// Whether `c` may appear in an XML 1.0 document at all (the `Char` production of XML 1.0
/// §2.2). NUL and most C0 controls cannot be written even as character references, so a
/// value carrying one cannot be sent to QuickBooks.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\u{9}' | '\u{A}' | '\u{D}'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// The first character of `value` XML cannot carry, with its position.
pub(crate) fn first_non_xml_char(value: &str) -> Option<(usize, char)> {
    value.chars().enumerate().find(|(_, c)| !is_xml_char(*c))
}

/// One element of a parsed document: its name, attributes (unescaped), text (unescaped,
/// the concatenation of its text nodes) and child elements, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Node {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the child `name`, if there is one.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Deepest nesting accepted: qbXML answers nest a handful of levels; a document nesting
/// deeper is not one, and refusing it bounds the parser's stack of open elements.
const MAX_DEPTH: usize = 64;

/// Parses a whole document into its root element. Errors say what is wrong and where
/// (byte offset), never echo the document.
pub(crate) fn parse_document(text: &str) -> Result<Node, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed XML at byte {position}: {e}"))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(format!("content after the root element at byte {position}"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "elements nested deeper than {MAX_DEPTH} at byte {position}"
                    ));
                }
                stack.push(open(&start, position)?);
            }
            Event::Empty(start) => {
                let node = open(&start, position)?;
                close(&mut stack, &mut root, node, position)?;
            }
            Event::End(_) => {
                // quick-xml checks that end names match their start.
                let node = stack
                    .pop()
                    .ok_or_else(|| format!("unexpected end tag at byte {position}"))?;
                close(&mut stack, &mut root, node, position)?;
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                append_text(&mut stack, &content, position)?;
            }
            Event::CData(c) => {
                append_text(&mut stack, &c, position)?;
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = match r.resolve_char_ref() {
                    Ok(Some(c)) if is_xml_char(c) => Cow::Owned(c.to_string()),
                    Ok(Some(c)) => {
                        return Err(format!(
                            "character reference to U+{:04X}, which XML does not allow, at byte {position}",
                            u32::from(c)
                        ));
                    }
                    Ok(None) => {
                        let name: &str = &r;
                        Cow::Borrowed(match name {
                            "lt" => "<",
                            "gt" => ">",
                            "amp" => "&",
                            "apos" => "'",
                            "quot" => "\"",
                            _ => {
                                return Err(format!("unknown entity at byte {position}"));
                            }
                        })
                    }
                    Err(e) => {
                        return Err(format!("bad character reference at byte {position}: {e}"));
                    }
                };
                append_text(&mut stack, &resolved, position)?;
            }
            Event::DocType(_) => {
                // A DTD could declare entities; qbXML has none and we resolve none.
                return Err(format!("a DOCTYPE is not accepted (byte {position})"));
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.ok_or_else(|| "the document has no element".into())
}

fn open(start: &quick_xml::events::BytesStart<'_>, position: u64) -> Result<Node, String> {
    let name = start.name().as_ref().to_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("bad attribute at byte {position}: {e}"))?;
        let key = attribute.key.as_ref().to_owned();
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad attribute value at byte {position}: {e}"))?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(Node {
        name,
        attributes,
        ..Node::default()
    })
}

fn close(
    stack: &mut [Node],
    root: &mut Option<Node>,
    node: Node,
    position: u64,
) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(node);
            Ok(())
        }
        None if root.is_none() => {
            *root = Some(node);
            Ok(())
        }
        None => Err(format!("a second root element at byte {position}")),
    }
}

fn append_text(stack: &mut [Node], text: &str, position: u64) -> Result<(), String> {
    match stack.last_mut() {
        Some(node) => {
            node.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(format!("text outside the root element at byte {position}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_and_char_refs_are_resolved() {
        let root = parse_document(
            r#"<?xml version="1.0"?><A x="a &amp; &quot;b&quot;"><B>1 &lt; 2 &#38; &#x41;</B><C/></A>"#,
        )
        .expect("parses");
        assert_eq!(root.attribute("x"), Some("a & \"b\""));
        assert_eq!(root.child_text("B"), Some("1 < 2 & A"));
        assert_eq!(root.child_text("C"), Some(""));
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            "<A><B></A>",
            "<A>",
            "<A></A><B></B>",
            "<A>&bogus;</A>",
            "<A>&#0;</A>",
            "<!DOCTYPE A [<!ENTITY x \"y\">]><A>&x;</A>",
            "",
        ] {
            assert!(parse_document(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn xml_chars() {
        assert!(!is_xml_char('\0'));
        assert!(!is_xml_char('\u{1}'));
        assert!(!is_xml_char('\u{FFFE}'));
        assert!(is_xml_char('\n'));
        assert!(is_xml_char('é'));
        assert_eq!(first_non_xml_char("ab\0c"), Some((2, '\0')));
    }
}
