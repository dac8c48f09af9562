"""AdamW, parameter groups, gradient clipping and the warm-up + cosine schedule."""

import math

import numpy as np
import pytest

import glassnet as gn


def _pairs(seed=0):
    """Two glassnet parameters (a matrix and a vector) and random gradients for 4 steps."""
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    grads = [(rng.normal(size=(3, 2)), rng.normal(size=2)) for _ in range(4)]
    return w, b, grads


@pytest.mark.parametrize("amsgrad_free_settings", [{}, {"betas": (0.8, 0.99), "eps": 1e-6}])
def test_adamw_with_groups_matches_pytorch(amsgrad_free_settings):
    torch = pytest.importorskip("torch")
    w, b, grads = _pairs()
    pw, pb = gn.Parameter(w.copy()), gn.Parameter(b.copy())
    tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    ours = gn.AdamW(
        [{"params": [pw], "weight_decay": 0.1}, {"params": [pb], "weight_decay": 0.0}], lr=1e-2, **amsgrad_free_settings
    )
    theirs = torch.optim.AdamW(
        [{"params": [tw], "weight_decay": 0.1}, {"params": [tb], "weight_decay": 0.0}], lr=1e-2, **amsgrad_free_settings
    )
    for gw, gb in grads:
        pw.grad[...], pb.grad[...] = gw, gb
        tw.grad, tb.grad = torch.tensor(gw), torch.tensor(gb)
        ours.step()
        theirs.step()
    np.testing.assert_allclose(pw.data, tw.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pb.data, tb.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_adamw_transcription_and_default_decay():
    p = gn.Parameter(np.array([1.0, -2.0]))
    opt = gn.AdamW([p], lr=0.1)
    assert opt.param_groups[0]["weight_decay"] == 0.01
    g = np.array([0.5, 0.25])
    p.grad[...] = g
    opt.step()
    decayed = np.array([1.0, -2.0]) * (1 - 0.1 * 0.01)
    m, v = 0.1 * g, 0.001 * g * g
    expected = decayed - (0.1 / 0.1) * m / (np.sqrt(v) / math.sqrt(0.001) + 1e-8)
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)


def test_groups_override_defaults_and_state_dict_holds_every_slot():
    w, b, grads = _pairs(1)
    pw, pb = gn.Parameter(w.copy()), gn.Parameter(b.copy())
    opt = gn.AdamW([{"params": [pw], "weight_decay": 0.1}, {"params": [pb], "lr": 5e-3}], lr=1e-2, weight_decay=0.0)
    assert [(g["lr"], g["weight_decay"]) for g in opt.param_groups] == [(1e-2, 0.1), (5e-3, 0.0)]
    pw.grad[...], pb.grad[...] = grads[0]
    opt.step()
    state = opt.state_dict()
    assert state["steps"] == 1 and [g["params"] for g in state["param_groups"]] == [[0], [1]]
    assert [g["weight_decay"] for g in state["param_groups"]] == [0.1, 0.0]
    # a fresh optimizer loaded from the state continues exactly like the original
    qw, qb = gn.Parameter(pw.data.copy()), gn.Parameter(pb.data.copy())
    other = gn.AdamW([{"params": [qw]}, {"params": [qb]}], lr=1.0)
    other.load_state_dict(state)
    assert [g["lr"] for g in other.param_groups] == [1e-2, 5e-3]
    for o, (p, q) in ((opt, (pw, pb)), (other, (qw, qb))):
        p.grad[...], q.grad[...] = grads[1]
        o.step()
    np.testing.assert_array_equal(pw.data, qw.data)
    np.testing.assert_array_equal(pb.data, qb.data)


def test_sgd_groups_and_setting_lr_sets_every_group():
    a, b = gn.Parameter(np.ones(2)), gn.Parameter(np.ones(2))
    opt = gn.SGD([{"params": [a]}, {"params": [b], "momentum": 0.9}], lr=0.1)
    a.grad[...] = b.grad[...] = 1.0
    opt.step()
    opt.step()
    np.testing.assert_allclose(a.data, 1 - 0.2)
    np.testing.assert_allclose(b.data, 1 - 0.1 - 0.1 * 1.9)
    opt.lr = 0.5
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5]


@pytest.mark.parametrize(
    ("groups", "error", "match"),
    [
        ([{"params": [], "lr": -1.0}], ValueError, "lr"),
        ([{"params": [], "momentum": 0.9}], ValueError, "unknown settings.*momentum"),
        ([{"weight_decay": 0.1}], TypeError, "'params'"),
        ([{"params": [1.0]}], TypeError, r"group 0 params\[0\]"),
        ([{"params": [], "weight_decay": -0.1}], ValueError, "weight_decay"),
    ],
)
def test_bad_groups_name_the_problem(groups, error, match):
    with pytest.raises(error, match=match):
        gn.AdamW(groups + [{"params": [gn.Parameter(np.ones(1))]}])


def test_a_parameter_in_two_groups_is_refused():
    p = gn.Parameter(np.ones(1))
    with pytest.raises(ValueError, match="more than once"):
        gn.Adam([{"params": [p]}, {"params": [p]}])


def test_clip_grad_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    w, b, _ = _pairs(2)
    for max_norm in (0.5, 100.0):
        pw, pb = gn.Parameter(np.zeros_like(w)), gn.Parameter(np.zeros_like(b))
        pw.grad[...], pb.grad[...] = w, b
        tw, tb = torch.zeros(3, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
        tw.grad, tb.grad = torch.tensor(w), torch.tensor(b)
        ours = gn.clip_grad_norm([pw, pb], max_norm)
        theirs = torch.nn.utils.clip_grad_norm_([tw, tb], max_norm)
        assert ours == pytest.approx(theirs.item(), rel=1e-12)
        np.testing.assert_allclose(pw.grad, tw.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(pb.grad, tb.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="max_norm"):
        gn.clip_grad_norm([pw], 0.0)


def test_fit_clips_before_each_step():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)) * 100, rng.normal(size=(8, 1)) * 100
    model = gn.Sequential(gn.Linear(3, 1, rng=0, dtype=np.float64))
    clip = gn.GradientClipping(1.0)
    seen = []

    class Probe(gn.Callback):
        def on_batch_end(self, batch, loss):
            seen.append(math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in model.parameters())))

    model.fit(
        x,
        y,
        loss=gn.MSELoss(),
        optimizer=gn.SGD(model.parameters(), lr=0.1),
        epochs=2,
        batch_size=4,
        callbacks=[clip, Probe()],
        verbose=0,
    )
    assert len(clip.norms) == 4 and min(clip.norms) > 1.0
    assert max(seen) == pytest.approx(1.0, rel=1e-5)


def _nanogpt_lr(it, lr=1e-3, warmup=100, decay=2000, min_lr=1e-4):
    """nanoGPT's get_lr, transcribed."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay:
        return min_lr
    ratio = (it - warmup) / (decay - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def test_warmup_cosine_is_nanogpts_schedule_step_by_step():
    opt = gn.AdamW([gn.Parameter(np.ones(1))], lr=1e-3)
    sched = gn.WarmupCosineLR(opt, warmup_steps=100, total_steps=2000, min_lr=1e-4)
    for it in range(2005):
        assert opt.lr == pytest.approx(_nanogpt_lr(it), rel=1e-12), it
        sched.step()
    with pytest.raises(ValueError, match="total_steps"):
        gn.WarmupCosineLR(opt, warmup_steps=10, total_steps=10)
    with pytest.raises(ValueError, match="min_lr"):
        gn.WarmupCosineLR(opt, warmup_steps=1, total_steps=10, min_lr=1.0)
