//! The properties of QuickBooks Online entities, read from the real XSDs
//! (`../shared/specs/quickbooks-online/*.xsd`, from intuit/QuickBooks-V3-Java-SDK). The
//! JSON API uses the XSD's element and attribute names, so a property the XSD does not
//! declare for a type is one QuickBooks rejects.
//!
//! A type's properties are its elements and attributes plus those of every type it
//! extends (`Item` extends `IntuitEntity`, which brings `Id`, `SyncToken`, `MetaData` and
//! the `sparse` attribute), including elements of referenced `xs:group`s.

use quick_xml::events::{BytesStart, Event};
use std::collections::{BTreeMap, HashMap};

/// The XSD files that together define QuickBooks Online's entities.
pub const FILES: &[&str] = &[
    "quickbooks-online/Finance.xsd",
    "quickbooks-online/IntuitBaseTypes.xsd",
    "quickbooks-online/IntuitNamesTypes.xsd",
    "quickbooks-online/IntuitRestServiceDef.xsd",
];

#[derive(Debug, Default, Clone)]
struct Def {
    base: Option<String>,
    /// Element or attribute name → type name (prefix removed; `decimal`, `string`,
    /// `ReferenceType` …).
    properties: Vec<(String, String)>,
    groups: Vec<String>,
}

/// Every named complex type and group of the schema.
#[derive(Debug, Clone)]
pub struct Schema {
    types: HashMap<String, Def>,
    groups: HashMap<String, Def>,
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        // XSD attribute values here are plain names: no entities to resolve.
        .map(|a| a.value.into_owned())
}

/// `xs:decimal` → `decimal`, `Item` → `Item`.
fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_owned()
}

impl Schema {
    /// Reads the real schema (panics with a clear message when a file is missing: specs
    /// are never skipped).
    pub fn load() -> Schema {
        let mut schema = Schema {
            types: HashMap::new(),
            groups: HashMap::new(),
        };
        for file in FILES {
            let path = crate::specs::path(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            schema.add(&text, &path.display().to_string());
        }
        schema
    }

    /// The schema, read once per process.
    pub fn shared() -> &'static Schema {
        static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
        SCHEMA.get_or_init(Schema::load)
    }

    fn add(&mut self, text: &str, origin: &str) {
        let mut reader = quick_xml::Reader::from_str(text);
        reader.config_mut().trim_text(true);
        // The definition being read: (is_group, name, def), and how deep inside nested
        // element declarations we are (their children belong to anonymous types).
        let mut current: Option<(bool, String, Def)> = None;
        let mut depth = 0usize;
        let mut element_depth = 0usize;
        let mut def_depth = 0usize;
        loop {
            let event = reader
                .read_event()
                .unwrap_or_else(|e| panic!("{origin}: not valid XML: {e}"));
            match event {
                Event::Start(ref e) => {
                    depth += 1;
                    self.open(
                        e,
                        &mut current,
                        depth,
                        &mut def_depth,
                        &mut element_depth,
                        false,
                    );
                }
                Event::Empty(ref e) => {
                    self.open(
                        e,
                        &mut current,
                        depth + 1,
                        &mut def_depth,
                        &mut element_depth,
                        true,
                    );
                }
                Event::End(ref e) => {
                    let name = e.local_name();
                    if current.is_some() && name.as_ref() == "element" && element_depth > 0 {
                        element_depth -= 1;
                    }
                    if depth == def_depth
                        && let Some((is_group, name, def)) = current.take()
                    {
                        if is_group {
                            self.groups.insert(name, def);
                        } else {
                            self.types.insert(name, def);
                        }
                    }
                    depth = depth.saturating_sub(1);
                }
                Event::Eof => break,
                _ => {}
            }
        }
    }

