"""Queries behind the permission mechanism: member roles and the readable-resource scope.

Two kinds of resource are guarded row by row: ML repos (roles held by collaborators) and workspaces
(roles held by members). `Guarded` describes where a kind keeps its creator and its member roles;
the queries below are the same for every kind. The caller's member rank on a resource is computed
inside the same query that loads the resource (or what it holds), so an authorized read stays one
indexed round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, bindparam, case, delete, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import MlRepoCollaborator

T = TypeVar("T")


@dataclass(frozen=True)
class Guarded:
    """One kind of guarded resource: its id and creator columns, its member table, its role ranks."""

    noun: str
    resource_type: str  # the `resource_type` explicit grants (virtual account permissions) name
    id_column: Any
    name_column: Any
    creator_column: Any
    member_key: Any
    member_principal: Any
    member_role: Any
    role_ranks: Mapping[str, int]
    # A member principal that stands for every authenticated caller, where the kind has one.
    every_caller_principal: str | None = None


PRINCIPALS_PARAMETER = "mlregistry_scope_principals"
CLAUSE_PRINCIPALS = "mlregistry_clause_principals"
CLAUSE_SUBJECT = "mlregistry_clause_subject"
CLAUSE_GRANTED = "mlregistry_clause_granted"


@dataclass(frozen=True)
class AccessScope:
    """Which resources of one kind a caller may see: all (tenant admin) or those it created or holds a role on."""

    guarded: Guarded
    unrestricted: bool
    subject_id: str = ""
    principals: frozenset[str] = frozenset()
    # Resources the caller holds explicit permissions on (a virtual account's manifest), by name.
    granted_names: frozenset[str] = frozenset()
    # A template scope: its rank column names the principals as a parameter instead of their values
    # (`statement_for`), so that one statement object serves every caller.
    template: bool = False

    @classmethod
    def clause_template(cls, guarded: Guarded, *, unrestricted: bool, granted: bool) -> AccessScope:
        """A template scope whose `clause` takes the caller as parameters (`clause_parameters`): one
        statement serves every caller. `granted`: the clause admits resources granted by name."""
        return cls(
            guarded=guarded,
            unrestricted=unrestricted,
            granted_names=frozenset({""}) if granted else frozenset(),
            template=True,
        )

    def clause(self, id_column: Any) -> ColumnElement[bool] | None:
        if self.unrestricted:
            return None
        guarded = self.guarded
        template = self.template
        principals = bindparam(CLAUSE_PRINCIPALS, expanding=True) if template else sorted(self.principals)
        subject_id = bindparam(CLAUSE_SUBJECT) if template else self.subject_id
        member_of = select(guarded.member_key).where(guarded.member_principal.in_(principals))
        created = select(guarded.id_column).where(guarded.creator_column == subject_id)
        readable = [id_column.in_(member_of), id_column.in_(created)]
        if self.granted_names:
            names = bindparam(CLAUSE_GRANTED, expanding=True) if template else sorted(self.granted_names)
            granted = select(guarded.id_column).where(guarded.name_column.in_(names))
            readable.append(id_column.in_(granted))
        return or_(*readable)

    def clause_parameters(self) -> dict[str, Any]:
        """The values the `clause` of this scope's `clause_template` needs."""
        if self.unrestricted:
            return {}
        parameters: dict[str, Any] = {CLAUSE_PRINCIPALS: sorted(self.principals), CLAUSE_SUBJECT: self.subject_id}
        if self.granted_names:
            parameters[CLAUSE_GRANTED] = sorted(self.granted_names)
        return parameters

    def rank_column(self, id_column: Any) -> Any:
        """The highest member rank the caller holds on the row's resource (0 for none)."""
        guarded = self.guarded
        if self.unrestricted or not guarded.role_ranks:
            return literal(0)
        ranked = case(dict(guarded.role_ranks), value=guarded.member_role, else_=0)
        principals = bindparam(PRINCIPALS_PARAMETER, expanding=True) if self.template else sorted(self.principals)
        return (
            select(func.coalesce(func.max(ranked), 0))
            .where(guarded.member_key == id_column, guarded.member_principal.in_(principals))
            .scalar_subquery()
        )

    def statement_for(
        self, statements: dict[tuple[str, bool], Any], build: Callable[[AccessScope], Select[Any]]
    ) -> Select[Any]:
        """The statement `build` makes for this kind of scope, built once per process and kept in `statements`.

        A hot read builds the same statement on every request, and building it (and its cache key) costs
        more than SQLAlchemy's compiled cache then saves. `build` receives a template scope, whose rank
        column takes the principals as a parameter; execute the statement with `parameters()` and the
        statement's own bound parameters. Only `rank_column` may depend on the scope in `build`."""
        key = (self.guarded.noun, self.unrestricted)
        statement = statements.get(key)
        if statement is None:
            statement = statements[key] = build(
                AccessScope(guarded=self.guarded, unrestricted=self.unrestricted, template=True)
            )
        return statement

    def parameters(self) -> dict[str, Any]:
        """The values a `statement_for` statement needs from this scope."""
        if self.unrestricted or not self.guarded.role_ranks:
            return {}
        return {PRINCIPALS_PARAMETER: sorted(self.principals)}

    def access(self, resource: T, rank: Any) -> Access[T]:
        return Access(resource=resource, collaborator_rank=int(rank or 0), guarded=self.guarded)


@dataclass
class Access(Generic[T]):
    """A loaded resource with the caller's member rank on it."""

    resource: T
    collaborator_rank: int
    guarded: Guarded


async def replace_collaborators(session: AsyncSession, ml_repo_id: int, roles: dict[str, str]) -> None:
    await session.execute(delete(MlRepoCollaborator).where(MlRepoCollaborator.ml_repo_id == ml_repo_id))
    session.add_all(
        MlRepoCollaborator(ml_repo_id=ml_repo_id, principal=principal, role_id=role_id)
        for principal, role_id in roles.items()
    )
    await session.flush()


async def remove_principal(session: AsyncSession, principals: list[str]) -> None:
    """Forget a deleted team or virtual account everywhere, so a later namesake inherits nothing."""
    await session.execute(delete(MlRepoCollaborator).where(MlRepoCollaborator.principal.in_(principals)))


@dataclass(frozen=True)
class RoleBinding:
    """One stored role on a guarded resource: held by a member principal, or by the creator (`principal` None)."""

    resource_id: str
    resource_name: str
    principal: str | None
    role_id: str


async def bindings_of(session: AsyncSession, guarded: Guarded, principals: list[str]) -> list[RoleBinding]:
    """The member roles these principals hold on resources of one kind, by resource name."""
    if not principals:
        return []
    rows = await session.execute(
        select(guarded.id_column, guarded.name_column, guarded.member_principal, guarded.member_role)
        .join_from(guarded.id_column.class_, guarded.member_key.class_, guarded.member_key == guarded.id_column)
        .where(guarded.member_principal.in_(sorted(principals)))
        .order_by(guarded.name_column, guarded.member_principal, guarded.member_role)
    )
    return [RoleBinding(str(row[0]), row[1], row[2], row[3]) for row in rows.all()]


async def created_by(session: AsyncSession, guarded: Guarded, subject_id: str) -> list[tuple[str, str]]:
    """(id, name) of the resources of one kind this subject created (their creator is their admin)."""
    rows = await session.execute(
        select(guarded.id_column, guarded.name_column)
        .where(guarded.creator_column == subject_id)
        .order_by(guarded.name_column)
    )
    return [(str(row[0]), row[1]) for row in rows.all()]
