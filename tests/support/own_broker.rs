//! An Apache Kafka broker process of one test's own, started by `tests/kafka/broker.sh` in a
//! folder and on ports of its own: for the tests that stop the broker, or need a second cluster,
//! when the suite runs against a real broker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running broker of a test's own; stopped when dropped, or when the test process ends.
pub struct OwnBroker {
    folder: tempfile::TempDir,
    port: u16,
    /// The PLAINTEXT address.
    pub bootstrap: String,
    /// The script's `HEALTHSCORE_TEST_*` variables for this broker (SASL_SSL address,
    /// credentials, CA), by name.
    pub exports: HashMap<String, String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/broker.sh")
}

/// The lowest port the kernel hands out to outgoing connections (Linux's
/// `ip_local_port_range`; 32768 when it cannot be read).
fn first_ephemeral_port() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A port `p` with `p`, `p + 1` and `p + 2` free (the script's PLAINTEXT, SASL_SSL and
/// controller listeners), picked at random below the ephemeral range: a port from that range
/// can be taken by any outgoing connection between this check and the broker's bind, or held in
/// TIME_WAIT by one of an earlier test's, which the JVM's bind refuses.
fn three_free_ports() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let lowest = 20_000u16;
    let span = first_ephemeral_port().saturating_sub(lowest + 3).max(1);
    let random = RandomState::new();
    for attempt in 0..200u32 {
        let first = lowest + (random.hash_one(attempt) % u64::from(span)) as u16;
        let free =
            (0..=2).all(|step| std::net::TcpListener::bind(("127.0.0.1", first + step)).is_ok());
        if free {
            return first;
        }
    }
    panic!("no three consecutive free ports on loopback between {lowest} and the ephemeral range");
}

impl OwnBroker {
    /// Starts a fresh broker (new storage, so a new cluster id) and waits until it answers.
    /// A start that fails (a port taken between the check and the bind) is tried again on
    /// other ports, up to three times.
    pub fn start() -> OwnBroker {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let folder = tempfile::tempdir().expect("a folder for the broker");
            let port = three_free_ports();
            let mut broker = OwnBroker {
                folder,
                port,
                bootstrap: format!("127.0.0.1:{port}"),
                exports: HashMap::new(),
            };
            match broker.try_run("start") {
                Ok(exports) => {
                    broker.exports = exports;
                    assert_eq!(
                        broker.exports.get("HEALTHSCORE_TEST_BOOTSTRAP"),
                        Some(&broker.bootstrap)
                    );
                    return broker;
                }
                Err(failure) => failures.push(format!("on port {port}: {failure}")),
            }
        }
        panic!(
            "tests/kafka/broker.sh start failed three times:\n{}",
            failures.join("\n")
        );
    }

    /// Stops the broker process (an outage).
    pub fn stop(&self) {
        self.run("stop");
    }

    /// Starts the broker again on the same storage, after [`OwnBroker::stop`].
    pub fn restart(&self) {
        self.run("restart");
    }

    /// The script's `command` for this broker's folder and ports.
    fn script_command(&self, command: &str) -> Command {
        let mut script = Command::new(script());
        script
            .arg(command)
            .env("HEALTHSCORE_KAFKA_DIR", self.folder.path().join("kafka"))
            .env("HEALTHSCORE_KAFKA_PORT", self.port.to_string())
            .env("HEALTHSCORE_KAFKA_HEAP", "384m")
            .env(
                "HEALTHSCORE_KAFKA_OWNER_PID",
                std::process::id().to_string(),
            );
        script
    }

    /// Runs the script's `command` for this broker; the `export` lines it printed, by name.
    fn run(&self, command: &str) -> HashMap<String, String> {
        self.try_run(command)
            .unwrap_or_else(|failure| panic!("tests/kafka/broker.sh {command} failed: {failure}"))
    }

    /// Like [`OwnBroker::run`], but what the script wrote to stderr when it fails.
    fn try_run(&self, command: &str) -> Result<HashMap<String, String>, String> {
        let output = self
            .script_command(command)
            .output()
            .expect("tests/kafka/broker.sh runs");
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect())
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.script_command("stop").output();
    }
}
