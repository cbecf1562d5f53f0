"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium.

Nothing downloads a browser: the system binaries are named explicitly, so Selenium Manager never runs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,1000",
)


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a new empty profile; its console is readable with ``console_errors``."""
    with tempfile.TemporaryDirectory(prefix="rca-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=DriverService(executable_path=CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The browser console's errors since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_for(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], Any], timeout: float = 30) -> Any:
    """Poll ``condition`` until it returns something truthy (and return that); a page that redraws
    between finding an element and reading it just means polling again."""
    wait = WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition)
