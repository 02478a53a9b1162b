#!/usr/bin/env bash
# Builds the Kafka Streams peer and prints the class path to run it with:
#   java -cp "$(benches/peers/kafka-streams/build.sh)" dev.healthscore.peer.HealthPeer ...
# Dependencies come from Maven Central into ~/.m2; the build goes to target/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")"
mvn -q -B compile dependency:copy-dependencies -DoutputDirectory=target/dependencies >&2
echo "$PWD/target/classes:$PWD/target/dependencies/*"
