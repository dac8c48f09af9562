"""Which ``glassnet train`` options apply to which data sets and models: one table, so none is silently ignored.

A flag given where it does not apply is an error that names it and says where it does apply.
A new kind of data or model adds its flags here, next to the others.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from glassnet.cli import recipes
from glassnet.cli.errors import CommandError
from glassnet.cli.own_data import OWN_FLAGS

__all__ = ["APPLIES", "TEXT_DATASETS", "check_applies"]

TEXT_DATASETS = ("shakespeare",)  # language models: trained for steps, not epochs


def _idx(data: str, model: str) -> bool:
    return data in recipes.IDX_DATASETS


def _epochs(data: str, model: str) -> bool:
    return data not in TEXT_DATASETS


def _steps(data: str, model: str) -> bool:
    return data in TEXT_DATASETS


_IDX = f"--data {' or '.join(recipes.IDX_DATASETS)} (the data sets read from IDX files)"
_EPOCHS = "the image and toy data sets (a language model trains for --steps with its recipe's optimizer)"
_STEPS = f"language models (--data {', '.join(TEXT_DATASETS)})"

# the flag's dest -> (where it applies, in words; whether it applies to (data, model))
APPLIES: dict[str, tuple[str, Callable[[str, str], bool]]] = {
    "data_path": (_IDX, _idx),
    "download": (_IDX, _idx),
    "epochs": (_EPOCHS, _epochs),
    "optimizer": (_EPOCHS, _epochs),
    "diagnose": ("the image and toy data sets", _epochs),
    "steps": (_STEPS, _steps),
    "context": (_STEPS, _steps),
    "eval_interval": (_STEPS, _steps),
    # GPT-2's own flags: --model gpt2 takes its own path (glassnet.cli.gpt2_train), refused everywhere else
    "init": ("--model gpt2", lambda data, model: False),
    "vocab_size": ("--model gpt2", lambda data, model: False),
}


def _mlp(data: str, model: str) -> bool:
    return model == "mlp"


# the flags of one's own files (glassnet.cli.own_data checks them against the kind of file); on the
# built-in data sets, --hidden and --dropout shape the MLP, and the others do not apply at all
for _flag, _kinds in OWN_FLAGS.items():
    _files = " and ".join(
        {"csv": "CSV files", "images": "image folders", "text": "text files"}[k] for k in _kinds if k != "built-in"
    )
    if "built-in" in _kinds:
        APPLIES[_flag[2:].replace("-", "_")] = (f"--model mlp, and {_files} of your own", _mlp)
    else:
        APPLIES[_flag[2:].replace("-", "_")] = (f"{_files} of your own (--data PATH)", lambda data, model: False)


def check_applies(args: argparse.Namespace, data: str, model: str) -> None:
    """Refuse every flag given (not None, not False) that does not apply to ``data`` and ``model``."""
    for dest, (where, applies) in APPLIES.items():
        given = getattr(args, dest, None)
        if given is None or given is False or applies(data, model):
            continue
        flag = "--" + dest.replace("_", "-")
        raise CommandError(f"{flag} does not apply to --data {data} --model {model}: it is for {where}; leave it out")
