"""End to end in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

Starts ``promolab dashboard`` on a free port on 127.0.0.1 against a demo registry in a temp
dir. The first test reads every page as a marketer would, at 1280×800 and 1920×1080, and fails
on a Streamlit exception, a table or chart wider than its container (outside the "details"
expanders), text cut off with "…" (CSS ellipsis or a chart label), a chart label drawn outside
its chart, a variant key where the spec has a name, and a page slower than its budget. The
second uses the pages: runs a simulation, uploads a file, submits the launch form and finds the
new experiment in the list. Screenshots go to a temporary folder (tests never rewrite tracked
files); ``docs/refresh-screenshots.sh`` names the folder to refresh the README's:
``PROMOLAB_SCREENSHOTS=docs/screenshots``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS_ENV = "PROMOLAB_SCREENSHOTS"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                     "(apt-get install -y chromium chromium-driver)"),
    pytest.mark.skipif(not CHROMEDRIVER.exists(), reason="needs Debian's chromium-driver at /usr/bin/chromedriver "
                                                         "(apt-get install -y chromium chromium-driver)"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[dev]')")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dashboards"))
from ui import frontend  # noqa: E402  (which element modules the pages preload)

pytestmark.append(pytest.mark.xdist_group("browser"))  # one dashboard server for the module

PLOT = ".js-plotly-plot"
EXCEPTION = '[data-testid="stException"]'
RUNNING = '[data-testid="stStatusWidget"]'
SETTLE_PAUSE = 0.5
POLL = 0.05  # seconds between checks: the times are measured to this resolution
# Whether a page is drawn, checked in one script: the page's text as the browser lays it out
# (innerText), its charts, and the script run over (Streamlit's state of the run on its root
# element, and its running indicator). Selenium's ``.text`` computes the
# visibility of every element in JavaScript: polled every 50 ms it took 0.2-0.5 s of the
# browser's main thread on a first load, slowing the very page being timed.
DRAWN_JS = f"""
const [text, charts] = arguments;
if (!document.querySelector('[data-testid="stMain"]')) return false;
if (text && !document.body.innerText.includes(text)) return false;
if (document.querySelectorAll('{PLOT}').length < charts && !document.querySelector('{EXCEPTION}')) return false;
const app = document.querySelector('[data-testid="stApp"]');
if (app && app.getAttribute('data-test-script-state') === 'running') return false;
const running = document.querySelector('{RUNNING}');
return !(running && running.innerText.includes('Running'));
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def promolab_command() -> list[str]:
    script = Path(sys.executable).with_name("promolab")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from promolab.cli import main; main()"]


STARTED: dict[str, float] = {}


