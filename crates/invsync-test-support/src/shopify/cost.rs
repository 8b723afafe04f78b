//! Shopify's calculated query cost (shopify.dev/docs/apps/build/apis/graphql-admin/
//! rate-limits): scalars and enums 0, objects 1, connections 2 + `first` × the cost of one
//! node, mutations 10. The requested cost uses the page sizes asked for; the actual cost
//! counts what the response holds, and the difference is refunded to the bucket.

use apollo_compiler::ExecutableDocument;
use apollo_compiler::executable::{Selection, SelectionSet};
use apollo_compiler::validation::Valid;
use serde_json::Value;

const MUTATION: f64 = 10.0;
const OBJECT: f64 = 1.0;
const CONNECTION: f64 = 2.0;

/// The cost of the operation's selection; `data` (the response) gives the actual cost,
/// `None` the requested one.
pub(crate) fn cost(
    doc: &Valid<ExecutableDocument>,
    selection: &SelectionSet,
    mutation: bool,
    variables: &serde_json::Map<String, Value>,
    data: Option<&Value>,
) -> f64 {
    let walker = Walker { doc, variables };
    walker.set(selection, data, mutation)
}

struct Walker<'a> {
    doc: &'a Valid<ExecutableDocument>,
    variables: &'a serde_json::Map<String, Value>,
}

impl Walker<'_> {
    fn int_arg(&self, field: &apollo_compiler::executable::Field, name: &str) -> Option<f64> {
        let value = field.specified_argument_by_name(name)?;
        match value.as_ref() {
            apollo_compiler::ast::Value::Int(i) => i.try_to_i32().ok().map(f64::from),
            apollo_compiler::ast::Value::Variable(v) => {
                self.variables.get(v.as_str()).and_then(Value::as_f64)
            }
            _ => None,
        }
    }

    fn list_arg_len(&self, field: &apollo_compiler::executable::Field, name: &str) -> Option<f64> {
        let value = field.specified_argument_by_name(name)?;
        match value.as_ref() {
            apollo_compiler::ast::Value::List(l) => Some(l.len() as f64),
            apollo_compiler::ast::Value::Variable(v) => self
                .variables
                .get(v.as_str())
                .and_then(Value::as_array)
                .map(|a| a.len() as f64),
            _ => None,
        }
    }

    fn set(&self, set: &SelectionSet, data: Option<&Value>, root_mutation: bool) -> f64 {
        let mut total = 0.0;
        for selection in &set.selections {
            total += match selection {
                Selection::Field(field) => {
                    let sub = data.and_then(|d| d.get(field.response_key().as_str()));
                    let named = field.definition.ty.inner_named_type().as_str();
                    let leaf = field.selection_set.selections.is_empty();
                    if root_mutation {
                        MUTATION + self.set(&field.selection_set, sub, false)
                    } else if leaf {
                        0.0
                    } else if named.ends_with("Connection") {
                        self.connection(field, sub)
                    } else if field.definition.ty.is_list() {
                        self.list(field, sub)
                    } else if sub.is_some_and(Value::is_null) {
                        0.0
                    } else {
                        OBJECT + self.set(&field.selection_set, sub, false)
                    }
                }
                Selection::InlineFragment(f) => self.set(&f.selection_set, data, false),
                Selection::FragmentSpread(spread) => self
                    .doc
                    .fragments
                    .get(&spread.fragment_name)
                    .map_or(0.0, |f| self.set(&f.selection_set, data, false)),
            };
        }
        total
    }

    /// `2 + first × node`, or with a response `2 + Σ node` over what it returned.
    fn connection(&self, field: &apollo_compiler::executable::Field, data: Option<&Value>) -> f64 {
        // The cost of one node: the `nodes` and `edges { node }` selections together.
        let node_cost = |node_data: Option<&Value>, edge_data: Option<&Value>| -> f64 {
            let mut c = 0.0;
            for s in &field.selection_set.selections {
                if let Selection::Field(f) = s {
                    match f.name.as_str() {
                        "nodes" => c += OBJECT + self.set(&f.selection_set, node_data, false),
                        "edges" => {
                            for e in &f.selection_set.selections {
                                if let Selection::Field(n) = e
                                    && n.name == "node"
                                {
                                    let nd =
                                        edge_data.and_then(|d| d.get(n.response_key().as_str()));
                                    c += OBJECT + self.set(&n.selection_set, nd, false);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            c
        };
        match data {
            Some(Value::Object(conn)) => {
                let key_of = |name: &str| {
                    field.selection_set.selections.iter().find_map(|s| match s {
                        Selection::Field(f) if f.name == name => {
                            Some(f.response_key().as_str().to_owned())
                        }
                        _ => None,
                    })
                };
                let nodes = key_of("nodes")
                    .and_then(|k| conn.get(&k))
                    .and_then(Value::as_array);
                let edges = key_of("edges")
                    .and_then(|k| conn.get(&k))
                    .and_then(Value::as_array);
                let count = nodes.map_or(0, Vec::len).max(edges.map_or(0, Vec::len));
                let mut total = CONNECTION;
                for i in 0..count {
                    total += node_cost(nodes.and_then(|n| n.get(i)), edges.and_then(|e| e.get(i)));
                }
                total
            }
            Some(_) => 0.0,
            None => {
                let first = self
                    .int_arg(field, "first")
                    .or_else(|| self.int_arg(field, "last"))
                    .unwrap_or(1.0);
                CONNECTION + first * node_cost(None, None)
            }
        }
    }

    /// A plain list of objects: one object per element (`nodes(ids:)` asks for as many as
    /// it has ids).
    fn list(&self, field: &apollo_compiler::executable::Field, data: Option<&Value>) -> f64 {
        match data {
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    if item.is_null() {
                        0.0
                    } else {
                        OBJECT + self.set(&field.selection_set, Some(item), false)
                    }
                })
                .sum(),
            Some(_) => 0.0,
            None => {
                let n = self.list_arg_len(field, "ids").unwrap_or(1.0);
                n * (OBJECT + self.set(&field.selection_set, None, false))
            }
        }
    }
}
