"""GPT-2 in NumPy: Hugging Face checkpoints read without torch, generation, fine-tuning, export.

GPT-2 is glassnet's ``GPT`` with biases on, GELU's tanh approximation and
LayerNorm's eps from the config, so nothing here computes: this file maps names.
A Hugging Face GPT-2 folder holds ``config.json`` and ``model.safetensors``;
the tensors map one to one onto the GPT's parameters, none transposed
(Hugging Face's ``Conv1D`` keeps its weight as (in, out), the layout of
glassnet's ``Linear``)::

    wte.weight, wpe.weight            wte.weight, wpe.weight
    h.{i}.ln_1.{weight,bias}          blocks.layers[2i].module.layers[0]      LayerNorm
    h.{i}.attn.c_attn.{weight,bias}   blocks.layers[2i].module.layers[1].in_proj   (D, 3D), [q | k | v]
    h.{i}.attn.c_proj.{weight,bias}   blocks.layers[2i].module.layers[1].out_proj
    h.{i}.ln_2.{weight,bias}          blocks.layers[2i+1].module.layers[0]
    h.{i}.mlp.c_fc.{weight,bias}      blocks.layers[2i+1].module.layers[1]    (D, 4D)
    h.{i}.mlp.c_proj.{weight,bias}    blocks.layers[2i+1].module.layers[3]    (4D, D)
    ln_f.{weight,bias}                ln_f
    lm_head.weight                    tied to wte (not stored, or ignored)

(names may carry the prefix ``transformer.``; the attention's causal-mask buffers
``h.{i}.attn.bias`` of old files are ignored.) Loading checks the config, then
the file's header against the shapes the config implies, before anything is
allocated; then allocates the model's parameters (nothing drawn) and reads
each tensor straight into its parameter: the memory needed is the model plus
the largest tensor's stored bytes.

Example:
    >>> import os, tempfile, numpy as np
    >>> from glassnet.models import gpt2
    >>> model = gpt2.build({"vocab_size": 50, "n_positions": 16, "n_embd": 8, "n_layer": 1, "n_head": 2}, rng=0)
    >>> folder = tempfile.mkdtemp()
    >>> gpt2.save_pretrained(model, folder)
    >>> sorted(os.listdir(folder))
    ['config.json', 'model.safetensors']
    >>> again = gpt2.load_pretrained(folder)
    >>> bool(np.array_equal(again(np.array([[1, 2, 3]])), model(np.array([[1, 2, 3]]))))
    True
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from glassnet import safetensors
from glassnet._checks import as_rng, check_dtype, positive_float, positive_int, short
from glassnet._files import atomic_write, display_name, open_regular
from glassnet.datasets.text import windows
from glassnet.models import GPT, gpt_param_groups
from glassnet.module import Parameter
from glassnet.optim import AdamW
from glassnet.text_training import StepLog, TextRecipe, train_steps

__all__ = [
    "read_config",
    "build",
    "hf_parameters",
    "load_pretrained",
    "save_pretrained",
    "generate_ids",
    "generate",
    "sample_next",
    "finetune",
    "MAX_PARAMETERS",
]

MAX_PARAMETERS = 10**11  # far above GPT-2 XL's 1.56e9; a config asking for more is refused outright
_ACTIVATIONS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh", "gelu": "none"}
_IGNORED = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers that old checkpoints store


def read_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``config.json`` of a Hugging Face GPT-2 folder, checked: the values ``build`` needs.

    Returns a dict with vocab_size, n_positions, n_embd, n_layer, n_head,
    layer_norm_epsilon and activation_function (defaults as transformers' GPT2Config).

    Raises:
        ValueError: the folder has no config.json, or it describes something
            glassnet's GPT can't be (untied output layer, n_inner != 4 n_embd, ...).
    """
    path = Path(os.fspath(folder)) / "config.json"
    if not path.is_file():
        raise ValueError(f"{display_name(folder)} has no config.json: expected a Hugging Face GPT-2 folder")
    with open_regular(path, "config") as f:
        raw = f.read(2**20 + 1)
    if len(raw) > 2**20:
        raise ValueError(f"{display_name(path)} is over 1 MiB: not a model config")
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{display_name(path)} is not UTF-8 JSON: {str(err)[:100]}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{display_name(path)} must hold a JSON object. Received: {short(config)}")
    return check_config(config, display_name(path))


