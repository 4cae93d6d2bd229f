"""The review workbench in a real browser: roles and scope as the API's, the player synced to the
transcript, review and appeal through the pages, keyboard use, CSRF, accessibility, small screens."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Site, axe_violations, login

pytestmark = pytest.mark.slow


def test_supervisor_reviews_a_call(page: Any, site: Site) -> None:
    login(page, site, "sup1")
    assert page.url.endswith("/review")
    queued = page.locator("table.queue tbody tr a").all_inner_texts()
    assert set(queued) == {"call-t1", "call-t1b"}  # T1 only
    page.click("text=call-t1b")
    page.wait_for_url("**/conversations/call-t1b")
    turn = page.locator(".turn[data-start]").nth(2)
    start = float(turn.get_attribute("data-start"))
    turn.click()
    page.wait_for_function(f"Math.abs(document.querySelector('#player').currentTime - {start}) < 0.6")
    page.wait_for_function("document.querySelector('.turn.playing') !== null")
    before = page.inner_text("#qi")
    item = page.locator(".item[data-item='forbidden_phrase']")
    item.click()
    assert "lit" in (page.locator(".turn[data-turn='2']").get_attribute("class") or "")  # evidence lit up
    item.locator("input.comment").fill("语气生硬，但不构成禁语")
    item.locator("[data-action='overturn']").click()
    page.wait_for_function(f"document.querySelector('#qi').textContent !== {before!r}")
    assert page.inner_text("#qi") != before
    assert "通过" in item.locator("[data-verdict]").inner_text()
    page.reload()
    assert "人工" in page.locator(".item[data-item='forbidden_phrase'] .human").inner_text()
    page.click("text=退出")
    page.wait_for_url("**/login")


def test_another_teams_supervisor_gets_404(page: Any, site: Site) -> None:
    login(page, site, "sup2")
    assert page.locator("table.queue tbody tr a").all_inner_texts() == ["call-t2"]
    response = page.goto(site.base + "/conversations/call-t1")
    assert response.status == 404 and "找不到" in page.inner_text("h1")
    assert page.goto(site.base + "/conversations/call-t1/audio").status == 404


def test_agent_sees_only_their_own_and_appeals(page: Any, site: Site) -> None:
    login(page, site, "wang")
    assert page.url.endswith("/agents/A01")
    assert page.goto(site.base + "/conversations/call-t1b").status == 404  # A02's
    assert page.goto(site.base + "/agents/A02").status == 404
    assert page.goto(site.base + "/review").status == 403
    page.goto(site.base + "/conversations/call-t1")
    failed = page.locator(".item.verdict-fail").first
    failed.click()
    failed.locator("input.reason").fill("我已经道歉了")
    failed.locator("[data-action='appeal']").click()
    page.wait_for_function("document.querySelector('.scorecard .status').textContent.includes('申诉')")
    page.reload()
    assert "待处理" in page.inner_text(".appeals")


def test_kpi_user_has_no_transcript_pages(page: Any, site: Site) -> None:
    login(page, site, "kpi1")
    assert page.url.endswith("/no-pages")
    for path in ("/conversations/call-t1", "/teams/T1", "/agents/A01", "/review"):
        assert page.goto(site.base + path).status == 403, path


def test_keyboard_loop_and_help(page: Any, site: Site) -> None:
    login(page, site, "qa1")
    page.keyboard.press("j")
    assert page.locator("table.queue tr.selected").count() == 1
    page.keyboard.press("Enter")
    page.wait_for_url("**/conversations/**")
    page.keyboard.press("n")
    assert page.locator(".item.selected").count() == 1
    comment = page.locator(".item.selected input.comment")
    if comment.count():
        comment.type("why?")  # typing ? in a field is text, not the help key
        assert comment.input_value() == "why?" and not page.locator("#help").evaluate("d => d.open")
        comment.evaluate("el => el.blur()")
    page.keyboard.press("Shift+?")
    assert page.locator("#help").evaluate("d => d.open")
    page.keyboard.press("Escape")
    page.evaluate("document.querySelector('#player').load()")  # headless Chromium may defer a preload
    page.wait_for_function("document.querySelector('#player').readyState >= 1")  # the recording is there
    page.keyboard.press(" ")
    page.wait_for_function("!document.querySelector('#player').paused")
    page.keyboard.press(" ")
    page.wait_for_function("document.querySelector('#player').paused")


def test_forms_without_the_csrf_token_are_refused(page: Any, site: Site) -> None:
    login(page, site, "qa1")
    refused = page.request.post(
        site.base + "/ui/conversations/call-t1/review", data={"items": {"greeting": {"verdict": "pass"}}}
    )
    assert refused.status == 403
    assert page.request.post(site.base + "/logout", form={}).status == 403
    assert page.request.post(
        site.base + "/login", form={"username": "qa1", "password": "qa1-password"}
    ).url.endswith("error=expired&next=")


@pytest.mark.parametrize(
    "path", ["/review", "/conversations/call-t1", "/agents/A01", "/teams/T1", "/reports/agreement"]
)
def test_pages_have_no_serious_accessibility_violations(page: Any, site: Site, path: str) -> None:
    login(page, site, "qa1" if path != "/teams/T1" else "sup1")
    page.goto(site.base + path)
    assert axe_violations(page) == []


def test_login_page_is_accessible(page: Any, site: Site) -> None:
    page.goto(site.base + "/login")
    assert axe_violations(page) == []


def test_pages_fit_a_phone(browser: Any, site: Site) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    login(page, site, "sup1")
    for path in ("/review", "/conversations/call-t1", "/teams/T1"):
        page.goto(site.base + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 392, path
    context.close()


def test_bad_query_parameters_get_an_error_page_not_json(page: Any, site: Site) -> None:
    login(page, site, "qa1")
    for query in ("page=0", "from=garbage", "state=bogus&team=&from=&to="):
        response = page.goto(site.base + "/review?" + query)
        assert response.status in (200, 422), query
        assert page.locator("header.top").count() == 1  # a page with the menu, not a JSON body


def test_a_failed_login_keeps_the_user_name_and_denials_read_in_chinese(page: Any, site: Site) -> None:
    page.goto(site.base + "/login")
    page.fill("#username", "sup1")
    page.fill("#password", "wrong-password")
    page.click("button[type=submit]")
    page.wait_for_url("**/login?error=bad*")
    assert page.input_value("#username") == "sup1"
    assert page.evaluate("document.activeElement.id") == "password"
    login(page, site, "wang")
    assert page.goto(site.base + "/review").status == 403
    assert "您的角色不能打开这个页面" in page.inner_text("main")
    assert page.goto(site.base + "/conversations/nope").status == 404
    assert "不在您的查看范围内" in page.inner_text("main")
