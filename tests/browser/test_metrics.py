"""The insights pages in a real Chromium: charts drawn by the vendored vega under the app's CSP."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def _login(server: LiveServer, role: str) -> str:
    return next(login.email for login in server.logins.values() if login.role == role)


def _previous_quarter(page: Page) -> str:
    """The quarter before the current one: the demo has closed deals in it."""
    label = page.locator("#period-select option[selected]").get_attribute("value") or ""
    year, quarter = int(label[:4]), int(label[-1])
    return f"{year - 1}-Q4" if quarter == 1 else f"{year}-Q{quarter - 1}"


def test_executive_reads_metrics_with_charts(page: Page, live_server: LiveServer) -> None:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, live_server, _login(live_server, "executive"))
    page.get_by_role("link", name="Metrics").click()
    expect(page).to_have_title(re.compile("Metrics"))
    quarter = _previous_quarter(page)
    page.get_by_label("Reporting period").fill(quarter)
    page.get_by_label("Break down by").select_option("office")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("metric-win_rate")).to_have_text(re.compile(r"\d+\.\d %"))
    # The demo sets bookings quotas for the last four quarters and the next one.
    expect(page.locator("[data-metric=quota_attainment]")).to_contain_text(re.compile(r"\d+\.\d %"))
    for chart in page.locator("[data-chart-spec]").all():
        expect(chart).to_have_attribute("data-chart-ready", "true", timeout=15_000)
        expect(chart.locator("svg").first).to_be_visible()
    assert not [error for error in errors if "Content Security Policy" in error or "unsafe-eval" in error]
    offices = page.get_by_test_id("sliced").locator("tbody th").all_inner_texts()
    assert len(offices) >= 2
    screenshot(page, "insights-metrics")


def test_win_loss_funnel_and_waterfall_pages(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, _login(live_server, "manager"))
    page.goto(live_server.base_url + "/insights/metrics")
    quarter = _previous_quarter(page)
    page.goto(f"{live_server.base_url}/insights/win-loss?period={quarter}")
    expect(page.get_by_test_id("no-decision")).to_have_text(re.compile(r"\d"))
    expect(page.locator("[data-chart-spec]").first).to_have_attribute(
        "data-chart-ready", "true", timeout=15_000
    )
    screenshot(page, "insights-win-loss")
    page.goto(f"{live_server.base_url}/insights/funnel?period={quarter}")
    expect(page.get_by_test_id("funnel")).to_be_visible()
    expect(page.locator("[data-chart-spec]").first).to_have_attribute(
        "data-chart-ready", "true", timeout=15_000
    )
    screenshot(page, "insights-funnel")
    page.get_by_role("link", name="Waterfall").click()
    expect(page.get_by_test_id("waterfall")).to_be_visible()
    expect(page.locator("[data-chart-spec]").first).to_have_attribute(
        "data-chart-ready", "true", timeout=15_000
    )
    start = page.locator("[data-step=Start] td").first.inner_text()
    end = page.locator("[data-step=End] td").first.inner_text()
    assert start.startswith("$")
    assert end.startswith("$")
    screenshot(page, "insights-waterfall")
