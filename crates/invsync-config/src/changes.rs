//! What a reload changed, key by key. A config keeps a digest of every value it was
//! loaded from (the file with its environment overrides, and each secret as resolved, so
//! a rotated token file counts), never the values themselves: secrets stay out of it.

use crate::Config;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::OnceLock;

/// Keyed by a per-process random key: the digests are only ever compared with each other.
fn hasher() -> &'static RandomState {
    static STATE: OnceLock<RandomState> = OnceLock::new();
    STATE.get_or_init(RandomState::new)
}

#[derive(Clone, Default)]
pub(crate) struct Fingerprint {
    /// `stores.shop.buffer`, `schedules[1].every`, … → digest of the value.
    values: BTreeMap<String, u64>,
    /// Keys that hold secrets: a change under one (`database.url.env`) is reported as
    /// the secret's key (`database.url`).
    secrets: Vec<String>,
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({} values)", self.values.len())
    }
}

impl Fingerprint {
    pub(crate) fn of_tree(tree: &config::Value) -> Fingerprint {
        let mut fingerprint = Fingerprint::default();
        fingerprint.walk(String::new(), tree);
        fingerprint
    }

    fn walk(&mut self, key: String, value: &config::Value) {
        use config::ValueKind;
        let mut h = hasher().build_hasher();
        match &value.kind {
            ValueKind::Table(table) => {
                for (name, v) in table {
                    let child = if key.is_empty() {
                        name.clone()
                    } else {
                        format!("{key}.{name}")
                    };
                    self.walk(child, v);
                }
                return;
            }
            ValueKind::Array(items) => {
                // The length counts: removing the last schedule is a change too.
                items.len().hash(&mut h);
                for (i, v) in items.iter().enumerate() {
                    self.walk(format!("{key}[{i}]"), v);
                }
            }
            ValueKind::Nil => 0u8.hash(&mut h),
            ValueKind::Boolean(b) => (1u8, b).hash(&mut h),
            ValueKind::I64(n) => (2u8, i128::from(*n)).hash(&mut h),
            ValueKind::I128(n) => (2u8, n).hash(&mut h),
            ValueKind::U64(n) => (2u8, i128::from(*n)).hash(&mut h),
            ValueKind::U128(n) => (3u8, n).hash(&mut h),
            ValueKind::Float(x) => (4u8, x.to_bits()).hash(&mut h),
            ValueKind::String(text) => (5u8, text).hash(&mut h),
        }
        self.values.insert(key, h.finish());
    }

    /// A secret as resolved at `key` (from the environment, a file or a credential).
    pub(crate) fn add_secret(&mut self, key: &str, secret: &SecretString) {
        let digest = hasher().hash_one(secret.expose_secret());
        self.values.insert(format!("{key}#resolved"), digest);
        self.secrets.push(key.to_owned());
    }

    /// The name to report a change at `key` under.
    fn name(&self, key: &str) -> String {
        let key = key.strip_suffix("#resolved").unwrap_or(key);
        self.secrets
            .iter()
            .find(|s| key == s.as_str() || key.starts_with(&format!("{s}.")))
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }
}

impl Config {
    /// The keys whose values differ from `previous` (added and removed ones included), in
    /// key order, each once: `stores.shop.buffer`, `schedules[1].every`, `database.url`.
    /// Only what the config says is compared: a key set to its default is a change from
    /// leaving it out.
    pub fn changed_keys(&self, previous: &Config) -> Vec<String> {
        let (new, old) = (&self.fingerprint, &previous.fingerprint);
        let mut changed: Vec<String> = Vec::new();
        let keys = new.values.keys().chain(old.values.keys());
        let mut keys: Vec<&String> = keys.collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            if new.values.get(key) != old.values.get(key) {
                let name = new.name(key);
                let name = if name == *key { old.name(key) } else { name };
                if !changed.contains(&name) {
                    changed.push(name);
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{VALID, load_text};

    fn changed(before: &str, after: &str, env: &[(&str, &str)]) -> Vec<String> {
        let (_a, old) = load_text(before, env);
        let (_b, new) = load_text(after, env);
        new.expect("valid").changed_keys(&old.expect("valid"))
    }

    #[test]
    fn names_each_key_that_changed() {
        assert!(changed(VALID, VALID, &[]).is_empty());
        let after = VALID.replacen("every = \"15m\"", "every = \"30m\"", 1);
        assert_eq!(changed(VALID, &after, &[]), ["schedules[0].every"]);
        let after = format!("[daemon]\nlisten = \"127.0.0.1:9999\"\npoll = \"5s\"\n{VALID}");
        assert_eq!(
            changed(VALID, &after, &[]),
            ["daemon.listen", "daemon.poll"]
        );
        // Removed keys count too.
        assert_eq!(
            changed(&after, VALID, &[]),
            ["daemon.listen", "daemon.poll"]
        );
    }

    #[test]
    fn a_secret_is_one_key_whether_its_source_or_its_value_changed() {
        let by_env = VALID.replacen(
            "url = \"sqlite://var/test.db\"",
            "url = { env = \"DB_URL\" }",
            1,
        );
        assert_eq!(
            changed(VALID, &by_env, &[("DB_URL", "sqlite://var/test.db")]),
            ["database.url"]
        );
        // Same source, another value (a rotated credential file would be the same).
        let (_a, old) = load_text(&by_env, &[("DB_URL", "sqlite://one.db")]);
        let (_b, new) = load_text(&by_env, &[("DB_URL", "sqlite://two.db")]);
        assert_eq!(
            new.expect("valid").changed_keys(&old.expect("valid")),
            ["database.url"]
        );
        assert!(
            !format!(
                "{:?}",
                changed(VALID, &by_env, &[("DB_URL", "sqlite://x.db")])
            )
            .contains("x.db")
        );
    }
}
