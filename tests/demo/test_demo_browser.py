"""The demo in a real browser, against the real stack: Debian's Chromium driven by Playwright
talks to `python -m demo`, which talks to the RAG gateway and vLLM (CPU) serving the tiny model.

One module fixture builds the chain (data, train, index, `serve start` = vLLM + gateway) and
starts the demo; the tests then use one page in order: a streamed answer with its sources,
retrieval off (no sources), the backend stopped (an error message, the page still works).
Screenshots go to artifacts/demo_*.png.
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

from serve.process import free_port
from tests.conftest import ROOT, run_module

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")

RECIPE = "recipes/quickstart.yaml"
KEY = "demo-test-key"
ARTIFACTS = ROOT / "artifacts"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]
BOT = '#chat [data-testid="bot"]'


def vllm_pids(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"vllm.entrypoints.*{marker}"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


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
def stack(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "demo"
    ports = {"vllm": free_port(), "gateway": free_port(), "demo": free_port()}
    base = [RECIPE, f"run_dir={run_dir}", f"serve.port={ports['vllm']}", f"rag.gateway.port={ports['gateway']}"]
    env = {"MEDKIT_API_KEY": KEY}
    demo = log = None
    try:
        started = time.time()
        done = run_module("converters.build", *base)
        assert done.returncode == 0, f"data failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        # fewer epochs than the quickstart (the adapter still writes the section headers), on one
        # thread: two multi-threaded CPU trainings sharing the cores (parallel test runs) crawl
        done = run_module("train", *base, "finetune.epochs=8", env={"OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, f"train failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        done = run_module("serve.rag.index", *base)
        assert done.returncode == 0, f"index failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        built = time.time()
        done = run_module("serve", "start", *base, env=env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        print(f"\nchain: data+train+index {built - started:.0f} s, serve {time.time() - built:.0f} s")
        log = run_dir / "logs" / "demo.log"
        with log.open("w") as out:
            demo = subprocess.Popen(
                [sys.executable, "-m", "demo", *base, f"demo.port={ports['demo']}", "demo.max_tokens=96",
                 "demo.default_model=med-lora-rag", "demo.temperature=0"],
                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{ports['demo']}/"
        wait_http(url, demo, log)
        yield {"url": url, "ports": ports, "base": base, "demo": demo, "log": log, "dir": run_dir}
    finally:
        if demo is not None and demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
            try:
                demo.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
        run_module("serve", "stop", *base)
        for pid in vllm_pids(str(run_dir)):
            os.kill(pid, signal.SIGKILL)


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
    done = run_module("serve", "stop", *stack["base"])
    assert done.returncode == 0 and "RAG gateway" in done.stdout, done.stdout + done.stderr
    page.locator("#retrieval input[type=checkbox]").check()
    before = ask(page, "头痛怎么办？")
    answer = settled_answer(page, before + 1, timeout_s=30)
    assert "无法连接模型服务" in answer and "connection refused" in answer, answer
    assert f"127.0.0.1:{stack['ports']['gateway']}/v1" in answer  # names the gateway it tried
    page.screenshot(path=str(ARTIFACTS / "demo_backend_down.png"), full_page=True)
    # still responsive: refresh reports the outage, clear empties the chat, the app process lives
    page.click("#refresh")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('无法连接模型服务')")
    page.click("#clear")
    page.wait_for_function(f"() => document.querySelectorAll('{BOT}').length === 0")
    assert "[1]" not in page.inner_text("#sources")
    assert stack["demo"].poll() is None, stack["log"].read_text()[-2000:]
