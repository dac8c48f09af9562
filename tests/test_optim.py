import math

import numpy as np
import pytest

import glassnet as gn


def _param(values):
    return gn.Parameter(np.array(values, dtype=np.float64))


def _run(opt_factory, grads):
    p = _param([1.0, -2.0, 0.5])
    opt = opt_factory([p])
    for g in grads:
        p.grad[...] = g
        opt.step()
    return p.data


GRADS = [np.array([0.3, -0.1, 2.0]), np.array([-0.5, 0.2, 1.0]), np.array([0.1, 0.1, -0.3])]


def test_sgd_plain_is_p_minus_lr_g():
    out = _run(lambda ps: gn.SGD(ps, lr=0.1), GRADS)
    np.testing.assert_allclose(out, np.array([1.0, -2.0, 0.5]) - 0.1 * sum(GRADS))


def test_sgd_momentum_and_nesterov_transcription():
    for nesterov in (False, True):
        p = np.array([1.0, -2.0, 0.5])
        b = None
        for g in GRADS:
            g = g + 0.01 * p
            b = g.copy() if b is None else 0.9 * b + g
            p = p - 0.1 * (g + 0.9 * b if nesterov else b)
        out = _run(lambda ps, n=nesterov: gn.SGD(ps, lr=0.1, momentum=0.9, nesterov=n, weight_decay=0.01), GRADS)
        np.testing.assert_allclose(out, p, rtol=1e-12)


def test_adam_transcription_with_bias_correction():
    p = np.array([1.0, -2.0, 0.5])
    m = v = np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        p = p - 0.05 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-8)
    out = _run(lambda ps: gn.Adam(ps, lr=0.05, betas=(0.8, 0.99)), GRADS)
    np.testing.assert_allclose(out, p, rtol=1e-12)


def test_adam_first_step_moves_every_weight_by_lr():
    out = _run(lambda ps: gn.Adam(ps, lr=0.01), GRADS[:1])
    np.testing.assert_allclose(np.abs(out - np.array([1.0, -2.0, 0.5])), 0.01, rtol=1e-6)


def test_rmsprop_transcription():
    p = np.array([1.0, -2.0, 0.5])
    s, b = np.zeros(3), np.zeros(3)
    for g in GRADS:
        s = 0.9 * s + 0.1 * g * g
        b = 0.5 * b + g / (np.sqrt(s) + 1e-8)
        p = p - 0.01 * b
    out = _run(lambda ps: gn.RMSprop(ps, lr=0.01, alpha=0.9, momentum=0.5), GRADS)
    np.testing.assert_allclose(out, p, rtol=1e-12)


def test_optimizers_keep_float32():
    for make in (
        lambda ps: gn.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: gn.Adam(ps),
        lambda ps: gn.RMSprop(ps, momentum=0.1),
    ):
        p = gn.Parameter(np.ones(3, dtype=np.float32))
        opt = make([p])
        p.grad[...] = 0.5
        opt.step()
        assert p.data.dtype == np.float32


def test_schedules():
    def lrs(make, n=5):
        opt = gn.SGD([_param([0.0])], lr=1.0)
        sched = make(opt)
        out = []
        for _ in range(n):
            sched.step()
            out.append(opt.lr)
        return out

    assert lrs(lambda o: gn.StepLR(o, step_size=2, gamma=0.5)) == [1.0, 0.5, 0.5, 0.25, 0.25]
    np.testing.assert_allclose(lrs(lambda o: gn.ExponentialLR(o, gamma=0.9)), 0.9 ** np.arange(1, 6))
    cos = lrs(lambda o: gn.CosineAnnealingLR(o, T_max=4, eta_min=0.1), 4)
    np.testing.assert_allclose(cos, [0.1 + 0.9 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(1, 5)])
    assert cos[-1] == pytest.approx(0.1)


def test_optimizer_state_dict_round_trip():
    p = _param([1.0, 2.0])
    opt = gn.Adam([p], lr=0.1)
    p.grad[...] = 1.0
    opt.step()
    state = opt.state_dict()
    q = _param(p.data.copy())
    opt2 = gn.Adam([q], lr=0.5)
    opt2.load_state_dict(state)
    p.grad[...] = q.grad[...] = 0.3
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda ps: gn.SGD(ps, lr=-1e-3), ValueError, "lr=-0.001"),
        (lambda ps: gn.SGD(ps, lr=float("inf")), ValueError, "lr=inf"),
        (lambda ps: gn.SGD(ps, lr=float("nan")), ValueError, "lr=nan"),
        (lambda ps: gn.SGD(ps, lr="0.1"), TypeError, "lr"),
        (lambda ps: gn.SGD(ps, lr=0.1, momentum=-0.5), ValueError, "momentum"),
        (lambda ps: gn.SGD(ps, lr=0.1, nesterov=True), ValueError, "nesterov"),
        (lambda ps: gn.Adam(ps, betas=(1.0, 0.999)), ValueError, r"betas\[0\]"),
        (lambda ps: gn.Adam(ps, betas=(0.9, -0.1)), ValueError, r"betas\[1\]"),
        (lambda ps: gn.Adam(ps, betas=0.9), ValueError, "betas"),
        (lambda ps: gn.RMSprop(ps, momentum=-1), ValueError, "momentum"),
        (lambda ps: gn.RMSprop(ps, alpha=1.5), ValueError, "alpha"),
    ],
)
def test_bad_hyper_parameters(make, error, match):
    with pytest.raises(error, match=match):
        make([_param([1.0])])


def test_optimizer_given_no_parameters():
    with pytest.raises(ValueError, match="no parameters"):
        gn.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="no parameters"):
        gn.Adam(gn.Sequential(gn.ReLU()).parameters())
    with pytest.raises(TypeError, match="Parameter"):
        gn.SGD([np.zeros(3)], lr=0.1)


def test_optimizer_state_of_the_wrong_shape_or_kind_is_rejected():
    opt = gn.Adam([_param([1.0, 2.0])])
    state = opt.state_dict()
    state["m"] = [np.zeros(3)]
    with pytest.raises(ValueError, match=r"state\['m'\]\[0\] has shape \(3,\)"):
        opt.load_state_dict(state)
    plain = gn.RMSprop([_param([1.0])]).state_dict()
    with pytest.raises(ValueError, match="velocity"):
        gn.RMSprop([_param([1.0])], momentum=0.9).load_state_dict(plain)
