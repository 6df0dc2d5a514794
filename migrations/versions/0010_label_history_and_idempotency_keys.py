"""tag and alias history (an interval table for "as of" reads) and apply idempotency keys

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mlregistry.orm.base import UTCDateTime

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "version_label_intervals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", UTCDateTime(timezone=True), nullable=True),
        sa.Column("start_reason", sa.String(length=16), nullable=False),
        sa.Column("from_version_id", sa.String(length=36), nullable=True),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("started_by_subject", sa.JSON(), nullable=False),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("to_version_id", sa.String(length=36), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("ended_by_subject", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_version_label_intervals_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version_label_intervals")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_version_label_intervals_entity_kind_label_from",
        "version_label_intervals",
        ["entity_id", "kind", "label", "valid_from", "valid_to"],
    )
    op.create_index(
        "ix_version_label_intervals_kind_label_from",
        "version_label_intervals",
        ["kind", "label", "valid_from", "valid_to"],
    )
    op.create_index(
        "ix_version_label_intervals_version_from",
        "version_label_intervals",
        ["version_id", "valid_from", "valid_to"],
    )
    # What holds each label today opens its history: since the holder's last change (the exact moment
    # of an earlier move was not recorded before this revision).
    op.execute(
        "INSERT INTO version_label_intervals (entity_id, kind, label, version_id, version, valid_from, "
        "start_reason, started_by_subject) "
        "SELECT t.entity_id, 'tag', t.tag, v.id, v.version, v.updated_at, 'set', v.created_by_subject "
        "FROM version_tags t JOIN entity_versions v ON v.id = t.version_id WHERE v.version IS NOT NULL"
    )
    op.execute(
        "INSERT INTO version_label_intervals (entity_id, kind, label, version_id, version, valid_from, "
        "start_reason, started_by_subject) "
        "SELECT v.entity_id, 'alias', v.version_alias, v.id, v.version, v.updated_at, 'set', v.created_by_subject "
        "FROM entity_versions v WHERE v.version_alias IS NOT NULL AND v.version IS NOT NULL "
        "AND v.state = 'FINALIZED'"
    )
    op.create_table(
        "apply_idempotency_keys",
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", "key", name=op.f("pk_apply_idempotency_keys")),
    )
    op.create_index(op.f("ix_apply_idempotency_keys_created_at"), "apply_idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_apply_idempotency_keys_created_at"), table_name="apply_idempotency_keys")
    op.drop_table("apply_idempotency_keys")
    op.drop_index("ix_version_label_intervals_version_from", table_name="version_label_intervals")
    op.drop_index("ix_version_label_intervals_kind_label_from", table_name="version_label_intervals")
    op.drop_index("ix_version_label_intervals_entity_kind_label_from", table_name="version_label_intervals")
    op.drop_table("version_label_intervals")
