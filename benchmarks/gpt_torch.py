"""nanoGPT's model in plain PyTorch, for side-by-side timing and number-for-number tests.

The same architecture as ``glassnet.models.GPT`` (pre-LayerNorm blocks, learned
positions, no biases, tied embedding and output layer), written the way
nanoGPT's model.py writes it, with ``F.scaled_dot_product_attention``;
``copy_from_glassnet`` loads a glassnet GPT's weights into it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - PyTorch's own convention
from torch import nn


class Block(nn.Module):
    def __init__(self, d: int, h: int, bias: bool) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, bias=bias)
        self.c_attn = nn.Linear(d, 3 * d, bias=bias)
        self.c_proj = nn.Linear(d, d, bias=bias)
        self.ln_2 = nn.LayerNorm(d, bias=bias)
        self.c_fc = nn.Linear(d, 4 * d, bias=bias)
        self.mlp_proj = nn.Linear(4 * d, d, bias=bias)
        self.n_head = h

    def attn(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (a.view(n, t, self.n_head, d // self.n_head).transpose(1, 2) for a in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(n, t, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class TorchGPT(nn.Module):
    def __init__(self, vocab_size: int, context: int, n_layer: int, n_head: int, n_embd: int, bias: bool = False):
        super().__init__()
        self.context = context
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(context, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, bias) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, length: int, temperature: float = 1.0, top_k: int | None = None):
        """nanoGPT's generate: the whole (cropped) context through the model for every new token."""
        for _ in range(length):
            logits = self(idx[:, -self.context :])[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("inf")
            idx = torch.cat((idx, torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)), dim=1)
        return idx

    def param_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        params = [p for p in self.parameters() if p.requires_grad]
        return [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]


def copy_from_glassnet(theirs: TorchGPT, ours: Any) -> None:
    """Load a glassnet GPT's weights (glassnet Linear weights are (in, out): transposed here)."""

    def put(target: torch.Tensor, value: Any, transpose: bool = False) -> None:
        with torch.no_grad():
            target.copy_(torch.from_numpy(value.T.copy() if transpose else value.copy()))

    put(theirs.wte.weight, ours.wte.weight.data)
    put(theirs.wpe.weight, ours.wpe.weight.data)
    layers = ours.blocks.layers
    for i, block in enumerate(theirs.blocks):
        ln_1, attn = layers[2 * i].module.layers
        ln_2, fc, _, proj = layers[2 * i + 1].module.layers
        pairs = [(block.ln_1, ln_1, False), (block.ln_2, ln_2, False), (block.c_fc, fc, True)]
        pairs += [(block.c_attn, attn.in_proj, True), (block.c_proj, attn.out_proj, True), (block.mlp_proj, proj, True)]
        for t_mod, g_mod, transpose in pairs:
            put(t_mod.weight, g_mod.weight.data, transpose)
            if t_mod.bias is not None:
                put(t_mod.bias, g_mod.bias.data)
    put(theirs.ln_f.weight, ours.ln_f.weight.data)
    if theirs.ln_f.bias is not None:
        put(theirs.ln_f.bias, ours.ln_f.bias.data)
