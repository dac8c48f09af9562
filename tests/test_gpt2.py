"""GPT-2 against transformers + PyTorch: logits, every gradient, ten AdamW steps, generation, export.

Each test builds a small random GPT-2 with transformers and saves it into tmp_path
(nothing is downloaded), as llm.c checks its GPT-2 against PyTorch.
"""

import json

import numpy as np
import pytest

from glassnet.losses import CrossEntropyLoss
from glassnet.models import gpt2, gpt_param_groups
from glassnet.optim import AdamW

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 300
SHAPES = [(2, 32), (4, 64), (3, 48)]  # (n_head, n_embd)


def hf_gpt2(folder, n_head=2, n_embd=32, seed=0, n_layer=2, dtype=None):
    """A random GPT-2 saved by transformers; biases and LayerNorms randomised too, so every tensor matters."""
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        vocab_size=VOCAB,
        n_positions=64,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=VOCAB - 1,
        eos_token_id=VOCAB - 1,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(folder, safe_serialization=True)
    return model


def ids_batch(shape=(2, 12), seed=1):
    return np.random.default_rng(seed).integers(0, VOCAB, shape)


@pytest.mark.parametrize(("n_head", "n_embd"), SHAPES)
def test_logits_match_transformers_float32_and_float64(tmp_path, n_head, n_embd):
    theirs = hf_gpt2(tmp_path, n_head, n_embd)
    ids = ids_batch()
    ours32 = gpt2.load_pretrained(tmp_path)
    with torch.no_grad():
        ref32 = theirs(torch.tensor(ids)).logits.numpy()
    out32 = ours32(ids)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, ref32, rtol=0, atol=1e-5)
    ours64 = gpt2.load_pretrained(tmp_path, dtype=np.float64)
    with torch.no_grad():
        ref64 = theirs.double()(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(ours64(ids), ref64, rtol=0, atol=1e-10)


def torch_loss(model, ids):
    logits = model(torch.tensor(ids[:, :-1])).logits
    return torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), torch.tensor(ids[:, 1:]).reshape(-1))


def torch_grads(model):
    """transformers' gradients by the names glassnet.models.gpt2.hf_parameters uses."""
    return {name.removeprefix("transformer."): p.grad.numpy() for name, p in model.named_parameters()}


@pytest.mark.parametrize(("n_head", "n_embd"), SHAPES[:2])
def test_every_gradient_matches_torch_autograd_float64(tmp_path, n_head, n_embd):
    theirs = hf_gpt2(tmp_path, n_head, n_embd).double()
    ours = gpt2.load_pretrained(tmp_path, dtype=np.float64)
    ids = ids_batch((3, 17))
    loss = CrossEntropyLoss()
    ours.train()
    value = loss(ours(ids[:, :-1]), ids[:, 1:])
    ours.zero_grad()
    ours.backward(loss.backward())
    ref = torch_loss(theirs, ids)
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    grads = torch_grads(theirs)
    params = gpt2.hf_parameters(ours)
    assert set(grads) == set(params)  # lm_head is tied: torch lists it once, as wte
    for name, p in params.items():
        scale = np.abs(grads[name]).max()
        assert np.abs(p.grad - grads[name]).max() <= 1e-6 * scale, name


def test_ten_adamw_steps_match_torch_float64(tmp_path):
    theirs = hf_gpt2(tmp_path, 2, 32).double().train()
    ours = gpt2.load_pretrained(tmp_path, dtype=np.float64)
    ids = ids_batch((4, 20), seed=3)
    settings = {"lr": 1e-3, "betas": (0.9, 0.95), "eps": 1e-8}
    decay = [p for p in theirs.parameters() if p.ndim >= 2]
    others = [p for p in theirs.parameters() if p.ndim < 2]
    torch_opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}], **settings
    )
    opt = AdamW(gpt_param_groups(ours, 0.1), **settings)
    loss = CrossEntropyLoss()
    ours.train()
    mine, ref = [], []
    for _ in range(10):
        mine.append(loss(ours(ids[:, :-1]), ids[:, 1:]))
        ours.zero_grad()
        ours.backward(loss.backward())
        opt.step()
        torch_opt.zero_grad()
        value = torch_loss(theirs, ids)
        value.backward()
        torch_opt.step()
        ref.append(value.item())
    assert mine[-1] < mine[0] - 0.1  # it learns the batch
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-6)
    # and the weights after ten steps
    weights = {n.removeprefix("transformer."): p.detach().numpy() for n, p in theirs.named_parameters()}
    for name, p in gpt2.hf_parameters(ours).items():
        np.testing.assert_allclose(p.data, weights[name], rtol=0, atol=1e-8, err_msg=name)


def test_cached_generation_equals_full_recompute(tmp_path):
    hf_gpt2(tmp_path, 4, 64)
    model = gpt2.load_pretrained(tmp_path, dtype=np.float64)
    prompt = ids_batch((2, 5), seed=4)
    cached = gpt2.generate_ids(model, prompt, 30, temperature=0.9, top_k=50, top_p=0.95, rng=7)
    rng = np.random.default_rng(7)
    seq = prompt
    model.eval()
    for i in range(30):  # the whole prefix through the model, every token
        token = gpt2.sample_next(model(seq)[:, -1], rng, 0.9, 50, 0.95)
        assert np.array_equal(token, cached[:, i]), i
        seq = np.concatenate((seq, token[:, None]), axis=1)
    again = gpt2.generate_ids(model, prompt, 30, temperature=0.9, top_k=50, top_p=0.95, rng=7)
    assert np.array_equal(cached, again)  # the same seed, the same tokens


