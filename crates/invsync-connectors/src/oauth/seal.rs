//! Encryption at rest of the tokens a vault stores: XChaCha20-Poly1305 (RustCrypto's
//! `chacha20poly1305`) with the 32-byte `token_key` from the config, a random 192-bit
//! nonce per write (random nonces of that size never repeat in practice), and the vault
//! key (`quickbooks-online:<realm>`, say) as associated data, so a sealed blob copied to
//! another account's row does not open. Layout: `1 ‖ nonce (24) ‖ ciphertext+tag`.
//! ADR 0031.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::Rng;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The tokens of one connection, in the clear. `Debug` shows no token.
#[derive(Clone)]
pub(crate) struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// How long the access token was granted for, in seconds (`expires_in`).
    pub access_lifetime_secs: i64,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_lifetime_secs", &self.access_lifetime_secs)
            .finish_non_exhaustive()
    }
}

/// The plaintext layout (JSON), private to this module.
#[derive(Serialize, Deserialize)]
struct Plain {
    access_token: String,
    refresh_token: String,
    access_lifetime_secs: i64,
}

/// Seals and opens token sets with one key.
#[derive(Clone)]
pub(crate) struct Sealer {
    key: SecretSlice<u8>,
}

/// Why sealed tokens could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Wrong key (token_key changed), another connection's row, or damaged bytes.
    Unreadable,
    /// Written by a newer invsync.
    UnknownVersion(u8),
}

impl Sealer {
    /// `key` must be 32 bytes (the config checks it).
    pub fn new(key: SecretSlice<u8>) -> Sealer {
        Sealer { key }
    }

    fn cipher(&self) -> Option<XChaCha20Poly1305> {
        let key: [u8; 32] = self.key.expose_secret().try_into().ok()?;
        Some(XChaCha20Poly1305::new(&Key::from(key)))
    }

    pub fn seal(&self, tokens: &TokenSet, aad: &str) -> Vec<u8> {
        let mut plain = Plain {
            access_token: tokens.access_token.expose_secret().to_owned(),
            refresh_token: tokens.refresh_token.expose_secret().to_owned(),
            access_lifetime_secs: tokens.access_lifetime_secs,
        };
        // Serialising two strings and an integer cannot fail.
        let mut msg = serde_json::to_vec(&plain).unwrap_or_default();
        plain.access_token.zeroize();
        plain.refresh_token.zeroize();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce[..]);
        let sealed = self.cipher().and_then(|c| {
            c.encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &msg,
                    aad: aad.as_bytes(),
                },
            )
            .ok()
        });
        msg.zeroize();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + msg.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        // Encryption only fails for a key of the wrong size, which the config rules
        // out; an empty ciphertext then simply never opens.
        out.extend_from_slice(&sealed.unwrap_or_default());
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &str) -> Result<TokenSet, OpenError> {
        let (&version, rest) = sealed.split_first().ok_or(OpenError::Unreadable)?;
        if version != VERSION {
            return Err(OpenError::UnknownVersion(version));
        }
        if rest.len() < NONCE_LEN {
            return Err(OpenError::Unreadable);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Unreadable)?;
        let mut msg = self
            .cipher()
            .ok_or(OpenError::Unreadable)?
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Unreadable)?;
        let plain: Result<Plain, _> = serde_json::from_slice(&msg);
        msg.zeroize();
        let plain = plain.map_err(|_| OpenError::Unreadable)?;
        Ok(TokenSet {
            access_token: SecretString::from(plain.access_token),
            refresh_token: SecretString::from(plain.refresh_token),
            access_lifetime_secs: plain.access_lifetime_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> TokenSet {
        TokenSet {
            access_token: SecretString::from("SENTINEL-access".to_owned()),
            refresh_token: SecretString::from("SENTINEL-refresh".to_owned()),
            access_lifetime_secs: 3600,
        }
    }

    #[test]
    fn sealed_tokens_open_with_the_same_key_and_realm_only() {
        let sealer = Sealer::new(SecretSlice::from(vec![7u8; 32]));
        let sealed = sealer.seal(&tokens(), "quickbooks-online:1");
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("SENTINEL"), "no token in the clear");
        let opened = sealer.open(&sealed, "quickbooks-online:1").expect("open");
        assert_eq!(opened.access_token.expose_secret(), "SENTINEL-access");
        assert_eq!(opened.refresh_token.expose_secret(), "SENTINEL-refresh");
        assert_eq!(opened.access_lifetime_secs, 3600);
        assert_ne!(
            sealed,
            sealer.seal(&tokens(), "quickbooks-online:1"),
            "a fresh nonce per seal"
        );
        assert_eq!(
            sealer.open(&sealed, "quickbooks-online:2").err(),
            Some(OpenError::Unreadable),
            "bound to its realm"
        );
        let other = Sealer::new(SecretSlice::from(vec![8u8; 32]));
        assert_eq!(
            other.open(&sealed, "quickbooks-online:1").err(),
            Some(OpenError::Unreadable),
            "another key"
        );
        let mut damaged = sealed.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(sealer.open(&damaged, "quickbooks-online:1").is_err());
        assert_eq!(
            sealer.open(&[9, 1, 2], "quickbooks-online:1").err(),
            Some(OpenError::UnknownVersion(9))
        );
        assert!(!format!("{:?}", tokens()).contains("SENTINEL"));
    }
}
