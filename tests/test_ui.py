"""The UI in a real browser: `dagster dev` on a temporary DAGSTER_HOME, the global asset graph in
headless Chromium showing every group and asset of the code location with no first-visit dialog
over it, and its screenshot. The screenshot goes to a temporary folder, or to ASSET_GRAPH_PNG:
`make docs-picture` sets it and copies the result over the README's docs/asset-graph.png."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestration import definitions
from tests.ui_support import CHROMIUM, Page, chromium_page, dagster_dev, install_chromium, png_size

ROOT = Path(__file__).resolve().parent.parent
# Set by `make docs-picture`; the test alone writes nothing in the checkout.
SCREENSHOT = os.environ.get("ASSET_GRAPH_PNG")
IN_CI = os.environ.get("CI", "").lower() == "true"
WIDTH, HEIGHT = 1280, 1000
# The title of Dagster's first-visit dialog, which opens a second after a page's first load.
NUX_TITLE = "Join the Dagster community"
NUX_DELAY_S = 1.0
# Below this zoom the graph draws name-only boxes and middle-truncates long names ("sales_orde…").
MIN_READABLE_SCALE = 0.65

# What the page reports about the graph, polled from Python.
GRAPH_STATE = """(() => {
  const svg = [...document.querySelectorAll('svg')].find(
    (s) => (s.getAttribute('class') || '').includes('svgContainer'));
  if (!svg) return null;
  const viewport = svg.parentElement.parentElement.getBoundingClientRect();
  return {
    layout: [Number(svg.getAttribute('width')), Number(svg.getAttribute('height'))],
    viewport: [viewport.width, viewport.height],
    transform: svg.parentElement.style.transform,
    lines: document.body.innerText.split('\\n').map((l) => l.trim()).filter(Boolean),
    dialogs: [...document.querySelectorAll('[role=dialog]')].map((d) => d.innerText.slice(0, 200)),
  };
})()"""
# The asset graph's own sidebar (a group tree) would take a third of the screenshot.
HIDE_SIDEBAR = """(() => {
  const button = [...document.querySelectorAll('button')].find(
    (b) => b.querySelector('[aria-label="panel_show_right"]') && !b.innerText.trim());
  if (button) button.click();
  return Boolean(button);
})()"""
# A double click on the graph's background zooms it to fit the width (the UI's own gesture).
AUTOCENTER = """(() => {
  const svg = [...document.querySelectorAll('svg')].find(
    (s) => (s.getAttribute('class') || '').includes('svgContainer'));
  svg.parentElement.parentElement.dispatchEvent(
    new MouseEvent('dblclick', {bubbles: true, cancelable: true}));
})()"""


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get when it is missing and we are root."""
    reason = install_chromium()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the browser test must run)")
        pytest.skip(reason)
    return CHROMIUM


def expected_assets() -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for spec in definitions.defs().resolve_all_asset_specs():
        groups.setdefault(spec.group_name or "default", set()).add(spec.key.to_user_string())
    return groups


def wait_for(
    page: Page, ready: Callable[[dict[str, Any]], bool], deadline: float, what: str
) -> dict[str, Any]:
    state = None
    while True:
        state = page.evaluate(GRAPH_STATE)
        if state and ready(state):
            return state
        if time.monotonic() > deadline:
            lines = state["lines"] if state else page.evaluate("document.body?.innerText")
            raise AssertionError(f"{what}; the page shows:\n{lines}")
        time.sleep(0.25)


