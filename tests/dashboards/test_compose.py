"""The compose stack under grafana/, its Grafana provisioning and the agent's Dockerfile.

There is no Docker engine in the test environment, so these tests read the files and check
what would otherwise only show at `docker compose up`: paths that do not exist, ports open to
the network, a datasource uid the dashboards do not use, a provider path Grafana never mounts.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"
COMPOSE = GRAFANA / "docker-compose.yml"
DATASOURCE = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDER = GRAFANA / "provisioning" / "dashboards" / "otc-agent.yml"
PROMETHEUS_CONFIG = GRAFANA / "prometheus" / "prometheus.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

CORE_SERVICES = ("agent", "prometheus", "grafana")
STORE_SERVICES = ("postgres", "redis")
DATASOURCE_UID = "otc-agent-prometheus"
HOME_DASHBOARD = "routing-overview.json"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(name="compose", scope="module")
def _compose() -> dict[str, Any]:
    return _load(COMPOSE)


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(host path, container path, read-only) of a service's bind mounts, short or long syntax."""
    mounts: list[tuple[str, str, bool]] = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((volume["source"], volume["target"], bool(volume.get("read_only"))))
            continue
        source, target, *options = volume.split(":")
        # A source that is not a path is a named volume, not a bind mount.
        if source.startswith((".", "/")):
            mounts.append((source, target, "ro" in options))
    return mounts


