//! The subset of QuickBooks' query language the fake understands (platform-apis.md §3,
//! "Query language"): `SELECT * | COUNT(*) FROM Entity [WHERE cond [AND cond]…]
//! [ORDERBY …] [STARTPOSITION n] [MAXRESULTS n]`, conditions `Field = value`,
//! `Field IN (v, …)` and `Field LIKE 'x%'`; keywords in any case, entity names exact,
//! strings in single quotes with backslash escapes.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(String),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Eq(String, Literal),
    In(String, Vec<Literal>),
    Like(String, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub count: bool,
    pub entity: String,
    pub conds: Vec<Cond>,
    /// 1-based.
    pub start: usize,
    pub max: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Punct(char),
    Op(String),
}

fn tokens(input: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    None => return Err("unterminated string".into()),
                    Some('\\') => match chars.next() {
                        Some(escaped) => text.push(escaped),
                        None => return Err("unterminated string".into()),
                    },
                    Some('\'') => break,
                    Some(other) => text.push(other),
                }
            }
            out.push(Token::Text(text));
        } else if matches!(c, '(' | ')' | ',' | '*') {
            chars.next();
            out.push(Token::Punct(c));
        } else if matches!(c, '=' | '<' | '>' | '!') {
            let mut op = String::new();
            while let Some(&o) = chars.peek() {
                if matches!(o, '=' | '<' | '>' | '!') {
                    op.push(o);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token::Op(op));
        } else {
            let mut word = String::new();
            while let Some(&w) = chars.peek() {
                if w.is_alphanumeric() || matches!(w, '_' | '.' | '-') {
                    word.push(w);
                    chars.next();
                } else {
                    break;
                }
            }
            if word.is_empty() {
                return Err(format!("unexpected `{c}`"));
            }
            out.push(Token::Word(word));
        }
    }
    Ok(out)
}

fn keyword(t: Option<&Token>, kw: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
}

