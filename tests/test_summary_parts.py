"""``summary`` of a GPT shows its parts; a Residual shows the layers it wraps."""

from __future__ import annotations

import pytest

import glassnet as gn
from glassnet import cli
from glassnet.summary import summary


def _counts(table: str) -> list[int]:
    lines = table.splitlines()
    rules = [i for i, line in enumerate(lines) if set(line) == {"="}]
    body = lines[rules[0] + 1 : rules[1]]
    return [int(line.split()[-1].replace(",", "")) for line in body]


def test_a_gpt_shows_embeddings_blocks_final_norm_and_tied_head():
    model = gn.models.gpt(13, 8, n_layer=2, n_head=2, n_embd=8, rng=0)
    table = summary(model, (8,))
    assert table.count("MultiHeadAttention(8, 2") == 2 and table.count("GELU()") == 2
    for part in ("wte ", "wpe ", "ln_f ", "head "):
        assert part in table
    assert "tied to wte.weight" in table and "(None, 8, 13)" in table
    assert sum(_counts(table)) == sum(p.data.size for p in model.parameters())  # the tied head counted once
    with pytest.raises(ValueError, match="context"):
        summary(model, (9,))  # the whole model's checks still run first


def test_glassnet_summary_of_a_gpt_file(tmp_path, capsys):
    model = gn.models.gpt(13, 8, n_layer=1, n_head=2, n_embd=8, rng=0)
    model.save(tmp_path / "gpt.gnet", metadata={"input_shape": [8]})
    assert cli.main(["summary", str(tmp_path / "gpt.gnet")]) == 0
    out = capsys.readouterr().out
    assert "blocks.layers.0.module.layers.1  MultiHeadAttention" in out and "Linear(8, 32" in out


def test_glassnet_summary_of_a_gpt_saved_without_an_input_shape_reads_its_context(tmp_path, capsys):
    model = gn.models.gpt(13, 8, n_layer=1, n_head=2, n_embd=8, rng=0)
    model.save(tmp_path / "gpt.gnet", metadata={})
    assert cli.main(["summary", str(tmp_path / "gpt.gnet")]) == 0
    out = capsys.readouterr().out
    assert "Input: (None, 8)" in out and "(None, 8, 13)" in out
