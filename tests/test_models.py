import os

import numpy as np
import pytest

import glassnet as gn
from glassnet.testing import gradcheck


def _tiny(dtype=np.float64, **kwargs):
    args = dict(vocab_size=7, context=5, n_layer=1, n_head=2, n_embd=4, rng=0, dtype=dtype)
    return gn.models.gpt(**{**args, **kwargs})


def test_gpt_gradcheck_tiny():
    model = _tiny()
    ids = np.random.default_rng(0).integers(0, 7, size=(2, 4))
    result = gradcheck(model, ids)
    assert "x" not in result.errors and "wte.weight" in result.errors and result.ok


def test_gpt_gradcheck_with_biases_and_two_layers():
    model = _tiny(n_layer=2, bias=True)
    rng = np.random.default_rng(1)
    for p in model.parameters():
        if p.data.ndim == 1:
            p.data[...] = rng.normal(size=p.shape) * 0.5 + (1.0 if np.all(p.data == 1) else 0.0)
    assert gradcheck(model, rng.integers(0, 7, size=(2, 5))).ok


@pytest.mark.parametrize("bias", [False, True])
def test_gpt_matches_nanogpt_in_pytorch_float64(bias):
    torch = pytest.importorskip("torch")
    from benchmarks.gpt_torch import TorchGPT, copy_from_glassnet

    rng = np.random.default_rng(2)
    ours = gn.models.gpt(11, 6, n_layer=2, n_head=2, n_embd=8, bias=bias, rng=0, dtype=np.float64)
    for p in ours.parameters():  # move the LayerNorm gains and any biases away from 1 and 0
        if p.data.ndim == 1:
            p.data[...] += rng.normal(size=p.shape) * 0.3
    theirs = TorchGPT(11, 6, 2, 2, 8, bias=bias).double()
    copy_from_glassnet(theirs, ours)
    ids = rng.integers(0, 11, size=(3, 6))
    dy = rng.normal(size=(3, 6, 11))
    out = theirs(torch.from_numpy(ids))
    out.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(ours(ids), out.detach().numpy(), rtol=1e-9, atol=1e-12)
    ours.zero_grad()
    ours.backward(dy)
    np.testing.assert_allclose(ours.wte.weight.grad, theirs.wte.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.wpe.weight.grad, theirs.wpe.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    block = theirs.blocks[1]
    ln_1, attn = ours.blocks.layers[2].module.layers
    ln_2, fc, _, proj = ours.blocks.layers[3].module.layers
    for g, t, transpose in [
        (attn.in_proj.weight, block.c_attn.weight, True),
        (attn.out_proj.weight, block.c_proj.weight, True),
        (fc.weight, block.c_fc.weight, True),
        (proj.weight, block.mlp_proj.weight, True),
        (ln_1.weight, block.ln_1.weight, False),
        (ln_2.weight, block.ln_2.weight, False),
        (ours.ln_f.weight, theirs.ln_f.weight, False),
    ]:
        expected = t.grad.numpy().T if transpose else t.grad.numpy()
        np.testing.assert_allclose(g.grad, expected, rtol=1e-9, atol=1e-12)


def test_gpt_architecture_is_composition_with_nanogpt_init():
    model = gn.models.gpt(65, 64, rng=0)
    assert len(model.blocks) == 8
    attn, mlp = model.blocks[0], model.blocks[1]
    assert isinstance(attn, gn.Residual) and isinstance(attn.module[1], gn.MultiHeadAttention)
    assert [type(m).__name__ for m in mlp.module] == ["LayerNorm", "Linear", "GELU", "Linear"]
    assert all(p.data.ndim == 2 or np.all(p.data == 1) for p in model.parameters())  # no biases, LN gains 1
    assert abs(float(model.wte.weight.data.std()) - 0.02) < 0.002
    assert abs(float(mlp.module[3].weight.data.std()) - 0.02 / np.sqrt(8)) < 0.001
    assert attn.module[1].causal


def test_tiny_gpt_learns_a_repeating_sequence():
    text = np.tile(np.arange(5), 40)
    view = gn.datasets.windows(text, 8)
    model = gn.models.gpt(5, 8, n_layer=1, n_head=2, n_embd=16, rng=0)
    opt = gn.AdamW(gn.models.gpt_param_groups(model), lr=1e-2)
    loss = gn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(60):
        x, y = gn.datasets.random_batch(view, 8, rng)
        losses.append(loss(model(x), y))
        model.zero_grad()
        model.backward(loss.backward())
        gn.clip_grad_norm(model.parameters(), 1.0)
        opt.step()
    assert losses[-1] < 0.2 < np.log(5) - 0.5 < losses[0]
    out = model.generate(np.array([[0, 1, 2]]), 12, temperature=0.5, rng=0)
    assert out.tolist() == [[3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4]]


def test_cached_generation_equals_full_recompute_and_is_deterministic():
    model = gn.models.gpt(9, 6, n_layer=2, n_head=2, n_embd=8, rng=3).eval()
    prompt = np.array([[1, 2, 3]])
    a = model.generate(prompt, 3, rng=5)
    b = model.generate(prompt, 3, rng=5)
    np.testing.assert_array_equal(a, b)
    # the cached logits equal those of one full forward over the same prefix
    full = model(np.concatenate((prompt, a[:, :2]), axis=1))[:, -1]
    model.use_cache(True)
    model(prompt)
    model(a[:, :1])
    step = model(a[:, 1:2])[:, -1]
    model.use_cache(False)
    np.testing.assert_allclose(step, full, rtol=1e-5, atol=1e-6)
    # past the context, the cache restarts from the recent half: still runs, same for the same seed
    long = model.generate(prompt, 20, top_k=3, rng=1)
    assert long.shape == (1, 20) and np.array_equal(long, model.generate(prompt, 20, top_k=3, rng=1))
    assert model.training is False or model.training is True  # mode restored below
    model.train()
    model.generate(prompt, 1, rng=0)
    assert model.training


def test_save_and_load_a_gpt(tmp_path):
    model = _tiny(dtype=np.float32)
    path = os.path.join(tmp_path, "gpt.gnet")
    model.save(path, metadata={"vocabulary": {"chars": "abcdefg"}})
    same = gn.load(path)
    ids = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(same.predict(ids), model.predict(ids))
    assert same.metadata["vocabulary"]["chars"] == "abcdefg"


def test_gpt_summary_lists_the_model():
    from glassnet.summary import summary

    text = summary(_tiny(dtype=np.float32), (5,))
    assert "(None, 5, 7)" in text


@pytest.mark.parametrize(
    ("ids", "error", "match"),
    [
        (np.array([[1, 7]]), ValueError, r"\[0, 7\)"),
        (np.array([[1.0, 2.0]]), TypeError, "integer"),
        (np.array([1, 2]), ValueError, r"\(N, T\).*\(2,\)"),
        (np.zeros((1, 6), dtype=int), ValueError, "6 positions.*context of 5"),
    ],
)
def test_gpt_bad_input(ids, error, match):
    with pytest.raises(error, match=match):
        _tiny()(ids)


def test_gpt_bad_config():
    with pytest.raises(ValueError, match=r"n_embd=6, n_head=4"):
        gn.models.gpt(5, 4, n_head=4, n_embd=6)
    with pytest.raises(ValueError, match="temperature"):
        _tiny().generate(np.array([[1]]), 3, temperature=0.0)


def test_fit_trains_a_gpt_with_clipping_and_a_per_step_schedule():
    tokens = np.tile(np.arange(4), 30)
    x, y = gn.datasets.sequential_windows(tokens, 6)
    model = gn.models.gpt(4, 6, n_layer=1, n_head=1, n_embd=8, rng=0)
    opt = gn.AdamW(gn.models.gpt_param_groups(model), lr=1e-2)
    clip = gn.GradientClipping(1.0)
    sched = gn.WarmupCosineLR(opt, warmup_steps=2, total_steps=20, min_lr=1e-3)
    history = model.fit(
        x,
        y,
        loss=gn.CrossEntropyLoss(),
        optimizer=opt,
        epochs=5,
        batch_size=5,
        callbacks=[clip, sched],
        seed=0,
        verbose=0,
    )
    assert len(clip.norms) == 20 and sched.last_epoch == 20 and opt.lr == pytest.approx(1e-3)
    assert history["loss"][-1] < history["loss"][0]
    assert model.predict(x[:2]).shape == (2, 6, 4)
