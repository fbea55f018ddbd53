"""The distributed deployment's secrets and exposure (issue 24, items 1-3), without starting any service.

The definitions name the variables that hold the catalog DSN and the Redis URLs, never their values, so the
repository snapshot the webserver shows holds no password; a catalog outage's step-failure event holds none
either; the shipped deployment files require a password on every Redis and Postgres, read every credential from
secrets, keep the webserver on loopback and run the workers as a user that is not root. The tests that need
Postgres and Redis running are in ``test_distributed.py``.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._core.system_config.objects import ResolvedRunConfig
from dagster_shared.serdes import serialize_value

from gmgbd_assets.core.settings import Settings
from gmgbd_assets.definitions import build_definitions
from gmgbd_assets.deploy.services import free_port

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
SECRET = "pw-s3cr3t-4-tests"


def _yaml(name: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


@pytest.fixture
def distributed_env(offline_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings of a deployment whose catalog DSN and Redis URLs carry ``SECRET``."""
    pytest.importorskip("dagster_celery", reason="the [distributed] extra")
    monkeypatch.setenv("GMGBD_STORE", "ducklake")
    monkeypatch.setenv("GMGBD_DUCKLAKE_CATALOG", f"host=127.0.0.1 port=5 user=gmgbd password='{SECRET}' dbname=lake")
    monkeypatch.setenv("GMGBD_EXECUTOR", "celery")
    monkeypatch.setenv("GMGBD_CELERY_BROKER", f"redis://gmgbd:{SECRET}@127.0.0.1:6379/0")
    monkeypatch.delenv("GMGBD_CELERY_BACKEND", raising=False)
    monkeypatch.setenv("GMGBD_RATE_LIMIT_URL", f"redis://gmgbd:{SECRET}@127.0.0.1:6379/1")
    return Settings.from_env()


def test_the_repository_snapshot_shows_the_secrets_variable_names_not_their_values(distributed_env: Settings) -> None:
    """What the webserver receives from the code server (resources, jobs, their executor config)."""
    snapshot = serialize_value(RepositorySnap.from_def(build_definitions(distributed_env).get_repository_def()))
    assert SECRET not in snapshot
    for name in ("GMGBD_DUCKLAKE_CATALOG", "GMGBD_RATE_LIMIT_URL"):
        assert name in snapshot