def open_asset_graph(page: Page, url: str, names: set[str], deadline: float) -> dict[str, Any]:
    """Load the graph, size the window so the whole graph fits at a readable zoom, and wait until
    every name is drawn (nodes outside the viewport are not rendered at all)."""
    page.send("Page.navigate", url=url)
    # The first asset drawn: the layout of the expanded groups is done.
    state = wait_for(
        page,
        lambda s: s["layout"][0] > 0 and not names.isdisjoint(s["lines"]),
        deadline,
        "no asset graph drawn",
    )
    if page.evaluate(HIDE_SIDEBAR):
        with_sidebar = state["viewport"][0]
        state = wait_for(
            page, lambda s: s["viewport"][0] > with_sidebar, deadline, "the sidebar stayed"
        )
    (layout_w, layout_h), (view_w, view_h) = state["layout"], state["viewport"]
    chrome_w, chrome_h = WIDTH - view_w, HEIGHT - view_h
    width = max(WIDTH, math.ceil(chrome_w + layout_w * MIN_READABLE_SCALE))
    scale = min(1.0, (width - chrome_w) / layout_w)  # the UI fits the graph's width, up to 100%
    height = math.ceil(chrome_h + layout_h * scale + 32)
    page.send(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    size = (width - chrome_w, height - chrome_h)
    wait_for(
        page,
        lambda s: all(abs(a - b) < 1 for a, b in zip(s["viewport"], size, strict=True)),
        deadline,
        f"the graph's viewport never became {size}",
    )
    page.evaluate(AUTOCENTER)
    # The zoom animates: wait for every name, then for the transform to settle.
    state = wait_for(
        page, lambda s: names <= set(s["lines"]), deadline, f"not every one of {sorted(names)}"
    )
    while True:
        time.sleep(0.5)
        settled = page.evaluate(GRAPH_STATE)
        if settled["transform"] == state["transform"] or time.monotonic() > deadline:
            return settled
        state = settled


@pytest.mark.slow
def test_asset_graph_shows_every_group_and_asset(chromium, tmp_path):
    started = time.monotonic()
    groups = expected_assets()
    assets = set().union(*groups.values())
    dagster_yaml = ROOT / "deploy" / "embedded" / "dagster.yaml"

    # Chromium starts while the code location loads.
    with dagster_dev(ROOT, tmp_path, dagster_yaml) as dev, chromium_page(WIDTH, HEIGHT) as page:
        dev.wait_for_assets(assets, timeout=120)
        timings = {"dagster dev up": time.monotonic() - started}
        assert signal.SIGINT not in dev.ignored_signals(), "dagster dev would ignore SIGINT"
        # The embedded instance turns the first-visit dialog off (nothing marks it seen here).
        assert dev.graphql("{ shouldShowNux }") == {"shouldShowNux": False}
        query = "{ assetNodes { groupName repository { name location { name } } } }"
        nodes = dev.graphql(query)["assetNodes"]
        # Every group expanded: `global@global:<group>`, or `<repo>@<location>:<group>` when the
        # UI's per-code-location grouping flag is on.
        expanded = sorted(
            {f"global@global:{n['groupName']}" for n in nodes}
            | {
                f"{n['repository']['name']}@{n['repository']['location']['name']}:{n['groupName']}"
                for n in nodes
            }
        )
        url = str(httpx.URL(f"{dev.url}/asset-groups", params={"expanded": ",".join(expanded)}))

        deadline = time.monotonic() + 90
        opened = time.monotonic()
        # A node shows the last part of its key: `lake/sales_orders` reads "sales_orders", with
        # its kind "Delta Lake" under it, beside the warehouse's "sales_orders" and "SQLite".
        labels = {name.rsplit("/", 1)[-1] for name in assets}
        lake_nodes = sum(name.startswith("lake/") for name in assets)
        state = open_asset_graph(page, url, set(groups) | labels, deadline)
        timings["names drawn"] = time.monotonic() - started
        # Live data (checks, partitions) fills in after the names; wait for it, briefly.
        soon = min(deadline, time.monotonic() + 20)
        while "Loading..." in state["lines"] and time.monotonic() < soon:
            time.sleep(0.25)
            state = page.evaluate(GRAPH_STATE)
        # A first visit (a new browser profile): the dialog would be up by now.
        time.sleep(max(0.0, opened + 2 * NUX_DELAY_S - time.monotonic()))
        state = page.evaluate(GRAPH_STATE)
        assert not state["dialogs"], f"a dialog covers the graph: {state['dialogs']}"
        assert NUX_TITLE not in state["lines"], state["lines"]
        lines = set(state["lines"])
        assert set(groups) <= lines, sorted(set(groups) - lines)
        assert labels <= lines, sorted(labels - lines)
        assert state["lines"].count("Delta Lake") == lake_nodes == 11, state["lines"]
        png = page.screenshot()
        timings["screenshot"] = time.monotonic() - started

        assert dev.stop() == 0, dev.log_tail()
        timings["stopped"] = time.monotonic() - started
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{dev.url}/server_info", timeout=2)

    width, height = png_size(png)
    assert width >= WIDTH and height >= HEIGHT and len(png) > 50_000, (width, height, len(png))
    screenshot = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "asset-graph.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(png)
    assert png_size(screenshot.read_bytes()) == (width, height)
    steps = ", ".join(f"{k} at {v:.1f} s" for k, v in timings.items())
    print(f"asset graph: {steps}; screenshot {width}x{height} in {screenshot}")