def _mount_target(service: dict[str, Any], host_path: str) -> tuple[str, bool]:
    """Where (and whether read-only) the service mounts a host path, given relative to grafana/."""
    wanted = (GRAFANA / host_path).resolve()
    for source, target, read_only in _bind_mounts(service):
        if (GRAFANA / source).resolve() == wanted:
            return target, read_only
    raise AssertionError(f"{host_path} is not mounted: {service.get('volumes')}")


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the KEY=value list form
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions: list[tuple[str, str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def test_core_services_exist(compose: dict[str, Any]) -> None:
    """The stack has the agent, Prometheus and Grafana, and builds the agent from the repo root."""
    services = _services(compose)
    for name in CORE_SERVICES:
        assert name in services, f"service {name} missing: {sorted(services)}"
    build = services["agent"]["build"]
    assert (GRAFANA / build["context"]).resolve() == REPO
    assert (REPO / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def test_every_mounted_host_path_exists(compose: dict[str, Any]) -> None:
    """Each bind mount's host path exists relative to grafana/, and each named volume is declared."""
    declared = set((compose.get("volumes") or {}).keys())
    missing: list[str] = []
    for name, service in _services(compose).items():
        for source, _target, _read_only in _bind_mounts(service):
            if not (GRAFANA / source).exists():
                missing.append(f"{name}: {source}")
        for volume in service.get("volumes", []):
            source = volume.get("source", "") if isinstance(volume, dict) else volume.split(":")[0]
            if source and not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"
    assert not missing, f"mounted paths that do not exist in the repo: {missing}"


def test_published_ports_bind_loopback_only(compose: dict[str, Any]) -> None:
    """Every published port binds 127.0.0.1, so nothing in the stack is reachable from other hosts."""
    published = 0
    for name, service in _services(compose).items():
        for port in service.get("ports", []):
            published += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all hosts"
    assert published, "no published ports at all: Grafana would be unreachable"


def test_stores_only_under_their_profile(compose: dict[str, Any]) -> None:
    """PostgreSQL and Redis start only with --profile stores (and are healthchecked); the core never needs it."""
    services = _services(compose)
    for name in STORE_SERVICES:
        assert name in services, f"service {name} missing"
        assert services[name].get("profiles") == ["stores"], services[name].get("profiles")
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in CORE_SERVICES:
        assert not services[name].get("profiles"), f"{name} would not start by default"
    extra = set(services) - set(CORE_SERVICES) - set(STORE_SERVICES)
    assert not extra, f"unexpected services: {sorted(extra)}"


@pytest.mark.parametrize(
    ("service", "repository", "major"),
    [
        ("prometheus", "prom/prometheus", "v2."),
        ("grafana", "grafana/grafana", ""),
        ("postgres", "postgres", "16"),
        ("redis", "redis", "7"),
    ],
)
def test_images_are_pinned(
    compose: dict[str, Any], service: str, repository: str, major: str
) -> None:
    """Third-party images carry an explicit version tag, so `up` next month runs the same stack."""
    image = _services(compose)[service]["image"]
    name, _, tag = image.partition(":")
    assert name == repository
    assert re.fullmatch(r"v?\d+(\.\d+)+", tag), f"{image}: tag is not a pinned version"
    assert tag.startswith(major), f"{image}: expected version {major}*"


def test_agent_runs_the_demo_where_prometheus_scrapes(compose: dict[str, Any]) -> None:
    """The agent runs the endless demo and listens, inside the network, on the target prometheus.yml scrapes."""
    agent = _services(compose)["agent"]
    command = agent["command"]
    args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    assert args[:5] == ["--home", "/var/lib/otc-agent", "demo", "--duration", "0"]
    listen = _environment(agent)["OTC_AGENT__METRICS__LISTEN"]
    host, _, port = listen.rpartition(":")
    assert host == "0.0.0.0"  # container-wide, so the prometheus container can connect
    config = _load(PROMETHEUS_CONFIG)
    targets = [
        target
        for job in config["scrape_configs"]
        if job["job_name"] == "otc-agent"
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    assert targets == [f"agent:{port}"]


def test_prometheus_reads_the_mounted_config(compose: dict[str, Any]) -> None:
    """Prometheus mounts ./prometheus read-only where its --config.file points."""
    prometheus = _services(compose)["prometheus"]
    target, read_only = _mount_target(prometheus, "prometheus")
    assert read_only
    flags = dict(arg.split("=", 1) for arg in prometheus.get("command", []) if "=" in arg)
    config_file = flags.get("--config.file", "/etc/prometheus/prometheus.yml")
    assert PurePosixPath(config_file) == PurePosixPath(target) / PROMETHEUS_CONFIG.name


def test_datasource_has_the_fixed_uid_and_reaches_prometheus(compose: dict[str, Any]) -> None:
    """The provisioned datasource has uid otc-agent-prometheus and points at the prometheus service."""
    provisioning = _load(DATASOURCE)
    assert provisioning["apiVersion"] == 1
    (source,) = provisioning["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "prometheus"
    assert source["isDefault"] is True
    url = urlsplit(source["url"])
    assert url.hostname in _services(compose), f"{source['url']}: no such compose service"
    container_ports = {
        str(port).rsplit(":", 1)[-1] for port in _services(compose)["prometheus"].get("ports", [])
    }
    assert str(url.port) in container_ports | {"9090"}


def test_grafana_mounts_provisioning(compose: dict[str, Any]) -> None:
    """Grafana mounts ./provisioning where it looks for provisioning files."""
    target, read_only = _mount_target(_services(compose)["grafana"], "provisioning")
    assert target == "/etc/grafana/provisioning"
    assert read_only


def test_dashboard_provider_reads_the_mounted_dashboards(compose: dict[str, Any]) -> None:
    """The dashboard provider's path is where Grafana mounts ./dashboards, read-only, as a locked folder."""
    provisioning = _load(DASHBOARD_PROVIDER)
    assert provisioning["apiVersion"] == 1
    (provider,) = provisioning["providers"]
    target, read_only = _mount_target(_services(compose)["grafana"], "dashboards")
    assert provider["options"]["path"] == target
    assert read_only
    assert provider["type"] == "file"
    assert provider["folder"] == "otc-agent"
    assert provider["disableDeletion"] is True
    assert provider["allowUiUpdates"] is False
    assert provider["updateIntervalSeconds"] > 0


def test_home_dashboard_is_the_mounted_routing_overview(compose: dict[str, Any]) -> None:
    """Grafana's home dashboard is routing-overview.json inside the dashboards mount, and the file exists."""
    grafana = _services(compose)["grafana"]
    target, _ = _mount_target(grafana, "dashboards")
    home = _environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert PurePosixPath(home) == PurePosixPath(target) / HOME_DASHBOARD
    assert (GRAFANA / "dashboards" / HOME_DASHBOARD).is_file()


def test_dockerfile_installs_with_constraints_and_runs_the_cli() -> None:
    """The image is python:3.11-slim, installs with -c constraints.txt, runs as non-root and enters otc-agent."""
    instructions = _dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    entrypoints = [args for keyword, args in instructions if keyword == "ENTRYPOINT"]
    assert entrypoints and json.loads(entrypoints[-1]) == ["otc-agent"]
    installs = [
        args for keyword, args in instructions if keyword == "RUN" and "pip install" in args
    ]
    assert len(installs) == 1, installs
    pip_args = shlex.split(installs[0].split("pip install", 1)[1].split("&&")[0])
    assert pip_args[pip_args.index("-c") + 1] == "constraints.txt"
    # Not an editable install: the source tree is not kept around as the package.
    assert "." in pip_args and "-e" not in pip_args
    copied = " ".join(args for keyword, args in instructions if keyword == "COPY")
    assert "constraints.txt" in copied.split()
    # The COPY of constraints.txt must come before the install that reads it.
    first_copy = next(
        i for i, (k, a) in enumerate(instructions) if k == "COPY" and "constraints.txt" in a
    )
    install_at = next(
        i for i, (k, a) in enumerate(instructions) if k == "RUN" and "pip install" in a
    )
    assert first_copy < install_at
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the agent must not run as root"
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    assert any(k == "EXPOSE" and "9108" in a.split() for k, a in instructions)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether a context path is excluded by .dockerignore (the simple patterns used there)."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        pattern = pattern.rstrip("/").removeprefix("./")
        anywhere = pattern.startswith("**/")
        pattern = pattern.removeprefix("**/")
        for candidate in candidates:
            names = [candidate, candidate.rsplit("/", 1)[-1]] if anywhere else [candidate]
            if any(fnmatch.fnmatchcase(name, pattern) for name in names):
                return True
    return False


def test_docker_context_has_what_the_build_copies_and_not_local_state() -> None:
    """Every COPY source exists and survives .dockerignore, which keeps .venv, var/, .git and caches out."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "re-includes are beyond this check"
    for local in (".venv", "var", ".git", ".pytest_cache", ".ruff_cache", "otc_agent.egg-info"):
        assert _ignored(local, patterns), f"{local} would be sent to the Docker daemon"
    assert _ignored("agent/__pycache__/x.pyc", patterns)
    for keyword, args in _dockerfile_instructions():
        if keyword != "COPY" or args.startswith("--from"):
            continue
        *sources, _destination = shlex.split(args)
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repo"
            assert not _ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    # Package data the install must carry along.
    assert not _ignored("agent/store/migrations/env.py", patterns)
    assert not _ignored("onchain/idl/jupiter_v6.json", patterns)


REPLICAS = GRAFANA / "docker-compose.replicas.yml"


def test_replicas_share_one_database_and_one_stream(compose: dict[str, Any]) -> None:
    """The scale-out override runs several replicas and the demo on the same PostgreSQL, Redis
    stream and mode, and the demo feeds the stream."""
    override = _load(REPLICAS)
    services = override["services"]
    agent_env, replica_env = _environment(services["agent"]), _environment(services["replica"])
    shared = (
        "DATABASE_URL",
        "OTC_AGENT__EXECUTION__MODE",
        "OTC_AGENT__INTAKE__REDIS__ENABLED",
        "OTC_AGENT__INTAKE__REDIS__URL",
    )
    for key in shared:
        assert agent_env[key] == replica_env[key], key
    assert urlsplit(agent_env["DATABASE_URL"]).hostname in _services(compose)
    assert urlsplit(agent_env["OTC_AGENT__INTAKE__REDIS__URL"]).hostname in _services(compose)
    assert agent_env["OTC_AGENT__INTAKE__REDIS__ENABLED"] == "true"
    command = [str(arg) for arg in services["agent"]["command"]]
    assert command[command.index("--to") + 1] == "stream"
    assert services["replica"]["command"][-1] == "run"
    assert services["replica"]["image"] == _services(compose)["agent"]["image"]
    assert services["replica"]["deploy"]["replicas"] >= 2


def test_prometheus_discovers_every_replica(compose: dict[str, Any]) -> None:
    """A DNS job scrapes each address of the `replica` service on the port replicas listen on."""
    replica_env = _environment(_load(REPLICAS)["services"]["replica"])
    port = int(replica_env["OTC_AGENT__METRICS__LISTEN"].rpartition(":")[2])
    config = _load(PROMETHEUS_CONFIG)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "otc-agent-replicas"]
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["replica"] and discovery["type"] == "A"
    assert discovery["port"] == port
