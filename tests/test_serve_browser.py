"""The chat page at ``/`` in a real headless Chromium: pick a model, chat (streamed), send a correction."""

from __future__ import annotations

import shutil

import pytest
from conftest import needs_module
from serve_helpers import ThreadServer

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    needs_module("selenium", "browser")
    from selenium import webdriver

    if not shutil.which(CHROMIUM) or not shutil.which(DRIVER):
        pytest.skip("no headless browser: apt-get install chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def test_chat_page_streams_and_stores_a_correction(browser, tiny_llama, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from ils.serve.run import ServeOptions

    srv = ThreadServer(ServeOptions(model=str(tiny_llama), db=f"sqlite:///{tmp_path / 's.sqlite'}", max_tokens=6))
    try:
        browser.get(srv.url + "/")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
        Select(browser.find_element(By.ID, "model")).select_by_value(srv.state.pool.base_id)
        browser.find_element(By.ID, "prompt").send_keys("Add 2 and 3.")
        browser.find_element(By.ID, "send").click()
        box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".rate"))
        box.find_element(By.CSS_SELECTOR, ".correction").send_keys("5")
        box.find_element(By.CSS_SELECTOR, ".bad").click()
        box.find_element(By.CSS_SELECTOR, ".submit").click()
        wait.until(lambda d: "saved #" in box.find_element(By.CSS_SELECTOR, ".sent").text)
        rows = srv.state.store.feedback()
        assert len(rows) == 1 and rows[0]["correction"] == "5" and rows[0]["rating"] == -1
        answer = browser.find_element(By.CSS_SELECTOR, ".msg.assistant").text
        assert answer == "model: " + rows[0]["output"]
    finally:
        srv.stop()