def check_config(config: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """The GPT-2 settings of a config dict, each checked (see ``read_config``)."""
    model_type = config.get("model_type", "gpt2")
    if model_type != "gpt2":
        raise ValueError(f"{where}: model_type must be 'gpt2'. Received: model_type={short(model_type)}")
    out: dict[str, Any] = {
        "vocab_size": positive_int(config.get("vocab_size", 50257), "vocab_size", high=10**7),
        "n_positions": positive_int(config.get("n_positions", 1024), "n_positions", high=10**6),
        "n_embd": positive_int(config.get("n_embd", 768), "n_embd", high=10**6),
        "n_layer": positive_int(config.get("n_layer", 12), "n_layer", high=10**4),
        "n_head": positive_int(config.get("n_head", 12), "n_head", high=10**4),
        "layer_norm_epsilon": positive_float(config.get("layer_norm_epsilon", 1e-5), "layer_norm_epsilon"),
        "activation_function": config.get("activation_function", "gelu_new"),
    }
    if out["activation_function"] not in _ACTIVATIONS:
        raise ValueError(
            f"{where}: activation_function must be one of {sorted(_ACTIVATIONS)}. "
            f"Received: activation_function={short(out['activation_function'])}"
        )
    if out["n_embd"] % out["n_head"]:
        raise ValueError(f"{where}: n_embd must be divisible by n_head. Received: {out['n_embd']}, {out['n_head']}")
    n_inner = config.get("n_inner")
    if n_inner is not None and n_inner != 4 * out["n_embd"]:
        raise ValueError(f"{where}: glassnet's GPT has n_inner = 4 * n_embd. Received: n_inner={short(n_inner)}")
    for key, wanted in (
        ("tie_word_embeddings", True),
        ("scale_attn_weights", True),
        ("scale_attn_by_inverse_layer_idx", False),
        ("add_cross_attention", False),
    ):
        if key in config and config[key] is not wanted:
            raise ValueError(f"{where}: glassnet's GPT-2 needs {key}={wanted}. Received: {key}={short(config[key])}")
    count = parameter_count(out)
    if count > MAX_PARAMETERS:
        raise ValueError(f"{where} asks for {count:.3g} parameters, more than the {MAX_PARAMETERS:.0e} glassnet loads")
    return out


def parameter_count(config: dict[str, Any]) -> int:
    """GPT-2's parameter count from its config (the tied output layer counted once)."""
    v, p, d, n = config["vocab_size"], config["n_positions"], config["n_embd"], config["n_layer"]
    per_block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    return v * d + p * d + n * per_block + 2 * d


def build(config: dict[str, Any], rng: np.random.Generator | int | None = None, dtype: Any = np.float32) -> GPT:
    """A GPT with GPT-2's layout for a config (``read_config``'s keys): biases, tanh GELU, its eps.

    Initialised as nanoGPT initialises GPT-2 (N(0, 0.02), the residual projections scaled).
    """
    return GPT(**_gpt_arguments(check_config(config), dtype), rng=rng)


def _gpt_arguments(c: dict[str, Any], dtype: Any) -> dict[str, Any]:
    return {
        "vocab_size": c["vocab_size"],
        "context": c["n_positions"],
        "n_layer": c["n_layer"],
        "n_head": c["n_head"],
        "n_embd": c["n_embd"],
        "bias": True,
        "dtype": dtype,
        "gelu_approximate": _ACTIVATIONS[c["activation_function"]],
        "layer_norm_eps": c["layer_norm_epsilon"],
    }


def _expected_shapes(c: dict[str, Any]) -> Iterator[tuple[str, tuple[int, ...]]]:
    d = c["n_embd"]
    yield "wte.weight", (c["vocab_size"], d)
    yield "wpe.weight", (c["n_positions"], d)
    for i in range(c["n_layer"]):
        for name, shape in (
            ("ln_1.weight", (d,)),
            ("ln_1.bias", (d,)),
            ("attn.c_attn.weight", (d, 3 * d)),
            ("attn.c_attn.bias", (3 * d,)),
            ("attn.c_proj.weight", (d, d)),
            ("attn.c_proj.bias", (d,)),
            ("ln_2.weight", (d,)),
            ("ln_2.bias", (d,)),
            ("mlp.c_fc.weight", (d, 4 * d)),
            ("mlp.c_fc.bias", (4 * d,)),
            ("mlp.c_proj.weight", (4 * d, d)),
            ("mlp.c_proj.bias", (d,)),
        ):
            yield f"h.{i}.{name}", shape
    yield "ln_f.weight", (d,)
    yield "ln_f.bias", (d,)


def hf_parameters(model: GPT) -> dict[str, Parameter]:
    """The GPT's parameters by their Hugging Face GPT-2 names (without ``transformer.``), in file order."""
    out: dict[str, Any] = {"wte.weight": model.wte.weight, "wpe.weight": model.wpe.weight}
    blocks = model.blocks.layers
    for i in range(model.n_layer):
        ln_1, attn = blocks[2 * i].module.layers[:2]  # type: ignore[attr-defined]
        ln_2, c_fc, _, c_proj = blocks[2 * i + 1].module.layers  # type: ignore[attr-defined]
        for name, layer in (
            ("ln_1", ln_1),
            ("attn.c_attn", attn.in_proj),
            ("attn.c_proj", attn.out_proj),
            ("ln_2", ln_2),
            ("mlp.c_fc", c_fc),
            ("mlp.c_proj", c_proj),
        ):
            out[f"h.{i}.{name}.weight"] = layer.weight
            out[f"h.{i}.{name}.bias"] = layer.bias  # GPT-2 has every bias (build: bias=True)
    out["ln_f.weight"] = model.ln_f.weight
    out["ln_f.bias"] = model.ln_f.bias
    return out


def _match_header(infos: dict[str, safetensors.TensorInfo], c: dict[str, Any], where: str) -> dict[str, str]:
    """Our name -> the file's name, every tensor checked for name, dtype and shape; nothing read yet."""
    prefix = "transformer." if any(n.startswith("transformer.") for n in infos) else ""
    names: dict[str, str] = {}
    problems: list[str] = []
    for name, shape in _expected_shapes(c):
        info = infos.get(prefix + name)
        if info is None:
            problems.append(f"{prefix + name} is missing")
        elif info.dtype not in safetensors.FLOAT_DTYPES:
            problems.append(f"{info.name} has dtype {info.dtype}, not a float")
        elif info.shape != shape:
            problems.append(f"{info.name} has shape {list(info.shape)}, the config implies {list(shape)}")
        else:
            names[name] = info.name
    known = set(names.values())
    for name in infos:
        if name in known or name.endswith(_IGNORED) or name == "lm_head.weight":
            continue
        problems.append(f"{name} is not a GPT-2 tensor")
    if "lm_head.weight" in infos and infos["lm_head.weight"].shape != (c["vocab_size"], c["n_embd"]):
        problems.append(f"lm_head.weight has shape {list(infos['lm_head.weight'].shape)}")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ValueError(f"{where} does not match its config.json: {'; '.join(problems[:5])}{more}")
    return names


def load_pretrained(folder: str | os.PathLike[str], dtype: Any = np.float32, finite: bool = True) -> GPT:
    """A Hugging Face GPT-2 folder (config.json + model.safetensors) as a glassnet GPT.

    F32, F16 and BF16 tensors load into ``dtype`` (float32 or float64). Every
    size loads (124M to 1.5B, and small custom configs); the memory needed is
    the model plus its largest tensor. The config and the file's header are
    checked against each other before anything is allocated.

    Args:
        folder: the folder (``huggingface-cli download gpt2`` or ``save_pretrained`` makes one).
        dtype: float32 (default) or float64.
        finite: refuse a tensor holding NaN or an infinity, naming it (a corrupt
            or diverged checkpoint would otherwise generate nonsense silently).

    Raises:
        ValueError: no safetensors file (a pickled ``pytorch_model.bin`` is refused with a
            message saying how to get one), a malformed file, or a mismatch with the config.
    """
    root = Path(os.fspath(folder))
    if root.is_file():
        raise ValueError(f"{display_name(folder)} is a file: pass the folder holding config.json and model.safetensors")
    if not root.is_dir():
        raise ValueError(f"{display_name(folder)} is not a folder: expected a Hugging Face GPT-2 folder")
    path = root / "model.safetensors"
    if not path.is_file():
        pickles = [n for n in ("pytorch_model.bin", "tf_model.h5", "model.ckpt.index") if (root / n).exists()]
        sharded = (root / "model.safetensors.index.json").exists()
        what = f"only {pickles[0]}, " if pickles else ""
        raise ValueError(
            f"{display_name(folder)} has {what}no model.safetensors"
            + (" (sharded checkpoints are not supported)" if sharded else "")
            + ". glassnet never unpickles; get the safetensors file with "
            "`huggingface-cli download gpt2 config.json model.safetensors --local-dir FOLDER`, or convert on a "
            "machine with transformers: `GPT2LMHeadModel.from_pretrained(FOLDER).save_pretrained(FOLDER)`"
        )
    config = read_config(root)
    dt = check_dtype(dtype)
    infos = safetensors.read_header(path)
    where = display_name(path)
    names = _match_header(infos, config, where)
    model = GPT.unfilled(**_gpt_arguments(config, dt))  # nothing drawn: every parameter is read next
    with open_regular(path, "path") as f:
        for ours, param in hf_parameters(model).items():
            safetensors.read_tensor(f, infos[names[ours]], out=param.data)
            if finite:
                safetensors.check_finite(param.data, names[ours], path)
    return model


def save_pretrained(model: GPT, folder: str | os.PathLike[str], eos_token_id: int | None = None) -> None:
    """Write the GPT as a Hugging Face GPT-2 folder (config.json + model.safetensors) that transformers loads.

    The model must have GPT-2's layout (``bias=True``); tensors are written in the
    model's dtype under transformers' own names (``transformer.h.0.attn.c_attn.weight``, ...).
    ``eos_token_id`` is the end-of-text id the config records (its bos and eos; default
    the last id, GPT-2's ``<|endoftext|>``; a BPE trained by ``BPETokenizer.train`` has it at 0).
    """
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a glassnet GPT. Received: {type(model).__name__}")
    if not model.bias:
        raise ValueError("GPT-2 has biases: save_pretrained needs a GPT built with bias=True")
    root = Path(os.fspath(folder))
    root.mkdir(parents=True, exist_ok=True)
    inverse = {v: k for k, v in _ACTIVATIONS.items() if k in ("gelu_new", "gelu")}
    eot = model.vocab_size - 1 if eos_token_id is None else positive_int(eos_token_id, "eos_token_id", allow_zero=True)
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": model.vocab_size,
        "n_positions": model.context,
        "n_ctx": model.context,
        "n_embd": model.n_embd,
        "n_layer": model.n_layer,
        "n_head": model.n_head,
        "n_inner": None,
        "activation_function": inverse[model.gelu_approximate],
        "layer_norm_epsilon": model.layer_norm_eps,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "tie_word_embeddings": True,
        "scale_attn_weights": True,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "torch_dtype": model.dtype.name,
    }
    tensors = {f"transformer.{name}": p.data for name, p in hf_parameters(model).items()}
    safetensors.save(tensors, root / "model.safetensors", metadata={"format": "pt"})
    atomic_write(root / "config.json", (json.dumps(config, indent=2) + "\n").encode("utf-8"))


