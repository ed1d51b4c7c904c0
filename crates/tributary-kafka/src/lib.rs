//! Kafka front door: consumes OpenLineage events from topics into the service, and forwards
//! ingest requests to a topic. Knows Kafka (through `rskafka`, pure Rust) and the service's
//! use cases; decides nothing about events itself.
//!
//! - **Consumer** ([`start_consumer`]): one task per partition of each topic. It resumes
//!   after the partition's offset stored by the service (the earliest retained record when
//!   none is stored), fetches records and hands each to `Service::enqueue_sourced` with its
//!   position. The service writes that position in the event's atomic batch, so a record is
//!   applied exactly once whatever restarts or crashes happen; a record that is not an event
//!   is recorded as rejected and the partition goes on. Every replica reads every partition
//!   itself: no consumer group, no offsets committed to Kafka.
//! - **Forwarder** ([`Forwarder`]): an ingest request on a server in forwarding mode is
//!   produced to the first topic (acks from every in-sync replica) and answered with its
//!   position; the consumer then applies it like any other record.

mod consumer;
mod forward;

use std::sync::Arc;

pub use consumer::{ConsumerHandle, start_consumer};
pub use forward::{Forwarder, partition_for_key};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use tokio_rustls::rustls;

/// How to reach the brokers and what to read.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// Topics to consume (every partition of each).
    pub topics: Vec<String>,
    pub sasl: Option<Sasl>,
    /// TLS to the brokers, with these extra trusted roots (PEM) beside the system's.
    pub tls: Option<TlsSettings>,
    /// Most bytes one fetch asks a partition for.
    pub fetch_max_bytes: i32,
    /// How long a fetch waits at the broker for new records.
    pub fetch_max_wait_ms: i32,
    /// Records of one partition handed to the writer and not yet durable, at most.
    pub max_in_flight: usize,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: Vec::new(),
            topics: Vec::new(),
            sasl: None,
            tls: None,
            fetch_max_bytes: 4 * 1024 * 1024,
            fetch_max_wait_ms: 500,
            max_in_flight: 1024,
        }
    }
}

/// SASL authentication to the brokers.
#[derive(Clone)]
pub struct Sasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Sasl").field("mechanism", &self.mechanism).field("username", &self.username).finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl std::str::FromStr for SaslMechanism {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(Self::Plain),
            "SCRAM-SHA-256" => Ok(Self::ScramSha256),
            "SCRAM-SHA-512" => Ok(Self::ScramSha512),
            _ => Err(format!("`{text}` is not a SASL mechanism: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    /// PEM file of extra trusted certificates (a private CA).
    pub ca_cert: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("kafka: {0}")]
    Client(#[from] rskafka::client::error::Error),
    #[error("kafka TLS: {0}")]
    Tls(String),
    #[error("kafka: {0}")]
    Config(String),
}

/// Connects to the brokers (bootstrap only; partition leaders are found per partition).
pub async fn connect(config: &KafkaConfig) -> Result<Arc<Client>, KafkaError> {
    if config.brokers.is_empty() {
        return Err(KafkaError::Config("no broker given".into()));
    }
    let mut builder =
        ClientBuilder::new(config.brokers.clone()).client_id("tributary").backoff_config(rskafka::BackoffConfig {
            init_backoff: std::time::Duration::from_millis(100),
            max_backoff: std::time::Duration::from_secs(5),
            base: 3.0,
            // A request gives up after this long, so a produce answers its HTTP request and a
            // consumer's loop can log and retry on its own.
            deadline: Some(std::time::Duration::from_secs(30)),
        });
    if let Some(sasl) = &config.sasl {
        let credentials = Credentials::new(sasl.username.clone(), sasl.password.clone());
        builder = builder.sasl_config(match sasl.mechanism {
            SaslMechanism::Plain => SaslConfig::Plain(credentials),
            SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
            SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
        });
    }
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(Arc::new(tls_client_config(tls)?));
    }
    Ok(Arc::new(builder.build().await?))
}

fn tls_client_config(settings: &TlsSettings) -> Result<rustls::ClientConfig, KafkaError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for certificate in native.certs {
        // A system certificate rustls cannot use is skipped, as every rustls client does.
        let _ = roots.add(certificate);
    }
    if let Some(path) = &settings.ca_cert {
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|error| KafkaError::Tls(format!("cannot read `{}`: {error}", path.display())))?;
        for certificate in certificates {
            let certificate = certificate.map_err(|error| KafkaError::Tls(format!("`{}`: {error}", path.display())))?;
            roots.add(certificate).map_err(|error| KafkaError::Tls(format!("`{}`: {error}", path.display())))?;
        }
    }
    if roots.is_empty() {
        return Err(KafkaError::Tls("no trusted certificate: give --kafka-ca-cert".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| KafkaError::Tls(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
