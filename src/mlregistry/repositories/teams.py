"""Teams and their members."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlregistry.orm import Team, TeamMember, User


async def get(session: AsyncSession, team_id: str) -> Team | None:
    return await session.get(Team, team_id)


async def get_by_name(session: AsyncSession, name: str) -> Team | None:
    return await session.scalar(select(Team).where(Team.name == name))


async def membership(session: AsyncSession, team_id: str, email: str | None) -> TeamMember | None:
    if not email:
        return None
    return await session.get(TeamMember, (team_id, email))


async def replace_members(session: AsyncSession, team_id: str, members: list[str], managers: list[str]) -> None:
    await session.execute(delete(TeamMember).where(TeamMember.team_id == team_id))
    session.add_all(
        TeamMember(team_id=team_id, email=email, is_member=email in members, is_manager=email in managers)
        for email in dict.fromkeys([*members, *managers])
    )
    await session.flush()


async def list_for(
    session: AsyncSession, *, email: str | None, managed_only: bool, everything: bool, offset: int, limit: int
) -> tuple[list[Team], int]:
    conditions = []
    if not everything:
        mine = select(TeamMember.team_id).where(TeamMember.email == (email or ""))
        if managed_only:
            mine = mine.where(TeamMember.is_manager.is_(True))
        conditions.append(Team.id.in_(mine))
    page = await session.scalars(
        select(Team).where(*conditions).order_by(Team.created_at.desc(), Team.id).offset(offset).limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(Team).where(*conditions))
    return list(page), int(total or 0)


async def list_subjects(
    session: AsyncSession, team_id: str, *, managers: bool, offset: int, limit: int
) -> tuple[list[tuple[str, str | None]], int]:
    """(email, user id or None) of the team's members or managers, by e-mail."""
    flag = TeamMember.is_manager if managers else TeamMember.is_member
    conditions = [TeamMember.team_id == team_id, flag.is_(True)]
    rows = await session.execute(
        select(TeamMember.email, User.id)
        .outerjoin(User, User.email == TeamMember.email)
        .where(*conditions)
        .order_by(TeamMember.email)
        .offset(offset)
        .limit(limit)
    )
    total = await session.scalar(select(func.count()).select_from(TeamMember).where(*conditions))
    return [(row[0], row[1]) for row in rows.all()], int(total or 0)


async def delete_team(session: AsyncSession, team_id: str) -> None:
    await session.execute(delete(Team).where(Team.id == team_id))


async def remove_email(session: AsyncSession, email: str) -> None:
    await session.execute(delete(TeamMember).where(TeamMember.email == email))


async def teams_of_email(session: AsyncSession, email: str | None) -> list[tuple[Team, TeamMember]]:
    """The teams an e-mail is on (as member and/or manager), by team name."""
    if not email:
        return []
    rows = await session.execute(
        select(Team, TeamMember)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.email == email)
        .order_by(Team.name)
    )
    return [(row[0], row[1]) for row in rows.all()]
