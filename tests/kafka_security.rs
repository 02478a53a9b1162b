//! The service against a secured Kafka: TLS with SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and
//! OAUTHBEARER (an OIDC token endpoint, client credentials), and the errors a user meets when a
//! password is wrong or the broker's certificate is not trusted: start-up ends within seconds
//! with a message naming the setting.
//!
//! Needs the SASL_SSL listener of `tests/kafka/broker.sh` (Apache Kafka; the MockCluster has no
//! TLS): `eval "$(tests/kafka/broker.sh start)"` sets the variables read here. Without them the
//! tests start such a broker of their own (Java and Maven; the jars are cached).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::sync::watch;

use healthscore::config::Config;
use support::healthy_days;
use support::kafka::{payloads, produce, replayed, run_service_reading, setup, Broker};
use support::own_broker::OwnBroker;

/// The SASL_SSL listener of the test broker and its credentials.
struct Secured {
    plaintext: String,
    sasl_ssl: String,
    username: String,
    password: String,
    ca_location: String,
}

impl Secured {
    /// From the script's variables, by name; `None` if one is missing.
    fn from(variable: impl Fn(&str) -> Option<String>) -> Option<Secured> {
        Some(Secured {
            plaintext: variable("HEALTHSCORE_TEST_BOOTSTRAP")?,
            sasl_ssl: variable("HEALTHSCORE_TEST_SASL_SSL_BOOTSTRAP")?,
            username: variable("HEALTHSCORE_TEST_SASL_USERNAME")?,
            password: variable("HEALTHSCORE_TEST_SASL_PASSWORD")?,
            ca_location: variable("HEALTHSCORE_TEST_CA_LOCATION")?,
        })
    }
}

/// The secured listener named by the environment, or else of a broker these tests start for
/// themselves (the MockCluster has no TLS), shared by them and stopped when they end.
fn secured() -> &'static Secured {
    static SECURED: OnceLock<(Option<OwnBroker>, Secured)> = OnceLock::new();
    let (_, secured) = SECURED.get_or_init(|| {
        let from_environment =
            Secured::from(|name| std::env::var(name).ok().filter(|value| !value.is_empty()));
        match from_environment {
            Some(secured) => (None, secured),
            None => {
                let own = OwnBroker::start();
                let secured = Secured::from(|name| own.exports.get(name).cloned())
                    .expect("tests/kafka/broker.sh prints the SASL_SSL variables");
                (Some(own), secured)
            }
        }
    });
    secured
}

/// A service config reading and writing through the SASL_SSL listener with `client` settings;
/// topics are created (and events produced) through the PLAINTEXT one.
async fn secured_setup(
    secured: &Secured,
    client: &[(&str, &str)],
) -> (support::kafka::Setup, Config) {
    let broker = Broker::external(&secured.plaintext);
    let setup = setup(&broker).await;
    let mut config = setup.config.clone();
    config.service.kafka.bootstrap_servers = secured.sasl_ssl.clone();
    config.service.kafka.client = client
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    (setup, config)
}

/// Produces a month of events, runs the service with `config` until it published what replay
/// gives, and checks that it did.
async fn reads_scores_and_publishes(secured: &Secured, client: &[(&str, &str)]) {
    let (setup, config) = secured_setup(secured, client).await;
    let lines = healthy_days("acme", 0, 30);
    produce(&secured.plaintext, &setup.input, &lines);
    let (expected, _) = replayed(&lines);
    assert!(!expected.is_empty());
    let published =
        run_service_reading(&config, &secured.plaintext, &setup.output, expected.len()).await;
    assert_eq!(payloads(&published), expected);
}

/// Starts the service with `client` settings and expects start-up to fail within 20 seconds;
/// the error with its causes.
async fn start_up_error(secured: &Secured, client: &[(&str, &str)]) -> String {
    let (_setup, config) = secured_setup(secured, client).await;
    let (_stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        healthscore::service::run(config, stopped),
    )
    .await
    .expect("start-up ends within 20 seconds");
    let error = result.expect_err("start-up fails");
    eprintln!("failed after {:?}: {error:#}", started.elapsed());
    format!("{error:#}")
}

/// The client settings for SASL `mechanism` with the test user, over TLS with the test CA
/// (the CA last, so that a test can drop it).
fn sasl_settings(mechanism: &'static str, secured: &Secured) -> Vec<(&'static str, String)> {
    vec![
        ("security.protocol", "SASL_SSL".to_string()),
        ("sasl.mechanism", mechanism.to_string()),
        ("sasl.username", secured.username.clone()),
        ("sasl.password", secured.password.clone()),
        ("ssl.ca.location", secured.ca_location.clone()),
    ]
}

