"""registry core: users, tokens, ml repos, entities, versions, tags

Revision ID: 0001
Revises:
Create Date: 2026-11-26 12:56:13.687683
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlregistry.orm.base

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ml_repos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("storage_integration_fqn", sa.String(length=1024), nullable=False),
        sa.Column("account_id", sa.String(length=256), nullable=False),
        sa.Column(
            "manifest", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "created_by_subject",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by_subject_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_repos")),
        sa.UniqueConstraint("name", name=op.f("uq_ml_repos_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("ml_repos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ml_repos_created_by_subject_id"), ["created_by_subject_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("slug", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("slug", name=op.f("uq_users_slug")),
    )
    op.create_table(
        "entities",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ml_repo_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("last_version_number", sa.Integer(), nullable=False),
        sa.Column("latest_version_id", sa.String(length=36), nullable=True),
        sa.Column(
            "created_by_subject",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ml_repo_id"], ["ml_repos.id"], name=op.f("fk_entities_ml_repo_id_ml_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entities")),
        sa.UniqueConstraint("ml_repo_id", "family", "name", name=op.f("uq_entities_ml_repo_id_family_name")),
    )
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.create_index("ix_entities_family_created_at", ["family", "created_at"], unique=False)
        batch_op.create_index("ix_entities_family_name", ["family", "name"], unique=False)
        batch_op.create_index(
            "ix_entities_repo_family_created_at", ["ml_repo_id", "family", "created_at"], unique=False
        )

    op.create_table(
        "ml_repo_collaborators",
        sa.Column("ml_repo_id", sa.Integer(), nullable=False),
        sa.Column("principal", sa.String(length=512), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["ml_repo_id"],
            ["ml_repos.id"],
            name=op.f("fk_ml_repo_collaborators_ml_repo_id_ml_repos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ml_repo_id", "principal", name=op.f("pk_ml_repo_collaborators")),
    )
    with op.batch_alter_table("ml_repo_collaborators", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ml_repo_collaborators_principal"), ["principal"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_tokens_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_tokens")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_tokens_secret_hash")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "entity_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("ml_repo_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "manifest", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("version_alias", sa.String(length=128), nullable=True),
        sa.Column("run_id", sa.String(length=256), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("storage_root", sa.String(length=1024), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column(
            "created_by_subject",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlregistry.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_entity_versions_entity_id_entities"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ml_repo_id"], ["ml_repos.id"], name=op.f("fk_entity_versions_ml_repo_id_ml_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity_versions")),
        sa.UniqueConstraint("entity_id", "version", name=op.f("uq_entity_versions_entity_id_version")),
        sa.UniqueConstraint("entity_id", "version_alias", name=op.f("uq_entity_versions_entity_id_version_alias")),
    )
    with op.batch_alter_table("entity_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entity_versions_family_state_created", ["family", "state", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_entity_versions_repo_family_state_created",
            ["ml_repo_id", "family", "state", "created_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_entity_versions_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_entity_versions_step"), ["step"], unique=False)
        batch_op.create_index(batch_op.f("ix_entity_versions_storage_root"), ["storage_root"], unique=False)
        batch_op.create_index(batch_op.f("ix_entity_versions_version"), ["version"], unique=False)

    op.create_table(
        "version_tags",
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=256), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_version_tags_entity_id_entities"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["entity_versions.id"],
            name=op.f("fk_version_tags_version_id_entity_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entity_id", "tag", name=op.f("pk_version_tags")),
    )
    with op.batch_alter_table("version_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_version_tags_tag"), ["tag"], unique=False)
        batch_op.create_index(batch_op.f("ix_version_tags_version_id"), ["version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("version_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_version_tags_version_id"))
        batch_op.drop_index(batch_op.f("ix_version_tags_tag"))

    op.drop_table("version_tags")
    with op.batch_alter_table("entity_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entity_versions_version"))
        batch_op.drop_index(batch_op.f("ix_entity_versions_storage_root"))
        batch_op.drop_index(batch_op.f("ix_entity_versions_step"))
        batch_op.drop_index(batch_op.f("ix_entity_versions_run_id"))
        batch_op.drop_index("ix_entity_versions_repo_family_state_created")
        batch_op.drop_index("ix_entity_versions_family_state_created")

    op.drop_table("entity_versions")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_user_id"))

    op.drop_table("tokens")
    with op.batch_alter_table("ml_repo_collaborators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ml_repo_collaborators_principal"))

    op.drop_table("ml_repo_collaborators")
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.drop_index("ix_entities_repo_family_created_at")
        batch_op.drop_index("ix_entities_family_name")
        batch_op.drop_index("ix_entities_family_created_at")

    op.drop_table("entities")
    op.drop_table("users")
    with op.batch_alter_table("ml_repos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ml_repos_created_by_subject_id"))

    op.drop_table("ml_repos")
