//! Secrets in the config: `{ env = "VAR" }`, `{ file = "/path" }` or a literal string.
//! They are resolved once, at load, into `secrecy` types so that `Debug` output, logs and
//! error messages never show them.

use crate::input_file::{MAX_SECRET_FILE_SIZE, read_regular};
use secrecy::SecretString;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a secret comes from, as written in the config.
#[derive(Clone)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
    /// A systemd credential (`LoadCredential=NAME:…`): `$CREDENTIALS_DIRECTORY/NAME`.
    Credential(String),
    Literal(SecretString),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(var) => write!(f, "Env({var})"),
            SecretSource::File(path) => write!(f, "File({})", path.display()),
            SecretSource::Credential(name) => write!(f, "Credential({name})"),
            SecretSource::Literal(_) => f.write_str("Literal([redacted])"),
        }
    }
}

const EXPECTING: &str =
    "a string, { env = \"VARIABLE\" }, { file = \"/path/to/file\" } or { credential = \"NAME\" }";

impl<'de> de::Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = SecretSource;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTING)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretSource, E> {
                Ok(SecretSource::Literal(SecretString::from(v.to_owned())))
            }

            // Values from the environment may arrive as numbers or booleans.
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SecretSource, E> {
                Ok(SecretSource::Literal(SecretString::from(v.to_string())))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SecretSource, E> {
                Ok(SecretSource::Literal(SecretString::from(v.to_string())))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
                let mut found: Option<SecretSource> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let source = match key.as_str() {
                        "env" => SecretSource::Env(map.next_value::<String>()?),
                        "file" => SecretSource::File(PathBuf::from(map.next_value::<String>()?)),
                        "credential" => SecretSource::Credential(map.next_value::<String>()?),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown key `{other}` in a secret; expected {EXPECTING}"
                            )));
                        }
                    };
                    if found.is_some() {
                        return Err(de::Error::custom(format!(
                            "a secret takes exactly one of `env`, `file` or `credential`; expected {EXPECTING}"
                        )));
                    }
                    found = Some(source);
                }
                found
                    .ok_or_else(|| de::Error::custom(format!("empty secret; expected {EXPECTING}")))
            }
        }
        deserializer.deserialize_any(SecretVisitor)
    }
}

impl SecretSource {
    /// Where the value comes from, to begin a sentence about it ("the value of
    /// environment variable DB_URL is not …"). Never the value.
    pub fn origin(&self, base: &Path) -> String {
        match self {
            SecretSource::Env(var) => format!("the value of environment variable {var}"),
            SecretSource::File(path) => {
                format!("the contents of file {}", base.join(path).display())
            }
            SecretSource::Credential(name) => format!("the contents of credential `{name}`"),
            SecretSource::Literal(_) => "the value".to_owned(),
        }
    }

    /// Resolves the secret. Relative files are read relative to `base` (the config file's
    /// folder). Errors say where the secret should have come from, never what it is.
    pub fn resolve(&self, base: &Path) -> Result<SecretString, String> {
        match self {
            SecretSource::Literal(s) => Ok(s.clone()),
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                Ok(_) => Err(format!("environment variable {var} is empty")),
                Err(std::env::VarError::NotPresent) => {
                    Err(format!("environment variable {var} is not set"))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(format!("environment variable {var} is not valid UTF-8"))
                }
            },
            SecretSource::Credential(name) => {
                let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") else {
                    return Err(format!(
                        "credential `{name}`: $CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential={name}:/path, or use {{ file = \"/path\" }})"
                    ));
                };
                SecretSource::File(PathBuf::from(dir).join(name)).resolve(base)
            }
            SecretSource::File(path) => {
                let path = base.join(path);
                // Bounded: `{ file = "/dev/zero" }` must not read without end.
                let (bytes, _) = read_regular(&path, MAX_SECRET_FILE_SIZE)
                    .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
                // Never quote the bytes: they are the secret.
                let text = String::from_utf8(bytes)
                    .map_err(|_| format!("secret file {} is not UTF-8 text", path.display()))?;
                // Files written by editors and `echo` end in a newline that is not part
                // of the secret.
                let value = text.trim_end_matches(['\n', '\r']);
                if value.is_empty() {
                    return Err(format!("secret file {} is empty", path.display()));
                }
                Ok(SecretString::from(value.to_owned()))
            }
        }
    }
}
