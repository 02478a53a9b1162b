#!/usr/bin/env bash
# Validates deploy/ with what runs offline: promtool (Debian's `prometheus` package) for the
# alerting rules and the compose trial's Prometheus config, kubernetes-validate (PyPI, pinned in
# requirements-check.txt) for the manifests against Kubernetes 1.37 schemas, structural checks of
# the PodMonitor, kustomization, compose file and dashboard, and the ConfigMap's healthscore.toml (equal to config/healthscore.toml)
# loaded by the service itself.
#
#   deploy/check.sh        (needs target/debug/healthscore: cargo build)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

promtool check rules deploy/prometheus/alerts.yml
sed "s#/etc/prometheus/alerts.yml#$PWD/deploy/prometheus/alerts.yml#" deploy/compose/prometheus.yml > "$work/prometheus.yml"
promtool check config "$work/prometheus.yml"

kubernetes-validate --strict --quiet deploy/kubernetes/statefulset.yaml deploy/kubernetes/service.yaml \
  deploy/kubernetes/networkpolicy.yaml
cmp config/healthscore.toml deploy/kubernetes/healthscore.toml \
  || { echo "deploy/kubernetes/healthscore.toml differs from config/healthscore.toml" >&2; exit 1; }

python3 - "$work" <<'PY'
import json, os, sys, yaml
work = sys.argv[1]
def load(path):
    with open(path) as file:
        return yaml.safe_load(file)

monitor = load("deploy/kubernetes/podmonitor.yaml")
assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "PodMonitor"
endpoint = monitor["spec"]["podMetricsEndpoints"][0]
assert endpoint["path"] == "/metrics" and endpoint["port"] == "http", endpoint

kustomization = load("deploy/kubernetes/kustomization.yaml")
for resource in kustomization["resources"]:
    assert os.path.exists(os.path.join("deploy/kubernetes", resource)), resource

statefulset = load("deploy/kubernetes/statefulset.yaml")
container = statefulset["spec"]["template"]["spec"]["containers"][0]
assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
assert "/var/lib/healthscore" in mounts, mounts
# Listening beyond loopback needs the customer API's token, from the Secret volume.
env = {variable["name"]: variable.get("value") for variable in container["env"]}
assert env["HEALTHSCORE_HTTP__LISTEN"].startswith("0.0.0.0"), env
token_file = env["HEALTHSCORE_HTTP__TOKEN_FILE"]
token_volume = mounts[os.path.dirname(token_file)]
secret_volumes = {volume["name"]: volume["secret"] for volume in statefulset["spec"]["template"]["spec"]["volumes"] if "secret" in volume}
assert secret_volumes[token_volume]["secretName"] == "healthscore-api", secret_volumes
assert any(item["path"] == os.path.basename(token_file) for item in secret_volumes[token_volume]["items"])

policy = load("deploy/kubernetes/networkpolicy.yaml")
assert policy["kind"] == "NetworkPolicy" and policy["spec"]["policyTypes"] == ["Ingress"], policy
assert policy["spec"]["podSelector"]["matchLabels"] == statefulset["spec"]["selector"]["matchLabels"]
assert all(port["port"] == "http" for rule in policy["spec"]["ingress"] for port in rule["ports"])

compose = load("deploy/compose/docker-compose.yml")
assert {"kafka", "healthscore", "prometheus"} <= set(compose["services"]), compose["services"].keys()
build = compose["services"]["healthscore"]["build"]
assert os.path.exists(os.path.join("deploy/compose", build["context"], build["dockerfile"]))
for volume in compose["services"]["prometheus"]["volumes"]:
    source = volume.split(":")[0]
    assert os.path.exists(os.path.join("deploy/compose", source)), source

dashboard = json.load(open("deploy/grafana/healthscore-dashboard.json"))
assert dashboard["panels"] and all(panel["targets"] for panel in dashboard["panels"])

generated = kustomization["configMapGenerator"][0]
assert generated["name"] == "healthscore-config", generated
for file in generated["files"]:
    assert os.path.exists(os.path.join("deploy/kubernetes", file)), file
volumes = statefulset["spec"]["template"]["spec"]["volumes"]
assert any(volume.get("configMap", {}).get("name") == "healthscore-config" for volume in volumes)
print("deploy/: PodMonitor, kustomization, compose file and dashboard are well formed")
PY

# The ConfigMap's config, with the pod's environment, must load and compile in the service itself.
: > "$work/empty.jsonl"
HEALTHSCORE_KAFKA__BOOTSTRAP_SERVERS=kafka:9092 HEALTHSCORE_HTTP__LISTEN=0.0.0.0:9898 \
  target/debug/healthscore replay --config deploy/kubernetes/healthscore.toml \
  --input "$work/empty.jsonl" --output "$work/out.jsonl" >/dev/null
echo "deploy/: every check passed"
