"""The deployment files: the Dockerfile lints clean, compose.yaml is a whole stack whose every
service has a health check and whose every ENLARGER_* variable is a real setting."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from enlarger.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
# serve's address and processes, being added as settings on another branch right now; a name
# here that Settings has since gained is simply a real setting.
PENDING = {"ENLARGER_HOST", "ENLARGER_PORT", "ENLARGER_WORKERS"}
REAL = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | PENDING


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_dockerfile_lints_clean() -> None:
    hadolint = str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_gets_every_package() -> None:
    """Every top-level package of the repository (but the tests and the benchmarks) is copied
    into the build and let through .dockerignore: a new one is not forgotten."""
    packages = {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in ("tests", "benchmarks")
    }
    dockerfile = (ROOT / "Dockerfile").read_text()
    allowed = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"enlarger", "db", "proxy"} <= packages
    for package in sorted(packages):
        assert f"COPY {package} ./{package}" in dockerfile, package
        assert f"!{package}/" in allowed, package


def test_dockerfile_sets_only_real_settings() -> None:
    names = set(re.findall(r"\b(ENLARGER_[A-Z0-9_]+)=", (ROOT / "Dockerfile").read_text()))
    assert names, "the Dockerfile sets no ENLARGER_* variable"
    assert names <= REAL, f"not settings: {sorted(names - REAL)}"


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "minio", "enlarger", "nginx"} <= set(services)
    missing = [name for name, service in services.items() if not service.get("healthcheck")]
    assert not missing, f"no healthcheck: {missing}"
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def test_every_enlarger_variable_is_a_setting(compose: dict[str, Any]) -> None:
    used = {
        key
        for service in compose["services"].values()
        for key in (service.get("environment") or {})
        if key.startswith(ENV_PREFIX)
    }
    assert "ENLARGER_DATABASE_URL" in used
    assert used <= REAL, f"not settings: {sorted(used - REAL)}"


def test_enlarger_replicas_wait_for_healthy_backends(compose: dict[str, Any]) -> None:
    enlarger = compose["services"]["enlarger"]
    assert enlarger["deploy"]["replicas"] >= 2
    for backend in ("postgres", "redis", "minio"):
        assert enlarger["depends_on"][backend]["condition"] == "service_healthy"
    env = enlarger["environment"]
    assert env["ENLARGER_BLOB_URL"].startswith("s3://")
    assert env["ENLARGER_DATABASE_URL"].startswith("postgresql://")
    assert env["ENLARGER_REDIS_URL"].startswith("redis://")


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: undeclared volume {source}"
    assert {"postgres-data", "minio-data"} <= declared


def test_nginx_is_trusted_and_caches_with_a_lock(compose: dict[str, Any]) -> None:
    nginx = compose["services"]["nginx"]
    address = ipaddress.ip_address(nginx["networks"]["default"]["ipv4_address"])
    trusted = compose["services"]["enlarger"]["environment"]["ENLARGER_TRUSTED_PROXIES"]
    assert any(address in ipaddress.ip_network(cidr) for cidr in trusted.split(","))
    conf = (ROOT / "deploy/nginx.conf").read_text()
    for directive in (
        "proxy_cache_lock on;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_cache enlarger;",
    ):
        assert directive in conf
    assert "proxy_ignore_headers" not in conf  # Vary and Cache-Control are honoured
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]


def test_minio_creates_the_bucket_it_serves(compose: dict[str, Any]) -> None:
    minio = compose["services"]["minio"]
    bucket = compose["services"]["enlarger"]["environment"]["ENLARGER_BLOB_URL"][5:].split("/")[0]
    assert f"mc mb --ignore-existing local/{bucket}" in minio["command"][0]
    assert minio["healthcheck"]["test"] == ["CMD", "mc", "stat", f"local/{bucket}"]


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    """The compose plugin where it exists; else docker-compose 1.x (Debian's), on the file without
    its top-level ``name`` (which 1.x predates); else skipped, saying so."""
    docker = shutil.which("docker")
    plugin = docker and subprocess.run([docker, "compose", "version"], capture_output=True)
    if docker and plugin and plugin.returncode == 0:
        command = [docker, "compose", "-f", str(ROOT / "compose.yaml")]
    elif legacy := shutil.which("docker-compose"):
        text = (ROOT / "compose.yaml").read_text()
        copy = tmp_path / "compose.yaml"
        copy.write_text("\n".join(x for x in text.splitlines() if not x.startswith("name: ")))
        command = [legacy, "-f", str(copy), "--project-directory", str(ROOT)]
    else:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed")
    result = subprocess.run([*command, "config", "--quiet"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