def test_the_executor_reads_the_broker_url_from_the_environment_when_the_run_starts(
    distributed_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The definitions hold the variable's name: the URL (with its password) set later is the one a run uses."""
    job = build_definitions(distributed_env).resolve_job_def("settled_date_job")
    rotated = "redis://gmgbd:rotated@127.0.0.1:6379/0"
    monkeypatch.setenv("GMGBD_CELERY_BROKER", rotated)
    config = ResolvedRunConfig.build(job, {}).execution.execution_engine_config
    assert config["broker"] == rotated and config["backend"] == rotated


def test_a_catalog_outage_fails_the_step_without_the_password_in_any_event(
    distributed_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's connection error quotes the whole DSN; the step's failure (message, cause, context) must not."""
    pytest.importorskip("duckdb_extension_postgres", reason="the [distributed] extra")
    monkeypatch.setenv(
        "GMGBD_DUCKLAKE_CATALOG", f"host=127.0.0.1 port={free_port()} user=gmgbd password='{SECRET}' dbname=lake"
    )
    store = build_definitions(Settings.from_env()).resources["store"]

    @dg.asset
    def reads_the_lake(store: dg.ResourceParam[Any]) -> None:
        store.query("SELECT 1")

    result = dg.materialize([reads_the_lake], resources={"store": store}, raise_on_error=False)
    failures = result.get_step_failure_events()
    assert len(failures) == 1
    error = failures[0].step_failure_data.error
    assert error is not None and error.cause is not None
    assert "Unable to connect to Postgres" in error.cause.message and "password=***" in error.cause.message
    for event in result.all_events:
        assert SECRET not in serialize_value(event)


def test_the_entrypoint_exports_each_file_secret_by_environment(tmp_path: Path) -> None:
    secret_file = tmp_path / "broker"
    secret_file.write_text(f"redis://gmgbd:{SECRET}@redis:6379/0")
    env = {"PATH": os.environ["PATH"], "GMGBD_CELERY_BROKER_FILE": str(secret_file)}
    done = subprocess.run(
        [
            "sh",
            str(DEPLOY / "env-from-files.sh"),
            "sh",
            "-c",
            'printf "%s|%s" "$GMGBD_CELERY_BROKER" "${GMGBD_CELERY_BROKER_FILE-}"',
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == f"redis://gmgbd:{SECRET}@redis:6379/0|"
    env["GMGBD_CELERY_BROKER_FILE"] = str(tmp_path / "missing")
    missing = subprocess.run(["sh", str(DEPLOY / "env-from-files.sh"), "true"], env=env, capture_output=True)
    assert missing.returncode != 0


def test_make_secrets_writes_one_password_per_service_into_every_file_that_needs_it(tmp_path: Path) -> None:
    target = tmp_path / "secrets"
    subprocess.run(["sh", str(DEPLOY / "make-secrets.sh"), str(target)], check=True, capture_output=True)
    files = {p.name: p.read_text() for p in target.iterdir()}
    compose_secrets = {name: spec["file"] for name, spec in _yaml("docker-compose.yaml")[0]["secrets"].items()}
    assert sorted(files) == sorted(Path(f).name for f in compose_secrets.values())
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert all(not stat.S_IMODE(p.stat().st_mode) & 0o007 for p in target.iterdir())
    postgres, redis = files["postgres_password"], files["redis_conf"].split("user gmgbd on >", 1)[1].split()[0]
    assert len(postgres) >= 32 and len(redis) >= 32 and postgres != redis
    assert f"password='{postgres}'" in files["ducklake_catalog"] and f":{postgres}@" in files["dagster_postgres_url"]
    assert f":{redis}@" in files["celery_broker"] and f":{redis}@" in files["rate_limit_url"]
    assert "user default off" in files["redis_conf"]
    again = tmp_path / "again"
    subprocess.run(["sh", str(DEPLOY / "make-secrets.sh"), str(again)], check=True, capture_output=True)
    assert (again / "postgres_password").read_text() != postgres  # random, not a default


def _compose() -> dict[str, Any]:
    return _yaml("docker-compose.yaml")[0]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(env) if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_compose_redis_reads_an_acl_from_a_secret_and_postgres_takes_passwords_only() -> None:
    services = _compose()["services"]
    redis = services["redis"]
    config = redis["command"][1]
    assert redis["command"][0] == "redis-server" and config.startswith("/run/secrets/")
    assert Path(config).name in redis["secrets"] and not redis.get("ports")
    postgres = _environment(services["postgres"])
    assert "POSTGRES_PASSWORD" not in postgres and postgres["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    assert (
        postgres["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256" and "scram-sha-256" in postgres["POSTGRES_INITDB_ARGS"]
    )
    assert not services["postgres"].get("ports")


def test_compose_publishes_the_webserver_on_loopback_only() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            mapping = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}:"
            assert mapping.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert _compose()["services"]["webserver"]["ports"] == ["127.0.0.1:3000:3000"]


def test_compose_gmgbd_containers_are_not_root_and_get_secrets_from_files() -> None:
    services = _compose()["services"]
    for name in ("webserver", "daemon", "worker", "gpu-worker"):
        service = services[name]
        assert str(service["user"]).split(":")[0] not in ("", "0", "root"), name
        assert service["entrypoint"] == ["/app/deploy/env-from-files.sh"], name
        env = _environment(service)
        for secret in ("GMGBD_DUCKLAKE_CATALOG", "GMGBD_CELERY_BROKER", "GMGBD_RATE_LIMIT_URL", "DAGSTER_POSTGRES_URL"):
            assert secret not in env and env[f"{secret}_FILE"].startswith("/run/secrets/"), (name, secret)
            assert Path(env[f"{secret}_FILE"]).name in service["secrets"], (name, secret)


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_no_credential_is_written_into_a_deployment_file() -> None:
    for name in ("docker-compose.yaml", "helm-values.yaml", "k8s-workers.yaml", "k8s-redis.yaml"):
        for value in _strings(_yaml(name)):
            lowered = value.lower()
            assert "gmgbd:gmgbd" not in lowered and "password=" not in lowered, (name, value)
            assert not (lowered.startswith(("redis://", "rediss://", "postgresql")) and "@" in lowered), (name, value)
        compose_env = [_environment(s) for s in _compose()["services"].values()]
        assert all("POSTGRES_PASSWORD" not in env for env in compose_env)


def _pod_specs(documents: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (doc["metadata"]["name"], doc["spec"]["template"])
        for doc in documents
        if doc.get("kind") in ("Deployment", "StatefulSet")
    ]


def test_kubernetes_workers_and_redis_run_as_non_root_and_are_labelled_for_the_policy() -> None:
    pods = _pod_specs(_yaml("k8s-workers.yaml") + _yaml("k8s-redis.yaml"))
    assert {name for name, _ in pods} >= {"gmgbd-worker-cpu", "gmgbd-worker-gpu", "gmgbd-redis"}
    for name, template in pods:
        context = template["spec"]["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] != 0, name
        for container in template["spec"]["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        if name.startswith("gmgbd-worker"):
            assert template["metadata"]["labels"]["gmgbd/data-client"] == "true", name


def test_kubernetes_redis_speaks_tls_only_behind_a_network_policy() -> None:
    documents = _yaml("k8s-redis.yaml")
    service = next(d for d in documents if d["kind"] == "Service")
    assert [p["port"] for p in service["spec"]["ports"]] == [6380]
    redis = next(t for name, t in _pod_specs(documents) if name == "gmgbd-redis")
    command = redis["spec"]["containers"][0]["command"]
    assert command[0] == "redis-server" and len(command) == 2  # the configuration (ACL, TLS) is a Secret's file
    policies = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "NetworkPolicy"}
    for app in ("gmgbd-redis", "gmgbd-postgres"):
        policy = policies[app]
        assert policy["podSelector"] == {"matchLabels": {"app": app}} and policy["policyTypes"] == ["Ingress"]
        sources = [source for rule in policy["ingress"] for source in rule["from"]]
        assert sources == [{"podSelector": {"matchLabels": {"gmgbd/data-client": "true"}}}], app


def test_helm_values_take_every_secret_from_a_secret_and_label_every_dagster_pod() -> None:
    values = _yaml("helm-values.yaml")[0]
    deployment = values["dagster-user-deployments"]["deployments"][0]
    names = {e["name"] for e in deployment["env"]}
    assert not names & {"GMGBD_DUCKLAKE_CATALOG", "GMGBD_CELERY_BROKER", "GMGBD_RATE_LIMIT_URL"}
    assert deployment["envSecrets"] == [{"name": "gmgbd-secrets"}]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    for labels in (
        deployment["labels"],
        launcher["labels"],
        values["dagsterDaemon"]["labels"],
        values["dagsterWebserver"]["labels"],
    ):
        assert labels["gmgbd/data-client"] == "true"
    assert deployment["podSecurityContext"]["runAsNonRoot"] is True
    assert launcher["runK8sConfig"]["podSpecConfig"]["securityContext"]["runAsNonRoot"] is True
    assert values["dagsterWebserver"]["service"]["type"] == "ClusterIP"


def test_a_store_taken_straight_from_the_definitions_reads_its_catalog_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``refill_commands`` uses ``defs.resources["store"]`` without a run: the store reads the variable itself
    instead of opening a catalog file named after it."""
    pytest.importorskip("duckdb_extension_ducklake", reason="the [distributed] extra")
    from gmgbd_assets.core.ducklake_store import DuckLakeStore

    catalog = tmp_path / "catalog.sqlite"
    monkeypatch.setenv("GMGBD_TEST_CATALOG", str(catalog))
    monkeypatch.chdir(tmp_path)
    store = DuckLakeStore(catalog=dg.EnvVar("GMGBD_TEST_CATALOG"), data_path=str(tmp_path / "files"))
    assert store.query("SELECT 42 AS answer")["answer"].to_list() == [42]
    assert catalog.exists() and not (tmp_path / "GMGBD_TEST_CATALOG").exists()
