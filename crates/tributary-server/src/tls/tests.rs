use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use super::{TlsConfig, read_certificate_chain};

/// The certificates the end-to-end tests use (`tests/data/tls/make-certs.sh` makes them).
fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/tls").join(name)
}

/// The whole message (context and causes) of loading `cert` and `key`, which must fail.
fn load_error(cert: &Path, key: &Path) -> String {
    match TlsConfig::from_pem_files(cert, key) {
        Ok(_) => panic!("`{}` with `{}` loaded", cert.display(), key.display()),
        Err(error) => format!("{error:#}"),
    }
}

fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_chain_file_keeps_every_certificate_in_order() {
    let chain = read_certificate_chain(&test_data("server-chain.pem")).unwrap();
    assert_eq!(chain.len(), 2, "server certificate, then the intermediate");
    assert!(TlsConfig::from_pem_files(&test_data("server-chain.pem"), &test_data("server-key.pem")).is_ok());
}

#[test]
fn missing_files_are_named_with_the_cause() {
    let missing = test_data("no-such-file.pem");
    let error = load_error(&missing, &test_data("server-key.pem"));
    assert!(error.contains("reading the TLS certificate file") && error.contains("no-such-file.pem"), "{error}");
    assert!(error.contains("No such file"), "{error}");
    let error = load_error(&test_data("server-chain.pem"), &missing);
    assert!(error.contains("reading the TLS key file") && error.contains("no-such-file.pem"), "{error}");
}

#[test]
fn swapped_files_say_what_is_missing() {
    let error = load_error(&test_data("server-key.pem"), &test_data("server-key.pem"));
    assert!(error.contains("server-key.pem` holds no certificate"), "{error}");
    let error = load_error(&test_data("server-chain.pem"), &test_data("server-chain.pem"));
    assert!(error.contains("server-chain.pem` holds no private key"), "{error}");
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let error = load_error(&test_data("server-chain.pem"), &test_data("ca-key.pem"));
    assert!(error.contains("ca-key.pem` does not belong to the first certificate in"), "{error}");
}

#[test]
fn broken_pem_and_broken_certificates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let unterminated = write_temp(&dir, "unterminated.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
    let error = load_error(&unterminated, &test_data("server-key.pem"));
    assert!(error.contains("unterminated.pem` is not valid PEM: a section lacks its end line"), "{error}");
    let not_der = write_temp(&dir, "not-der.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    let error = load_error(&not_der, &test_data("server-key.pem"));
    assert!(error.contains("the TLS certificate in") && error.contains("not-der.pem` with the key in"), "{error}");
    let encrypted = write_temp(
        &dir,
        "encrypted.pem",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let error = load_error(&test_data("server-chain.pem"), &encrypted);
    assert!(error.contains("encrypted.pem` holds an encrypted key"), "{error}");
}

/// Handshakes in memory with a client offering `client_alpn`; returns the protocol agreed.
async fn negotiated_protocol(client_alpn: &[&[u8]]) -> Option<Vec<u8>> {
    let server = TlsConfig::from_pem_files(&test_data("server-chain.pem"), &test_data("server-key.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(test_data("ca.pem")).unwrap()).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = client_alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let accepting = tokio::spawn(async move { server.acceptor().accept(server_io).await.map(|_| ()) });
    let connected = TlsConnector::from(Arc::new(client))
        .connect(ServerName::try_from("localhost").unwrap(), client_io)
        .await
        .expect("handshake verifies the chain up to the test CA");
    accepting.await.unwrap().unwrap();
    connected.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
}

#[tokio::test]
async fn alpn_offers_h2_first_then_http1() {
    assert_eq!(negotiated_protocol(&[b"h2", b"http/1.1"]).await.as_deref(), Some(&b"h2"[..]));
    assert_eq!(negotiated_protocol(&[b"http/1.1"]).await.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(negotiated_protocol(&[]).await, None, "a client without ALPN still connects");
}
