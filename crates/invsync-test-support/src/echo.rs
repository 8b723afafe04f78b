//! Echoed credentials, as servers transform them, and a reader's decoder to find them
//! again (issue 13, item 7; ADR 0041). A server that echoes a request may upper-case it,
//! percent-encode it, HTML-escape it, JSON-escape it, wrap it or base64 it. Tests echo
//! credentials in each of these [`TRANSFORMS`] and look for them in what invsync printed
//! and stored with [`decoded`] and [`base64_traces`].

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Every transform [`transform`] knows.
pub const TRANSFORMS: &[&str] = &[
    "upper",
    "percent",
    "percent-lower",
    "entities-decimal",
    "entities-hex",
    "entities-named",
    "json-u",
    "spaced",
    "base64",
    "base64-url",
];

/// `text` as a server would echo it with transform `how` (one of [`TRANSFORMS`]).
pub fn transform(how: &str, text: &str) -> String {
    let each = |f: &dyn Fn(char) -> String| text.chars().map(f).collect::<String>();
    match how {
        "upper" => text.to_uppercase(),
        "percent" => text.bytes().map(|b| format!("%{b:02X}")).collect(),
        "percent-lower" => text.bytes().map(|b| format!("%{b:02x}")).collect(),
        "entities-decimal" => each(&|c| format!("&#{};", u32::from(c))),
        "entities-hex" => each(&|c| format!("&#x{:x};", u32::from(c))),
        "entities-named" => each(&|c| match named(c) {
            Some(name) => format!("&{name};"),
            None => c.to_string(),
        }),
        "json-u" => each(&|c| format!("\\u{:04x}", u32::from(c))),
        // Split every 7 characters: a wrapped line, a space a template put in.
        "spaced" => text
            .chars()
            .collect::<Vec<_>>()
            .chunks(7)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" "),
        "base64" => STANDARD.encode(text),
        "base64-url" => URL_SAFE_NO_PAD.encode(text),
        other => panic!("no transform {other}"),
    }
}

/// HTML's names for the ASCII punctuation tokens hold.
fn named(c: char) -> Option<&'static str> {
    Some(match c {
        '&' => "amp",
        '<' => "lt",
        '>' => "gt",
        '"' => "quot",
        '\'' => "apos",
        '/' => "sol",
        '+' => "plus",
        '=' => "equals",
        '_' => "lowbar",
        '.' => "period",
        ':' => "colon",
        _ => return None,
    })
}

fn from_name(name: &str) -> Option<char> {
    ['&', '<', '>', '"', '\'', '/', '+', '=', '_', '.', ':']
        .into_iter()
        .find(|c| named(*c) == Some(name))
}

/// What a reader could decode from `text`: `%XX`, `\uXXXX` and HTML character references
/// decoded, whitespace dropped, lower case. Search it for a secret in lower case.
pub fn decoded(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let hex = |s: Option<&str>, radix| s.and_then(|s| u32::from_str_radix(s, radix).ok());
        let entity = |r: &str| -> Option<(char, usize)> {
            let semi = r.find(';')?;
            let body = &r[..semi];
            let c = match body.strip_prefix('#') {
                Some(n) => match n.strip_prefix(['x', 'X']) {
                    Some(h) => char::from_u32(hex(Some(h), 16)?)?,
                    None => char::from_u32(n.parse().ok()?)?,
                },
                None => from_name(body)?,
            };
            Some((c, semi + 2))
        };
        let (decoded, len) =
            if let Some(b) = hex(rest.strip_prefix('%').and_then(|r| r.get(..2)), 16) {
                (char::from_u32(b).unwrap_or(c), 3)
            } else if let Some(u) = hex(rest.strip_prefix("\\u").and_then(|r| r.get(..4)), 16) {
                (char::from_u32(u).unwrap_or(c), 6)
            } else if let Some(found) = rest.strip_prefix('&').and_then(entity) {
                found
            } else {
                (c, c.len_utf8())
            };
        if !decoded.is_whitespace() {
            out.extend(decoded.to_lowercase());
        }
        rest = &rest[len..];
    }
    out
}

/// Lower-case beginnings (12 characters) of the base64 texts that give `secret` away,
/// alone or inside longer encoded text, standard or URL-safe: search [`decoded`] output
/// for them.
pub fn base64_traces(secret: &str) -> Vec<String> {
    let mut traces = Vec::new();
    for offset in 0..3usize {
        let mut bytes = vec![b'x'; offset];
        bytes.extend_from_slice(secret.as_bytes());
        let encoded = URL_SAFE_NO_PAD.encode(&bytes);
        let first = (8 * offset).div_ceil(6);
        if let Some(stable) = encoded.get(first..first + 12) {
            traces.push(stable.to_lowercase());
            traces.push(stable.replace('-', "+").replace('_', "/").to_lowercase());
        }
    }
    traces.sort();
    traces.dedup();
    traces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transform_decodes_back_or_leaves_base64_traces() {
        let secret = "shpat_SENTINEL/+=x.y";
        for how in TRANSFORMS {
            let echoed = transform(how, secret);
            let back = decoded(&format!("x {echoed} y"));
            let found = back.contains(&secret.to_lowercase())
                || base64_traces(secret).iter().any(|t| back.contains(t));
            assert!(found, "{how}: {echoed} → {back}");
        }
    }
}
