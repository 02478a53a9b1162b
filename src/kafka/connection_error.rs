//! Connection errors that no retry mends: SASL credentials the broker rejects, a token endpoint
//! that refuses the client, and a broker certificate the client does not trust. librdkafka
//! retries them forever and quietly; the service stops at start instead, with a message that
//! names the `kafka.client` settings to fix.

use std::sync::Mutex;

use rdkafka::types::RDKafkaErrorCode;

use crate::config::service::KafkaConfig;

/// A connection error that retrying cannot mend, with the settings behind it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FatalConnectionError {
    /// The broker (or the OAUTHBEARER token endpoint) rejected the client's credentials.
    #[error(
        "Kafka authentication failed with SASL mechanism {mechanism}; check {settings}: {reason}"
    )]
    Authentication {
        /// The configured `sasl.mechanism`.
        mechanism: String,
        /// The `kafka.client` keys that hold this mechanism's credentials.
        settings: &'static str,
        /// librdkafka's description.
        reason: String,
    },
    /// The TLS handshake failed: most often the broker's certificate is not signed by a CA the
    /// client trusts, or its name does not match the address.
    #[error("the TLS handshake with the Kafka broker failed; check {settings}: {reason}")]
    Tls {
        /// The `kafka.client` keys that decide what the client trusts or presents.
        settings: &'static str,
        /// librdkafka's description.
        reason: String,
    },
}

/// Settings behind a certificate the client does not accept.
const TRUST_SETTINGS: &str = "kafka.client \"ssl.ca.location\" (the CA that signed the broker's \
     certificate) and that the broker's certificate names the host in kafka.bootstrap_servers \
     (\"ssl.endpoint.identification.algorithm\")";

/// Settings behind any other failed handshake.
const HANDSHAKE_SETTINGS: &str = "kafka.client \"security.protocol\" (SSL or SASL_SSL only for a \
     TLS listener), and \"ssl.certificate.location\" and \"ssl.key.location\" if the broker \
     requires client certificates";

/// Classifies an error librdkafka reported to a client using SASL `mechanism`: `Some` when
/// retrying cannot help.
pub fn classify(
    code: Option<RDKafkaErrorCode>,
    reason: &str,
    mechanism: &str,
) -> Option<FatalConnectionError> {
    match code? {
        RDKafkaErrorCode::Authentication => {
            let settings = match mechanism {
                "OAUTHBEARER" => {
                    "kafka.client \"sasl.oauthbearer.token.endpoint.url\", \
                     \"sasl.oauthbearer.client.id\" and \"sasl.oauthbearer.client.secret\""
                }
                "GSSAPI" => "kafka.client \"sasl.kerberos.principal\" and \"sasl.kerberos.keytab\"",
                _ => "kafka.client \"sasl.username\" and \"sasl.password\"",
            };
            Some(FatalConnectionError::Authentication {
                mechanism: mechanism.to_string(),
                settings,
                reason: reason.to_string(),
            })
        }
        RDKafkaErrorCode::SSL => {
            let untrusted = ["verify", "certificate", "0A000086"]
                .iter()
                .any(|needle| reason.contains(needle));
            Some(FatalConnectionError::Tls {
                settings: if untrusted {
                    TRUST_SETTINGS
                } else {
                    HANDSHAKE_SETTINGS
                },
                reason: reason.to_string(),
            })
        }
        _ => None,
    }
}

/// The SASL mechanism the consumer uses: `sasl.mechanism` (or its alias `sasl.mechanisms`) from
/// `kafka.consumer` or `kafka.client`, else librdkafka's default, GSSAPI.
pub fn sasl_mechanism(kafka: &KafkaConfig) -> String {
    ["sasl.mechanism", "sasl.mechanisms"]
        .iter()
        .find_map(|key| kafka.consumer.get(*key).or_else(|| kafka.client.get(*key)))
        .map_or_else(
            || "GSSAPI".to_string(),
            |mechanism| mechanism.to_uppercase(),
        )
}

/// The first fatal connection error a client reported, kept until start-up looks at it.
#[derive(Debug)]
pub struct FatalConnectionSlot {
    /// The SASL mechanism the clients use.
    mechanism: String,
    first: Mutex<Option<FatalConnectionError>>,
}