@pytest.fixture(scope="module")
def server(browser_db: Path, tmp_path_factory: pytest.TempPathFactory):
    """``promolab dashboard --db DEMO --port N --host 127.0.0.1`` until the module's tests end."""
    port = free_port()
    home = tmp_path_factory.mktemp("home")
    log = open(home / "dashboard.log", "w+")
    env = {**os.environ, "HOME": str(home)}  # streamlit's ~/.streamlit lands in the temp dir
    env.pop("PROMOLAB_DB", None)
    proc = subprocess.Popen(promolab_command() + ["dashboard", "--db", str(browser_db), "--port", str(port),
                                                  "--host", "127.0.0.1"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    STARTED["at"] = time.monotonic()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"dashboard did not start (exit {proc.poll()}):\n{log.read()}")
            time.sleep(POLL)
        yield base
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1440,1100",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def settle(driver, charts: int = 0, text: str | None = None, timeout: float = 25) -> float:
    """Wait until the script run is over: ``charts`` plotly charts drawn, ``text`` shown, not running;
    the time (``time.monotonic()``) it was seen settled, before the checks that follow."""
    wait = WebDriverWait(driver, timeout, poll_frequency=POLL)
    try:
        wait.until(lambda d: d.execute_script(DRAWN_JS, text or "", charts))
    except TimeoutException:
        pytest.fail(f"page {driver.current_url} did not settle; it shows:\n"
                    + driver.find_element(By.TAG_NAME, "body").text[:3000])
    settled = time.monotonic()
    time.sleep(SETTLE_PAUSE)  # let plotly finish drawing
    assert "Page not found" not in driver.find_element(By.TAG_NAME, "body").text, driver.current_url
    boxes = driver.find_elements(By.CSS_SELECTOR, EXCEPTION)
    assert not boxes, f"Streamlit exception on {driver.current_url}: {boxes[0].text}"
    assert len(driver.find_elements(By.CSS_SELECTOR, PLOT)) >= charts
    return settled


def open_page(driver, base: str, path: str, charts: int = 0, text: str | None = None) -> float:
    driver.get(f"{base}/{path}")
    return settle(driver, charts, text)


GRID_ROW_PX = 35  # Streamlit's data grid: the header's and each row's height
GRID_MARKER_PX = 18  # the middle of the row-selection column, from the grid's left edge


def select_grid_row(driver, index: int) -> None:
    """Tick the selection box of row ``index`` (0-based) of the page's first data grid (a canvas)."""
    grid = driver.find_element(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')
    box = grid.rect
    ActionChains(driver).move_to_element_with_offset(
        grid, -box["width"] / 2 + GRID_MARKER_PX, -box["height"] / 2 + GRID_ROW_PX * (index + 1.5)).click().perform()


def click_button(driver, label: str) -> None:
    button = driver.find_element(By.XPATH, f"//button[contains(normalize-space(.), '{label}')]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $PROMOLAB_SCREENSHOTS (e.g. docs/screenshots), else a temp folder."""
    folder = Path(os.environ[SCREENSHOTS_ENV]) if os.environ.get(SCREENSHOTS_ENV) else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def hillstrom_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from promolab.demo import hillstrom_frame

    path = tmp_path_factory.mktemp("upload") / "hillstrom.parquet"
    hillstrom_frame().to_parquet(path, index=False)
    return path


# -- every page, as a marketer reads it, at two window sizes ------------------------------------

SIZES = ((1280, 800), (1920, 1080))
FIRST_PAGE_BUDGET = 3.0  # seconds from `promolab dashboard` to the Experiments page, all of it drawn
# A visit: load a URL (a fresh browser session) or click a page in the sidebar (the session keeps
# the selected experiment); the text that shows the page is drawn; its plotly charts; the budget
# (s) from the click to the page settled. The browser loads plotly's module (4.7 MB) as soon as the
# first page is drawn (``ui.frontend.preload``), so the first page with charts needs no more than
# the others, even clicked at once. The A/B Targeting page shows uplift models cross-fitted on
# 64,000 users: the prefetch computes them in a low-priority process (about 2 s of work), which a
# visit within seconds of the start may wait for (0.9-1.3 s measured, about 7 s after the start).
VISITS = (
    ("load", "", "Ship Mens E-Mail", 0, 3.0),  # a verdict: the list is drawn before the reports are done
    ("click", "Report", "SHIP", 4, 2.0),  # the first experiment: hillstrom-email
    ("click", "Sequential", "hash of the user id", 3, 2.0),
    ("click", "Targeting", "How well do the models rank users?", 3, 2.0),
    ("click", "Bandit", "Best arm so far", 4, 2.0),  # the only bandit: now the selected experiment
    ("click", "Report", "Bandit page", 1, 2.0),
    ("click", "Launch", "Create experiment", 0, 2.0),
    ("click", "Simulation lab", "Run simulation", 0, 2.0),
    ("click", "Analyze a file", "Upload a CSV", 0, 2.0),
    ("load", "targeting?experiment=hillstrom-targeted", "Allocation by segment", 2, 3.0),
)
# In the suite two test workers share two cores with the browser and the server, so budgets are
# checked with slack: 3× under pytest-xdist, 2× alone; PROMOLAB_BUDGET_SLACK=1 checks them exactly
# (on an idle machine). The measured times are printed either way.
SLACK = float(os.environ.get("PROMOLAB_BUDGET_SLACK", "3" if os.environ.get("PYTEST_XDIST_WORKER") else "2"))
# The Targeting page may wait for the prefetch's worker, which runs at the lowest CPU priority and
# so yields to any other process: in the suite, to the other test worker (6.2 s measured there).
# With slack, its budget also allows the worker's own work at that slack; exactly, 2 s.
WORKER_WORK = 3.0  # seconds of one core: the uplift models with their imports, on the demo

LAYOUT_JS = """
const main = document.querySelector('[data-testid="stMain"]');
const out = {overflow: [], clipped: [], text: ''};
const inDetails = e => e.closest('[data-testid="stExpander"]') !== null;
main.querySelectorAll('.dvn-scroller').forEach(e => {
  if (!inDetails(e) && e.scrollWidth > e.clientWidth + 2)
    out.overflow.push(`table ${e.scrollWidth}px in ${e.clientWidth}px`);
});
main.querySelectorAll('.js-plotly-plot').forEach(e => {
  const svg = e.querySelector('svg.main-svg');
  if (!svg) return;
  const box = svg.getBoundingClientRect();
  const room = (e.closest('[data-testid="stElementContainer"]') || e.parentElement).getBoundingClientRect();
  if (box.width > room.width + 2) out.overflow.push(`chart ${box.width}px in ${room.width}px`);
  e.querySelectorAll('text').forEach(t => {
    const r = t.getBoundingClientRect();
    if (r.width > 0 && (r.right > box.right + 1 || r.left < box.left - 1))
      out.overflow.push(`chart label outside its chart: ${t.textContent.slice(0, 80)}`);
    if (t.textContent.includes('…')) out.clipped.push(t.textContent);
  });
});
main.querySelectorAll('*').forEach(e => {
  if (getComputedStyle(e).textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth + 1 && e.innerText)
    out.clipped.push(e.innerText.slice(0, 120));
});
const prose = main.cloneNode(true);
prose.querySelectorAll('code, pre').forEach(c => c.remove());  // reproduce commands name keys, rightly
const labels = [...main.querySelectorAll('svg text')].map(t => t.textContent);
out.text = prose.innerText + '\\n' + labels.join('\\n');
return out;
"""


def variant_keys_with_names(db: Path) -> list[str]:
    """Variant keys of the demo whose spec names differ from them: none may show on a page."""
    from promolab.store import Registry

    registry = Registry.open(db)
    try:
        return sorted({v.key for k in registry.experiment_keys() for v in registry.get_experiment(k).variants
                       if v.name and v.name != v.key})
    finally:
        Registry.close_if_open(db)


def layout_problems(driver, keys: list[str]) -> list[str]:
    found = driver.execute_script(LAYOUT_JS)
    problems = found["overflow"] + [f"cut off: {t!r}" for t in found["clipped"]]
    for key in keys:
        if re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", found["text"]):
            problems.append(f"variant key {key!r} shown instead of its name")
    problems += [f"{word!r} shown" for word in ("None", "nan") if re.search(rf"\b{word}\b", found["text"])]
    return problems


def preload_problems(driver, elements: tuple[str, ...]) -> list[str]:
    """The element modules ``ui.frontend.preload`` was to load that this page has not: each is
    imported once per page, its own imports preloaded by a ``<link rel="modulepreload">``. The
    idle preload waits for the page to be quiet and the browser idle: up to 5 s are allowed."""
    planned = frontend.plan(elements)
    script = "return [...(window.__promolabModules || [])]"
    try:
        WebDriverWait(driver, 5, poll_frequency=POLL).until(
            lambda d: {element for element, _ in planned} <= set(d.execute_script(script)))
    except TimeoutException:
        pass  # named below
    loaded = set(driver.execute_script(script))
    links = set(driver.execute_script(
        "return [...document.querySelectorAll('link[rel=modulepreload]')].map(l => l.href.split('/').pop())"))
    problems = []
    for element, imports in planned:
        if element not in loaded:
            problems.append(f"{element} was not preloaded")
        elif not set(imports) <= links:
            problems.append(f"{element}: no modulepreload for {sorted(set(imports) - links)[:3]}")
    return problems


def visit(driver, base: str, how: str, where: str, text: str, charts: int) -> float:
    """Load or click a page; when it was seen settled."""
    if how == "load":
        return open_page(driver, base, where, charts=charts, text=text)
    link = driver.find_element(By.XPATH, f"//section[@data-testid='stSidebar']//a[.//span[normalize-space()="
                                         f"'{where}']]")
    link.click()
    return settle(driver, charts, text)


@pytest.fixture(scope="module")
def named_variants(browser_db: Path) -> list[str]:
    """``variant_keys_with_names``, read before the server starts: reading it after cost the
    timed first page 0.3 s of this process opening the registry."""
    return variant_keys_with_names(browser_db)


def test_every_page_fits_reads_and_loads_in_budget(browser, named_variants: list[str], server: str,
                                                   shots: Path) -> None:
    d = browser
    keys = named_variants
    assert {"mens-email", "pct20"} <= set(keys)
    problems, timings, taken = [], {}, set()
    for width, height in SIZES:
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        for step, (how, where, text, charts, budget) in enumerate(VISITS, start=1):
            name = f"{width}x{height} #{step} {how} {where or 'Experiments'}"
            begun = time.monotonic()
            settled = visit(d, server, how, where, text, charts)
            elapsed = settled - begun
            if not timings:  # the very first page of a fresh server: timed from its start
                elapsed, budget = settled - STARTED["at"], FIRST_PAGE_BUDGET
                problems += [f"{name}: {p}" for p in preload_problems(d, frontend.PAGE_ELEMENTS)]
            timings[name] = round(elapsed, 2)
            if where == "Targeting" and SLACK > 1:
                budget += WORKER_WORK
            if elapsed > budget * SLACK:
                problems.append(f"{name}: {elapsed:.1f} s, budget {budget:g} s (× {SLACK:g})")
            problems += [f"{name}: {p}" for p in layout_problems(d, keys)]
            page = d.current_url.split("/")[-1].split("?")[0]
            if width == 1280 and page in SCREENSHOTS and SCREENSHOTS[page] not in taken:
                taken.add(SCREENSHOTS[page])
                page_screenshot(d, shots, SCREENSHOTS[page], width, height)
    problems += [f"after every page: {p}" for p in preload_problems(d, frontend.LATER_ELEMENTS)]
    print("page times (s):", timings)
    assert not problems, "\n".join(problems) + f"\npage times (s): {timings}"


SCREENSHOTS = {"report": "report.png", "bandit": "bandit.png", "targeting": "targeting.png"}


def page_screenshot(driver, folder: Path, name: str, width: int, height: int) -> None:
    """The top of the page (up to 1,600 px), as the README shows it; the window then returns to
    ``width`` × ``height``."""
    height = min(driver.execute_script("return document.querySelector('[data-testid=\"stMain\"]').scrollHeight"),
                 1600)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    time.sleep(1.0)
    assert driver.save_screenshot(str(folder / name))
    assert (folder / name).stat().st_size > 20_000
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def test_dashboard_end_to_end(named_variants: list[str], server: str, browser, browser_db: Path,
                              hillstrom_parquet: Path) -> None:
    """Use the pages at 1280×800; what an interaction draws must fit and read like every page."""
    started = time.monotonic()
    d = browser
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    keys = named_variants

    open_page(d, server, "", text="hillstrom-email")  # Experiments is the default page
    body = d.find_element(By.TAG_NAME, "body").text
    assert "coupon-bandit" in body and "Ship Mens E-Mail" in body
    d.find_element(By.XPATH, "//summary[contains(., 'Filter by status')]").click()  # drawn once opened
    settle(d, text="Search key, name or owner")
    assert not layout_problems(d, keys)
    select_grid_row(d, 1)  # the targeted Hillstrom test: its name and the buttons that open it
    WebDriverWait(d, 10, poll_frequency=POLL).until(
        lambda d: d.find_elements(By.XPATH, "//*[@data-testid='stMain']//button[contains(., 'Report')]"))
    settle(d)
    assert "Hillstrom e-mail campaign: targeted\n" in d.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text
    click_button(d, "Report")
    settle(d, charts=1, text="hillstrom-targeted")
    assert d.current_url.split("?")[0].endswith("/report")

    open_page(d, server, "simulation", text="Run simulation")
    click_button(d, "Run simulation")
    settle(d, charts=5, text="Lowest regret", timeout=40)
    assert not layout_problems(d, keys)

    open_page(d, server, "analyze", text="Upload a CSV")
    d.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(hillstrom_parquet))
    settle(d, charts=1, text="SHIP")
    assert "hillstrom.parquet" in d.find_element(By.TAG_NAME, "body").text
    assert not layout_problems(d, [])  # a file has no spec: its variant values are the names

    open_page(d, server, "launch", text="Create experiment")
    key_input = d.find_element(By.CSS_SELECTOR, 'input[aria-label="Experiment key"]')
    key_input.send_keys(Keys.CONTROL, "a")
    key_input.send_keys(Keys.DELETE)
    key_input.send_keys("browser-promo", Keys.TAB)
    settle(d)
    assert d.find_element(By.CSS_SELECTOR, 'input[aria-label="Experiment key"]').get_attribute("value") == "browser-promo"
    click_button(d, "Create experiment")
    settle(d, text="Created browser-promo")

    open_page(d, server, "", text="browser-promo")
    assert "browser-promo" in d.find_element(By.TAG_NAME, "body").text
    assert not layout_problems(d, keys)  # a draft row: no launch, no verdict, no "None"
    assert time.monotonic() - started < 90