def test_generation_past_the_context_keeps_going(tmp_path):
    hf_gpt2(tmp_path)
    model = gpt2.load_pretrained(tmp_path)
    out = gpt2.generate_ids(model, ids_batch((1, 60)), 20, rng=0)
    assert out.shape == (1, 20) and out.min() >= 0 and out.max() < VOCAB


@pytest.mark.parametrize(("n_head", "n_embd"), SHAPES[:2])
def test_greedy_matches_transformers_generate(tmp_path, n_head, n_embd):
    theirs = hf_gpt2(tmp_path, n_head, n_embd).double()
    ours = gpt2.load_pretrained(tmp_path, dtype=np.float64)
    prompt = ids_batch((1, 6), seed=5)
    with torch.no_grad():
        ref = theirs.generate(
            torch.tensor(prompt),
            attention_mask=torch.ones(prompt.shape, dtype=torch.long),
            max_new_tokens=25,
            do_sample=False,
            pad_token_id=VOCAB - 1,
        )
    mine = gpt2.generate_ids(ours, prompt, 25, top_k=1)
    assert mine.tolist() == ref[:, prompt.shape[1] :].tolist()


def test_exported_folder_loads_in_transformers_with_the_same_logits(tmp_path):
    model = gpt2.build({"vocab_size": VOCAB, "n_positions": 64, "n_embd": 48, "n_layer": 2, "n_head": 3}, rng=3)
    for p in model.parameters():  # LayerNorms and biases away from 1 and 0
        p.data += np.random.default_rng(0).normal(0, 0.05, p.shape).astype(p.data.dtype)
    gpt2.save_pretrained(model, tmp_path)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    ids = ids_batch()
    with torch.no_grad():
        ref = theirs(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(model(ids), ref, rtol=0, atol=1e-5)
    again = gpt2.load_pretrained(tmp_path)
    assert np.array_equal(again(ids), model(ids))
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "gpt2"


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_half_precision_checkpoints_load_to_float32(tmp_path, dtype_name):
    hf_gpt2(tmp_path, 2, 32, dtype=getattr(torch, dtype_name))
    ours = gpt2.load_pretrained(tmp_path)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path, dtype=torch.float32).eval()
    weights = {n.removeprefix("transformer."): p.detach().numpy() for n, p in theirs.named_parameters()}
    for name, p in gpt2.hf_parameters(ours).items():
        assert p.data.dtype == np.float32
        assert np.array_equal(p.data, weights[name]), name  # widening is exact
    ids = ids_batch()
    with torch.no_grad():
        ref = theirs(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(ours(ids), ref, rtol=0, atol=1e-5)


def test_text_generation_and_finetuning_with_a_bpe_of_our_own(tmp_path):
    from glassnet.datasets.bpe import BPETokenizer

    text = "the cat sat on the mat. the dog sat on the log. " * 40
    tok = BPETokenizer.train(text, vocab_size=300)
    model = gpt2.build({"vocab_size": len(tok), "n_positions": 32, "n_embd": 32, "n_layer": 1, "n_head": 2}, rng=0)
    tokens = np.array(tok.encode(text))
    log = gpt2.finetune(model, tokens, steps=60, batch_size=4, context=16, lr=3e-3, warmup_steps=5, report=None)
    assert log.losses[-1] < log.losses[0] / 2
    sample = gpt2.generate(model, tok, "the cat", length=8, top_k=1)
    assert sample == gpt2.generate(model, tok, "the cat", length=8, top_k=1)
    assert len(tok.encode(sample)) <= 8 and sample.strip()
    gpt2.save_pretrained(model, tmp_path)
    tok.save(tmp_path)
    fast = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert fast("the dog sat")["input_ids"] == tok.encode("the dog sat")


def test_config_refusals(tmp_path):
    hf_gpt2(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    for key, value, words in [
        ("tie_word_embeddings", False, "tie_word_embeddings"),
        ("n_inner", 100, "n_inner"),
        ("activation_function", "relu", "activation_function"),
        ("n_head", 5, "divisible"),
        ("model_type", "llama", "model_type"),
    ]:
        (tmp_path / "config.json").write_text(json.dumps({**config, key: value}))
        with pytest.raises(ValueError, match=words):
            gpt2.load_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        gpt2.load_pretrained(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="top_p"):
        gpt2.generate_ids(gpt2.build(config, rng=0), np.array([[1]]), 2, top_p=1.5)


def test_the_docs_pages_offline_example_runs(tmp_path, monkeypatch, capsys):
    import tempfile
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "gpt2.md").read_text(encoding="utf-8")
    marker = "(this block runs in the tests):"
    block = page.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its folder goes into tmp_path
    exec(compile(block, "docs/gpt2.md", "exec"), {})  # noqa: S102  # the project's own documentation
    assert capsys.readouterr().out.strip()