impl FatalConnectionSlot {
    /// An empty slot for clients configured by `kafka`.
    pub fn new(kafka: &KafkaConfig) -> FatalConnectionSlot {
        FatalConnectionSlot {
            mechanism: sasl_mechanism(kafka),
            first: Mutex::new(None),
        }
    }

    /// Classifies an error a client reported, and keeps it if it is fatal and the first.
    pub fn report(
        &self,
        code: Option<RDKafkaErrorCode>,
        reason: &str,
    ) -> Option<FatalConnectionError> {
        let error = classify(code, reason, &self.mechanism)?;
        let mut first = self
            .first
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        first.get_or_insert_with(|| error.clone());
        Some(error)
    }

    /// The first fatal error reported, if any.
    pub fn first(&self) -> Option<FatalConnectionError> {
        self.first
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka_with(client: &[(&str, &str)]) -> KafkaConfig {
        let mut kafka = KafkaConfig::default();
        for (key, value) in client {
            kafka.client.insert(key.to_string(), value.to_string());
        }
        kafka
    }

    #[test]
    fn rejected_credentials_name_the_mechanism_and_its_settings() {
        let kafka = kafka_with(&[("sasl.mechanism", "scram-sha-512")]);
        let error = classify(
            Some(RDKafkaErrorCode::Authentication),
            "SASL authentication error: Authentication failed during authentication due to \
             invalid credentials with SASL mechanism SCRAM-SHA-512",
            &sasl_mechanism(&kafka),
        )
        .expect("fatal");
        let message = error.to_string();
        assert!(message.contains("SASL mechanism SCRAM-SHA-512; check kafka.client \"sasl.username\" and \"sasl.password\""), "{message}");
        assert!(
            message.ends_with("with SASL mechanism SCRAM-SHA-512"),
            "{message}"
        );
    }

    #[test]
    fn a_refused_token_names_the_oidc_settings() {
        let kafka = kafka_with(&[("sasl.mechanism", "OAUTHBEARER")]);
        let message = classify(
            Some(RDKafkaErrorCode::Authentication),
            "Failed to acquire SASL OAUTHBEARER token",
            &sasl_mechanism(&kafka),
        )
        .expect("fatal")
        .to_string();
        assert!(
            message
                .contains("\"sasl.oauthbearer.client.id\" and \"sasl.oauthbearer.client.secret\""),
            "{message}"
        );
    }

    #[test]
    fn an_untrusted_certificate_names_the_ca_setting_and_other_handshake_failures_the_protocol() {
        let kafka = kafka_with(&[]);
        let untrusted = classify(
            Some(RDKafkaErrorCode::SSL),
            "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed",
            &sasl_mechanism(&kafka),
        )
        .expect("fatal")
        .to_string();
        assert!(
            untrusted.contains("kafka.client \"ssl.ca.location\""),
            "{untrusted}"
        );
        let other = classify(
            Some(RDKafkaErrorCode::SSL),
            "SSL handshake failed: error:0A00010B:SSL routines::wrong version number",
            &sasl_mechanism(&kafka),
        )
        .expect("fatal")
        .to_string();
        assert!(other.contains("\"security.protocol\""), "{other}");
    }

    #[test]
    fn errors_a_retry_can_mend_are_not_fatal() {
        let kafka = kafka_with(&[]);
        for code in [
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::Resolve,
        ] {
            assert_eq!(
                classify(Some(code), "connection refused", &sasl_mechanism(&kafka)),
                None
            );
        }
        assert_eq!(classify(None, "no code", &sasl_mechanism(&kafka)), None);
    }

    #[test]
    fn the_slot_keeps_the_first_fatal_error_only() {
        let slot = FatalConnectionSlot::new(&kafka_with(&[]));
        assert_eq!(
            slot.report(Some(RDKafkaErrorCode::AllBrokersDown), "down"),
            None
        );
        assert_eq!(slot.first(), None);
        let first = slot
            .report(Some(RDKafkaErrorCode::SSL), "certificate verify failed")
            .expect("fatal");
        slot.report(Some(RDKafkaErrorCode::Authentication), "bad password");
        assert_eq!(slot.first(), Some(first));
    }
}
