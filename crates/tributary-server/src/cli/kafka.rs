//! `tributary serve`'s Kafka flags: consume OpenLineage events from topics, and optionally
//! forward HTTP/gRPC ingest to the first topic (see docs/kafka.md).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tributary_kafka::{ConsumerHandle, Forwarder, KafkaConfig, Sasl, SaslMechanism, TlsSettings};
use tributary_service::Service;

#[derive(Args)]
pub(super) struct KafkaArgs {
    /// Kafka bootstrap brokers (`host:port`, comma separated). With --kafka-topic, the server
    /// consumes OpenLineage events from those topics beside its HTTP and gRPC ingest.
    #[arg(long, env = "TRIBUTARY_KAFKA_BROKERS", value_delimiter = ',', requires = "kafka_topics")]
    kafka_brokers: Vec<String>,
    /// A topic to consume (every partition); repeat or comma separate for several.
    #[arg(long = "kafka-topic", env = "TRIBUTARY_KAFKA_TOPICS", value_delimiter = ',', requires = "kafka_brokers")]
    kafka_topics: Vec<String>,
    /// Write HTTP and gRPC ingest to the first --kafka-topic instead of storing it here: every
    /// replica then applies it from the topic. Answers carry the record's partition and offset.
    #[arg(long, env = "TRIBUTARY_KAFKA_FORWARD", requires = "kafka_topics")]
    kafka_forward: bool,
    /// SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, env = "TRIBUTARY_KAFKA_SASL_MECHANISM", requires_all = ["kafka_sasl_username", "kafka_sasl_password"])]
    kafka_sasl_mechanism: Option<SaslMechanism>,
    #[arg(long, env = "TRIBUTARY_KAFKA_SASL_USERNAME", requires = "kafka_sasl_mechanism")]
    kafka_sasl_username: Option<String>,
    /// Prefer the environment variable: a flag shows in the process list.
    #[arg(long, env = "TRIBUTARY_KAFKA_SASL_PASSWORD", hide_env_values = true, requires = "kafka_sasl_mechanism")]
    kafka_sasl_password: Option<String>,
    /// Connect to the brokers over TLS (system roots, plus --kafka-ca-cert).
    #[arg(long, env = "TRIBUTARY_KAFKA_TLS")]
    kafka_tls: bool,
    /// PEM file of extra certificates to trust for the brokers (implies --kafka-tls).
    #[arg(long, env = "TRIBUTARY_KAFKA_CA_CERT", value_name = "PEM")]
    kafka_ca_cert: Option<PathBuf>,
}

/// What serving with Kafka started: stop it before closing the service.
pub(super) struct RunningKafka {
    consumer: ConsumerHandle,
}

impl RunningKafka {
    pub(super) async fn stop(self) {
        self.consumer.stop().await;
    }
}

impl KafkaArgs {
    fn config(&self) -> Option<KafkaConfig> {
        if self.kafka_brokers.is_empty() {
            return None;
        }
        let sasl = match (self.kafka_sasl_mechanism, &self.kafka_sasl_username, &self.kafka_sasl_password) {
            (Some(mechanism), Some(username), Some(password)) => {
                Some(Sasl { mechanism, username: username.clone(), password: password.clone() })
            }
            _ => None,
        };
        let tls = (self.kafka_tls || self.kafka_ca_cert.is_some())
            .then(|| TlsSettings { ca_cert: self.kafka_ca_cert.clone() });
        Some(KafkaConfig {
            brokers: self.kafka_brokers.clone(),
            topics: self.kafka_topics.clone(),
            sasl,
            tls,
            ..KafkaConfig::default()
        })
    }

    /// Connects, starts consuming, and returns the service to serve (forwarding ingest to the
    /// first topic with --kafka-forward). Nothing when no broker is configured.
    pub(super) async fn start(&self, service: Service) -> anyhow::Result<(Service, Option<RunningKafka>)> {
        let Some(config) = self.config() else { return Ok((service, None)) };
        let client = tributary_kafka::connect(&config)
            .await
            .with_context(|| format!("connecting to the Kafka brokers {}", config.brokers.join(",")))?;
        let serving = if self.kafka_forward {
            let topic = config.topics[0].clone();
            let forwarder = Forwarder::new(Arc::clone(&client), topic.clone())
                .await
                .with_context(|| format!("forwarding ingest to Kafka topic `{topic}`"))?;
            tracing::info!(%topic, "HTTP and gRPC ingest is forwarded to Kafka");
            service.forwarding_to(Arc::new(forwarder))
        } else {
            service.clone()
        };
        tracing::info!(topics = %config.topics.join(","), brokers = %config.brokers.join(","), "consuming from Kafka");
        let consumer = tributary_kafka::start_consumer(service.as_local_operator(), client, config);
        Ok((serving, Some(RunningKafka { consumer })))
    }
}
