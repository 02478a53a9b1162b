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

/// A port `p` with `p`, `p + 1` and `p + 2` free (the script's PLAINTEXT, SASL_SSL and
/// controller listeners).
fn three_free_ports() -> u16 {
    for _ in 0..100 {
        let first = super::free_port();
        if first > u16::MAX - 2 {
            continue;
        }
        let free =
            (1..=2).all(|step| std::net::TcpListener::bind(("127.0.0.1", first + step)).is_ok());
        if free {
            return first;
        }
    }
    panic!("no three consecutive free ports on loopback");
}

impl OwnBroker {
    /// Starts a fresh broker (new storage, so a new cluster id) and waits until it answers.
    pub fn start() -> OwnBroker {
        let folder = tempfile::tempdir().expect("a folder for the broker");
        let port = three_free_ports();
        let mut broker = OwnBroker {
            folder,
            port,
            bootstrap: format!("127.0.0.1:{port}"),
            exports: HashMap::new(),
        };
        broker.exports = broker.run("start");
        assert_eq!(
            broker.exports.get("HEALTHSCORE_TEST_BOOTSTRAP"),
            Some(&broker.bootstrap)
        );
        broker
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
        let output = self
            .script_command(command)
            .output()
            .expect("tests/kafka/broker.sh runs");
        assert!(
            output.status.success(),
            "tests/kafka/broker.sh {command} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.script_command("stop").output();
    }
}
