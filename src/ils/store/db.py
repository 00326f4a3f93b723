"""Open a store by URL (SQLite or PostgreSQL), migrate it, and read/write its rows."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine as Database
from sqlalchemy.orm import Session, sessionmaker

from ils.errors import ILSError
from ils.io import ils_home
from ils.registry import Registry
from ils.store.models import ApiKey, Completion, Feedback, Version, now

STORES: Registry[Callable[[str], Database]] = Registry("store")
MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(ILSError):
    """The store cannot be opened, or a row refers to something that is not there."""


def default_url() -> str:
    return f"sqlite:///{ils_home() / 'store.sqlite'}"


@STORES.register("sqlite")
def _sqlite(url: str) -> Database:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(db, "connect")
    def _pragmas(conn: Any, _record: Any) -> None:
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return db


@STORES.register("postgresql")
def _postgresql(url: str) -> Database:
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)


def migrate(db: Database) -> None:
    """Apply the shipped Alembic migrations up to head (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_store(url: str | None = None) -> Store:
    url = url or default_url()
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    db = STORES.get(scheme)(url)
    try:
        migrate(db)
    except Exception as e:  # noqa: BLE001  driver errors: unreachable server, bad credentials, unwritable file
        raise StoreError(f"{_safe(url)}: cannot open the store: {e.__class__.__name__}: {e}") from None
    return Store(db, url)


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Store:
    def __init__(self, db: Database, url: str):
        self.db, self.url = db, url
        self.session: sessionmaker[Session] = sessionmaker(db, expire_on_commit=False)

    def log_completion(self, **fields: Any) -> str:
        with self.session.begin() as s:
            s.add(Completion(**fields))
        return fields["id"]

    def completion(self, cid: str) -> Completion | None:
        with self.session() as s:
            return s.get(Completion, cid)

    def add_feedback(self, completion_id: str, rating: int, correction: str | None = None,
                     comment: str | None = None) -> int:
        """Committed (on disk) when this returns; the server acknowledges only after that."""
        with self.session.begin() as s:
            if s.get(Completion, completion_id) is None:
                raise StoreError(f"feedback: completion_id: unknown completion {completion_id!r}")
            row = Feedback(completion_id=completion_id, rating=rating, correction=correction, comment=comment)
            s.add(row)
            s.flush()
            return row.id

    def feedback(self, after_id: int = 0) -> list[dict]:
        """Feedback rows with their completions, oldest first."""
        q = select(Feedback, Completion).join(Completion).where(Feedback.id > after_id).order_by(Feedback.id)
        with self.session() as s:
            return [_feedback_row(f, c) for f, c in s.execute(q)]

    def count(self, table: type) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(table)) or 0

    def add_version(self, name: str, run_dir: str, status: str, parent: str | None = None,
                    scores: dict | None = None) -> int:
        with self.session.begin() as s:
            row = Version(name=name, run_dir=str(run_dir), status=status, parent=parent, scores=scores or {})
            s.add(row)
            s.flush()
            return row.id

    def versions(self) -> list[Version]:
        with self.session() as s:
            return list(s.scalars(select(Version).order_by(Version.id)))

    def current_version(self) -> Version | None:
        """The newest promoted (or base) version: what the server should serve."""
        q = select(Version).where(Version.status.in_(("promoted", "base"))).order_by(Version.id.desc())
        with self.session() as s:
            return s.scalars(q.limit(1)).first()

    def create_api_key(self, name: str, admin: bool = False) -> str:
        """A new key (shown once); a name must not belong to another working key."""
        if not name.strip():
            raise StoreError("keys create: NAME: must not be empty")
        key = "ils-" + secrets.token_urlsafe(24)
        with self.session.begin() as s:
            if s.scalars(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked.is_(None))).first():
                raise StoreError(f"keys create: a working key named {name!r} exists; revoke it first "
                                 "(ils keys revoke NAME) or choose another name")
            s.add(ApiKey(name=name, sha256=hash_key(key), admin=admin))
        return key

    def api_keys(self) -> list[dict]:
        """Every key ever made, oldest first (never the key itself)."""
        with self.session() as s:
            return [{"id": k.id, "name": k.name, "admin": bool(k.admin), "created": k.created,
                     "revoked": k.revoked} for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke_api_key(self, name_or_id: str) -> list[int]:
        """Revoke the working key with this id (digits) or name; the ids revoked."""
        q = select(ApiKey).where(ApiKey.revoked.is_(None))
        q = q.where(ApiKey.id == int(name_or_id) if name_or_id.isdigit() else ApiKey.name == name_or_id)
        with self.session.begin() as s:
            rows = list(s.scalars(q))
            if not rows:
                raise StoreError(f"keys revoke: no working key with name or id {name_or_id!r} "
                                 "(see: ils keys list)")
            for row in rows:
                row.revoked = now()
            return [row.id for row in rows]

    def key_hashes(self) -> dict[str, tuple[int, bool]]:
        """sha256 → (id, admin) of every working (not revoked) key."""
        with self.session() as s:
            rows = s.scalars(select(ApiKey).where(ApiKey.revoked.is_(None)))
            return {k.sha256: (k.id, bool(k.admin)) for k in rows}

    def close(self) -> None:
        self.db.dispose()


def _feedback_row(f: Feedback, c: Completion) -> dict:
    return {"id": f.id, "completion_id": c.id, "rating": f.rating, "correction": f.correction,
            "comment": f.comment, "kind": c.kind, "model": c.model, "adapter": c.adapter,
            "prompt": c.prompt, "output": c.output, "created": f.created}