fn literal(t: Option<Token>) -> Result<Literal, String> {
    match t {
        Some(Token::Text(s)) => Ok(Literal::Text(s)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
        Some(Token::Word(w)) if w.parse::<f64>().is_ok() => Ok(Literal::Number(w)),
        other => Err(format!("expected a value, found {other:?}")),
    }
}

/// Parses a query; `default_max` when there is no MAXRESULTS.
pub fn parse(input: &str, default_max: usize) -> Result<Query, String> {
    let mut t = tokens(input)?.into_iter().peekable();
    if !keyword(t.next().as_ref(), "select") {
        return Err("a query starts with SELECT".into());
    }
    let count = match t.next() {
        Some(Token::Punct('*')) => false,
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("count") => {
            let ok = t.next() == Some(Token::Punct('('))
                && t.next() == Some(Token::Punct('*'))
                && t.next() == Some(Token::Punct(')'));
            if !ok {
                return Err("expected count(*)".into());
            }
            true
        }
        // QuickBooks has no projections (platform-apis.md §3).
        other => return Err(format!("only * or count(*) can be selected, not {other:?}")),
    };
    if !keyword(t.next().as_ref(), "from") {
        return Err("expected FROM".into());
    }
    let entity = match t.next() {
        Some(Token::Word(w)) => w,
        other => return Err(format!("expected an entity, found {other:?}")),
    };
    let mut query = Query {
        count,
        entity,
        conds: Vec::new(),
        start: 1,
        max: default_max,
    };
    while let Some(tok) = t.next() {
        let Token::Word(word) = tok else {
            return Err(format!("unexpected {tok:?}"));
        };
        match word.to_ascii_lowercase().as_str() {
            "where" | "and" => {
                let field = match t.next() {
                    Some(Token::Word(f)) => f,
                    other => return Err(format!("expected a field, found {other:?}")),
                };
                match t.next() {
                    Some(Token::Op(op)) if op == "=" => {
                        query.conds.push(Cond::Eq(field, literal(t.next())?));
                    }
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => {
                        if t.next() != Some(Token::Punct('(')) {
                            return Err("expected ( after IN".into());
                        }
                        let mut values = Vec::new();
                        loop {
                            values.push(literal(t.next())?);
                            match t.next() {
                                Some(Token::Punct(',')) => continue,
                                Some(Token::Punct(')')) => break,
                                other => return Err(format!("expected , or ), found {other:?}")),
                            }
                        }
                        query.conds.push(Cond::In(field, values));
                    }
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("like") => match t.next() {
                        Some(Token::Text(p)) => query.conds.push(Cond::Like(field, p)),
                        other => return Err(format!("expected a pattern, found {other:?}")),
                    },
                    other => return Err(format!("unsupported operator {other:?}")),
                }
            }
            "or" => return Err("OR is not supported".into()),
            "orderby" => {
                // Accepted and ignored: results come in Id order.
                while let Some(Token::Word(w)) = t.peek() {
                    if w.eq_ignore_ascii_case("startposition")
                        || w.eq_ignore_ascii_case("maxresults")
                    {
                        break;
                    }
                    t.next();
                    if t.peek() == Some(&Token::Punct(',')) {
                        t.next();
                    }
                }
            }
            "startposition" | "maxresults" => {
                let n = match t.next() {
                    Some(Token::Word(n)) => n
                        .parse::<usize>()
                        .map_err(|_| format!("{word} takes a number, not `{n}`"))?,
                    other => return Err(format!("{word} takes a number, found {other:?}")),
                };
                if word.eq_ignore_ascii_case("startposition") {
                    if n == 0 {
                        return Err("STARTPOSITION is 1-based".into());
                    }
                    query.start = n;
                } else {
                    query.max = n;
                }
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    Ok(query)
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn matches_literal(value: Option<&Value>, literal: &Literal) -> bool {
    match (value, literal) {
        (Some(Value::Bool(b)), Literal::Bool(want)) => b == want,
        (Some(v), Literal::Text(want)) => text_of(v).as_deref() == Some(want.as_str()),
        (Some(Value::Number(n)), Literal::Number(want)) => n
            .as_f64()
            .zip(want.parse::<f64>().ok())
            .is_some_and(|(a, b)| a == b),
        (None, Literal::Bool(false)) => false,
        _ => false,
    }
}

/// A field of an entity stored as a JSON object (`MetaData.CreateTime` follows the dots).
fn field_of<'a>(entity: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let first = entity.get(parts.next()?)?;
    parts.try_fold(first, |v, part| v.get(part))
}

impl Cond {
    pub fn matches(&self, entity: &Value) -> bool {
        match entity.as_object() {
            Some(map) => self.matches_map(map),
            None => false,
        }
    }

    pub fn matches_map(&self, entity: &serde_json::Map<String, Value>) -> bool {
        match self {
            Cond::Eq(f, lit) => matches_literal(field_of(entity, f), lit),
            Cond::In(f, lits) => lits.iter().any(|l| matches_literal(field_of(entity, f), l)),
            Cond::Like(f, pattern) => {
                let Some(text) = field_of(entity, f).and_then(text_of) else {
                    return false;
                };
                like(&text, pattern)
            }
        }
    }

    /// The Ids this condition allows, when it is `Id = …` or `Id in (…)`: lets the fake
    /// look items up instead of scanning them all.
    pub fn ids(&self) -> Option<Vec<String>> {
        let text = |l: &Literal| match l {
            Literal::Text(t) | Literal::Number(t) => Some(t.clone()),
            Literal::Bool(_) => None,
        };
        match self {
            Cond::Eq(f, l) if f == "Id" => Some(text(l).into_iter().collect()),
            Cond::In(f, ls) if f == "Id" => Some(ls.iter().filter_map(text).collect()),
            _ => None,
        }
    }
}

/// `%` only (QuickBooks supports no other wildcard).
fn like(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('%').collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_connectors_send() {
        let q = parse("select * from Item STARTPOSITION 1001 MAXRESULTS 1000", 100).expect("q");
        assert_eq!(
            (q.count, q.entity.as_str(), q.start, q.max),
            (false, "Item", 1001, 1000)
        );
        let q = parse("SELECT COUNT(*) FROM Item", 100).expect("q");
        assert!(q.count);
        assert_eq!(q.max, 100);
        let q = parse(
            "select * from SalesReceipt where DocNumber in ('1001', 'it\\'s') MAXRESULTS 1000",
            100,
        )
        .expect("q");
        assert_eq!(
            q.conds,
            vec![Cond::In(
                "DocNumber".into(),
                vec![Literal::Text("1001".into()), Literal::Text("it's".into())]
            )]
        );
        let q = parse(
            "select * from Item where Active = true and Sku like 'MUG%' orderby Id",
            100,
        )
        .expect("q");
        assert_eq!(q.conds.len(), 2);
        assert!(parse("select Name from Item", 100).is_err());
        assert!(parse("select * from Item where A = 1 or B = 2", 100).is_err());
        assert!(parse("select * from Item STARTPOSITION 0", 100).is_err());
    }

    #[test]
    fn conditions_match() {
        let item = serde_json::json!({"Id": "12", "Sku": "MUG-1", "Active": true, "MetaData": {"CreateTime": "x"}});
        assert!(Cond::In("Id".into(), vec![Literal::Text("12".into())]).matches(&item));
        assert!(Cond::Eq("Active".into(), Literal::Bool(true)).matches(&item));
        assert!(Cond::Like("Sku".into(), "MUG%".into()).matches(&item));
        assert!(!Cond::Like("Sku".into(), "%TEE".into()).matches(&item));
        assert!(Cond::Eq("MetaData.CreateTime".into(), Literal::Text("x".into())).matches(&item));
    }
}
