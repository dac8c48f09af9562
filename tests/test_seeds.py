"""Many seeds: the tutorial over seeds across processes, and train's mean ± std over seeds."""

import re

import numpy as np
import pytest

from glassnet import cli
from glassnet.cli.commands.demo import train_tutorial as demo_run
from glassnet.cli.seeds import run_seed, run_seeds, summarise, tutorial_weights


def test_the_tutorial_rng_is_the_tutorials_own_draws():
    saved = np.random.get_state()
    try:
        for seed in (0, 67, 999):
            np.random.seed(seed)
            w1, w2 = np.random.rand(3, 4), np.random.rand(4, 1)
            got1, got2 = tutorial_weights(seed)
            np.testing.assert_array_equal(got1, w1)
            np.testing.assert_array_equal(got2, w2)
    finally:
        np.random.set_state(saved)


def test_seed_67_stalls_as_the_tutorial_does_and_others_converge():
    stalled = run_seed(67, tutorial_rng=True)
    assert not stalled.converged
    np.testing.assert_allclose(stalled.predictions, [0.022, 0.969, 0.499, 0.502], atol=1e-3)
    for seed in (0, 1, 2):
        result = run_seed(seed, tutorial_rng=True)
        assert result.converged and result.loss < 0.01


def test_the_loop_by_hand_is_fit_and_demo_takes_the_tutorial_rng():
    by_hand = run_seed(3, iterations=300)
    with_fit = demo_run(3, iterations=300)
    np.testing.assert_allclose(by_hand.predictions, with_fit.predictions.ravel(), rtol=0, atol=1e-12)
    tutorial = demo_run(67, tutorial_rng=True)
    np.testing.assert_allclose(tutorial.predictions.ravel(), run_seed(67, tutorial_rng=True).predictions, atol=1e-12)


def test_processes_give_the_same_results_in_seed_order():
    seeds = [67, 3, 5, 0, 11]
    one = run_seeds(seeds, iterations=100, tutorial_rng=True, workers=1)
    two = run_seeds(seeds, iterations=100, tutorial_rng=True, workers=2)
    assert [r.seed for r in two] == seeds
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.predictions, b.predictions)


def test_the_summary_counts_and_names_the_stalled_seeds():
    results = run_seeds([66, 67, 68], tutorial_rng=True, workers=2)
    text = "\n".join(summarise(results))
    assert "converged: 2 of 3 seeds" in text
    assert "seed 67: predictions 0.022 / 0.969 / 0.499 / 0.502" in text
    median = np.median([r.predictions for r in results], axis=0)
    assert "median predictions:        " + " / ".join(f"{v:.3f}" for v in median) in text


def test_glassnet_demo_seeds(tmp_path, capsys):
    assert cli.main(["demo", "--seeds", "4", "--tutorial-rng", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "over seeds 0 to 3" in out and "converged: 4 of 4 seeds" in out and "no seed stalled" in out
    pytest.importorskip("matplotlib")
    assert (tmp_path / "glassnet-demo-seeds.png").read_bytes()[:4] == b"\x89PNG"


def test_glassnet_train_seeds_reports_mean_and_std(tmp_path, capsys):
    args = ["train", "--data", "xor", "--model", "mlp", "--epochs", "2", "--seeds", "2", "--seed", "5"]
    assert cli.main([*args, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    each = [float(a) for a in re.findall(r"^test accuracy: (\d\.\d{4})$", out, re.M)]
    assert len(each) == 2 and (tmp_path / "seed-5" / "model.gnet").exists() and (tmp_path / "seed-6").is_dir()
    found = re.search(r"^test accuracy over 2 seeds \(5 to 6\): (\d\.\d{4}) ± (\d\.\d{4})", out, re.M)
    assert float(found.group(1)) == pytest.approx(np.mean(each), abs=1e-4)
    assert float(found.group(2)) == pytest.approx(np.std(each, ddof=1), abs=2e-4)
