//! `state.max_customers` under a flood of new customer ids (a buggy producer, a key change
//! upstream): `replay` over 2,000,000 random ids with a cap of 100,000 keeps the customers in
//! state and the process's memory bounded, and leaves the known customers' scores as they are
//! without the flood.

mod support;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{day, healthy_days};

const FLOOD: u64 = 2_000_000;
const CAP: usize = 100_000;
const KNOWN: usize = 20;

/// The known customers' activity: healthy, every day from day 0 to day 60.
fn known_lines() -> Vec<(i64, String)> {
    let mut lines: Vec<(i64, String)> = (0..KNOWN)
        .flat_map(|customer| healthy_days(&format!("known-{customer:02}"), 0, 60))
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            (event["timestamp"].as_i64().unwrap(), line)
        })
        .collect();
    lines.sort_by_key(|(millis, _)| *millis);
    lines
}

/// Writes the known customers' lines, with `flood` logins of random new ids spread over days 1
/// to 59 between them when asked, in time order: about 34,000 new ids a day, so the cap holds
/// the last three days' ids, and customers active every day are never the longest-inactive.
fn write_input(path: &Path, known: &[(i64, String)], flood: u64) {
    let mut file = BufWriter::new(std::fs::File::create(path).unwrap());
    let (start, end) = (day(1.0).millis(), day(59.0).millis());
    let mut known = known.iter().peekable();
    let mut random = 0x9e37_79b9_7f4a_7c15_u64;
    for index in 0..flood {
        let millis = start + (end - start) * index as i64 / flood as i64;
        while let Some((_, line)) = known.next_if(|(at, _)| *at <= millis) {
            writeln!(file, "{line}").unwrap();
        }
        // xorshift64*: distinct ids that look like a hash, as a broken key would.
        random ^= random >> 12;
        random ^= random << 25;
        random ^= random >> 27;
        let id = random.wrapping_mul(0x2545_f491_4f6c_dd1d);
        writeln!(
            file,
            r#"{{"customer_id":"flood-{id:016x}","type":"login","timestamp":{millis}}}"#
        )
        .unwrap();
    }
    for (_, line) in known {
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
}

/// Runs `replay` over `input` with the cap, writing the final state to `state`; returns its
/// stderr and its peak resident memory in bytes (VmHWM, read while it runs).
fn replay_capped(directory: &Path, input: &Path, state: &Path) -> (String, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_healthscore"))
        .args(["replay", "--output", "/dev/null", "--input"])
        .arg(input)
        .arg("--state-out")
        .arg(state)
        .current_dir(directory)
        .env_remove("HEALTHSCORE_CONFIG")
        .env("HEALTHSCORE_STATE__MAX_CUSTOMERS", CAP.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    while child.try_wait().unwrap().is_none() {
        let high_water_mark = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            });
        peak_kib = peak_kib.max(high_water_mark.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (stderr, peak_kib * 1024)
}

/// The state lines of the known customers, by id.
fn known_states(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| line.contains(r#""customer_id":"known-"#))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_flood_of_new_ids_keeps_state_and_memory_under_the_cap_and_known_scores_as_they_were() {
    let directory = tempfile::tempdir().unwrap();
    let known = known_lines();
    let flooded = directory.path().join("flooded.jsonl");
    write_input(&flooded, &known, FLOOD);
    let alone = directory.path().join("alone.jsonl");
    write_input(&alone, &known, 0);

    let flooded_state = directory.path().join("flooded-state.jsonl");
    let (summary, peak_bytes) = replay_capped(directory.path(), &flooded, &flooded_state);
    let customers = FLOOD as usize + KNOWN;
    let evicted = customers - CAP;
    assert!(
        summary.contains(&format!("{CAP} customers ({evicted} evicted)")),
        "{summary}"
    );
    eprintln!(
        "peak resident memory with the flood: {} MiB",
        peak_bytes >> 20
    );
    let state_lines = std::fs::read_to_string(&flooded_state)
        .unwrap()
        .lines()
        .count();
    assert_eq!(state_lines, CAP);
    // Uncapped, 2,000,020 customers take about 1 GB; 100,000 take about 50 MB.
    assert!(
        peak_bytes > 0 && peak_bytes < 256 << 20,
        "peak resident memory {} MiB",
        peak_bytes >> 20
    );

    // The known customers were active throughout, so none was evicted: their state is what it
    // is without the flood, to the last signal.
    let alone_state = directory.path().join("alone-state.jsonl");
    replay_capped(directory.path(), &alone, &alone_state);
    let (with_flood, without) = (known_states(&flooded_state), known_states(&alone_state));
    assert_eq!(with_flood.len(), KNOWN);
    assert_eq!(with_flood, without);
}
