"""API keys with scopes: created, listed and revoked from the command line; the server's own key from an
environment variable or a file, never argv; /admin/* only for admin keys; /health names no path."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest
from cli_helpers import ils
from serve_helpers import ThreadServer

from ils.errors import ConfigError
from ils.serve.auth import Keys
from ils.serve.errors import APIError
from ils.serve.run import ServeOptions, server_keys


class _Request:
    def __init__(self, key: str | None = None):
        self.headers = {"authorization": f"Bearer {key}"} if key else {}


def _sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_scopes_are_checked_per_key():
    keys = Keys({_sha("own")}, lambda: {_sha("user"): (1, False), _sha("ops"): (2, True)})
    assert keys.check(_Request("own"), admin=True) is None
    assert keys.check(_Request("user")) == 1 and keys.check(_Request("ops"), admin=True) == 2
    with pytest.raises(APIError) as e:
        keys.check(_Request("user"), admin=True)
    assert e.value.status == 403 and e.value.code == "insufficient_scope"
    for req in (_Request(), _Request("nope")):
        with pytest.raises(APIError) as e:
            keys.check(req)
        assert e.value.status == 401
    assert Keys().check(_Request(), admin=True) is None  # no key at all: the server is open


def test_keys_commands(tmp_path):
    db = f"sqlite:///{tmp_path / 's.sqlite'}"
    status, user = ils("keys", "create", "alice", "--db", db)
    assert status == 0 and user.strip().startswith("ils-")
    status, _ = ils("keys", "create", "ops", "--admin", "--db", db)
    assert status == 0
    status, text = ils("keys", "list", "--db", db)
    assert status == 0 and "alice" in text and "admin" in text and user.strip() not in text
    status, text = ils("keys", "create", "alice", "--db", db)
    assert status == 2 and "working key named 'alice' exists" in text
    assert ils("keys", "revoke", "alice", "--db", db)[0] == 0
    status, text = ils("keys", "revoke", "alice", "--db", db)
    assert status == 2 and "no working key" in text and "Traceback" not in text


def test_the_old_api_key_flag_is_refused_with_the_way_out(tmp_path):
    status, text = ils("serve", "--api-key", "secret", "--db", f"sqlite:///{tmp_path / 's.sqlite'}")
    assert status == 2 and "--api-key-env" in text and "--api-key-file" in text and "ps" in text


def test_server_key_from_env_or_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", " k1 \n")
    path = tmp_path / "keys"
    path.write_text("# the server's keys\nk2\n\nk3\n")
    path.chmod(0o600)
    assert server_keys(ServeOptions(api_key_env="MY_KEY", api_key_file=str(path))) == ["k1", "k2", "k3"]
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(ConfigError, match="--api-key-env MY_KEY: the variable is not set"):
        server_keys(ServeOptions(api_key_env="MY_KEY"))
    with pytest.raises(ConfigError, match="--api-key-file .*missing: cannot read"):
        server_keys(ServeOptions(api_key_file=str(tmp_path / "missing")))
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(ConfigError, match="no key in it"):
        server_keys(ServeOptions(api_key_file=str(tmp_path / "empty")))


def test_a_missing_key_variable_stops_serve_before_the_model_loads(tmp_path):
    status, text = ils("serve", "--api-key-env", "ILS_NO_SUCH_VARIABLE", "-m", tmp_path / "no-model",
                       "--db", f"sqlite:///{tmp_path / 's.sqlite'}")
    assert status == 2 and "ILS_NO_SUCH_VARIABLE" in text and "no-model" not in text


@pytest.fixture(scope="module")
def keyed(tiny_llama, tmp_path_factory):
    from ils.store import open_store

    root = tmp_path_factory.mktemp("keyed")
    db = f"sqlite:///{root / 's.sqlite'}"
    store = open_store(db)
    user, ops = store.create_api_key("alice"), store.create_api_key("ops", admin=True)
    os.environ["ILS_TEST_SERVER_KEY"] = "own-key"
    try:
        srv = ThreadServer(ServeOptions(model=str(tiny_llama), db=db, max_tokens=4,
                                        api_key_env="ILS_TEST_SERVER_KEY"))
    finally:
        del os.environ["ILS_TEST_SERVER_KEY"]
    yield srv, store, {"user": user, "ops": ops, "own": "own-key"}
    srv.stop()
    store.close()


def _post(srv, path, key, **kw):
    return httpx.post(srv.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=120, **kw)


def test_admin_routes_need_an_admin_key(keyed, tiny_llama):
    srv, _, keys = keyed
    r = _post(srv, "/admin/reload", keys["user"], json={"model": str(tiny_llama)})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert httpx.post(srv.url + "/admin/reload", json={"model": str(tiny_llama)}).status_code == 401
    for who in ("ops", "own"):
        r = _post(srv, "/admin/reload", keys[who], json={"model": str(tiny_llama)})
        assert r.status_code == 200, r.text


def test_reload_errors_do_not_tell_which_paths_exist(keyed, tmp_path):
    srv, _, keys = keyed
    (tmp_path / "empty-folder").mkdir()
    answers = {_post(srv, "/admin/reload", keys["ops"], json={"model": str(p)}).text
               for p in (tmp_path / "missing", tmp_path / "empty-folder", tmp_path)}
    assert len(answers) == 1 and str(tmp_path) not in answers.pop()


def test_health_names_no_local_path(keyed, tiny_llama):
    srv, _, keys = keyed
    assert _post(srv, "/admin/reload", keys["ops"], json={"model": str(tiny_llama)}).status_code == 200
    health = httpx.get(srv.url + "/health").json()
    assert health["status"] == "ok" and health["auth"] is True
    assert str(tiny_llama) not in str(health) and "/" not in str(health)


def test_a_revoked_key_stops_working_on_the_running_server(keyed):
    srv, store, _ = keyed
    key = store.create_api_key("temp")
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(srv.url + "/v1/models", headers=headers).status_code == 200
    store.revoke_api_key("temp")
    assert httpx.get(srv.url + "/v1/models", headers=headers).status_code == 401
