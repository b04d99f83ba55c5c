"""The demo in a real browser, against the real stack: Debian's Chromium driven by Playwright
talks to `python -m demo`, which talks to the RAG gateway and vLLM (CPU) serving the tiny model.

The chain is the session's shared pipeline (tests/pipeline.py); the module fixture starts the
demo in front of its gateway, and the tests then use one page in order: a streamed answer with
its sources, retrieval off (no sources), the gateway stopped (an error message, the page still
works). Screenshots go to artifacts/demo_*.png.

A machine without Chromium (or Playwright) fails these tests: CI must run them. Only
MEDKIT_SKIP_BROWSER=1, set by hand, turns that into a skip.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.recipe.load import load_recipe
from core.server_record import ServerRecord
from serve import process
from serve.process import free_port
from serve.servers import gateway_server
from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]
BOT = '#chat [data-testid="bot"]'


def browser_missing() -> str | None:
    """Why the browser cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not importable in the app environment ({exc})"
    return None


@pytest.fixture(scope="module", autouse=True)
def browser_present():
    why = browser_missing()
    if why and os.environ.get("MEDKIT_SKIP_BROWSER") == "1":
        pytest.skip(why)
    assert why is None, f"{why}. The browser tests must run (MEDKIT_SKIP_BROWSER=1 skips them on purpose)."


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        assert proc.poll() is None, f"the demo exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the demo did not answer {url} within {timeout_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def stack(pipeline, browser_present):
    """The demo in front of a RAG gateway of its own (the backend-down test stops it) on the pipeline's
    vLLM (LoRA-mounted); the shared gateway keeps serving the other modules."""
    pipeline.serve()  # vLLM (LoRA-mounted) and the gateway, unless already running
    port, gateway_port, env = free_port(), free_port(), pipeline.env
    base = [*pipeline.base, f"rag.gateway.port={gateway_port}"]
    upstream = ServerRecord.read(pipeline.layout.pid_file("vllm-lora")).models
    demo = None
    log = pipeline.layout.log("demo")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)  # the gateway's key, as the pipeline's servers have it
        gateway = gateway_server(load_recipe(ROOT / base[0], base[1:]), upstream, server="demo-gateway",
                                 name="RAG gateway (demo)")
        process.start(gateway)
    try:
        with log.open("w") as out:
            demo = subprocess.Popen(
                [sys.executable, "-m", "demo", *base, f"demo.port={port}", "demo.max_tokens=96",
                 "demo.default_model=med-lora-rag", "demo.temperature=0"],
                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}/"
        wait_http(url, demo, log)
        yield {"url": url, "gateway": gateway, "gateway_port": gateway_port, "demo": demo, "log": log}
    finally:
        process.stop(gateway.pid_file)
        if demo is not None and demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
            try:
                demo.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()


@pytest.fixture(scope="module")
def page(stack):
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        tab.set_default_timeout(30_000)
        tab.goto(stack["url"])
        tab.wait_for_selector("#question textarea")
        yield tab
        browser.close()


def ask(page, question: str) -> int:
    """Type and send `question`; returns how many answers the chat held before it."""
    before = page.locator(BOT).count()
    page.fill("#question textarea", question)
    page.click("#send")
    return before


def settled_answer(page, count: int, timeout_s: float = 90) -> str:
    """The text of answer number `count` once it is non-empty and has stopped changing for 1.5 s."""
    deadline, last, since = time.time() + timeout_s, None, time.time()
    while time.time() < deadline:
        bots = page.locator(BOT)
        text = bots.nth(count - 1).inner_text().strip() if bots.count() >= count else ""
        if text != last:
            last, since = text, time.time()
        elif text and time.time() - since > 1.5:
            return text
        time.sleep(0.1)
    raise AssertionError(f"answer {count} did not settle within {timeout_s} s (last text: {last!r})")


def test_page_shows_disclaimer_examples_and_the_endpoint_models(page):
    assert "免责声明" in page.inner_text("#disclaimer")
    assert "高血压患者饮食要注意什么？" in page.inner_text("body")  # an example question
    status = page.inner_text("#status")
    assert "med-lora-rag" in status and "base-rag" in status, status
    assert page.locator("#retrieval input[type=checkbox]").is_checked()
    assert page.locator("#model input").input_value() == "med-lora"  # demo.default_model=med-lora-rag
    assert "[1]" not in page.inner_text("#sources")


def test_streamed_answer_with_sources(page):
    # record the answer's length at every DOM change: a streamed answer shows several lengths
    page.evaluate("""() => { window.__lengths = [];
        new MutationObserver(() => { const bots = document.querySelectorAll('#chat [data-testid="bot"]');
            if (bots.length) window.__lengths.push(bots[bots.length - 1].innerText.trim().length); })
        .observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true}); }""")
    before = ask(page, "高血压患者饮食要注意什么？")
    page.wait_for_function("() => document.querySelector('#sources').innerText.includes('[1]')")
    answer = settled_answer(page, before + 1)
    assert answer and not answer.startswith("⚠️"), answer
    grew = sorted({n for n in page.evaluate("window.__lengths") if n > 0})
    assert len(grew) >= 2, f"the answer arrived in one piece, not streamed: lengths {grew}"
    panel = page.inner_text("#sources")
    assert "[1]" in panel and "score" in panel, panel
    assert len(page.locator("#sources .medkit-source").all()) <= 5
    assert "高血压患者饮食要注意什么？" in page.inner_text("#chat")
    page.screenshot(path=str(ARTIFACTS / "demo_sources.png"), full_page=True)


def test_retrieval_off_gives_an_answer_without_sources(page):
    page.locator("#retrieval input[type=checkbox]").uncheck()
    before = ask(page, "那平时还需要注意什么？")
    answer = settled_answer(page, before + 1)
    assert answer and not answer.startswith("⚠️"), answer
    panel = page.inner_text("#sources")
    assert "[1]" not in panel and "检索已关闭" in panel, panel
    assert page.locator(BOT).count() == before + 1 == 2  # multi-turn: both answers stay in the chat
    page.screenshot(path=str(ARTIFACTS / "demo_no_retrieval.png"), full_page=True)


def test_backend_down_shows_an_error_and_the_page_keeps_working(page, stack):
    stopped = process.stop(stack["gateway"].pid_file)  # the demo's own gateway: the shared one keeps serving
    assert stopped and stopped.startswith("RAG gateway (demo)"), stopped
    page.locator("#retrieval input[type=checkbox]").check()
    before = ask(page, "头痛怎么办？")
    answer = settled_answer(page, before + 1, timeout_s=30)
    assert "无法连接模型服务" in answer and "connection refused" in answer, answer
    assert f"127.0.0.1:{stack['gateway_port']}/v1" in answer  # names the gateway it tried
    page.screenshot(path=str(ARTIFACTS / "demo_backend_down.png"), full_page=True)
    # still responsive: refresh reports the outage, clear empties the chat, the app process lives
    page.click("#refresh")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('无法连接模型服务')")
    page.click("#clear")
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length === 0")
    assert "[1]" not in page.inner_text("#sources")
    assert stack["demo"].poll() is None, stack["log"].read_text()[-2000:]