# -- generation ----------------------------------------------------------------
def sample_next(
    logits: np.ndarray,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """One token id per row of ``logits`` (N, V), as transformers' sampling filters them.

    ``z = logits / temperature``; keep the ``top_k`` largest (``top_k=1``: greedy,
    argmax, the first on ties, no random number drawn); then keep the smallest set of
    the most probable tokens whose probabilities sum to at least ``top_p``; draw
    from ``softmax(z)`` over what is kept with one uniform number per row.
    """
    z = logits.astype(np.float64)
    if top_k == 1:
        return np.argmax(z, axis=1).astype(np.int64)
    z = z / temperature
    if top_k is not None and top_k < z.shape[1]:
        kth = np.partition(z, -top_k, axis=1)[:, -top_k][:, None]
        z = np.where(z < kth, -np.inf, z)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-p, axis=1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=1)
        # a token is dropped when the tokens more probable than it already reach top_p
        drop_sorted = (np.cumsum(sorted_p, axis=1) - sorted_p) >= top_p
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=1)
        p = np.where(drop, 0.0, p)
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(p))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), p.shape[1] - 1).astype(np.int64)


def generate_ids(
    model: GPT,
    ids: np.ndarray,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    rng: np.random.Generator | int | None = None,
    on_token: Callable[[np.ndarray], None] | None = None,
) -> np.ndarray:
    """``length`` new token ids after the prompt ``ids`` (N, T0), with the key/value cache.

    The prompt runs through the model once; each new token then costs one
    position, attending over the cached keys and values. Past the model's
    context the cache restarts from the last ``context // 2`` tokens (as
    ``GPT.generate``). ``on_token(ids)`` is called with each step's (N,) tokens
    (to print as they come). The same seed gives the same ids.

    Returns:
        int64 ids (N, length), the new tokens only.
    """
    ids = np.asarray(ids)
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2 or ids.shape[1] == 0 or ids.dtype.kind not in "iu":
        raise ValueError(f"ids must be a non-empty (N, T) array of integer token ids. Received: shape {ids.shape}")
    length = positive_int(length, "length", allow_zero=True)
    temperature = positive_float(temperature, "temperature")
    if top_k is not None:
        top_k = min(positive_int(top_k, "top_k"), model.vocab_size)
    if top_p is not None:
        top_p = positive_float(top_p, "top_p")
        if top_p > 1:
            raise ValueError(f"top_p must be in (0, 1]. Received: top_p={top_p}")
    gen = as_rng(rng)
    was_training = model.training
    model.eval()
    model.use_cache(True)
    out = np.empty((ids.shape[0], length), dtype=np.int64)
    try:
        window = ids[:, -model.context :]
        logits = model(window)[:, -1]
        cached = window.shape[1]  # positions in the key/value caches
        for i in range(length):
            token = sample_next(logits, gen, temperature, top_k, top_p)
            out[:, i] = token
            if on_token is not None:
                on_token(token)
            if i == length - 1:
                break
            window = np.concatenate((window, token[:, None]), axis=1)
            if cached >= model.context:  # full: restart from the recent half
                model.reset_cache()
                window = window[:, -max(1, model.context // 2) :]
                logits = model(window)[:, -1]
                cached = window.shape[1]
            else:
                logits = model(token[:, None])[:, -1]
                cached += 1
    finally:
        model.use_cache(False)
        model.train(was_training)
    return out


def generate(
    model: GPT,
    tokenizer: Any,
    prompt: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> str:
    """The prompt's continuation as text: ``length`` BPE tokens, decoded (``tokenizer`` has encode/decode).

    An empty prompt starts from the end-of-text token when the tokenizer has one
    (GPT-2's ``<|endoftext|>``), as transformers does.

    Example:
        >>> import glassnet as gn
        >>> from glassnet.models import gpt2
        >>> from glassnet.datasets.bpe import BPETokenizer
        >>> tok = BPETokenizer.train("to be or not to be, that is the question", vocab_size=270)
        >>> model = gpt2.build({"vocab_size": len(tok), "n_positions": 32, "n_embd": 8, "n_layer": 1, "n_head": 2}, rng=0)
        >>> text = gpt2.generate(model, tok, "to be", length=5, seed=0)
        >>> text == gpt2.generate(model, tok, "to be", length=5, seed=0)
        True
    """
    ids = tokenizer.encode(prompt)
    if not ids:
        eot = getattr(tokenizer, "eot_id", None)
        if eot is None:
            raise ValueError("prompt is empty and the tokenizer has no end-of-text token to start from")
        ids = [eot]
    out = generate_ids(model, np.array([ids], dtype=np.int64), length, temperature, top_k, top_p, seed)
    return str(tokenizer.decode(out[0].tolist()))


# -- fine-tuning -----------------------------------------------------------------
def finetune(
    model: GPT,
    tokens: np.ndarray,
    steps: int = 200,
    batch_size: int = 4,
    context: int = 128,
    lr: float = 1e-4,
    weight_decay: float = 0.1,
    warmup_steps: int = 20,
    min_lr: float | None = 1e-5,
    clip: float | None = 1.0,
    val_tokens: np.ndarray | None = None,
    eval_interval: int = 50,
    eval_batches: int = 5,
    seed: int = 0,
    report: Callable[[str], None] | None = print,
    should_stop: Callable[[], bool] = lambda: False,
    checkpoint: str | os.PathLike[str] | None = None,
    resume_from: str | os.PathLike[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> StepLog:
    """Fine-tune on a token array: glassnet's language-model loop (``glassnet.text_training.train_steps``).

    Each step draws ``batch_size`` random windows of ``context`` tokens from
    ``tokens`` (the text encoded by its tokenizer), runs forward and the
    cross-entropy of each next token, backward through every layer (no
    autograd), clips the gradient norm to ``clip`` and takes an AdamW step
    (weight decay on matrices only, ``models.gpt_param_groups``) with a warm-up
    then cosine learning rate. GPT-2's dropout is not applied. ``should_stop()``
    is asked after every step (``glassnet train`` sets it on Ctrl-C): training then
    ends early, with the StepLog's ``stopped_at`` set.

    ``checkpoint`` is a file written every ``eval_interval`` steps, on a stop and
    at the end (the weights, AdamW's moments, the schedule, the generators, the
    log, and ``metadata``); ``resume_from`` continues such a run bit for bit: call
    ``finetune`` with the same model (as it was when the run began, e.g. loaded
    again from the same folder), tokens and settings.

    Returns:
        the StepLog (every step's loss, the periodic train/val estimates).
    """
    context = min(positive_int(context, "context"), model.context)
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.ndim != 1 or len(tokens) <= context:
        raise ValueError(f"tokens must be a 1-D array longer than context={context}. Received: shape {tokens.shape}")
    recipe = TextRecipe(
        build=lambda v, c, s: model,
        optimizer=lambda m, s: AdamW(gpt_param_groups(m, weight_decay), lr=s.lr, betas=(0.9, 0.95)),
        steps=positive_int(steps, "steps"),
        batch_size=positive_int(batch_size, "batch_size"),
        context=context,
        lr=positive_float(lr, "lr"),
        min_lr=min_lr,
        warmup_steps=warmup_steps,
        clip=clip,
        eval_interval=positive_int(eval_interval, "eval_interval"),
        eval_batches=positive_int(eval_batches, "eval_batches"),
    )
    optimizer = recipe.optimizer(model, recipe)
    val = windows(np.asarray(val_tokens, dtype=np.int64), context) if val_tokens is not None else None
    return train_steps(
        model,
        windows(tokens, context),
        val,
        optimizer,
        recipe,
        seed=seed,
        report=report,
        should_stop=should_stop,
        checkpoint=checkpoint,
        resume_from=resume_from,
        metadata=metadata,
    )


def load_any(path: str | os.PathLike[str], dtype: Any = np.float32) -> GPT:
    """A Hugging Face GPT-2 folder, or a glassnet model file holding a GPT (for ``glassnet generate PATH``)."""
    if Path(os.fspath(path)).is_dir():
        return load_pretrained(path, dtype=dtype)
    import glassnet.io  # noqa: PLC0415  # a model file: glassnet's own format

    model = glassnet.io.load(path)
    if not isinstance(model, GPT):
        raise ValueError(f"{display_name(path)} holds a {type(model).__name__}, not a GPT")
    return model
