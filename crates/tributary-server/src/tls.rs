//! TLS on the front door, for deployments without a proxy in front: the certificate chain and
//! key come from PEM files, rustls runs with the ring provider (aws-lc-rs, rustls' default,
//! needs cmake and nasm to build), and ALPN offers `h2` then `http/1.1`, so gRPC clients
//! (which require h2) and HTTP/1.1 clients share the port. The handshake runs on each
//! connection's own task (`connections`), within the first-byte timeout.

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A server certificate with its key, ready to accept TLS connections.
#[derive(Clone)]
pub struct TlsConfig {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads the certificate chain from `cert` (PEM: the server's certificate first, then the
    /// intermediates that lead to a CA the clients trust) and its private key from `key` (PEM:
    /// PKCS#8, PKCS#1 or SEC1, unencrypted). Errors name the file and what is wrong with it.
    pub fn from_pem_files(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let chain = read_certificate_chain(cert)?;
        let private_key = read_private_key(key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions of the ring provider")?
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .map_err(|error| match error {
                rustls::Error::InconsistentKeys(_) => anyhow!(
                    "the TLS key in `{}` does not belong to the first certificate in `{}` (the \
                     server's own certificate must come first, its intermediates after it)",
                    key.display(),
                    cert.display()
                ),
                error => anyhow!(
                    "the TLS certificate in `{}` with the key in `{}` cannot be used: {error}",
                    cert.display(),
                    key.display()
                ),
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self { acceptor: TlsAcceptor::from(Arc::new(config)) })
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

fn read_certificate_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let text = std::fs::read(path).with_context(|| format!("reading the TLS certificate file `{}`", path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&text).collect::<Result<Vec<_>, _>>().map_err(|error| {
        anyhow!("TLS certificate file `{}` is not valid PEM: {}", path.display(), pem_problem(&error))
    })?;
    if chain.is_empty() {
        bail!("TLS certificate file `{}` holds no certificate (no `BEGIN CERTIFICATE` section)", path.display());
    }
    Ok(chain)
}

fn read_private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let text = std::fs::read(path).with_context(|| format!("reading the TLS key file `{}`", path.display()))?;
    match PrivateKeyDer::from_pem_slice(&text) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) if contains(&text, b"BEGIN ENCRYPTED PRIVATE KEY") => bail!(
            "TLS key file `{}` holds an encrypted key; give the key unencrypted (`openssl pkey -in \
             encrypted.pem -out key.pem`) and keep the file readable by this server only",
            path.display()
        ),
        Err(pem::Error::NoItemsFound) => bail!(
            "TLS key file `{}` holds no private key (no `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or \
             `BEGIN EC PRIVATE KEY` section)",
            path.display()
        ),
        Err(error) => bail!("TLS key file `{}` is not valid PEM: {}", path.display(), pem_problem(&error)),
    }
}

/// The PEM parser's error, with the lines it quotes as text (its own message prints bytes).
fn pem_problem(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("a section lacks its end line `{}`", String::from_utf8_lossy(end_marker))
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed section start line `{}`", String::from_utf8_lossy(line))
        }
        error => error.to_string(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}
