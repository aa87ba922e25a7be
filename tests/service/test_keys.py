"""Several API keys: created and revoked with ``nas keys``, stored only as hashes; each job owned
by the key that submitted it; a key cancels only its own jobs unless it is an admin; reads can
be closed to keyless clients."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from service.main import create_app
from store import keys
from store import models as m
from store.session import Database
from store.settings import Settings
from tests.conftest import Nas
from tests.service.conftest import KEY, spec


def make_key(db: Database, name: str, admin: bool = False) -> dict[str, str]:
    with db.session() as s:
        _, plain = keys.create_key(s, name=name, admin=admin)
        s.commit()
    return {"X-API-Key": plain}


def test_jobs_belong_to_their_key_and_only_it_or_an_admin_cancels(api: TestClient, db: Database) -> None:
    alice, bob, ops = make_key(db, "alice"), make_key(db, "bob"), make_key(db, "ops", admin=True)
    queued = spec(budget={"candidates": 100000}, batch_size=1)  # long enough to still be running
    mine = api.post("/api/jobs", json=queued, headers=alice).json()
    with db.session() as s:
        alice_id = s.scalars(select(m.ApiKey.id).where(m.ApiKey.name == "alice")).one()
    assert mine["owner"] == alice_id
    refused = api.delete(f"/api/jobs/{mine['id']}", headers=bob)
    assert refused.status_code == 403 and "submitted by another key" in refused.json()["message"]
    assert api.get(f"/api/jobs/{mine['id']}").json()["cancel_requested"] is False
    assert api.delete(f"/api/jobs/{mine['id']}", headers=alice).status_code == 200
    other = api.post("/api/jobs", json=queued | {"seed": 1}, headers=bob).json()
    assert api.delete(f"/api/jobs/{other['id']}", headers=ops).json()["cancel_requested"] is True
    service = api.post("/api/jobs", json=queued | {"seed": 2}, headers=KEY).json()
    assert service["owner"] == "service"
    assert api.delete(f"/api/jobs/{service['id']}", headers=alice).status_code == 403
    assert api.delete(f"/api/jobs/{service['id']}", headers=KEY).status_code == 200  # the service's key: admin

    with db.session() as s:
        keys.revoke_key(s, "bob")
        s.commit()
        assert all(len(k.key_hash) == 64 and k.key_hash != alice["X-API-Key"] for k in keys.list_keys(s))
    revoked = api.post("/api/jobs", json=queued | {"seed": 3}, headers=bob)
    assert revoked.status_code == 403 and "was revoked" in revoked.json()["detail"]
    assert api.post("/api/jobs", json=queued, headers={"X-API-Key": "nas_guess"}).status_code == 403


def test_reads_can_require_a_key(sqlite_db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=sqlite_db.url, api_key="test-key", read_requires_key=True)
    with TestClient(create_app(settings, scheduler=False)) as client:
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/api/spaces", headers={"X-API-Key": "wrong"}).status_code == 403
        assert client.get("/api/jobs", headers=KEY).status_code == 200
        assert client.get("/healthz").status_code == 200  # liveness stays open
        user = make_key(sqlite_db, "reader")
        assert client.get("/api/spaces", headers=user).status_code == 200


def test_nas_keys_create_list_revoke(nas: Nas, tmp_path: Path) -> None:
    created = nas("keys", "create", "ci-bot", "--admin")
    assert created.returncode == 0, created.stderr
    key_id, plain = created.stdout.split()[1], created.stdout.split()[-1]
    assert plain.startswith("nas_") and "not shown again" in created.stderr
    listed = nas("keys", "list").stdout
    assert key_id in listed and "ci-bot" in listed and "admin" in listed and "active" in listed
    assert plain not in listed
    assert nas("keys", "revoke", "ci-bot").stdout.strip() == f"key {key_id} (ci-bot) revoked"
    assert "revoked 20" in nas("keys", "list").stdout
    bad = nas("keys", "create", "no spaces")
    assert bad.returncode == 2 and "name: 'no spaces' must be" in bad.stderr
    missing = nas("keys", "revoke", "nobody")
    assert missing.returncode == 2 and "no API key 'nobody'" in missing.stderr
