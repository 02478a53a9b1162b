#!/usr/bin/env bash
# End to end with a real Kafka command-line client: `healthscore run` on its embedded broker with
# the generator off, kcat (Debian's `kcat` package) producing generated events plus one malformed
# line into the input topic, and kcat reading the output and dead-letter topics. The outputs must
# equal `healthscore replay` of the same events, line for line, and the dead letter must carry its
# reason and origin in headers. Then SIGTERM must stop the service with exit code 0.
#
# With HEALTHSCORE_TEST_BOOTSTRAP set (a broker started by tests/kafka/broker.sh), the same check
# runs against that broker instead, on topics of its own.
#
#   tests/scripts/kcat_end_to_end.sh            (builds the debug binary first)
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v kcat >/dev/null || { echo "kcat is not installed (apt-get install -y kcat)" >&2; exit 1; }
cargo build --quiet
binary=target/debug/healthscore
work=$(mktemp -d)
service_pid=
cleanup() {
  [[ -n "$service_pid" ]] && kill -9 "$service_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- service log" >&2; tail -n 40 "$work/service.log" >&2; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
address="127.0.0.1:$port"

"$binary" generate --customers 25 --days 30 --seed 11 --output "$work/events.jsonl"
# The events reach the service while it runs, so to it each alert is news as it comes; replay
# reads the file at rest and marks the alerts more than a day before its end stale. Apart from
# that flag the outputs must be the same.
"$binary" replay --input "$work/events.jsonl" --output "$work/replayed.jsonl" >/dev/null
sed 's/,"stale":true}$/}/' "$work/replayed.jsonl" > "$work/expected.jsonl"
expected_count=$(wc -l < "$work/expected.jsonl")
[[ "$expected_count" -gt 0 ]] || fail "replay gave no outputs"

usage=customer.usage output=customer.health dead_letters=customer.health.deadletter
settings=(HEALTHSCORE_GENERATOR__ENABLED=false HEALTHSCORE_KAFKA__EMBEDDED_PARTITIONS=1)
if [[ -n "${HEALTHSCORE_TEST_BOOTSTRAP:-}" ]]; then
  suffix="e2e.$$.$(date +%s)"
  usage="customer.usage.$suffix" output="customer.health.$suffix" dead_letters="$output.deadletter"
  tests/kafka/broker.sh create-topics 1 "$usage" "$output" "$dead_letters"
  settings=(
    HEALTHSCORE_KAFKA__BOOTSTRAP_SERVERS="$HEALTHSCORE_TEST_BOOTSTRAP"
    HEALTHSCORE_KAFKA__GROUP_ID="healthscore.$suffix"
    HEALTHSCORE_KAFKA__INPUTS="[{ topic = \"$usage\", source = \"usage\" }]"
    HEALTHSCORE_KAFKA__OUTPUT_TOPIC="$output"
    HEALTHSCORE_KAFKA__DEAD_LETTER_TOPIC="$dead_letters"
  )
fi

env "${settings[@]}" \
HEALTHSCORE_HTTP__LISTEN="$address" \
HEALTHSCORE_SNAPSHOT__DIR="$work/snapshots" \
  "$binary" run >"$work/service.log" 2>&1 &
service_pid=$!

bootstrap=
for _ in $(seq 1 150); do
  bootstrap=$(curl -sf "http://$address/readyz" | python3 -c 'import json, sys; print(json.load(sys.stdin)["bootstrap_servers"])' 2>/dev/null) && break
  sleep 0.2
done
[[ -n "$bootstrap" ]] || fail "the service never became ready"
echo "broker at $bootstrap"

# Key every event by its customer, as a data platform would; one line is not JSON at all.
python3 - "$work/events.jsonl" > "$work/keyed.txt" <<'PY'
import json, sys
for number, line in enumerate(open(sys.argv[1])):
    line = line.rstrip("\n")
    print(json.loads(line)["customer_id"] + "\t" + line)
    if number == 40:
        print("broken\tthis is not an event")
PY
kcat -b "$bootstrap" -P -t "$usage" -K $'\t' -l "$work/keyed.txt"

timeout 60 kcat -b "$bootstrap" -C -t "$output" -o beginning -c "$expected_count" -q -f '%s\n' \
  > "$work/actual.jsonl" || true
diff -q "$work/expected.jsonl" "$work/actual.jsonl" >/dev/null \
  || { diff "$work/expected.jsonl" "$work/actual.jsonl" | head -c 2000 >&2 || true; fail "outputs differ from replay"; }

# Nothing more than replay's outputs: no duplicates behind them.
total=$(timeout 5 kcat -b "$bootstrap" -C -t "$output" -o beginning -c $((expected_count + 1)) -q -f '%s\n' | wc -l || true)
[[ "$total" -eq "$expected_count" ]] || fail "$total outputs on the topic, replay gives $expected_count"

timeout 30 kcat -b "$bootstrap" -C -t "$dead_letters" -o beginning -c 1 -q -f '%k|%s|%h\n' \
  > "$work/dead.txt" || true
grep -q '^broken|this is not an event|' "$work/dead.txt" || fail "no dead letter: $(cat "$work/dead.txt")"
for header in reason=invalid_json "source_topic=$usage" source_partition=0 source_offset=41; do
  grep -q "$header" "$work/dead.txt" || fail "dead letter lacks header $header: $(cat "$work/dead.txt")"
done

customer=$(head -n 1 "$work/expected.jsonl" | python3 -c 'import json, sys; print(json.load(sys.stdin)["customer_id"])')
curl -sf "http://$address/customers/$customer" | grep -q "\"customer_id\":\"$customer\"" \
  || fail "GET /customers/$customer"

kill -TERM "$service_pid"
status=0
wait "$service_pid" || status=$?
service_pid=
[[ "$status" -eq 0 ]] || fail "exit code $status after SIGTERM"
ls "$work/snapshots"/partition-*/snapshot-*.hss >/dev/null 2>&1 || fail "no final snapshot"
echo "kcat end to end: $expected_count outputs equal replay, dead letter with headers, clean shutdown"
