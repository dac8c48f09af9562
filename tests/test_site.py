"""The documentation site builds with warnings as errors, reads offline, and renders in a real browser.

Needs the docs extra (``pip install -e ".[docs]"``); the browser check also needs selenium and Debian's
``chromium`` and ``chromium-driver``. Screenshots go into $GLASSNET_ARTIFACTS (default: the test's tmp_path).
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "mkdocs.yml"
DOCS_EXTRA = ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter", "jupyter_server_mathjax")
# an asset the browser would fetch: a script, stylesheet, image or frame whose address names another host
EXTERNAL_ASSET = re.compile(r"<(?:script|img|iframe|source|link)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.IGNORECASE)

pytestmark = pytest.mark.skipif(not CONFIG.is_file(), reason="mkdocs.yml is not beside the tests")


def _missing_docs_extra() -> list[str]:
    return [name for name in DOCS_EXTRA if importlib.util.find_spec(name.split(".")[0]) is None]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    missing = _missing_docs_extra()
    if missing:
        pytest.skip(f'needs the docs extra (pip install -e ".[docs]"): {", ".join(missing)} not installed')
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(CONFIG), "--site-dir", str(out)],
        cwd=ROOT,  # mkdocs.yml names its griffe extension by a path from the repository root
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr
    return out


def test_the_site_builds_strict_and_fetches_nothing(site):
    pages = sorted(site.rglob("*.html"))
    assert {"index.html", "guide.html", "speed.html", "lessons.html", "benchmarks.html"} <= {p.name for p in pages}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not EXTERNAL_ASSET.search(text), f"{page.relative_to(site)} loads an asset from another host"
        assert "fonts.googleapis" not in text
    assert (site / "assets" / "mathjax" / "MathJax.js").is_file()
    for sheet in site.rglob("*.css"):
        assert "fonts.googleapis" not in sheet.read_text(encoding="utf-8", errors="replace")


def test_the_api_reference_shows_the_docstrings_as_written(site):
    layers = (site / "reference" / "layers.html").read_text(encoding="utf-8")
    # Linear's Backward section, line for line as in the source
    assert "Backward (dy = dL/dy):" in layers
    assert "dW = x.T @ dy" in layers
    assert "Shape:" in layers
    # the Example section is code, not text
    assert 'class="language-pycon' in layers or "&gt;&gt;&gt;" in layers
    for name in ("module", "losses", "optim", "datasets", "testing"):
        assert (site / "reference" / f"{name}.html").is_file()


def _notebooks() -> list[Path]:
    return sorted(ROOT.glob("docs/*.ipynb")) + sorted(ROOT.glob("docs/lessons/*.ipynb"))


def _has_math(notebook: Path) -> bool:
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    return any(cell.get("cell_type") == "markdown" and "$" in "".join(cell.get("source", "")) for cell in cells)


def test_every_notebook_is_a_page_and_listed(site):
    lessons = (site / "lessons.html").read_text(encoding="utf-8")
    notebooks = _notebooks()
    assert notebooks
    for notebook in notebooks:
        page = notebook.relative_to(ROOT / "docs").with_suffix(".html").as_posix()
        assert (site / page).is_file()
        assert f'href="{page}"' in lessons


def test_sections_as_written_keeps_shape_and_backward_verbatim():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs_hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    text = "Affine map.\n\nShape:\n    x: (N, F)\n\nBackward (dy = dL/dy):\n    dx = dy @ W.T\n      (indented)\n\nExample:\n    >>> 1\n    1"
    assert hooks.sections_as_written(text).splitlines() == [
        "Affine map.",
        "",
        "**Shape:**",
        "",
        "```text",
        "x: (N, F)",
        "```",
        "",
        "**Backward (dy = dL/dy):**",
        "",
        "```text",
        "dx = dy @ W.T",
        "  (indented)",
        "```",
        "",
        "Examples:",
        "    >>> 1",
        "    1",
    ]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def _browser(tmp_path: Path):
    webdriver = pytest.importorskip("selenium.webdriver")
    chrome, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chrome is None or driver_path is None:
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1600",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


MATH_DONE = """
const hub = window.MathJax && window.MathJax.Hub;
if (!hub || !hub.queue || hub.queue.pending || hub.queue.running) return -1;
return document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML, .MathJax_SVG').length;
"""
IMAGES = "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth, i.naturalHeight])"
RESOURCES = "return performance.getEntriesByType('resource').map(e => e.name)"


def test_pages_render_in_a_real_browser(site, tmp_path):
    """Headless Chromium over HTTP: no console errors, every image has a size, the math is typeset, screenshots."""
    artifacts = Path(os.environ.get("GLASSNET_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    browser = _browser(tmp_path)
    results = {}
    try:
        pages = {"home": "index.html", "guide": "guide.html", "reference": "reference/layers.html"}
        lessons = _notebooks()
        with_math = [nb for nb in lessons if _has_math(nb)]
        if lessons:
            pages["lesson"] = (with_math or lessons)[0].relative_to(ROOT / "docs").with_suffix(".html").as_posix()
        for name, page in pages.items():
            browser.get(base + page)
            math = -1
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                math = browser.execute_script(MATH_DONE)
                if math >= 0 or browser.execute_script("return !window.MathJax"):
                    break
                time.sleep(0.2)
            results[name] = {
                "math": math,
                "images": browser.execute_script(IMAGES),
                "resources": browser.execute_script(RESOURCES),
                "errors": [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")],
            }
            browser.save_screenshot(str(artifacts / f"site-{name}.png"))
    finally:
        browser.quit()
        server.shutdown()
        server.server_close()
    for name, seen in results.items():
        assert not seen["errors"], (name, seen["errors"])
        assert all(complete and w > 0 and h > 0 for _, complete, w, h in seen["images"]), (name, seen["images"])
        assert all(url.startswith(base) for url in seen["resources"]), (name, seen["resources"])
    assert results["guide"]["math"] > 0, "the guide's formulas were not typeset"
    if with_math:
        assert results["lesson"]["math"] > 0, f"{pages['lesson']}: the lesson's formulas were not typeset"
    for name in results:
        assert (artifacts / f"site-{name}.png").stat().st_size > 10_000
