"""The feedback store on SQLite (always) and on PostgreSQL (when ILS_TEST_PG_URL names a server)."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest
from conftest import needs_module

PG_URL = os.environ.get("ILS_TEST_PG_URL")


def _reset_pg(url: str) -> None:
    from sqlalchemy import create_engine, text

    db = create_engine(url)
    with db.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS feedback, completions, versions, api_keys, alembic_version CASCADE"))
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    from ils.store import open_store

    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    else:
        if not PG_URL:
            pytest.skip("no PostgreSQL server: set ILS_TEST_PG_URL (.ci/postgres.sh starts one)")
        _reset_pg(PG_URL)
        s = open_store(PG_URL)
    yield s
    s.close()


def completion(store, cid="c1", output="4"):
    return store.log_completion(id=cid, kind="chat", model="m", adapter=None, choices=[output],
                                prompt=[{"role": "user", "content": "Add 2 and 2."}], output=output,
                                params={"temperature": 0}, latency_ms=3.5)


def test_migrations_apply_once_and_reopen(store):
    from sqlalchemy import inspect, text

    from ils.store import open_store

    tables = set(inspect(store.db).get_table_names())
    assert {"completions", "feedback", "versions", "api_keys", "alembic_version"} <= tables
    completion(store)
    again = open_store(store.url)  # migrating an up-to-date store changes nothing
    with again.db.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
    assert again.completion("c1").output == "4"
    again.close()


def test_feedback_roundtrip_and_unknown_completion(store):
    from ils.store.db import StoreError

    completion(store)
    fid = store.add_feedback("c1", -1, correction="4", comment="fine")
    rows = store.feedback()
    assert [r["id"] for r in rows] == [fid] and rows[0]["prompt"][0]["content"] == "Add 2 and 2."
    assert rows[0]["correction"] == "4" and store.feedback(after_id=fid) == []
    with pytest.raises(StoreError, match="unknown completion"):
        store.add_feedback("missing", 1)


def test_versions_and_current(store):
    assert store.current_version() is None
    store.add_version("v0", "/runs/base", "base")
    store.add_version("v1", "/runs/v1", "promoted", parent="v0", scores={"regression": 0.5})
    store.add_version("v2", "/runs/v2", "rejected", parent="v1")
    assert store.current_version().name == "v1"
    assert [v.scores for v in store.versions()][1] == {"regression": 0.5}


def test_api_keys_are_stored_hashed(store):
    key = store.create_api_key("alice")
    hashes = store.key_hashes()
    assert hashlib.sha256(key.encode()).hexdigest() in hashes and key not in str(hashes)


def test_api_key_scopes_listing_and_revocation(store):
    from ils.store.db import StoreError

    user, admin = store.create_api_key("alice"), store.create_api_key("ops", admin=True)
    digest = {k: hashlib.sha256(k.encode()).hexdigest() for k in (user, admin)}
    table = store.key_hashes()
    assert table[digest[user]][1] is False and table[digest[admin]][1] is True
    with pytest.raises(StoreError, match="working key named 'alice' exists"):
        store.create_api_key("alice")
    rows = store.api_keys()
    assert [(r["name"], r["admin"], r["revoked"]) for r in rows] == [("alice", False, None),
                                                                      ("ops", True, None)]
    assert user not in str(rows) and digest[user] not in str(rows)
    assert store.revoke_api_key("alice") == [rows[0]["id"]]
    assert digest[user] not in store.key_hashes() and digest[admin] in store.key_hashes()
    assert store.api_keys()[0]["revoked"] is not None
    with pytest.raises(StoreError, match="no working key"):
        store.revoke_api_key("alice")
    assert store.revoke_api_key(str(rows[1]["id"])) == [rows[1]["id"]]
    assert store.key_hashes() == {}
    store.create_api_key("alice")  # the name is free again once its key is revoked


def test_a_version_0001_store_gains_key_scopes_on_open(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from ils.store import open_store
    from ils.store.db import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    db, cfg = create_engine(url), Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO api_keys (created, name, sha256) "
                          "VALUES (CURRENT_TIMESTAMP, 'old', 'ab')"))
    db.dispose()
    store = open_store(url)
    assert store.key_hashes() == {"ab": (1, False)}
    store.close()


def test_concurrent_feedback_from_threads(store):
    from ils.store.models import Feedback

    completion(store)
    ids: list[int] = []
    threads = [threading.Thread(target=lambda: ids.append(store.add_feedback("c1", 1))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 16 and store.count(Feedback) == 16


def test_sqlite_default_is_wal_under_ils_home(tmp_path, monkeypatch):
    from ils.store import open_store

    monkeypatch.setenv("ILS_HOME", str(tmp_path / "home"))
    s = open_store()
    assert (tmp_path / "home" / "store.sqlite").is_file()
    with s.db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    s.close()


def test_unknown_scheme_and_unreachable_server():
    from ils.errors import ConfigError
    from ils.store import open_store
    from ils.store.db import StoreError

    with pytest.raises(ConfigError, match="known: postgresql, sqlite"):
        open_store("mysql://x/y")
    needs_module("psycopg", "postgres")
    with pytest.raises(StoreError, match=r"\*\*\*") as e:
        open_store("postgresql+psycopg://u:secret@127.0.0.1:1/none?connect_timeout=2")
    assert "secret" not in str(e.value)