    fn open(
        &mut self,
        e: &BytesStart<'_>,
        current: &mut Option<(bool, String, Def)>,
        depth: usize,
        def_depth: &mut usize,
        element_depth: &mut usize,
        empty: bool,
    ) {
        let tag = e.local_name();
        let tag = tag.as_ref();
        match current {
            None => {
                // Named definitions at the schema's top level (depth 2: <xs:schema> is 1).
                if depth == 2
                    && (tag == "complexType" || tag == "group")
                    && let Some(name) = attr(e, "name")
                {
                    let def = Def::default();
                    if empty {
                        if tag == "group" {
                            self.groups.insert(name, def);
                        } else {
                            self.types.insert(name, def);
                        }
                    } else {
                        *current = Some((tag == "group", name, def));
                        *def_depth = depth;
                    }
                }
            }
            Some((_, _, def)) => {
                if *element_depth > 0 {
                    // Inside an element declaration: an anonymous type's content.
                    if tag == "element" && !empty {
                        *element_depth += 1;
                    }
                    return;
                }
                match tag {
                    "extension" | "restriction" => def.base = attr(e, "base").map(|b| local(&b)),
                    "element" | "attribute" => {
                        let name = attr(e, "name")
                            .or_else(|| attr(e, "ref"))
                            .map(|n| local(&n));
                        let ty = attr(e, "type").map(|t| local(&t)).unwrap_or_default();
                        if let Some(name) = name {
                            def.properties.push((name, ty));
                        }
                        if tag == "element" && !empty {
                            *element_depth += 1;
                        }
                    }
                    "group" => {
                        if let Some(r) = attr(e, "ref") {
                            def.groups.push(local(&r));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every property of `type_name` (its own, its groups' and its base types'), with its
    /// type. Empty when the schema has no such type.
    pub fn properties(&self, type_name: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut next = Some(type_name.to_owned());
        let mut seen = 0;
        while let Some(name) = next.take() {
            seen += 1;
            if seen > 32 {
                break; // a cycle; schemas have none
            }
            let Some(def) = self.types.get(&name) else {
                break;
            };
            self.collect(def, &mut out, 0);
            next = def.base.clone().filter(|b| self.types.contains_key(b));
        }
        out
    }

    fn collect(&self, def: &Def, out: &mut BTreeMap<String, String>, depth: usize) {
        for (name, ty) in &def.properties {
            out.entry(name.clone()).or_insert_with(|| ty.clone());
        }
        if depth < 8 {
            for g in &def.groups {
                if let Some(group) = self.groups.get(g) {
                    self.collect(group, out, depth + 1);
                }
            }
        }
    }

    /// Whether the schema defines a complex type of that name.
    pub fn has_type(&self, name: &str) -> bool {
        self.types.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_has_its_own_and_inherited_properties() {
        let item = Schema::shared().properties("Item");
        for name in [
            "Name",
            "Sku",
            "Active",
            "Type",
            "UnitPrice",
            "TrackQtyOnHand",
            "QtyOnHand",
            "Id",
            "SyncToken",
            "MetaData",
            "sparse",
            "domain",
        ] {
            assert!(item.contains_key(name), "Item lacks {name}: {item:?}");
        }
        assert_eq!(item["UnitPrice"], "decimal");
        assert_eq!(item["TrackQtyOnHand"], "boolean");
        assert_eq!(item["Sku"], "string");
        assert!(!item.contains_key("Price"));
        assert!(!item.contains_key("QuantityOnHand"));
        // Elements of anonymous nested types are not properties of Item.
        assert!(!item.contains_key("value"));
    }

    #[test]
    fn transactions_and_lines() {
        let schema = Schema::shared();
        let adj = schema.properties("InventoryAdjustment");
        for name in [
            "AdjustAccountRef",
            "Line",
            "DocNumber",
            "PrivateNote",
            "TxnDate",
            "Id",
        ] {
            assert!(adj.contains_key(name), "InventoryAdjustment lacks {name}");
        }
        let line = schema.properties("Line");
        assert!(line.contains_key("DetailType"), "{line:?}");
        assert!(line.contains_key("ItemAdjustmentLineDetail"));
        let detail = schema.properties("ItemAdjustmentLineDetail");
        assert!(detail.contains_key("ItemRef") && detail.contains_key("QtyDiff"));
        assert!(schema.properties("SalesReceipt").contains_key("DocNumber"));
        assert!(schema.properties("Invoice").contains_key("DocNumber"));
        assert!(schema.has_type("ReferenceType"));
    }
}
