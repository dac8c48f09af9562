"""``glassnet generate`` and ``glassnet train --model gpt2`` on GPT-2, checked against transformers.

A tiny random GPT-2 is saved by transformers into a temporary folder with a BPE trained on a slice
of the shipped Shakespeare (nothing is downloaded).
"""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli
from glassnet.cli import gpt2_train
from glassnet.datasets.bpe import BPETokenizer
from glassnet.models import gpt2

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def text():
    return gn.datasets.shakespeare()[0][:20_000]


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory, text):
    """A random GPT-2 (2 layers, 2 heads, 32 wide) saved by transformers, with vocab.json + merges.txt beside it."""
    folder = tmp_path_factory.mktemp("hf")
    tok = BPETokenizer.train(text, vocab_size=300)
    tok.save(folder)
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2, n_head=2, n_embd=32, vocab_size=len(tok), n_positions=64,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=tok.eot_id, eos_token_id=tok.eot_id,
    )  # fmt: skip
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # biases and LayerNorms randomised too, so every tensor matters
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def small_txt(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("data") / "small.txt"
    path.write_text(text, encoding="utf-8")
    return path


def _generate(capsys, *argv):
    capsys.readouterr()
    assert cli.main(["generate", *map(str, argv)]) == 0
    return capsys.readouterr().out


def test_greedy_generation_is_transformers_greedy_decoding(hf_folder, capsys):
    tok = BPETokenizer.load(hf_folder)
    prompt = "ROMEO:\nWhat light"
    ids = tok.encode(prompt)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(hf_folder).eval()
    with torch.no_grad():
        ref = theirs.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
            max_new_tokens=20,
            do_sample=False,
            pad_token_id=tok.eot_id,
        )
    out = _generate(capsys, hf_folder, "--prompt", prompt, "--length", 20, "--top-k", 1)
    assert out == prompt + tok.decode(ref[0, len(ids) :].tolist()) + "\n"


def test_the_same_seed_gives_the_same_text(hf_folder, capsys):
    flags = ("--prompt", "To be", "--length", 15, "--temperature", 1.0, "--top-p", 0.9)
    first = _generate(capsys, hf_folder, *flags, "--seed", 3)
    assert first.startswith("To be") and len(first) > len("To be\n")
    assert _generate(capsys, hf_folder, *flags, "--seed", 3) == first
    others = {_generate(capsys, hf_folder, *flags, "--seed", s) for s in (4, 5, 6)}
    assert others != {first}  # the seed does change the draw


