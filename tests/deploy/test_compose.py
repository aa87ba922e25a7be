"""docker-compose.yml: valid for Compose, wired as documented, and consistent with the code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from evaluators.devices import builtin_device
from store.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SECRETS = {"POSTGRES_PASSWORD": "pw", "RAY_AUTH_TOKEN": "token", "NAS_API_KEY": "key"}


def compose_cmd() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def resolved() -> dict:
    """The file as Compose resolves it (anchors, merges and variables), or as YAML when no Compose is here."""
    cmd = compose_cmd()
    if cmd is None:
        text = COMPOSE.read_text()
        for name, value in SECRETS.items():
            text = re.sub(r"\$\{" + name + r":\?[^}]*\}", value, text)
        return yaml.safe_load(re.sub(r"\$\{NAS_DATASETS:-([^}]*)\}", r"\1", text))
    out = subprocess.run(
        [*cmd, "-f", str(COMPOSE), "config"], capture_output=True, text=True, env=SECRETS | {"PATH": "/usr/bin:/bin"}
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def command_of(service: dict) -> str:
    command = service["command"]
    return " ".join(command) if isinstance(command, list) else command


def test_compose_config_validates_and_refuses_missing_secrets() -> None:
    cmd = compose_cmd()
    if cmd is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    out = subprocess.run(
        [*cmd, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert out.returncode != 0 and "POSTGRES_PASSWORD" in out.stderr  # fails fast, naming the secret
    config = resolved()
    assert set(config["services"]) == {"postgres", "ray-head", "ray-worker", "api"}


def test_services_are_wired_as_documented() -> None:
    services = resolved()["services"]
    api, head, worker, pg = services["api"], services["ray-head"], services["ray-worker"], services["postgres"]
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert api["depends_on"]["ray-head"]["condition"] == "service_healthy"
    command = command_of(api)
    assert "nas db upgrade --wait" in command and "nas serve" in command  # waits for the DB, migrates, serves
    env = api["environment"]
    settings = Settings(**{k[4:].lower(): v for k, v in env.items() if k.startswith("NAS_")})
    assert settings.db_url.startswith("postgresql+psycopg://nas:pw@postgres:5432/nas")
    assert settings.ray_address == "ray-head:6379" and settings.api_key.get_secret_value() == "key"
    assert all(s["environment"]["RAY_AUTH_TOKEN"] == "token" for s in (api, head, worker))
    assert any("pgdata" in str(v) for v in pg["volumes"])
    # the workers share the artifact volume with the API (checkpoints, tables, exports)
    assert any("/data/artifacts" in str(v) for v in worker["volumes"]) and any(
        "/data/artifacts" in str(v) for v in api["volumes"]
    )
    # only the API and Ray's dashboard are published, on localhost
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert all("127.0.0.1" in json.dumps(p) for p in published) and len(published) == 2
    assert "--num-cpus=0" in command_of(head)


def test_worker_offers_the_device_resources_the_code_pins_to() -> None:
    worker = resolved()["services"]["ray-worker"]
    command = command_of(worker)
    offered = json.loads(re.search(r"--resources='([^']*)'", command).group(1))
    for name in Settings().local_device_names:
        assert builtin_device(name).resource in offered
