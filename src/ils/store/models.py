"""The feedback store's tables: what was asked and answered, what people said about it, model versions.

Plain SQLAlchemy 2 declarative models; the schema itself is created only by the Alembic migrations in
``migrations/`` so that SQLite and PostgreSQL databases evolve the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Completion(Base):
    """One request and its answer(s); ``id`` is the OpenAI-style id the client sees."""

    __tablename__ = "completions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    kind: Mapped[str] = mapped_column(String(16))  # chat | text
    model: Mapped[str] = mapped_column(String(200))
    adapter: Mapped[str | None] = mapped_column(String(200), nullable=True)
    prompt: Mapped[Any] = mapped_column(JSON)  # chat messages or prompt text
    output: Mapped[str] = mapped_column(Text)  # first choice
    choices: Mapped[Any] = mapped_column(JSON)
    params: Mapped[Any] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    completion_id: Mapped[str] = mapped_column(ForeignKey("completions.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)  # -1 bad, 0 neutral, 1 good
    correction: Mapped[str | None] = mapped_column(Text, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class Version(Base):
    """A model version made by ``ils loop``: its run folder, scores and whether it was promoted."""

    __tablename__ = "versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    run_dir: Mapped[str] = mapped_column(Text)
    parent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # base | promoted | rejected
    scores: Mapped[Any] = mapped_column(JSON, default=dict)


class ApiKey(Base):
    """Only the sha256 of a key is stored; the key itself is shown once when created. ``admin`` keys may
    also call /admin/*; a revoked key stays listed (who had access, until when) but no longer works."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
