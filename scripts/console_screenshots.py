"""Screenshots of the web console's main pages for the README (docs/screenshots/*.png).

Starts a live server on a temporary SQLite database, fills it with the console tests' sample registry,
signs in with a token in Debian's headless Chromium and saves one PNG per page at 1280x800.

    .venv/bin/python scripts/console_screenshots.py [output-dir]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import CHROMIUM  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.console_helpers import build_world  # noqa: E402
from tests.factories import API  # noqa: E402
from tests.live import LiveServer  # noqa: E402


def main() -> None:
    output = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    output.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="console-shots-"))
    server = LiveServer(make_settings("sqlite", data_dir, None), "sqlite").start()
    try:
        world = build_world(server)
        with server.client(world.owner) as api:
            version_id = world.model_version["id"]
            api.put(f"{API}/model-versions/tags", json={"model_version_id": version_id, "tags": ["prod"]})
        runs = [run["info"]["run_id"] for run in world.runs]
        pages = {
            "repos": "/ui/",
            "repo-models": f"/ui/repos/{world.repo['id']}/models",
            "model-versions": f"/ui/models/{world.model_version['model_id']}",
            "model-version": f"/ui/model-versions/{version_id}",
            "runs": f"/ui/repos/{world.repo['id']}/runs",
            "compare-runs": f"/ui/runs/compare?ids={runs[0]}&ids={runs[1]}",
            "prompt-preview": f"/ui/prompt-versions/{world.prompt_version['id']}?preview=1&var.topic=volcanoes",
        }
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto("/ui/login")
            page.screenshot(path=str(output / "sign-in.png"))
            page.get_by_label("Token").fill(world.owner.token)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="ML repos").wait_for()
            for name, path in pages.items():
                page.goto(path)
                if name == "compare-runs":
                    page.locator("figure.chart[data-drawn]").wait_for()
                page.screenshot(path=str(output / f"{name}.png"), full_page=name != "model-version")
                print(output / f"{name}.png")
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
