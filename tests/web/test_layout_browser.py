"""Every page at phone width (390×844) and on a laptop (1280×800): nothing wider than the
screen, every header control and every page action inside it."""

from __future__ import annotations

from typing import Any

import pytest

from web.conftest import SCREENSHOTS

from conftest import ADMIN_PASSWORD, Database
from support.page_rows import PageRows, build_page_rows

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]

# What a user must be able to reach on each page: the header's links and buttons, and the
# page's own buttons (the datasets list's forms, Edit on the devices list, the train button…).
HEADER = "nav.sidebar a, nav.sidebar button"
ACTIONS = "main .page-head a, main .button, main summary.button, main button"


def pages(rows: PageRows) -> dict[str, str]:
    return {
        "datasets": "/datasets",
        "dataset": f"/datasets/{rows.dataset_id}",
        "import": "/datasets#import-form",
        "models": "/models",
        "model": f"/models/{rows.model_id}",
        "queued-model": f"/models/{rows.queued_model_id}",
        "train": f"/models/new?dataset_id={rows.dataset_id}",
        "compiled-list": "/compiled",
        "compiled": f"/compiled/{rows.compiled_id}",
        "devices": "/devices",
        "device": f"/devices/{rows.device_id}",
        "jobs": "/jobs",
        "job": f"/jobs/{rows.install_job_id}",
        "not-found": "/no-such-page",
    }


OVERFLOW = """([header, actions]) => {
  const width = window.innerWidth;
  const outside = (selector) => [...document.querySelectorAll(selector)]
    .filter((element) => element.getClientRects().length
      && !element.closest("[hidden], details:not([open]) > :not(summary)"))
    .map((element) => [element, element.getBoundingClientRect()])
    .filter(([, box]) => box.width > 0 && (box.left < -0.5 || box.right > width + 0.5))
    .map(([element, box]) =>
      `${element.outerHTML.slice(0, 80)} at ${Math.round(box.left)}..${Math.round(box.right)}`);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    width,
    header: outside(header),
    actions: outside(actions),
    headerHeight: (document.querySelector("nav.sidebar") || {offsetHeight: 0}).offsetHeight,
  };
}"""


def check_every_page(context: Any, server_url: str, rows: PageRows, size: str) -> None:
    page = context.new_page()
    page.goto(f"{server_url}/login")
    report = page.evaluate(OVERFLOW, [HEADER, ACTIONS])
    assert report["scrollWidth"] <= report["width"], f"login at {size}: {report}"
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server_url}/datasets")
    problems = []
    for name, path in pages(rows).items():
        page.goto(f"{server_url}{path}")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SCREENSHOTS / f"{size}-{name}.png"), full_page=True)
        report = page.evaluate(OVERFLOW, [HEADER, ACTIONS])
        too_wide = report["scrollWidth"] > report["width"]
        if too_wide or report["header"] or report["actions"]:
            problems.append(f"{name}: {report}")
        # On a phone the bar above the page stays compact, even on a short page.
        if size == "390" and report["headerHeight"] > page.viewport_size["height"] / 5:
            problems.append(f"{name}: the header is {report['headerHeight']} px high")
    assert not problems, "\n".join(problems)
    page.close()


def test_every_page_fits_a_phone_and_a_laptop(
    server_url: str, database: Database, browser_context: Any
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    rows = build_page_rows(server_url, database)
    browser = browser_context.browser
    for width, height in ((390, 844), (1280, 800)):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(20_000)
        try:
            check_every_page(context, server_url, rows, str(width))
        finally:
            context.close()
