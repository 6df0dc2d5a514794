"""The docs pages in a real browser (Debian's headless chromium driven by playwright), with no network:
every request that does not go to the live server is aborted, and the test fails if there was any."""

from __future__ import annotations

from tests.browser import OfflinePage
from tests.live import LiveServer, LiveUser


def test_swagger_ui_try_it_out_lists_models_with_a_bearer_token(
    offline_page: OfflinePage, server: LiveServer, user: LiveUser
) -> None:
    page = offline_page.page
    page.goto("/docs")
    # Every tag is listed, collapsed; opened, each shows every documented operation of its tag.
    with server.client() as client:
        document = client.get("/openapi.json").json()
    per_tag: dict[str, int] = {}
    for item in document["paths"].values():
        for operation in item.values():
            per_tag[operation["tags"][0]] = per_tag.get(operation["tags"][0], 0) + 1
    page.wait_for_selector("h3.opblock-tag")
    assert sorted(page.locator("h3.opblock-tag").evaluate_all("tags => tags.map(tag => tag.dataset.tag)")) == sorted(
        per_tag
    )
    assert page.locator(".opblock").count() == 0
    for tag, count in per_tag.items():
        heading = page.locator(f"h3.opblock-tag[data-tag='{tag}']")
        heading.click()
        section = page.locator(".opblock-tag-section.is-open")
        section.locator(".opblock").nth(count - 1).wait_for()
        assert section.locator(".opblock").count() == count, tag
        heading.click()
        page.locator(".opblock-tag-section.is-open").wait_for(state="detached")
    # Tag headings carry their descriptions (which may mention models): find the heading by its tag.
    page.locator("h3.opblock-tag[data-tag='Models']").click()

    page.click("button.authorize")
    dialog = page.locator(".dialog-ux")
    dialog.locator("input").first.fill(user.token)
    dialog.locator(".auth-btn-wrapper button.authorize").click()
    dialog.locator("button.btn-done").click()

    operation = page.locator("#operations-Models-list_models")
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    body = operation.locator(".live-responses-table .response-col_description pre").first.inner_text()
    assert '"pagination"' in body and '"data"' in body
    assert f"Bearer {user.token}" in operation.locator(".curl-command").inner_text()
    assert offline_page.outside == []


def test_redoc_renders_the_operations_offline(offline_page: OfflinePage) -> None:
    page = offline_page.page
    page.goto("/redoc")
    page.locator("h2", has_text="List models").first.wait_for()
    assert page.locator("h2", has_text="Create a model version").count() >= 1
    assert page.locator("[data-section-id^='tag/']").count() >= 3
    assert offline_page.outside == []
