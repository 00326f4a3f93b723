"""Initial schema: completions, feedback, versions, api_keys.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "completions",
        sa.Column("id", sa.String(64), primary_key=True), sa.Column("created", TZ, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False), sa.Column("model", sa.String(200), nullable=False),
        sa.Column("adapter", sa.String(200)), sa.Column("prompt", sa.JSON, nullable=False),
        sa.Column("output", sa.Text, nullable=False), sa.Column("choices", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False), sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("key_id", sa.Integer))
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("created", TZ, nullable=False),
        sa.Column("completion_id", sa.String(64), sa.ForeignKey("completions.id"), nullable=False, index=True),
        sa.Column("rating", sa.Integer, nullable=False), sa.Column("correction", sa.Text),
        sa.Column("comment", sa.Text))
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("created", TZ, nullable=False),
        sa.Column("name", sa.String(200), nullable=False, unique=True), sa.Column("run_dir", sa.Text, nullable=False),
        sa.Column("parent", sa.String(200)), sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scores", sa.JSON, nullable=False))
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("created", TZ, nullable=False),
        sa.Column("name", sa.String(200), nullable=False), sa.Column("sha256", sa.String(64), nullable=False, unique=True))


def downgrade() -> None:
    for table in ("api_keys", "versions", "feedback", "completions"):
        op.drop_table(table)
