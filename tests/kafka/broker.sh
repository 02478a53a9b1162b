#!/usr/bin/env bash
# A throw-away Apache Kafka 4.x broker on loopback, for the tests and the benches.
#
#   tests/kafka/broker.sh start     format fresh KRaft storage, start the broker, wait until it
#                                   answers; prints `export` lines for the tests (eval them)
#   tests/kafka/broker.sh restart   stop it and start it again on the same storage (an outage)
#   tests/kafka/broker.sh stop      stop it (SIGTERM, then SIGKILL after 30 s)
#   tests/kafka/broker.sh env       print the `export` lines of the running broker again
#   tests/kafka/broker.sh create-topics PARTITIONS TOPIC...
#                                   create topics on it (Kafka's own kafka-topics tool)
#   tests/kafka/broker.sh fetch     only fetch the broker's jars (Maven Central, cached)
#
# One node is both controller and broker (KRaft), with two client listeners:
#   PLAINTEXT on 127.0.0.1:$HEALTHSCORE_KAFKA_PORT (default 19092), and
#   SASL_SSL on the next port, with SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER
#   (unsigned tokens, for tests only), TLS with a certificate from a CA made here.
# The controller listens on the port after that. The CA, the broker's certificate and the
# passwords are made at each fresh start under $HEALTHSCORE_KAFKA_DIR/tls; nothing is committed.
#
# Environment:
#   HEALTHSCORE_KAFKA_VERSION  Kafka version (default 4.1.1)
#   HEALTHSCORE_KAFKA_CACHE    where the jars are kept between runs (default ~/.cache/healthscore)
#   HEALTHSCORE_KAFKA_DIR      storage, certificates, log and pid (default /tmp/healthscore-kafka)
#   HEALTHSCORE_KAFKA_PORT     the PLAINTEXT port (default 19092)
#   HEALTHSCORE_KAFKA_HEAP     the broker's heap (default 768m)
#   HEALTHSCORE_KAFKA_OWNER_PID  stop the broker when this process ends (a test run that started
#                              it; checked every second)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
version="${HEALTHSCORE_KAFKA_VERSION:-4.1.1}"
cache="${HEALTHSCORE_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/healthscore}"
libs="$cache/kafka-$version/libs"
dir="${HEALTHSCORE_KAFKA_DIR:-${TMPDIR:-/tmp}/healthscore-kafka}"
port="${HEALTHSCORE_KAFKA_PORT:-19092}"
sasl_port=$((port + 1))
controller_port=$((port + 2))
heap="${HEALTHSCORE_KAFKA_HEAP:-768m}"
tls="$dir/tls"
pid_file="$dir/broker.pid"
log_file="$dir/broker.log"

say() { echo "broker.sh: $*" >&2; }
die() { say "$*"; exit 1; }

fetch() {
  [[ -f "$libs/.complete" ]] && return
  command -v mvn >/dev/null || die "mvn (Maven) is needed to fetch Kafka $version"
  say "fetching Apache Kafka $version from Maven Central into $libs"
  local staging="$libs.partial"
  rm -rf "$staging"
  mvn -q -B -f "$here/pom.xml" -Dkafka.version="$version" \
    dependency:copy-dependencies -DoutputDirectory="$staging" >&2 \
    || die "could not fetch Kafka $version (mvn dependency:copy-dependencies failed)"
  rm -rf "$libs"
  mv "$staging" "$libs"
  touch "$libs/.complete"
}

java_options() {
  echo -Xmx"$heap" -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties"
}

kafka_java() {
  # shellcheck disable=SC2046 # the options are words without spaces
  java $(java_options) -cp "$libs/*" "$@"
}

