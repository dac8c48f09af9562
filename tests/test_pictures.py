"""The pictures of what a network learned, the training report, and `glassnet show`."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import glassnet as gn
from glassnet import pictures
from glassnet.report import write_report

plt = pytest.importorskip("matplotlib.pyplot")


def _png_shape(path) -> tuple[int, ...]:
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    return plt.imread(path).shape


def _digits_cnn(epochs: int = 1):
    x, y = gn.datasets.digits()
    model = gn.Sequential(
        gn.Conv2d(1, 4, 3, padding=1, rng=0), gn.ReLU(), gn.MaxPool2d(2), gn.Flatten(), gn.Linear(4 * 16, 10, rng=1)
    )
    model.fit(
        x[:600],
        y[:600],
        loss=gn.CrossEntropyLoss(),
        optimizer=gn.Adam(model.parameters(), 3e-3),
        epochs=epochs,
        seed=0,
        verbose=0,
    )
    return model, x[600:800], y[600:800]


def test_decision_boundary_draws_2d_data_and_refuses_other_shapes(tmp_path):
    x, y = gn.datasets.moons(n=120, rng=0)
    model = gn.Sequential(gn.Linear(2, 16, rng=0), gn.Tanh(), gn.Linear(16, 2, rng=1))
    pictures.decision_boundary(model, x, y, tmp_path / "b.png", steps=50)
    assert _png_shape(tmp_path / "b.png")[:2] == (500, 600)
    with pytest.raises(ValueError, match=r"x of shape \(4, 3\)"):
        pictures.decision_boundary(model, np.zeros((4, 3)), np.zeros(4), tmp_path / "c.png")


def test_confident_errors_shows_the_surest_mistakes_first(tmp_path):
    images = np.random.default_rng(0).random((6, 1, 8, 8))
    y = np.array([0, 1, 0, 1, 0, 1])
    logits = np.array([[5.0, 0], [0, 5], [0, 1], [9, 0], [0, 3], [0, 5]])  # wrong: 2 (p=.73), 3 (p≈1), 4 (p=.95)
    assert pictures.confident_errors(images, y, logits, ["zero", "one"], tmp_path / "e.png", count=2) == 2
    assert pictures.confident_errors(images, y, logits, ["zero", "one"], tmp_path / "e.png") == 3
    assert _png_shape(tmp_path / "e.png")[0] > 100
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    wrong = np.flatnonzero(probs.argmax(1) != y)
    assert list(wrong[np.argsort(-probs[wrong].max(1))]) == [3, 4, 2]  # the order the grid uses


def test_confusion_matrix_png_labels_long_names(tmp_path):
    names = ["T-shirt/top", "Trouser", "Pullover"]
    pictures.confusion_matrix_png(np.array([[5, 1, 0], [0, 6, 0], [2, 0, 4]]), names, tmp_path / "m.png")
    assert _png_shape(tmp_path / "m.png")[1] > 400


def test_filters_feature_maps_and_attention(tmp_path):
    model, x, _ = _digits_cnn()
    pictures.filters(model, tmp_path / "f.png")
    pictures.feature_maps(model, x[0], tmp_path / "maps.png")
    assert _png_shape(tmp_path / "maps.png")[0] > _png_shape(tmp_path / "f.png")[0]  # four rows of maps
    gpt = gn.models.gpt(9, context=8, n_layer=2, n_head=2, n_embd=8, rng=0)
    pictures.attention(gpt, np.arange(5), list("abcde"), tmp_path / "a.png")
    assert _png_shape(tmp_path / "a.png")[0] > 100
    mlp = gn.Sequential(gn.Linear(2, 2, rng=0))
    with pytest.raises(ValueError, match="Conv2d"):
        pictures.filters(mlp, tmp_path / "x.png")
    with pytest.raises(ValueError, match="MultiHeadAttention"):
        pictures.attention(mlp, np.arange(3), list("abc"), tmp_path / "x.png")


def test_the_report_is_one_self_contained_page(tmp_path):
    pictures.confusion_matrix_png(np.eye(2, dtype=int) * 3, ["a", "b"], tmp_path / "m.png")
    write_report(
        tmp_path / "r.html",
        title="a <run>",
        summary={"test accuracy": "0.9"},
        settings={"epochs": 2},
        history={"loss": [0.5, 0.25], "val_loss": [0.6]},
        pictures=[(str(tmp_path / "m.png"), "confusion"), (str(tmp_path / "missing.png"), "skipped")],
        texts=[("Layers", "Linear & co")],
    )
    page = (tmp_path / "r.html").read_text()
    assert "a &lt;run&gt;" in page and "Linear &amp; co" in page and "0.2500" in page
    (src,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(src) == (tmp_path / "m.png").read_bytes()
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from anywhere


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "glassnet", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_train_draws_its_pictures_and_report_and_evaluate_and_show_draw_theirs(tmp_path):
    done = _cli("train", "--data", "moons", "--epochs", "3", "--out", "m", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("curves.png", "confusion.png", "boundary.png", "report.html"):
        assert (tmp_path / "m" / name).stat().st_size > 0, name
    assert "report saved to" in done.stdout
    done = _cli("train", "--data", "digits", "--model", "cnn", "--epochs", "1", "--out", "d", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "d" / "errors.png").stat().st_size > 0
    (tmp_path / "d" / "confusion.png").unlink()
    done = _cli("evaluate", "d/model.gnet", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "d" / "confusion.png").exists(), done.stderr
    done = _cli("show", "d/model.gnet", "--image", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "d" / "filters.png").exists() and (tmp_path / "d" / "feature-maps-3.png").exists()
    done = _cli("show", "m/model.gnet", cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "error: show draws" in done.stderr
    done = _cli("show", "d/model.gnet", "--image", "100000", cwd=tmp_path)
    assert done.returncode == 1 and "--image 100000" in done.stderr


def test_the_report_loads_in_a_real_browser(tmp_path):
    """Headless Chromium: no console errors, every image drawn at a non-zero size, and a screenshot."""
    webdriver = pytest.importorskip("selenium.webdriver")
    chrome, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chrome is None or driver_path is None:
        pytest.skip("needs Debian's chromium and chromium-driver")
    done = _cli("train", "--data", "digits", "--model", "cnn", "--epochs", "1", "--out", "d", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
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
    from selenium.webdriver.chrome.service import Service

    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        browser.get((tmp_path / "d" / "report.html").as_uri())
        sizes = browser.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.width])"
        )
        errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        shot = tmp_path / "report.png"
        browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    assert not errors, errors
    assert len(sizes) == 3  # curves, confusion matrix, the wrong images
    assert all(complete and w > 0 and h > 0 and shown > 0 for complete, w, h, shown in sizes), sizes
    assert _png_shape(shot)[:2] == (1600, 1200) or shot.stat().st_size > 10_000
