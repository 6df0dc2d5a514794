"""The web console in a real browser (Debian's headless Chromium driven by playwright) against a live
server: sign in with a token, browse to a version's files and download one, curate it, compare runs on a
chart, preview a prompt, sign out; a viewer is refused, an outsider sees nothing; no request leaves."""

from __future__ import annotations

from pathlib import Path

from tests.browser import OfflinePage
from tests.console_helpers import build_world
from tests.factories import API
from tests.live import LiveServer


def sign_in(page: object, token: str) -> None:
    page.goto("/ui/")  # type: ignore[attr-defined]
    page.wait_for_url("**/ui/login?next=*")  # type: ignore[attr-defined]
    page.get_by_label("Token").fill(token)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="ML repos").wait_for()  # type: ignore[attr-defined]


def test_an_editor_browses_downloads_curates_compares_previews_and_signs_out(
    browser: object,
    server: LiveServer,
    tmp_path: Path,
) -> None:
    world = build_world(server)
    offline = OfflinePage(browser, server, viewport={"width": 1280, "height": 800})
    page = offline.page
    try:
        sign_in(page, world.editor.token)
        page.get_by_label("Search by name").fill(world.repo_name)
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name=world.repo_name).click()
        page.get_by_role("link", name="fraud-clf").click()
        page.get_by_role("link", name="v1", exact=True).click()
        page.get_by_role("heading", name="Files").wait_for()
        assert "sklearn" in page.locator("dl.facts").first.inner_text()

        page.get_by_role("link", name="weights/").click()
        page.get_by_role("heading", name="Files in weights").wait_for()
        with page.expect_download() as info:
            page.get_by_role("link", name="model.bin").click()
        saved = tmp_path / "model.bin"
        info.value.save_as(saved)
        assert saved.read_bytes() == world.files["weights/model.bin"]

        page.get_by_label("Tags (comma-separated)").fill("prod, champion")
        page.get_by_role("button", name="Save tags").click()
        page.get_by_role("status").wait_for()
        page.get_by_label("Alias").fill("v1-stable")
        page.get_by_role("button", name="Save description and alias").click()
        page.locator(".alias", has_text="v1-stable").wait_for()
        assert page.locator("h1 + p .tag").all_inner_texts() == ["prod", "champion"]
        with server.client(world.owner) as api:
            stored = api.get(f"{API}/model-versions/{world.model_version['id']}").json()["data"]
        assert stored["tags"] == ["prod", "champion"] and stored["version_alias"] == "v1-stable"

        page.goto(f"/ui/repos/{world.repo['id']}/runs")
        page.get_by_label("Compare baseline").check()
        page.get_by_label("Compare tuned").check()
        page.get_by_role("button", name="Compare selected runs").click()
        chart = page.locator("figure.chart[data-drawn]")
        chart.wait_for()
        assert chart.get_attribute("data-drawn") == "4"  # steps 0-3 on the x axis
        assert chart.locator("canvas").count() >= 1
        assert page.locator("tr.differs th", has_text="lr").count() == 1

        page.goto(f"/ui/repos/{world.repo['id']}/prompts")
        page.get_by_role("link", name="support-bot").click()
        page.get_by_role("link", name="v1", exact=True).click()
        page.get_by_label("topic").fill("volcanoes")
        page.get_by_role("button", name="Preview").click()
        assert "Tell me about volcanoes." in page.locator("section.rendered").inner_text()

        page.get_by_role("button", name="Sign out").click()
        page.get_by_text("You are signed out.").wait_for()
        page.goto("/ui/")
        page.wait_for_url("**/ui/login?next=*")
        assert offline.outside == []
        assert offline.hosts == {"127.0.0.1"}
    finally:
        offline.close()


def test_a_viewer_is_refused_and_an_outsider_sees_no_trace(browser: object, server: LiveServer) -> None:
    world = build_world(server)
    version_page = f"/ui/model-versions/{world.model_version['id']}"
    viewer = OfflinePage(browser, server, viewport={"width": 420, "height": 800})  # a narrow window
    try:
        page = viewer.page
        sign_in(page, world.viewer.token)
        page.goto(version_page)
        page.get_by_role("heading", name="Files").wait_for()
        assert page.get_by_role("button", name="Save tags").count() == 0
        csrf = page.locator("form.who input[name=csrf_token]").get_attribute("value")
        refused = page.request.post(f"{version_page}/tags", form={"csrf_token": csrf, "tags": "hijacked"})
        assert refused.status == 403 and "editor role" in refused.text()
        assert refused.headers["content-type"].startswith("text/html")
        assert viewer.outside == []
    finally:
        viewer.close()

    outsider = OfflinePage(browser, server)
    try:
        page = outsider.page
        sign_in(page, world.outsider.token)
        assert world.repo_name not in page.content()
        page.goto(f"/ui/repos/{world.repo['id']}/models")
        assert page.get_by_role("heading", name="404 · Not found").count() == 1
        page.goto(version_page)
        assert "fraud-clf" not in page.content() and world.repo_name not in page.content()
        assert outsider.outside == []
    finally:
        outsider.close()