running() {
  [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

make_tls() {
  command -v openssl >/dev/null || die "openssl is needed to make the test certificates"
  rm -rf "$tls"
  mkdir -p "$tls"
  (
    cd "$tls"
    openssl rand -hex 16 >keystore.password
    openssl rand -hex 16 >sasl.password
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=healthscore test CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile broker.ext -out broker.pem 2>/dev/null
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
      -passout "pass:$(cat keystore.password)" -out broker.p12
    rm -f broker.csr broker.ext ca.srl
  )
}

write_config() {
  local keystore_password sasl_password
  keystore_password="$(cat "$tls/keystore.password")"
  sasl_password="$(cat "$tls/sasl.password")"
  cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
EOF
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,SASL_SSL://127.0.0.1:$sasl_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_SSL://127.0.0.1:$sasl_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data

# One node: internal topics with one replica, and no waiting for more members.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true
log.retention.hours=24
log.segment.bytes=67108864
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1

# TLS on the SASL_SSL listener, with a certificate signed by the CA made by this script.
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$keystore_password
ssl.client.auth=none
ssl.endpoint.identification.algorithm=https

# SASL on the SASL_SSL listener. PLAIN's user is defined here; the SCRAM users are stored in the
# cluster's metadata when the storage is formatted. OAUTHBEARER accepts unsigned tokens
# (Kafka's unsecured validator): good for testing a client's token flow, never for production.
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_healthscore="$sasl_password";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
EOF
}

format_storage() {
  local cluster_id sasl_password
  sasl_password="$(cat "$tls/sasl.password")"
  cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)"
  kafka_java kafka.tools.StorageTool format --ignore-formatted \
    --cluster-id "$cluster_id" --config "$dir/server.properties" \
    --add-scram "SCRAM-SHA-256=[name=\"healthscore\",password=\"$sasl_password\"]" \
    --add-scram "SCRAM-SHA-512=[name=\"healthscore\",password=\"$sasl_password\"]" >&2 \
    || die "formatting the KRaft storage failed"
}

launch() {
  : >"$log_file"
  # shellcheck disable=SC2046 # the options are words without spaces
  setsid java $(java_options) -cp "$libs/*" kafka.Kafka "$dir/server.properties" \
    >>"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  local deadline=$((SECONDS + 90))
  until grep -q "Kafka Server started" "$log_file" 2>/dev/null && answers "$port" && answers "$sasl_port"; do
    running || { tail -n 30 "$log_file" >&2; die "the broker exited during start-up (log: $log_file)"; }
    ((SECONDS < deadline)) || { tail -n 30 "$log_file" >&2; die "the broker did not answer within 90 s (log: $log_file)"; }
    sleep 0.2
  done
  say "Apache Kafka $version is up: PLAINTEXT 127.0.0.1:$port, SASL_SSL 127.0.0.1:$sasl_port (log: $log_file)"
  if [[ -n "${HEALTHSCORE_KAFKA_OWNER_PID:-}" ]]; then
    watch_owner "$HEALTHSCORE_KAFKA_OWNER_PID" "$(cat "$pid_file")" &
  fi
}

# Stops the broker `$2` once process `$1` has ended (or the broker has, by other means).
watch_owner() {
  exec </dev/null >/dev/null 2>&1
  while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do
    sleep 1
  done
  stop
}

answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

print_env() {
  running || die "no broker is running in $dir"
  cat <<EOF
export HEALTHSCORE_TEST_BOOTSTRAP=127.0.0.1:$port
export HEALTHSCORE_TEST_SASL_SSL_BOOTSTRAP=127.0.0.1:$sasl_port
export HEALTHSCORE_TEST_SASL_USERNAME=healthscore
export HEALTHSCORE_TEST_SASL_PASSWORD=$(cat "$tls/sasl.password")
export HEALTHSCORE_TEST_CA_LOCATION=$tls/ca.pem
export HEALTHSCORE_TEST_BROKER_PID=$(cat "$pid_file")
EOF
}

create_topics() {
  running || die "no broker is running in $dir"
  local partitions="$1"
  shift
  for topic in "$@"; do
    kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" \
      --create --if-not-exists --topic "$topic" --partitions "$partitions" \
      --replication-factor 1 >&2 || die "could not create topic $topic"
  done
}

stop() {
  running || { rm -f "$pid_file"; return 0; }
  local pid
  pid="$(cat "$pid_file")"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      say "the broker did not stop within 30 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
  rm -f "$pid_file"
  say "stopped the broker in $dir"
}

case "${1:-}" in
  fetch)
    fetch
    ;;
  start)
    command -v java >/dev/null || die "java (17 or newer) is needed to run the broker"
    fetch
    stop
    rm -rf "$dir"
    mkdir -p "$dir"
    make_tls
    write_config
    format_storage
    launch
    print_env
    ;;
  restart)
    [[ -f "$dir/server.properties" ]] || die "no broker was started in $dir"
    stop
    launch
    print_env
    ;;
  stop)
    stop
    ;;
  env)
    print_env
    ;;
  create-topics)
    (($# >= 3)) || die "usage: $0 create-topics PARTITIONS TOPIC..."
    shift
    create_topics "$@"
    ;;
  *)
    echo "usage: $0 start|restart|stop|env|create-topics|fetch" >&2
    exit 2
    ;;
esac