def test_finetune_from_a_hugging_face_folder_then_generate_and_export(hf_folder, small_txt, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--model", "gpt2", "--init", hf_folder, "--data", small_txt, "--steps", 3, "--context", 32]
    assert cli.main([*map(str, argv), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fine-tuning" in printed and "validation loss" in printed
    model = gn.load(out / "model.gnet")
    meta = model.metadata
    tok = BPETokenizer.from_config(meta["tokenizer"])
    assert tok.vocab == BPETokenizer.load(hf_folder).vocab
    assert len(meta["curve"]["step_loss"]) == 3 and meta["settings"]["context"] == 32
    before = gpt2.load_pretrained(hf_folder)
    assert not np.array_equal(model.wte.weight.data, before.wte.weight.data)  # it trained
    text = _generate(capsys, out / "model.gnet", "--prompt", "ROMEO:", "--length", 10, "--seed", 1)
    assert text.startswith("ROMEO:")
    assert _generate(capsys, out / "model.gnet", "--prompt", "ROMEO:", "--length", 10, "--seed", 1) == text

    folder = tmp_path / "hf-out"
    assert cli.main(["export", str(out / "model.gnet"), str(folder), "--format", "hf"]) == 0
    assert {"config.json", "model.safetensors", "vocab.json", "merges.txt"} <= set(os.listdir(folder))
    assert json.loads((folder / "config.json").read_text())["eos_token_id"] == tok.eot_id
    theirs = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    ids = np.array([tok.encode("ROMEO:\nBut soft, what light")])
    with torch.no_grad():
        ref = theirs(torch.tensor(ids)).logits.numpy()
    model.eval()
    np.testing.assert_allclose(model(ids), ref, rtol=0, atol=1e-5)
    assert BPETokenizer.load(folder).encode("But soft") == tok.encode("But soft")


def test_train_from_scratch_trains_a_bpe_and_a_small_gpt2(small_txt, tmp_path, capsys):
    out = tmp_path / "scratch"
    argv = ["train", "--model", "gpt2", "--data", small_txt, "--vocab-size", 300, "--steps", 2, "--batch-size", 2]
    assert cli.main([*map(str, argv), "--context", "16", "--out", str(out)]) == 0
    model = gn.load(out / "model.gnet")
    assert (model.n_layer, model.n_head, model.n_embd, model.context) == (4, 4, 128, 16)
    tok = BPETokenizer.from_config(model.metadata["tokenizer"])
    assert len(tok) == model.vocab_size == 300
    assert tok.decode(tok.encode(small_txt.read_text())) == small_txt.read_text()
    text = _generate(capsys, out / "model.gnet", "--prompt", "KING", "--length", 5, "--top-k", 1)
    assert text.startswith("KING")


def test_ctrl_c_saves_the_model_trained_so_far(small_txt, tmp_path, capsys, monkeypatch):
    finetune = gpt2.finetune

    def pressed_once(*args, should_stop, **kwargs):
        def stop():
            os.kill(os.getpid(), signal.SIGINT)  # as a person pressing Ctrl-C during the first step
            return should_stop()

        return finetune(*args, should_stop=stop, **kwargs)

    monkeypatch.setattr(gpt2_train.gpt2, "finetune", pressed_once)
    if sys.platform == "win32":
        pytest.skip("SIGINT to this process is POSIX")
    out = tmp_path / "stopped"
    argv = ["train", "--model", "gpt2", "--data", small_txt, "--vocab-size", 260, "--steps", 50, "--context", 8]
    assert cli.main([*map(str, argv), "--out", str(out)]) == 130
    meta = gn.load(out / "model.gnet").metadata
    assert meta["interrupted"]["batch"] == 1 and len(meta["curve"]["step_loss"]) == 1
    assert "interrupted after 1 step of 50" in capsys.readouterr().err


def _error(capsys, *argv):
    capsys.readouterr()
    code = cli.main([*map(str, argv)])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    return err


def test_bad_folders_and_files_are_one_line_errors(hf_folder, small_txt, tmp_path, capsys):
    no_config = tmp_path / "no-config"
    no_config.mkdir()
    (no_config / "model.safetensors").write_bytes((hf_folder / "model.safetensors").read_bytes())
    assert "no config.json" in _error(capsys, "generate", no_config)

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_bytes((hf_folder / "config.json").read_bytes())
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04 not read")
    err = _error(capsys, "generate", pickled)
    assert "only pytorch_model.bin" in err and "never unpickles" in err
    err = _error(capsys, "train", "--model", "gpt2", "--init", pickled, "--data", small_txt)
    assert "--init" in err and "pytorch_model.bin" in err

    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    for name in ("config.json", "model.safetensors"):
        (no_tokenizer / name).write_bytes((hf_folder / name).read_bytes())
    assert "vocab.json + merges.txt" in _error(capsys, "generate", no_tokenizer)

    with pytest.raises(SystemExit) as stopped:  # --data's own check, as for every path: a usage error
        cli.main(["train", "--model", "gpt2", "--data", str(tmp_path / "missing.txt")])
    assert stopped.value.code == 2 and "missing.txt: no such file or folder" in capsys.readouterr().err
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 ".encode("latin-1") * 100)
    assert "--encoding latin-1" in _error(capsys, "train", "--model", "gpt2", "--data", tmp_path / "latin1.txt")
    err = _error(capsys, "train", "--model", "gpt2", "--init", hf_folder, "--data", small_txt, "--vocab-size", 400)
    assert "--vocab-size" in err
    assert "--model gpt2" in _error(capsys, "train", "--model", "mlp", "--data", small_txt)
    assert "--epochs" in _error(capsys, "train", "--model", "gpt2", "--data", small_txt, "--epochs", 2)
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("to be", encoding="utf-8")
    assert "too short" in _error(capsys, "train", "--model", "gpt2", "--init", hf_folder, "--data", tiny)


def test_unknown_data_sets_are_still_refused_by_name(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--data", "cifar"])
    assert exc.value.code == 2
    assert "invalid choice: 'cifar'" in capsys.readouterr().err
