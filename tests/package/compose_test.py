#!/usr/bin/env python3
"""packaging/docker-compose.yml, checked without a docker engine.

`docker-compose config` (Debian's docker-compose 1.29, which needs no engine
for it) validates the file against the Compose schema and resolves its
anchors; then, on the resolved file:
  - three or more pixelmill nodes, each with the same PostgreSQL store, blob
    volume and token file (mounted read-only), and every PIXELMILL_ variable
    a real `pixelmill serve` option;
  - PostgreSQL, Prometheus (the nodes as targets, monitoring/alerts.yml as
    its rules) and Grafana (monitoring/grafana provisioned);
  - no published port open beyond loopback;
  - README's "Cluster in one command" names every service and volume, and
    every PIXELMILL_ variable it names is a serve option.
Exit 77: skipped (docker-compose missing: scripts/install-deps.sh --package).
"""
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:  # a python3 without PyYAML first on PATH: Debian's has it with docker-compose
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("compose-test: skipped: no PyYAML")
    sys.exit(77)

SOURCE = os.environ.get("PIXELMILL_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("PIXELMILL_BUILD_DIR", os.path.join(SOURCE, "build"))
COMPOSE = os.path.join(SOURCE, "packaging/docker-compose.yml")
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAILED: " + message, flush=True)


def serve_options():
    out = subprocess.run([os.path.join(BUILD, "bin/pixelmill"), "serve", "--help"], capture_output=True, text=True,
                         check=True).stdout
    flags = set(re.findall(r"(?:^|[\s,])--([a-z][a-z0-9-]*)", out, re.M)) - {"help"}
    assert len(flags) > 10, out
    return {"PIXELMILL_" + f.upper().replace("-", "_") for f in flags}


def volume_parts(entry):
    if isinstance(entry, dict):
        return entry.get("source"), entry.get("target"), bool(entry.get("read_only"))
    parts = entry.split(":")
    return parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")


def main():
    if not shutil.which("docker-compose"):
        print("compose-test: skipped: docker-compose is not installed (scripts/install-deps.sh --package)")
        sys.exit(77)
    r = subprocess.run(["docker-compose", "-p", "pixelmill", "-f", COMPOSE, "config"], capture_output=True, text=True,
                       env=dict(os.environ, DOCKER_HOST="unix:///nonexistent"))
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        sys.exit(1)
    config = yaml.safe_load(r.stdout)
    services = config["services"]
    volumes = set(config.get("volumes", {}))
    options = serve_options()

    nodes = {n: s for n, s in services.items() if s.get("image", "").startswith("pixelmill") and n != "init"}
    check(len(nodes) >= 3, f"pixelmill nodes: {sorted(nodes)}")
    shared = {}
    for name, s in nodes.items():
        env = s.get("environment", {})
        for key in env:
            if key.startswith("PIXELMILL_"):
                check(key in options, f"{name}: {key} is not a pixelmill serve option")
        check(env.get("PIXELMILL_STORE", "").startswith("postgres://"), f"{name}: store is not PostgreSQL")
        check("PIXELMILL_INSECURE" not in env, f"{name}: serves without tokens")
        mounts = {volume_parts(v)[1]: volume_parts(v) for v in s.get("volumes", [])}
        blob_dir, token_file = env.get("PIXELMILL_BLOB_DIR"), env.get("PIXELMILL_TOKEN_FILE", "")
        check(blob_dir in mounts, f"{name}: the blob folder {blob_dir} is not a volume")
        token_dir = os.path.dirname(token_file)
        check(token_dir in mounts and mounts[token_dir][2], f"{name}: the token file's folder is not a read-only volume")
        key = (env.get("PIXELMILL_STORE"), mounts.get(blob_dir, [None])[0], mounts.get(token_dir, [None])[0], token_file)
        shared.setdefault(key, []).append(name)
        check(s.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy",
              f"{name}: starts before PostgreSQL is ready")
    check(len(shared) == 1, f"the nodes do not share one store, blob volume and token file: {shared}")

    for name in ("postgres", "prometheus", "grafana"):
        check(name in services, f"no {name} service")
    for name, s in services.items():
        for p in s.get("ports", []):
            published = p if isinstance(p, str) else f"{p.get('host_ip', '')}:{p.get('published')}"
            check(str(published).startswith("127.0.0.1:"), f"{name}: port {p} is published beyond loopback")

    # Prometheus: its config scrapes every node, with the repository's rules.
    prom = services.get("prometheus", {})
    mounts = {volume_parts(v)[1]: volume_parts(v)[0] for v in prom.get("volumes", [])}
    config_file = mounts.get("/etc/prometheus/prometheus.yml")
    check(config_file and os.path.isfile(config_file), "Prometheus has no config file from the repository")
    if config_file and os.path.isfile(config_file):
        prom_config = yaml.safe_load(open(config_file))
        jobs = {j["job_name"]: j for j in prom_config["scrape_configs"]}
        check("pixelmill" in jobs, "no scrape job pixelmill (the PixelmillDown alert selects it)")
        targets = {t for sc in jobs.get("pixelmill", {}).get("static_configs", []) for t in sc["targets"]}
        check(targets == {f"{n}:8080" for n in nodes}, f"scrape targets {sorted(targets)} are not the nodes")
        creds = jobs.get("pixelmill", {}).get("authorization", {}).get("credentials_file", "")
        check(any(creds.startswith(t + "/") for t in mounts), "the scrape token file is not mounted")
        for rule in prom_config.get("rule_files", []):
            target = os.path.join("/etc/prometheus", rule)
            check(os.path.realpath(mounts.get(target, "")) == os.path.realpath(os.path.join(SOURCE, "monitoring/alerts.yml")),
                  f"the rule file {rule} is not monitoring/alerts.yml")
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "config", "--syntax-only", config_file], capture_output=True, text=True)
            check(r.returncode == 0, "promtool check config: " + r.stdout + r.stderr)

    # Grafana: the dashboard folder is monitoring/grafana, provisioned.
    graf = services.get("grafana", {})
    gmounts = {volume_parts(v)[1]: volume_parts(v)[0] for v in graf.get("volumes", [])}
    providers = [v for t, v in gmounts.items() if t.startswith("/etc/grafana/provisioning/dashboards/")]
    check(len(providers) == 1, "no dashboard provider")
    for p in providers:
        for provider in yaml.safe_load(open(p))["providers"]:
            folder = gmounts.get(provider["options"]["path"], "")
            check(os.path.isfile(os.path.join(folder, "pixelmill.json")),
                  f"the dashboard provider's path {provider['options']['path']} is not monitoring/grafana")
    check(any(t.startswith("/etc/grafana/provisioning/datasources/") for t in gmounts), "no datasource provisioned")

    # README: the section names what the file holds.
    readme = open(os.path.join(SOURCE, "README.md")).read()
    m = re.search(r"^## Cluster in one command\n(.*?)(?=^## )", readme, re.M | re.S)
    check(m is not None, "README has no section 'Cluster in one command'")
    if m:
        section = m.group(1)
        named = set(re.findall(r"`([^`\s]+)`", section))
        for s in services:
            check(s in named, f"README's 'Cluster in one command' does not name the service `{s}`")
        for v in volumes:
            check(v in named, f"README's 'Cluster in one command' does not name the volume `{v}`")
        for var in set(re.findall(r"PIXELMILL_[A-Z_]+", section)):
            check(var in options, f"README names {var}, which is not a serve option")
            check(any(var in s.get("environment", {}) for s in nodes.values()), f"README names {var}, which no node sets")

    if failures:
        sys.exit(1)
    print(f"compose-test: passed ({len(services)} services, {len(volumes)} volumes)")


if __name__ == "__main__":
    main()