fn borrowed<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    settings
        .iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_sasl_ssl_with_scram_sha_512_it_reads_scores_and_publishes() {
    let secured = secured();
    let settings = sasl_settings("SCRAM-SHA-512", secured);
    reads_scores_and_publishes(secured, &borrowed(&settings)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_sasl_ssl_with_scram_sha_256_it_reads_scores_and_publishes() {
    let secured = secured();
    let settings = sasl_settings("SCRAM-SHA-256", secured);
    reads_scores_and_publishes(secured, &borrowed(&settings)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_sasl_ssl_with_plain_it_reads_scores_and_publishes() {
    let secured = secured();
    let settings = sasl_settings("PLAIN", secured);
    reads_scores_and_publishes(secured, &borrowed(&settings)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_ends_start_up_naming_the_credentials_settings() {
    let secured = secured();
    let mut settings = sasl_settings("SCRAM-SHA-512", secured);
    settings[3].1 = "not-the-password".to_string();
    let error = start_up_error(secured, &borrowed(&settings)).await;
    assert!(
        error.contains("Kafka authentication failed with SASL mechanism SCRAM-SHA-512"),
        "{error}"
    );
    assert!(
        error.contains("kafka.client \"sasl.username\" and \"sasl.password\""),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_broker_certificate_ends_start_up_naming_the_ca_setting() {
    let secured = secured();
    let mut settings = sasl_settings("SCRAM-SHA-512", secured);
    // No ssl.ca.location: the system's CAs, which never signed the test broker's certificate.
    settings.pop();
    let error = start_up_error(secured, &borrowed(&settings)).await;
    assert!(
        error.contains("the TLS handshake with the Kafka broker failed"),
        "{error}"
    );
    assert!(
        error.contains("kafka.client \"ssl.ca.location\""),
        "{error}"
    );
    assert!(error.contains("certificate verify failed"), "{error}");
}

/// The client id and secret the token endpoint accepts.
const CLIENT_ID: &str = "healthscore-service";
const CLIENT_SECRET: &str = "token-endpoint-secret";

/// An OIDC token endpoint on loopback for the client-credentials grant: a client presenting
/// [`CLIENT_ID`] and [`CLIENT_SECRET`] gets an unsigned JWT for subject `healthscore` (which the
/// test broker's unsecured OAUTHBEARER validator accepts), anyone else 401. Its URL.
fn token_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the endpoint");
    let address = listener.local_addr().expect("its address");
    let expected = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    std::thread::spawn(move || {
        // Bounded: the service asks once per token lifetime, and a test lasts seconds.
        for stream in listener.incoming().take(100) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("stream clone"));
            let (mut authorized, mut length, mut form) = (false, 0, false);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                let lower = line.trim().to_lowercase();
                authorized |= lower == format!("authorization: {}", expected.to_lowercase());
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                form = String::from_utf8_lossy(&body).starts_with("grant_type=client_credentials");
            }
            let response = if authorized && form {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("after 1970")
                    .as_secs();
                let encode =
                    |json: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
                let token = format!(
                    "{}.{}.",
                    encode(r#"{"alg":"none"}"#.to_string()),
                    encode(format!(
                        r#"{{"sub":"healthscore","iat":{now},"exp":{}}}"#,
                        now + 3600
                    ))
                );
                json_response(
                    "200 OK",
                    &format!(
                        r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":3600}}"#
                    ),
                )
            } else {
                json_response("401 Unauthorized", r#"{"error":"invalid_client"}"#)
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{address}/oauth2/token")
}

/// An HTTP/1.1 response with a JSON body, closing the connection.
fn json_response(status: &str, json: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
}

fn oidc(secured: &Secured, secret: &str, endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("security.protocol", "SASL_SSL".to_string()),
        ("sasl.mechanism", "OAUTHBEARER".to_string()),
        ("sasl.oauthbearer.method", "oidc".to_string()),
        ("sasl.oauthbearer.client.id", CLIENT_ID.to_string()),
        ("sasl.oauthbearer.client.secret", secret.to_string()),
        ("sasl.oauthbearer.token.endpoint.url", endpoint.to_string()),
        ("ssl.ca.location", secured.ca_location.clone()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_sasl_ssl_with_oauthbearer_from_an_oidc_endpoint_it_reads_scores_and_publishes() {
    let secured = secured();
    let settings = oidc(secured, CLIENT_SECRET, &token_endpoint());
    reads_scores_and_publishes(secured, &borrowed(&settings)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_the_token_endpoint_refuses_ends_start_up_naming_the_oidc_settings() {
    let secured = secured();
    let settings = oidc(secured, "not-the-secret", &token_endpoint());
    let error = start_up_error(secured, &borrowed(&settings)).await;
    assert!(
        error.contains("Kafka authentication failed with SASL mechanism OAUTHBEARER"),
        "{error}"
    );
    assert!(
        error.contains("\"sasl.oauthbearer.client.id\" and \"sasl.oauthbearer.client.secret\""),
        "{error}"
    );
}
