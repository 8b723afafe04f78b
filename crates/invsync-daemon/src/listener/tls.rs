//! HTTPS: a rustls server config from the PEM files of `tls_cert` and `tls_key`, on the
//! `ring` provider (the one reqwest already brings), HTTP/1.1 by ALPN.

use super::ListenError;
use invsync_config::{TlsFile, TlsFiles};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

pub(crate) fn acceptor(
    section: &'static str,
    files: &TlsFiles,
) -> Result<TlsAcceptor, ListenError> {
    let material = files.read().map_err(|e| ListenError::Tls {
        key: format!("{section}.{}", e.file.key()),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ListenError::Tls {
            key: format!("{section}.{}", TlsFile::Cert.key()),
            message: format!("TLS cannot be set up: {e}"),
        })?
        .with_no_client_auth()
        .with_single_cert(material.chain, material.key)
        .map_err(|e| ListenError::Tls {
            key: format!("{section}.{}", TlsFile::Key.key()),
            message: format!(
                "{}: not a usable key for the certificate in {} ({e})",
                files.key.display(),
                files.cert.display()
            ),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
