"""End to end in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

Starts ``promolab dashboard`` on a free port on 127.0.0.1 against a demo registry in a temp
dir, opens every page, checks that charts render and no Streamlit exception box appears,
submits the launch form and finds the new experiment in the list, and takes screenshots of
the Report and Bandit pages into a temporary folder (tests never rewrite tracked files); to
regenerate the README's, name the folder: ``PROMOLAB_SCREENSHOTS=docs/screenshots``.
"""

from __future__ import annotations

import os
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
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PLOT = ".js-plotly-plot"
EXCEPTION = '[data-testid="stException"]'
RUNNING = '[data-testid="stStatusWidget"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def promolab_command() -> list[str]:
    script = Path(sys.executable).with_name("promolab")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from promolab.cli import main; main()"]


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
            time.sleep(0.3)
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


def settle(driver, charts: int = 0, text: str | None = None, timeout: float = 25) -> None:
    """Wait until the script run is over: ``charts`` plotly charts drawn, ``text`` shown, not running."""
    wait = WebDriverWait(driver, timeout, poll_frequency=0.25)
    try:
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"]'))
        if text:
            wait.until(lambda d: text in d.find_element(By.TAG_NAME, "body").text)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, PLOT)) >= charts
                   or d.find_elements(By.CSS_SELECTOR, EXCEPTION))
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, RUNNING)
                   or "Running" not in d.find_element(By.CSS_SELECTOR, RUNNING).text)
    except TimeoutException:
        pytest.fail(f"page {driver.current_url} did not settle; it shows:\n"
                    + driver.find_element(By.TAG_NAME, "body").text[:3000])
    time.sleep(0.5)  # let plotly finish drawing
    assert "Page not found" not in driver.find_element(By.TAG_NAME, "body").text, driver.current_url
    boxes = driver.find_elements(By.CSS_SELECTOR, EXCEPTION)
    assert not boxes, f"Streamlit exception on {driver.current_url}: {boxes[0].text}"
    assert len(driver.find_elements(By.CSS_SELECTOR, PLOT)) >= charts


def open_page(driver, base: str, path: str, charts: int = 0, text: str | None = None) -> None:
    driver.get(f"{base}/{path}")
    settle(driver, charts, text)


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


def screenshot(driver, folder: Path, name: str, height: int) -> Path:
    driver.set_window_size(1440, height)
    driver.execute_script("document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    time.sleep(1.0)
    path = folder / name
    assert driver.save_screenshot(str(path))
    driver.set_window_size(1440, 1100)
    return path


@pytest.fixture(scope="module")
def hillstrom_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from promolab.demo import hillstrom_frame

    path = tmp_path_factory.mktemp("upload") / "hillstrom.parquet"
    hillstrom_frame().to_parquet(path, index=False)
    return path


def test_dashboard_end_to_end(server: str, browser, hillstrom_parquet: Path, shots: Path) -> None:
    started = time.monotonic()
    d = browser

    open_page(d, server, "", text="hillstrom-email")  # Experiments is the default page
    body = d.find_element(By.TAG_NAME, "body").text
    assert "coupon-bandit" in body and "ship: mens-email" in body

    open_page(d, server, "report?experiment=hillstrom-email", charts=1, text="SHIP")
    assert "Sample ratio mismatch" not in d.find_element(By.TAG_NAME, "body").text
    shot = screenshot(d, shots, "report.png", 1400)
    assert shot.stat().st_size > 20_000

    open_page(d, server, "bandit?experiment=coupon-bandit", charts=4, text="Best arm so far")
    shot = screenshot(d, shots, "bandit.png", 1300)
    assert shot.stat().st_size > 20_000

    open_page(d, server, "sequential?experiment=hillstrom-email", charts=3, text="hash of the user id")

    open_page(d, server, "targeting?experiment=hillstrom-targeted", charts=2, text="Allocation by segment")
    assert "Policy vs holdout" in d.find_element(By.TAG_NAME, "body").text
    open_page(d, server, "targeting?experiment=hillstrom-email", charts=3, text="How well do the models rank users?")
    assert "Does targeting pay?" in d.find_element(By.TAG_NAME, "body").text
    shot = screenshot(d, shots, "targeting.png", 1500)
    assert shot.stat().st_size > 20_000

    open_page(d, server, "simulation", text="Run simulation")
    click_button(d, "Run simulation")
    settle(d, charts=5, text="Lowest regret", timeout=40)

    open_page(d, server, "analyze", text="Upload a CSV")
    d.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(hillstrom_parquet))
    settle(d, charts=1, text="SHIP")
    assert "hillstrom.parquet" in d.find_element(By.TAG_NAME, "body").text

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
    assert time.monotonic() - started < 90
