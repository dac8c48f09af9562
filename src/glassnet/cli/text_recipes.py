"""The language-model recipes of ``glassnet train --data shakespeare``: a model and its settings per ``--model``.

The loop they run (``train_steps``, ``validation_loss``) is the library's, in ``glassnet.text_training``.

``RECIPES`` holds one recipe per ``--model`` of ``glassnet train --data shakespeare``;
a new model family adds a row (a builder and its defaults).
"""

from __future__ import annotations

from collections.abc import Callable

from glassnet.module import Module
from glassnet.optim import Adam, AdamW, Optimizer
from glassnet.text_training import StepLog, TextRecipe, estimate_loss, train_steps, validation_loss

__all__ = [
    "TextRecipe",
    "RECIPES",
    "fit_schedule",
    "WARMUP_SHARE",
    "check_cost",
    "MAX_CONTEXT",
    "MAX_TOKENS_PER_STEP",
    "StepLog",
    "train_steps",
    "validation_loss",
    "estimate_loss",
]


def _gpt(vocab_size: int, context: int, seed: int) -> Module:
    from glassnet.models import gpt

    return gpt(vocab_size, context, n_layer=4, n_head=4, n_embd=128, rng=seed)


def _gpt_optimizer(model: Module, s: TextRecipe) -> Optimizer:
    from glassnet.models import gpt_param_groups

    return AdamW(gpt_param_groups(model, weight_decay=0.1), lr=s.lr, betas=(0.9, 0.99))


# nanoGPT's Tiny Shakespeare CPU recipe (its README): 4 layers, 4 heads, 128 wide, context 64,
# batch 12, 2,000 steps, AdamW lr 1e-3 (betas 0.9, 0.99; weight decay 0.1 on matrices),
# 100 warm-up steps, cosine decay to 1e-4, clipping at 1.0, no dropout.
RECIPES: dict[str, TextRecipe] = {
    "gpt": TextRecipe(
        build=_gpt,
        optimizer=_gpt_optimizer,
        describe="GPT 4 layers x 4 heads x 128, AdamW (0.9, 0.99) weight decay 0.1",
    ),
}


def _char_rnn(cell: str) -> Callable[[int, int, int], Module]:
    def build(vocab_size: int, context: int, seed: int) -> Module:
        from glassnet.models.char_rnn import CharRNN

        return CharRNN(vocab_size, embedding_dim=64, hidden_size=256, cell=cell, rng=seed)

    return build


def _adam(model: Module, s: TextRecipe) -> Optimizer:
    return Adam(model.parameters(), lr=s.lr)


# The character LSTM: Embedding(65, 64) -> LSTM(64, 256) -> Linear(256, 65), context 64, batch 32,
# Adam lr 2e-3 (constant), clipping at 1.0, 2,000 steps; "rnn" is the same recipe with a tanh RNN cell.
for _cell, _name in (("lstm", "LSTM"), ("rnn", "tanh RNN")):
    RECIPES[_cell] = TextRecipe(
        build=_char_rnn(_cell),
        optimizer=_adam,
        batch_size=32,
        lr=2e-3,
        min_lr=None,
        warmup_steps=0,
        describe=f"Embedding(V, 64) -> {_name}(64, 256) -> Linear(256, V), Adam; generation carries the state",
    )


# bounds on what one step may cost (not on what a model may be): a GPT's attention holds
# batch x heads x context² scores, and every step holds batch x context logits over the vocabulary
MAX_CONTEXT = 4096
MAX_TOKENS_PER_STEP = 2**20


def check_cost(s: TextRecipe) -> None:
    """ValueError naming --context or --batch-size when one step would cost too much."""
    if s.context > MAX_CONTEXT:
        raise ValueError(
            f"--context {s.context}: at most {MAX_CONTEXT:,} characters (a step's attention grows with its square)"
        )
    tokens = s.batch_size * s.context
    if tokens > MAX_TOKENS_PER_STEP:
        raise ValueError(
            f"--batch-size {s.batch_size} with --context {s.context} is {tokens:,} characters a step; "
            f"at most {MAX_TOKENS_PER_STEP:,}: lower --batch-size"
        )


WARMUP_SHARE = 20  # the recipe warms up for 100 of its 2,000 steps: a warm-up is at most 1/20 of a run


def fit_schedule(s: TextRecipe) -> tuple[TextRecipe, str]:
    """The settings with the warm-up scaled to the run's length, and the schedule that runs, in words.

    A warm-up longer than the run would leave the rate rising for the whole run and the cosine
    decay never reached: the warm-up is cut to 1/``WARMUP_SHARE`` of the run, as in the recipe.
    """
    if s.min_lr is None:
        return s, "constant learning rate"
    warmup = min(s.warmup_steps, s.steps // WARMUP_SHARE)
    fitted = s.with_overrides(warmup_steps=warmup)
    said = f"{warmup} warm-up steps" if warmup else "no warm-up"
    if warmup != s.warmup_steps:
        said += f" (the recipe's {s.warmup_steps} scaled to 1/{WARMUP_SHARE} of a {s.steps}-step run)"
    return fitted, f"{said}, cosine decay to {s.min_lr:g}"
