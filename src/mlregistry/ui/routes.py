"""The console's pages: sign-in, ML repos, models/artifacts/prompts and their versions, files, runs,
workspaces and the audit trail. Each handler reads its visit, calls services, renders one template."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jose import jwt
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlregistry.api.deps import AppSettings, AppStorages, BaseUrl, DbSession, authenticate_token
from mlregistry.auth import oidc
from mlregistry.repositories.audit import AuditFilters
from mlregistry.schemas.runs import SearchRunsRequest
from mlregistry.schemas.workspace_models import WORKSPACE_LIST_ALL
from mlregistry.services import (
    audit,
    data_directories,
    files,
    ml_repos,
    prompts,
    reaper,
    runs,
    versions,
    workspace_models,
    workspaces,
)
from mlregistry.services.access import Role
from mlregistry.services.errors import Invalid, NotFound, Unauthenticated
from mlregistry.services.families import MODEL, Family
from mlregistry.services.labels import LABEL_ALIAS
from mlregistry.services.versions import EntityQuery, VersionQuery
from mlregistry.settings import Settings
from mlregistry.storage import READ
from mlregistry.ui import session as console_session
from mlregistry.ui.core import (
    FAMILY_BY_SEGMENT,
    PAGE_SIZE,
    SEGMENT_BY_FAMILY,
    UI_PREFIX,
    ConsoleRoute,
    ConsoleVisit,
    Visit,
    error_page,
    page,
    prefers_html,
    redirect,
    render,
    with_query,
)

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False, route_class=ConsoleRoute)
root_router = APIRouter(include_in_schema=False)

REPO_TABS = ("models", "artifacts", "prompts", "data-directories", "runs", "collaborators")
MAX_COMPARED_RUNS = 10
DEFAULT_RUN_COLUMNS = 4  # params and metrics each, when the visitor chose none


@root_router.get("/")
async def root(request: Request) -> Response:
    if prefers_html(request.headers.get("accept", "")):
        return redirect(f"{UI_PREFIX}/")
    raise StarletteHTTPException(404, "Not Found")  # what `/` answered API clients before the console


def _family(segment: str) -> Family:
    family = FAMILY_BY_SEGMENT.get(segment)
    if family is None:
        raise NotFound(f"No page '{segment}'")
    return family


def _page_number(value: int) -> int:
    if value < 1:
        raise Invalid.field(["query", "page"], "must be 1 or more")
    return value


def _pages(total: int, number: int) -> dict[str, Any]:
    last = max(1, -(-total // PAGE_SIZE))
    return {"number": number, "last": last, "total": total, "size": PAGE_SIZE}


# --- sign in and out ------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a console path: never send a signed-in visitor to another site."""
    if target and target.startswith(f"{UI_PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{UI_PREFIX}/"


@router.get("/login")
async def login_form(
    request: Request, settings: AppSettings, next: str | None = None, message: str | None = None
) -> HTMLResponse:
    csrf = console_session.new_session("").csrf
    response = render(
        request,
        "login.html",
        {
            "next": _safe_next(next),
            "message": message,
            "login_csrf": csrf,
            "error": None,
            "oidc": oidc_sign_in_offered(settings),
        },
    )
    console_session.write_login_csrf(response, request, settings, csrf)
    return response


@router.post("/login")
async def login(request: Request, db: DbSession, settings: AppSettings) -> Response:
    form = await console_session.read_form(request)
    console_session.check_csrf(form, console_session.login_csrf(request, settings))
    token = (form.get("token") or [""])[0].strip()
    target = _safe_next((form.get("next") or [""])[0])
    try:
        if not token:
            raise Unauthenticated("Paste a token to sign in")
        await authenticate_token(request, db, settings, token)
    except Unauthenticated as exc:
        csrf = console_session.new_session("").csrf
        refused = render(
            request,
            "login.html",
            {
                "next": target,
                "message": None,
                "login_csrf": csrf,
                "error": exc.message,
                "oidc": oidc_sign_in_offered(settings),
            },
            status_code=401,
        )
        console_session.write_login_csrf(refused, request, settings, csrf)
        return refused
    response = redirect(target)
    console_session.write_session(response, request, settings, console_session.new_session(token))
    console_session.clear_login_csrf(response)
    return response


def oidc_sign_in_offered(settings: Settings) -> bool:
    return settings.oidc_client_id is not None


@router.get("/login/oidc")
async def oidc_sign_in(request: Request, settings: AppSettings, next: str | None = None) -> Response:
    """Send the visitor to the issuer's authorization endpoint (authorization code flow with PKCE S256)."""
    if not oidc_sign_in_offered(settings):
        raise NotFound("Sign-in with an identity provider is not configured on this server")
    assert settings.oidc_authorization_endpoint is not None
    flow = console_session.new_oidc_flow(_safe_next(next))
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_client_id,
            "redirect_uri": _oidc_redirect_uri(request),
            "scope": "openid email profile",
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": console_session.pkce_challenge(flow.verifier),
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in settings.oidc_authorization_endpoint else "?"
    response = redirect(f"{settings.oidc_authorization_endpoint}{separator}{query}")
    console_session.write_oidc_flow(response, request, settings, flow)
    return response


def _oidc_redirect_uri(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{UI_PREFIX}/login/oidc/callback"


@router.get("/login/oidc/callback")
async def oidc_callback(
    request: Request,
    db: DbSession,
    settings: AppSettings,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    if not oidc_sign_in_offered(settings):
        raise NotFound("Sign-in with an identity provider is not configured on this server")
    assert settings.oidc_client_id is not None and settings.oidc_token_endpoint is not None
    flow = console_session.read_oidc_flow(request, settings)
    if error:
        raise Unauthenticated(f"The identity provider did not sign you in: {error}")
    if flow is None or not state or not hmac.compare_digest(state, flow.state):
        raise Unauthenticated("This sign-in answer does not belong to a sign-in started here: start again")
    if not code:
        raise Unauthenticated("The identity provider sent no authorization code")
    id_token = await oidc.exchange_code(
        settings.oidc_token_endpoint,
        code=code,
        redirect_uri=_oidc_redirect_uri(request),
        client_id=settings.oidc_client_id,
        code_verifier=flow.verifier,
        client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
    )
    await authenticate_token(request, db, settings, id_token)  # signature, issuer, audience, lifetime
    nonce = jwt.get_unverified_claims(id_token).get("nonce")  # read only after the token verified
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce, flow.nonce):
        raise Unauthenticated("The ID token's nonce does not match this sign-in")
    # A page that moves on by itself: the session cookie is SameSite=Strict, and a redirect chain that
    # began at the issuer would not carry it to the next page.
    response = render(request, "signed_in.html", {"next": flow.next})
    console_session.write_session(response, request, settings, console_session.new_session(id_token))
    console_session.clear_oidc_flow(response)
    return response


@router.post("/logout")
async def logout(visit: ConsoleVisit) -> Response:
    await visit.form()
    response = redirect(with_query(f"{UI_PREFIX}/login", message="You are signed out."))
    console_session.clear_session(response, visit.request)
    return response


# --- ML repos -------------------------------------------------------------------------------------


@router.get("/")
async def repo_list(visit: ConsoleVisit, q: str | None = None, page_number: int = 1) -> HTMLResponse:
    number = _page_number(page_number)
    search = (q or "").strip() or None
    items, total = await ml_repos.list_ml_repos(
        visit.db,
        visit.settings,
        visit.caller,
        name=None,
        name_contains=search,
        offset=(number - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    return page(visit, "repos.html", repos=items, q=search or "", pages=_pages(total, number))


@router.get("/repos/{repo_id}")
async def repo_home(repo_id: str, visit: ConsoleVisit) -> Response:
    await ml_repos.get_ml_repo(visit.db, visit.settings, visit.caller, repo_id)
    return redirect(f"{UI_PREFIX}/repos/{repo_id}/models")


@router.get("/repos/{repo_id}/{tab}")
async def repo_tab(
    repo_id: str,
    tab: str,
    visit: ConsoleVisit,
    page_number: int = 1,
    filter: str | None = None,
    order: str | None = None,
    columns: str | None = None,
) -> HTMLResponse:
    if tab not in REPO_TABS:
        raise NotFound(f"ML repos have no '{tab}' tab")
    number = _page_number(page_number)
    repo = await ml_repos.get_ml_repo(visit.db, visit.settings, visit.caller, repo_id)
    offset = (number - 1) * PAGE_SIZE
    context: dict[str, Any] = {"repo": repo, "tab": tab, "tabs": REPO_TABS}
    if tab in FAMILY_BY_SEGMENT:
        family = FAMILY_BY_SEGMENT[tab]
        items, total = await versions.list_entities(
            visit.db,
            visit.settings,
            visit.caller,
            family,
            EntityQuery(ml_repo_id=repo_id),
            offset=offset,
            limit=PAGE_SIZE,
            with_run_steps=False,
        )
        context.update(entities=items, family=family, segment=tab, pages=_pages(total, number))
    elif tab == "data-directories":
        items, total = await data_directories.list_data_directories(
            visit.db,
            visit.settings,
            visit.caller,
            fqn=None,
            ml_repo_id=repo_id,
            name=None,
            offset=offset,
            limit=PAGE_SIZE,
        )
        context.update(directories=items, pages=_pages(total, number))
    elif tab == "runs":
        context.update(await _runs_table(visit, repo_id, number, filter, order, columns))
    else:
        context.update(collaborators=repo["manifest"].get("collaborators") or [])
    return page(visit, "repo.html", **context)


# --- runs -----------------------------------------------------------------------------------------


def _run_columns(found: list[dict[str, Any]], chosen: str | None) -> list[str]:
    if chosen is not None:
        picked = [column.strip() for column in chosen.split(",") if column.strip()]
        for column in picked:
            if not column.startswith(("params.", "metrics.")):
                raise Invalid.field(["query", "columns"], "columns are `params.<key>` or `metrics.<key>`")
        return picked
    params: list[str] = []
    metrics: list[str] = []
    for run in found:
        for param in run["data"]["params"]:
            if param["key"] not in params:
                params.append(param["key"])
        for metric in run["data"]["metrics"]:
            if metric["key"] not in metrics:
                metrics.append(metric["key"])
    return [f"params.{key}" for key in params[:DEFAULT_RUN_COLUMNS]] + [
        f"metrics.{key}" for key in metrics[:DEFAULT_RUN_COLUMNS]
    ]


def _run_cells(run: dict[str, Any], columns: list[str]) -> list[Any]:
    params = {param["key"]: param["value"] for param in run["data"]["params"]}
    metrics = {metric["key"]: metric["value"] for metric in run["data"]["metrics"]}
    return [
        params.get(column[len("params.") :]) if column.startswith("params.") else metrics.get(column[len("metrics.") :])
        for column in columns
    ]


async def _runs_table(
    visit: Visit, repo_id: str, number: int, filter: str | None, order: str | None, columns: str | None
) -> dict[str, Any]:
    search = SearchRunsRequest.model_validate(
        {
            "experiment_id": repo_id,
            "filter": filter or None,
            "order_by": [order] if order else None,
            "max_results": PAGE_SIZE,
            "offset": (number - 1) * PAGE_SIZE,
        }
    )
    found = await runs.search_runs(visit.db, visit.settings, visit.caller, search)
    chosen = _run_columns(found["runs"], columns)
    rows = [{"run": run, "cells": _run_cells(run, chosen)} for run in found["runs"]]
    return {
        "runs": rows,
        "columns": chosen,
        "columns_text": ",".join(chosen),
        "filter": filter or "",
        "order": order or "",
        "pages": _pages(found["total"], number),
    }


async def _run_series(visit: Visit, run_id: str, run: dict[str, Any]) -> dict[str, dict[int, float]]:
    """key -> step -> value for each metric the run logged (the latest logged at a step wins), read in the
    history's keyset pages."""
    await runs.authorize_history_read(visit.db, visit.caller, run_id)
    series: dict[str, dict[int, float]] = {}
    for key in sorted({metric["key"] for metric in run["data"]["metrics"]}):
        points = series.setdefault(key, {})
        async for history_page in runs.metric_history_pages(visit.db, run_id, key, None):
            for point in history_page:
                points[int(point["step"] or 0)] = point["value"]
    return series


def _charts(names: list[str], histories: list[dict[str, dict[int, float]]]) -> list[dict[str, Any]]:
    """One chart per metric key: the union of steps on x, one series per run (null where it logged none)."""
    keys = sorted({key for history in histories for key in history})
    charts = []
    for key in keys:
        steps = sorted({step for history in histories for step in history.get(key, {})})
        series = [
            {"label": name, "values": [history.get(key, {}).get(step) for step in steps]}
            for name, history in zip(names, histories, strict=True)
            if key in history
        ]
        charts.append({"key": key, "steps": steps, "series": series})
    return charts


@router.get("/runs/compare")
async def compare_runs(request: Request, visit: ConsoleVisit) -> HTMLResponse:
    ids = list(dict.fromkeys(request.query_params.getlist("ids")))
    if len(ids) < 1:
        raise Invalid.field(["query", "ids"], "pick at least one run to compare")
    if len(ids) > MAX_COMPARED_RUNS:
        raise Invalid.field(["query", "ids"], f"compare at most {MAX_COMPARED_RUNS} runs")
    found = [(await runs.get_run(visit.db, visit.settings, visit.caller, run_id))["run"] for run_id in ids]
    histories = [await _run_series(visit, run_id, run) for run_id, run in zip(ids, found, strict=True)]
    names = [run["info"]["name"] for run in found]
    param_keys = sorted({param["key"] for run in found for param in run["data"]["params"]})
    param_rows = []
    for key in param_keys:
        values = [next((p["value"] for p in run["data"]["params"] if p["key"] == key), None) for run in found]
        param_rows.append({"key": key, "values": values, "differs": len(set(values)) > 1})
    return page(visit, "compare.html", runs=found, param_rows=param_rows, charts=_charts(names, histories), ids=ids)


@router.get("/runs/{run_id}")
async def run_page(run_id: str, visit: ConsoleVisit) -> HTMLResponse:
    run = (await runs.get_run(visit.db, visit.settings, visit.caller, run_id))["run"]
    history = await _run_series(visit, run_id, run)
    models, _ = await versions.list_versions(
        visit.db, visit.settings, visit.caller, MODEL, VersionQuery(run_ids=[run_id]), offset=0, limit=PAGE_SIZE
    )
    return page(
        visit, "run.html", run=run, charts=_charts([run["info"]["name"]], [history]), models=models, ids=[run_id]
    )


# --- workspaces (NeMo-style model entities) -------------------------------------------------------


@router.get("/workspaces")
async def workspace_list(visit: ConsoleVisit, page_number: int = 1) -> HTMLResponse:
    number = _page_number(page_number)
    items, total = await workspaces.list_workspaces(
        visit.db, visit.caller, sort="name", offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    models, model_total = await workspace_models.list_models(
        visit.db, visit.caller, WORKSPACE_LIST_ALL, {}, sort="-updated_at", offset=0, limit=PAGE_SIZE, verbose=False
    )
    return page(
        visit, "workspaces.html", workspaces=items, pages=_pages(total, number), models=models, model_total=model_total
    )


@router.get("/workspaces/{workspace}")
async def workspace_page(workspace: str, visit: ConsoleVisit, page_number: int = 1) -> HTMLResponse:
    number = _page_number(page_number)
    found = await workspaces.get_workspace(visit.db, visit.caller, workspace)
    models, total = await workspace_models.list_models(
        visit.db,
        visit.caller,
        workspace,
        {},
        sort="name",
        offset=(number - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
        verbose=False,
    )
    return page(visit, "workspace.html", workspace=found, models=models, pages=_pages(total, number))


@router.get("/workspaces/{workspace}/models/{name:path}")
async def workspace_model_page(workspace: str, name: str, visit: ConsoleVisit) -> HTMLResponse:
    model = await workspace_models.get_model(visit.db, visit.caller, workspace, name, verbose=True)
    return page(visit, "workspace_model.html", model=model)


# --- audit trail ----------------------------------------------------------------------------------


def _audit_moment(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid.field(["query", name], "must be a date and time, e.g. 2026-03-01T12:00") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@router.get("/audit")
async def audit_trail(
    visit: ConsoleVisit,
    subject: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page_number: int = 1,
) -> HTMLResponse:
    number = _page_number(page_number)
    filters = AuditFilters(
        subject=subject or None,
        resource_type=resource_type or None,
        resource_id=resource_id or None,
        since=_audit_moment(since, "since"),
        until=_audit_moment(until, "until"),
    )
    events, total = await audit.list_events(
        visit.db, visit.caller, filters, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    shown = {
        "subject": subject or "",
        "resource_type": resource_type or "",
        "resource_id": resource_id or "",
        "since": since or "",
        "until": until or "",
    }
    return page(visit, "audit.html", events=events, filters=shown, pages=_pages(total, number))


# --- models, artifacts, prompts and their versions ------------------------------------------------


async def _alias_version_number(visit: Visit, family: Family, entity_id: str, alias: str) -> int | None:
    holders, _ = await versions.entity_labels(
        visit.db, visit.caller, family, entity_id, LABEL_ALIAS, name=alias, as_of=None, history=False, offset=0, limit=1
    )
    return int(holders[0]["version"]) if holders else None


@router.get("/{segment}/{item_id}")
async def entity_or_version_page(
    segment: str,
    item_id: str,
    visit: ConsoleVisit,
    storages: AppStorages,
    tag: str | None = None,
    alias: str | None = None,
    run: str | None = None,
    page_number: int = 1,
    path: str | None = None,
    page_token: str | None = None,
    saved: str | None = None,
) -> HTMLResponse:
    """`/ui/models/{id}` lists a model's versions; `/ui/model-versions/{id}` shows one version."""
    if segment in FAMILY_BY_SEGMENT:
        return await entity_page(segment, item_id, visit, tag, alias, run, page_number)
    return await version_page(segment, item_id, visit, storages, path, page_token, saved)


async def entity_page(
    segment: str,
    entity_id: str,
    visit: Visit,
    tag: str | None,
    alias: str | None,
    run: str | None,
    page_number: int,
) -> HTMLResponse:
    family = _family(segment)
    number = _page_number(page_number)
    entity = await versions.get_entity(visit.db, visit.settings, visit.caller, family, entity_id, with_run_steps=False)
    repo = await ml_repos.get_ml_repo(visit.db, visit.settings, visit.caller, entity["ml_repo_id"])
    query = VersionQuery(entity_id=entity_id, tag=tag or None, run_ids=[run] if run else None)
    items: list[dict[str, Any]] = []
    total = 0
    if alias:
        held = await _alias_version_number(visit, family, entity_id, alias)
        query.version = held
    if not alias or query.version is not None:
        items, total = await versions.list_versions(
            visit.db, visit.settings, visit.caller, family, query, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    return page(
        visit,
        "entity.html",
        entity=entity,
        repo=repo,
        family=family,
        segment=segment,
        versions=items,
        filters={"tag": tag or "", "alias": alias or "", "run": run or ""},
        pages=_pages(total, number),
    )


def _version_family(segment: str) -> Family:
    if not segment.endswith("-versions"):
        raise NotFound(f"No page '{segment}'")
    return _family(segment.removesuffix("-versions") + "s")


async def version_page(
    segment: str,
    version_id: str,
    visit: Visit,
    storages: Any,
    path: str | None,
    page_token: str | None,
    saved: str | None,
) -> HTMLResponse:
    family = _version_family(segment)
    version = await versions.get_version(visit.db, visit.settings, visit.caller, family, version_id)
    entity = await versions.get_entity(
        visit.db, visit.settings, visit.caller, family, version[family.parent_id_field], with_run_steps=False
    )
    repo_row, role = await ml_repos.caller_role(visit.db, visit.caller, version["ml_repo_id"])
    context: dict[str, Any] = {
        "version": version,
        "entity": entity,
        "family": family,
        "segment": segment,
        "entity_segment": SEGMENT_BY_FAMILY[family.name],
        "repo": {"id": str(repo_row.id), "name": repo_row.name},
        "can_edit": role >= Role.EDITOR,
        "can_delete": role >= Role.ADMIN,
        "saved": saved,
        "preview": None,
    }
    if family.stageable:
        listing, next_token = await files.version_files(
            visit.db, visit.settings, storages, visit.caller, version_id, path, None, page_token
        )
        directory = files.clean_directory(path)
        context.update(files=listing, directory=directory, parent=directory.rpartition("/")[0], next_token=next_token)
    else:
        given = {
            key.removeprefix("var."): value
            for key, value in visit.request.query_params.items()
            if key.startswith("var.")
        }
        if visit.request.query_params.get("preview"):
            context["preview"] = await prompts.render_version(visit.db, visit.settings, visit.caller, version_id, given)
        context["given"] = given
    return page(visit, "version.html", **context)


@router.get("/{segment}/{version_id}/download")
async def download_file(
    segment: str, version_id: str, path: str, visit: ConsoleVisit, storages: AppStorages, base_url: BaseUrl
) -> Response:
    _version_family(segment)
    [signed] = await files.version_signed_urls(visit.db, storages, visit.caller, version_id, [path], READ, base_url)
    return redirect(signed["signed_url"])


def _field(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


@router.post("/{segment}/{version_id}/details")
async def save_details(segment: str, version_id: str, visit: ConsoleVisit, storages: AppStorages) -> Response:
    family = _version_family(segment)
    form = await visit.form()
    current = await versions.get_version(visit.db, visit.settings, visit.caller, family, version_id)
    wire = dict(current["manifest"])
    description = _field(form, "description").strip()
    alias = _field(form, "version_alias").strip()
    if description:
        wire["description"] = description
    else:
        wire.pop("description", None)
    if alias:
        wire["version_alias"] = alias
    else:
        wire.pop("version_alias", None)
    manifest = family.manifest_model.model_validate(wire)
    await versions.apply_version(visit.db, visit.settings, storages, visit.caller, family, manifest)
    await visit.db.commit()
    return redirect(with_query(f"{UI_PREFIX}/{segment}/{version_id}", saved="details"))


@router.post("/{segment}/{version_id}/tags")
async def save_tags(segment: str, version_id: str, visit: ConsoleVisit) -> Response:
    family = _version_family(segment)
    form = await visit.form()
    tags = [tag.strip() for tag in _field(form, "tags").split(",") if tag.strip()]
    await versions.apply_tags(visit.db, visit.caller, family, version_id, tags, force=_field(form, "force") == "on")
    await visit.db.commit()
    return redirect(with_query(f"{UI_PREFIX}/{segment}/{version_id}", saved="tags"))


@router.get("/{segment}/{version_id}/delete")
async def confirm_delete(segment: str, version_id: str, visit: ConsoleVisit) -> HTMLResponse:
    family = _version_family(segment)
    version = await versions.get_version(visit.db, visit.settings, visit.caller, family, version_id)
    return page(visit, "delete.html", version=version, family=family, segment=segment)


@router.post("/{segment}/{version_id}/delete")
async def delete_version(segment: str, version_id: str, visit: ConsoleVisit, storages: AppStorages) -> Response:
    family = _version_family(segment)
    form = await visit.form()
    version = await versions.get_version(visit.db, visit.settings, visit.caller, family, version_id)
    if _field(form, "confirm_fqn") != version["fqn"]:
        raise Invalid.field(["confirm_fqn"], f"type the version's FQN `{version['fqn']}` to confirm the delete")
    await versions.delete_version(visit.db, visit.caller, family, version_id)
    await visit.db.commit()
    await reaper.drain_quietly(visit.db, storages)
    return redirect(f"{UI_PREFIX}/{SEGMENT_BY_FAMILY[family.name]}/{version[family.parent_id_field]}")


@router.api_route("/{rest:path}", methods=["GET", "POST"])
async def unknown_page(rest: str, request: Request) -> HTMLResponse:
    return error_page(request, 404, f"There is no console page at /ui/{rest}")
