"""The OpenAPI document: readable operation ids, tag descriptions, and bounds that come from settings.

- Each operation's id is its route's name (`list_model_versions`), unique across the document; the
  copies of the ML API served under the second prefix are not listed, so they need no ids of their own.
- A parameter or field whose bound is a setting declares it with `setting_maximum(MAX_PAGE_SIZE)`;
  the document states the running server's value, so that what it calls valid is what it accepts.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from mlregistry.schemas.limits import MAX_PAGE_NUMBER, MAX_PAGE_SIZE, SETTING_MAXIMUM, max_page_number
from mlregistry.settings import Settings

TAG_DESCRIPTIONS: dict[str, str] = {
    "Health": "Liveness, readiness and Prometheus metrics; no token needed.",
    "Signed URLs (local storage)": "Where signed URLs of the local store point: uploads and downloads of file bytes, "
    "authorized by the URL's signature instead of a token.",
    "Platform": "Server facts the official clients ask for: tenant, session, minimum client version.",
    "ML repos": "ML repos hold models, artifacts, data directories and prompts; collaborators' roles decide access.",
    "Models": "Models of an ML repo, each with its latest version.",
    "Model versions": "Numbered versions of a model: manifest, framework, metrics, tags and a version alias.",
    "Artifacts": "Artifacts of an ML repo, each with its latest version.",
    "Artifact versions": "Numbered versions of an artifact; also the staged upload flow (stage, signed URLs, "
    "finalize) shared with model versions.",
    "Data directories": "Unversioned folders of files in an ML repo, read and written through signed URLs.",
    "Prompts": "Chat prompts of an ML repo, each with its latest version.",
    "Prompt versions": "Numbered versions of a chat prompt: messages, variables, model configuration, tools.",
    "Users": "Users of the tenant; tenant administrators manage them.",
    "Personal access tokens": "Tokens of users, revocable one by one or all at once.",
    "Virtual accounts": "Machine identities with their own tokens and permissions.",
    "Teams": "Teams of users; a team is a collaborator on ML repos as `team:<name>`.",
    "Audit": "Who changed what, when: the audit trail of every mutation.",
    "Workspaces": "NeMo-style workspaces and their members (`/apis/entities/v2`).",
    "Model entities": "NeMo-style model entities of a workspace (`/apis/models/v2`).",
    "Runs": "Experiment tracking: runs of an ML repo with params (immutable), tags, and metric history; "
    "searched with a filter language and linked to the model and artifact versions that name them.",
    "Webhooks": "Signed HTTP callbacks for registry events, delivered from an outbox with retries.",
}

# Descriptions of the operations whose routes give none (a route's own `description` wins).
OPERATION_DESCRIPTIONS: dict[str, str] = {
    "create_run": "Starts a RUNNING run in the ML repo `experiment_id` (editors). Names are unique per repo.",
    "search_runs": "Runs of the readable ML repos matching the filter (`metrics.rmse < 1 and params.m = 'lr'`), "
    "ordered by `order_by`, a page of `max_results` with `next_page_token` and `total`. A malformed filter is a "
    "422 naming its position.",
    "get_run": "One run with its params, tags and the latest value of each metric.",
    "update_run": "Changes status, end_time or description; a move to FINISHED, FAILED or KILLED emits run.finished.",
    "delete_run": "Deletes the run with its params, tags and metrics; versions that name it keep their run_id.",
    "get_metric_history": "Every logged point of one metric, ordered by step and timestamp.",
    "list_metric_history": "The history of several metrics (all when `metric_keys` is absent), optionally at one step.",
    "log_metric": "Appends a point (key, value, timestamp, step) to the metric's history.",
    "log_parameter": "Logs a parameter; logging it again with another value is a 422.",
    "set_tag": "Sets a tag, replacing its value if it exists.",
    "delete_tag": "Removes a tag; 404 when the run has no such tag.",
    "log_batch": "Logs up to 1000 metrics and 100 params and tags in one transaction.",
    "create_webhook": "Registers a target URL for events of one ML repo (repo admins) or of every repo (tenant "
    "admins). The answer shows the signing secret once.",
    "list_webhooks": "The webhooks the caller administers, filtered by ML repo and event.",
    "get_webhook": "One webhook by id (its secret is never shown again).",
    "update_webhook": "Changes the URL, events, secret or whether deliveries are paused; omitted fields keep "
    "their values.",
    "delete_webhook": "Deletes the webhook with its delivery log; pending deliveries are not sent.",
    "list_deliveries": "Each delivery of the webhook with its status, attempts, last answer and last error.",
    "redeliver": "Queues the delivery's event again as a new delivery with the same event id.",
    "healthz": "Answers 200 while the process runs; it does not touch the database.",
    "readyz": "Answers 200 when a database query succeeds, else 503 with the error's type.",
    "prometheus_metrics": "Request counts and latencies per route and status, database pool usage, signed URLs "
    "issued, bytes streamed by the local store, and 503s for an unavailable database.",
    "put_object": "The target of a WRITE signed URL of the local store: the body is the file's bytes, streamed to "
    "disk. With `uploadId` and `partNumber` it stores one part of a multipart upload.",
    "complete_multipart_upload": "Joins the uploaded parts in the order the S3 CompleteMultipartUpload XML body "
    "lists them.",
    "get_object": "The target of a READ signed URL of the local store; streams the file, honouring `Range`.",
    "min_cli_version": "The client versions this server works with, as the official clients ask for them.",
    "tenant_id": "The tenant name and the auth server the official clients expect; needs no token.",
    "session": "The subject the bearer token resolves to, with its tenant and roles.",
    "apply_ml_repo": "Creates the ML repo the manifest names, or updates its description and collaborators. "
    "`dryRun` validates without storing. Creating needs tenant membership; updating, the repo's admin role.",
    "list_ml_repos": "The ML repos the caller can read, newest first, with offset paging.",
    "get_ml_repo": "One ML repo by id; 404 when it does not exist or the caller cannot read it.",
    "delete_ml_repo": "Deletes the repo with its models, artifacts, data directories and prompts; stored files are "
    "deleted in the background. Needs the repo's admin role.",
    "apply_model_version": "A manifest without `version` creates the next version of the model (created with its "
    "first version); one with `version` updates that version's mutable fields.",
    "list_model_versions": "Finalized model versions the caller can read, newest first; every filter is exact and "
    "filters combine.",
    "get_model_version": "One model version by id, with its manifest, metrics and tags.",
    "delete_model_version": "Deletes the version; its files, if any, are deleted in the background. Version "
    "numbers are never reused.",
    "list_models": "Models the caller can read, newest first, each with its latest version.",
    "list_artifact_versions": "Finalized artifact versions the caller can read, newest first; every filter is exact "
    "and filters combine.",
    "get_artifact_version": "One artifact version by id, with its manifest and storage root.",
    "delete_artifact_version": "Deletes the version; its files are deleted in the background. Version numbers are "
    "never reused.",
    "list_artifacts": "Artifacts the caller can read, newest first, each with its latest version.",
    "stage_version": "Reserves the next version number and a storage root for an artifact or model version whose "
    "files are uploaded through signed URLs; an apply naming the storage root finalizes it. A staged version "
    "not finalized within MLREGISTRY_STAGE_TTL_SECONDS is removed with its files.",
    "get_signed_urls": "One signed URL per path: WRITE URLs while the version is staged (needs the editor role), "
    "READ URLs once it is finalized (the viewer role).",
    "create_multipart_upload": "Part URLs and a finalize URL for one large file of a staged version.",
    "list_version_files": "Direct children of `path` with their size and recorded sha256, paged by `pageToken`.",
    "mark_stage_failure": "Ends a staged version that will not be finalized and deletes what was uploaded for it.",
    "list_data_directories": "Data directories the caller can read, newest first.",
    "apply_data_directory": "Creates the data directory the manifest names, or updates its description and "
    "metadata. Its files are read and written through signed URLs.",
    "list_data_directory_files": "Direct children of `path` with their size, paged by `pageToken`.",
    "delete_data_directory_files": "Deletes the named files (and folders) from the data directory. Needs the editor "
    "role.",
    "create_data_directory_multipart_upload": "Part URLs and a finalize URL for one large file of a data directory.",
    "get_data_directory_signed_urls": "One signed URL per path: READ (viewer role) or WRITE (editor role).",
    "get_data_directory": "One data directory by id.",
    "delete_data_directory": "Deletes the data directory; with `delete_contents` its stored files too.",
    "list_prompt_versions": "Prompt versions the caller can read, newest first; every filter is exact and filters "
    "combine.",
    "get_prompt_version": "One prompt version by id, with its messages, variables and model configuration.",
    "delete_prompt_version": "Deletes the version. Version numbers are never reused.",
    "list_prompts": "Prompts the caller can read, newest first, each with its latest version.",
    "list_users": "Tenant administrators see every user; others see themselves. `query` matches the start of the "
    "e-mail or user name.",
    "register_user": "Creates a tenant member with this e-mail (tenant administrators only).",
    "invite_user": "Creates a tenant member with this e-mail (tenant administrators only) and answers `link`: "
    "`acceptInviteClientUrl` with `email` added. This server sends no e-mail: pass the link on, and give the "
    "invitee a token (POST /personal-access-tokens/for-user, or `mlregistry admin create-token`), unless they "
    "sign in through OIDC. 409 when a user with the e-mail exists.",
    "change_password": "Always refused with 400: this server has no passwords. Users authenticate with tokens "
    "(or OIDC); to replace a credential, create a new personal access token (POST /personal-access-tokens, or "
    "`mlregistry admin create-token --user NAME`) and revoke the old one.",
    "get_user_resources": "The ML repos and workspaces the user holds a role on itself (as creator, or named "
    "`user:<slug>` / `user:<email>`), with the role. The user itself and tenant administrators; others 404.",
    "get_user_permissions": "The user's role bindings on ML repos and workspaces: its own (`subjectType` user) and "
    "those of each team it is on (`subjectType` team, `subjectId` the team's id). The user itself and tenant "
    "administrators; others 404.",
    "get_user_teams": "The teams the user's e-mail is on, with `member` and/or `manager`. The user itself and "
    "tenant administrators; others 404.",
    "update_roles": "Replaces a user's tenant roles (`tenant-admin`, `tenant-member`); an administrator cannot "
    "remove their own admin role.",
    "deactivate_user": "The user's tokens stop working at once; the user stays listed with `showInvalidUsers`.",
    "activate_user": "Lets a deactivated user's valid tokens work again.",
    "get_user": "One user by id: tenant administrators any user, others themselves.",
    "delete_user": "Deletes the user and revokes their tokens (tenant administrators; not oneself).",
    "list_tokens": "The caller's personal access tokens with name, expiry and state; never their secrets.",
    "create_token": "Issues a personal access token for the caller; the answer carries the only copy of it.",
    "create_token_for_user": "Issues a personal access token for another user (tenant administrators).",
    "revoke_all": "Revokes every token of the named user (the caller's own, or any user's for an administrator).",
    "revoke_token": "Revokes one of the caller's tokens by id; it stops working at once.",
    "list_accounts": "Virtual accounts visible to the caller, with offset paging.",
    "apply_account": "Creates a virtual account with its permissions and answers its token once, or updates the "
    "permissions and expiry of an existing one.",
    "account_exists": "Whether a virtual account of this name exists.",
    "get_account": "One virtual account by id, with its permissions.",
    "delete_account": "Deletes the virtual account; its tokens stop working at once.",
    "get_token": "The virtual account's current token, for those allowed to manage the account.",
    "regenerate_token": "Issues a new token; the previous ones keep working for `gracePeriodInMinutes`.",
    "sync_to_secret_store": "Always refused with 400 (after the account is found and the caller may manage it): "
    "this server has no external secret store. Read the current token with GET /virtual-accounts/{id}/token and "
    "store it yourself; store the new one after POST /virtual-accounts/{id}/regenerate-token.",
    "revoke_jwt": "Revokes one token of the virtual account by its JWT id.",
    "list_teams": "Teams the caller manages or belongs to; tenant administrators see every team.",
    "apply_team": "Creates a team (tenant administrators) or replaces its members and managers (its managers).",
    "list_members": "The team's members as subjects.",
    "list_managers": "The team's managers as subjects.",
    "get_team": "One team by id, with its members.",
    "get_team_permissions": "The roles held by `team:<name>` on ML repos and workspaces. Its members and "
    "managers and tenant administrators; others 404.",
    "delete_team": "Deletes the team; its collaborator entries on ML repos go with it.",
    "list_audit_events": "Who changed what and when, newest first, filtered by subject, resource, action and time.",
    "create_workspace": "Creates a workspace; its creator becomes its Admin.",
    "list_workspaces": "Workspaces the caller can read, paged by `page` and `page_size`.",
    "get_workspace": "One workspace by name.",
    "update_workspace": "Replaces the workspace's description (Admin role).",
    "delete_workspace": "Deletes an empty workspace; 409 while it holds model entities.",
    "list_workspace_members": "The workspace's principals and their roles.",
    "add_workspace_member": "Grants roles (Viewer, Editor, Admin) to a principal (Admin role).",
    "update_workspace_member": "Replaces a member's roles (Admin role).",
    "remove_workspace_member": "Removes a principal's roles in the workspace (Admin role).",
    "create_model_entity": "Creates a model entity in the workspace (Editor role); 409 when the name is taken.",
    "get_model_entity": "One model entity by workspace and name.",
    "delete_model_entity": "Deletes the model entity (Editor role).",
}


def operation_id(route: APIRoute) -> str:
    return route.name


def _apply_setting_bounds(node: Any, settings: Settings) -> None:
    bounds = {MAX_PAGE_SIZE: settings.max_page_size, MAX_PAGE_NUMBER: max_page_number(settings.max_page_size)}
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            bound = item.pop(SETTING_MAXIMUM, None)
            if isinstance(bound, str):
                item["maximum"] = bounds[bound]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def install_openapi(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            used = {tag for item in document["paths"].values() for op in item.values() for tag in op.get("tags", [])}
            document["tags"] = [
                {"name": name, "description": description}
                for name, description in TAG_DESCRIPTIONS.items()
                if name in used
            ]
            for item in document["paths"].values():
                for operation in item.values():
                    if not operation.get("description") and operation["operationId"] in OPERATION_DESCRIPTIONS:
                        operation["description"] = OPERATION_DESCRIPTIONS[operation["operationId"]]
            _apply_setting_bounds(document, settings)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
