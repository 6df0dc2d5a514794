"""The README's invitation, role-binding and refused-call curl examples run as written against `mlregistry serve`."""

from __future__ import annotations

from pathlib import Path

from tests.processes import cli_env, run_readme_block, serving

TOKEN = "tfy_readme_identity_token_0123456789"


def test_readme_identity_curl_examples(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MLREGISTRY_BOOTSTRAP_TOKEN=TOKEN)
    with serving(env) as url:
        invited, repo, permissions, refused = run_readme_block("tested-identity-examples", url, TOKEN)
    assert invited["link"] == "https://registry.example.com/welcome?email=ana%40example.com"
    ana = invited["data"]["id"]
    assert invited["data"]["email"] == "ana@example.com"
    assert permissions["data"] == [
        {
            "resourceType": "ml-repo",
            "resourceId": repo["data"]["id"],
            "resourceName": "shared-repo",
            "resourceFqn": "shared-repo",
            "roleId": "mlf-project-viewer",
            "roleName": "Viewer",
            "subjectId": ana,
            "subjectType": "user",
        }
    ]
    assert refused["statusCode"] == 400 and "no passwords" in refused["message"]
