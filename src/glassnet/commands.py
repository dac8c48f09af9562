"""What ``glassnet demo``, ``train``, ``evaluate``, ``predict``, ``summary`` and ``export`` do (cli.py parses the arguments).

Each command checks what the user gave it before any long work starts, and
raises ``CommandError`` (one line, worded with the command's own flags) for a
mistake; cli.py turns every error into that one line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Any

import numpy as np

from glassnet import recipes, seeing
from glassnet.checkpoint import ModelCheckpoint, read_checkpoint
from glassnet.cli import EXIT_INTERRUPTED, CommandError
from glassnet.io import load, save
from glassnet.losses import CrossEntropyLoss
from glassnet.module import Module
from glassnet.optim import SGD, Adam, CosineAnnealingLR, Optimizer
from glassnet.runs import RunInfo, StopOnInterrupt, interruptible, read_run_info
from glassnet.training import History


def plural(n: int, word: str) -> str:
    """ "1 epoch", "2 epochs"."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def note(text: str) -> None:
    """A remark that is not an error, on stderr so that stdout stays the result."""
    print(f"note: {text}", file=sys.stderr)


# -- checks made before any work -------------------------------------------------


def prepare_folder(folder: str, flag: str) -> None:
    """Create ``folder`` if missing and make sure files can be written in it."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CommandError(f"{flag} {folder} is a file, not a folder: give a folder (it is created if missing)")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise CommandError(f"{flag} {folder}: cannot create the folder ({err.strerror or err})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(f"{flag} {folder}: cannot write in this folder; choose another one")


def _output_files(folder: str, flag: str, *names: str) -> list[str]:
    prepare_folder(folder, flag)
    paths = [os.path.join(folder, name) for name in names]
    for path in paths:
        if os.path.isdir(path):
            raise CommandError(
                f"{flag} {folder}: {path} is a folder, so the file cannot be written; choose another --out"
            )
    return paths


def load_data(name: str, seed: int, data_path: str | None, download: bool) -> recipes.Data:
    """``recipes.load_data`` with the data-source flags checked and its errors worded for the command line."""
    from glassnet.datasets import idx_sets

    if data_path is not None:
        if name not in recipes.IDX_DATASETS:
            origin = "ships with glassnet" if name == "digits" else "is generated"
            raise CommandError(
                f"--data-path is for the data sets read from files ({', '.join(recipes.IDX_DATASETS)}); "
                f"{name} {origin}: leave --data-path out"
            )
        title = idx_sets._TITLES[name]
        if os.path.exists(data_path) and not os.path.isdir(data_path):
            raise CommandError(f"--data-path {data_path} is a file: give the folder that holds the {title} IDX files")
        if not download:
            if not os.path.isdir(data_path):
                raise CommandError(
                    f"--data-path {data_path}: no such folder; give the folder that holds the {title} IDX files, "
                    "or add --download to fetch them into it"
                )
            missing = [
                s
                for s in idx_sets.FILES
                if not any(os.path.isfile(os.path.join(data_path, s + e)) for e in ("", ".gz"))
            ]
            if missing:
                raise CommandError(
                    f"--data-path {data_path} holds no {title} data set (missing {', '.join(missing)}, raw or .gz); "
                    "give the folder that holds them, or add --download to fetch them into it"
                )
    try:
        return recipes.load_data(name, seed=seed, data_path=data_path, download=download)
    except FileNotFoundError as err:
        if name not in recipes.IDX_DATASETS:
            raise
        title = idx_sets._TITLES[name]
        looked = ", ".join(str(folder) for _, folder in idx_sets._search_path(name, None))
        hint = idx_sets._INSTALL_HINTS.get(name)
        raise CommandError(
            f"{title} not found (looked in {looked}): add --download to fetch it into "
            f"{idx_sets._download_dir(name, None)}, or pass --data-path FOLDER for a folder that holds its four IDX files"
            + (f", or {hint}" if hint else "")
        ) from err


def load_model(path: str) -> tuple[Module, RunInfo]:
    """The model in ``path`` and what its metadata says about how it was trained (odd fields dropped, with a note)."""
    if os.path.isdir(path):
        inside = os.path.join(path, "model.gnet")
        hint = f"did you mean {inside}?" if os.path.isfile(inside) else "give the model file inside it (model.gnet)"
        raise CommandError(f"{path} is a folder, not a model file: {hint}")
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such model file (glassnet train writes runs/DATA-MODEL/model.gnet)")
    model = load(path)
    info, problems = read_run_info(getattr(model, "metadata", None))
    for problem in problems:
        note(f"{path}: {problem}")
    return model, info


# -- demo and train ---------------------------------------------------------------


def demo(args: argparse.Namespace) -> int:
    from glassnet.demo import main as demo_main

    prepare_folder(args.out, "--out")
    if args.seeds is not None:
        from glassnet.seeds import main as seeds_main

        return seeds_main(args.seeds, args.iterations, args.lr, args.tutorial_rng, args.out, args.workers)
    return demo_main(
        seed=args.seed, iterations=args.iterations, lr=args.lr, out=args.out, tutorial_rng=args.tutorial_rng
    )


def _optimizer(name: str, model: Module, lr: float) -> Optimizer:
    if name == "sgd":
        return SGD(model.parameters(), lr=lr, momentum=0.9)
    return Adam(model.parameters(), lr=lr)


CHECKPOINT = "checkpoint.gnet"  # written into --out after every epoch
_RUN_SETTINGS = ("data", "model", "seed", "epochs", "batch_size", "optimizer", "lr")


def _run_to_resume(args: argparse.Namespace) -> tuple[str | None, int]:
    """With ``--resume``: the checkpoint to continue and its epoch, the run's own settings put into ``args``.

    Without it: ``(None, 0)``, and the defaults (mlp, seed 0) put into ``args``.
    """
    if args.resume is None:
        args.model = args.model or "mlp"
        args.seed = 0 if args.seed is None else args.seed
        return None, 0
    path = os.path.join(args.resume, CHECKPOINT) if os.path.isdir(args.resume) else args.resume
    if not os.path.isfile(path):
        raise CommandError(
            f"--resume {args.resume}: no checkpoint there (glassnet train writes {CHECKPOINT} into its --out folder "
            "after every epoch)"
        )
    ck = read_checkpoint(path)
    meta = ck.metadata
    saved = {k: meta.get(k) for k in ("data", "model", "seed")}
    if isinstance(meta.get("settings"), dict):
        saved.update(meta["settings"])
    if any(saved.get(k) is None for k in _RUN_SETTINGS):
        raise CommandError(f"--resume {args.resume}: {path} was not written by glassnet train (no run settings in it)")
    for key in _RUN_SETTINGS:
        given, flag = getattr(args, key), "--" + key.replace("_", "-")
        if given is not None and given != saved[key]:
            raise CommandError(
                f"{flag} {given} differs from the run being resumed ({flag} {saved[key]}): leave it out to continue it"
            )
        setattr(args, key, saved[key])
    if args.out is None:
        args.out = os.path.dirname(path) or "."
    return path, ck.epoch


def _how_to_resume(checkpoint: ModelCheckpoint, resumed: str | None, epochs: int, out: str) -> None:
    """After Ctrl-C: which checkpoint continues the run (the end of the last complete epoch), and the command."""
    path = checkpoint.last_saved or resumed
    done = checkpoint.run.epoch if checkpoint.run is not None else 0
    if path is None or done == 0:
        print("no epoch was completed, so there is no checkpoint to resume from", file=sys.stderr)
        return
    where = out if os.path.abspath(path) == os.path.abspath(os.path.join(out, CHECKPOINT)) else path
    print(
        f"the checkpoint {path} continues the run from the end of epoch {done}/{epochs}: "
        f"glassnet train --resume {where}",
        file=sys.stderr,
    )


def train(args: argparse.Namespace) -> int:
    from glassnet import text_commands

    if getattr(args, "seeds", None) is not None:  # --seeds K: K runs, then mean ± std (seeing.py)
        return seeing.train_seeds(args)

    if args.data in text_commands.TEXT_DATASETS:  # language models train for steps, not epochs
        if args.resume is not None:
            raise CommandError(
                f"--resume is for the image and toy data sets; --data {args.data} has no checkpoints yet"
            )
        args.model = args.model or "gpt"
        args.seed = 0 if args.seed is None else args.seed
        return text_commands.train(args)
    started = time.perf_counter()
    resume_from, resumed_epoch = _run_to_resume(args)
    if args.model not in recipes.MODELS:
        raise CommandError(f"--model {args.model} is a language model: train it with --data shakespeare")
    if args.model == "cnn" and args.data not in recipes.IMAGE_DATASETS:
        raise CommandError(
            f"--model cnn needs image data ({', '.join(recipes.IMAGE_DATASETS)}); use --model mlp for {args.data}"
        )
    comm = _data_parallel(args)
    writes = comm is None or comm.rank == 0  # distributed: rank 0 alone prints and writes files
    if not writes:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of this process
    out = args.out or os.path.join("runs", f"{args.data}-{args.model}")
    model_path, plot_path, checkpoint_path = _output_files(out, "--out", "model.gnet", "curves.png", CHECKPOINT)
    data = load_data(args.data, args.seed, args.data_path, args.download)
    input_shape = tuple(data.x_train.shape[1:])
    model = recipes.build_model(args.data, args.model, input_shape, data.classes, seed=args.seed)
    s = recipes.settings_for(
        args.data, args.model, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr
    )
    n_params = sum(p.data.size for p in model.parameters())
    print(
        f"glassnet train: {args.data}, {args.model} ({plural(n_params, 'parameter')}); "
        f"{len(data.x_train):,} training, {len(data.x_val):,} validation, {len(data.x_test):,} test samples"
    )
    print(
        f"  {plural(s.epochs, 'epoch')}, batch {s.batch_size}, {s.optimizer} lr {s.lr:g} with cosine decay, seed {args.seed}"
    )
    if resume_from is not None:
        print(f"  resuming from the end of epoch {resumed_epoch}/{s.epochs} ({resume_from})")
    print(
        f"  (Ctrl-C stops at the end of a batch and saves the model trained so far; {CHECKPOINT}, "
        "written after each epoch, resumes the run: --resume)",
        flush=True,
    )
    optimizer = _optimizer(s.optimizer, model, s.lr)
    loss = CrossEntropyLoss()
    stop = StopOnInterrupt(batches=-(-len(data.x_train) // min(s.batch_size, len(data.x_train))))
    metadata: dict[str, Any] = {
        "data": args.data,
        "model": args.model,
        "input_shape": list(input_shape),
        "class_names": data.class_names,
        "preprocessing": data.preprocessing,
        "seed": args.seed,
        "settings": {"epochs": s.epochs, "batch_size": s.batch_size, "optimizer": s.optimizer, "lr": s.lr},
    }
    checkpoint = ModelCheckpoint(checkpoint_path, metadata=metadata)
    diagnostics = seeing.diagnostics_for(args)  # [] unless --diagnose
    # under mpirun, Ctrl-C ends every rank at once (the ranks could not agree on a batch to stop at):
    # the checkpoint of the last epoch resumes the run
    with interruptible(stop) if comm is None else contextlib.nullcontext():
        history = model.fit(
            data.x_train,
            data.y_train,
            loss=loss,
            optimizer=optimizer,
            epochs=s.epochs,
            batch_size=s.batch_size,
            validation_data=(data.x_val, data.y_val),
            metrics=["accuracy"],
            callbacks=[CosineAnnealingLR(optimizer, T_max=s.epochs), stop, checkpoint, *diagnostics],
            seed=args.seed,
            verbose=1,
            resume_from=resume_from,
            distributed=comm if comm is not None else False,
        )
        if stop.stopped is not None:
            code = _save_interrupted(model, optimizer, history, stop.stopped, stop.batches, metadata, model_path)
            _how_to_resume(checkpoint, resume_from, s.epochs, out)
            return code
        test = model.evaluate(data.x_test, data.y_test, loss=loss, metrics=["accuracy"])
    metadata["test_accuracy"] = test["accuracy"]
    seconds = time.perf_counter() - started
    drawn: list[tuple[str, str]] = []
    if writes:
        save(model, model_path, metadata=metadata)
        print(f"model saved to {model_path}")
        _plot(history, plot_path, f"{args.data}, {args.model}")
        seeing.report_diagnostics(diagnostics, out, f"{args.data}, {args.model}")
        drawn = [(plot_path, f"{args.data}, {args.model}: loss and accuracy per epoch")]
        texts = []
        for diag in diagnostics:  # --diagnose: its picture, table and warnings go into the report too
            drawn.append(
                (os.path.join(out, "diagnostics.png"), "diagnostics: gradient norms and update ratios per layer")
            )
            said = "\n".join(str(w) for w in diag.warnings) or "no warning: every check looked healthy"
            texts.append(("Diagnostics", f"{diag.table()}\n\n{said}"))
        drawn += _test_pictures(model, data, out, f"{args.data}, {args.model}")
        _report(out, args, model, data, s, history, metadata, seconds, drawn, texts)
    print(f"total time: {seconds:.1f}s")
    print(f"test accuracy: {test['accuracy']:.4f}")
    return 0


def _data_parallel(args: argparse.Namespace) -> Any:
    """A DataParallel over MPI's world for ``--distributed`` (BatchNorm synchronised), else None."""
    if not getattr(args, "distributed", False):
        return None
    from glassnet.distributed import DataParallel

    try:
        return DataParallel(sync_batchnorm=True)
    except ImportError as err:
        raise CommandError(f"--distributed: {err}") from None


def _test_pictures(model: Module, data: recipes.Data, folder: str, title: str) -> list[tuple[str, str]]:
    from glassnet.show import evaluation_pictures

    logits = model.predict(data.x_test)
    return evaluation_pictures(folder, data.x_test, data.y_test, logits, data.class_names, title, model)


def _report(
    out: str,
    args: argparse.Namespace,
    model: Module,
    data: recipes.Data,
    s: recipes.Settings,
    history: History,
    metadata: dict[str, Any],
    seconds: float,
    drawn: list[tuple[str, str]],
    texts: list[tuple[str, str]],
) -> None:
    """report.html: the run on one self-contained page."""
    from glassnet.report import write_report
    from glassnet.summary import summary as summary_text

    path = os.path.join(out, "report.html")
    predicted = model.predict(data.x_test).argmax(axis=1)
    table = format_confusion(confusion_matrix(data.y_test, predicted, data.classes), data.class_names)
    write_report(
        path,
        title=f"glassnet train --data {args.data} --model {args.model}",
        summary={
            "test accuracy": f"{metadata['test_accuracy']:.4f} ({len(data.y_test):,} test samples)",
            "total time": f"{seconds:.1f} s",
            "epochs trained": len(history.epoch),
            "parameters": f"{sum(p.data.size for p in model.parameters()):,}",
        },
        settings={
            "data": f"{args.data}: {len(data.x_train):,} training, {len(data.x_val):,} validation samples",
            "model": args.model,
            "epochs": s.epochs,
            "batch size": s.batch_size,
            "optimizer": f"{s.optimizer}, lr {s.lr:g} with cosine decay",
            "seed": args.seed,
            "model file": os.path.join(out, "model.gnet"),
        },
        history=history.history,
        pictures=drawn,
        texts=[
            *texts,
            ("Confusion matrix (rows: true class; columns: predicted class, numbered as the rows)", table),
            ("Layers", summary_text(model, tuple(data.x_train.shape[1:]))),
        ],
    )
    print(f"report saved to {path}")


def _plot(history: History, path: str, title: str) -> None:
    try:
        from glassnet.plot import history_curves

        history_curves(history.history, path, title=title)
    except ImportError as err:
        print(f"no plot: {err}")
    else:
        print(f"curves saved to {path}")


def _save_interrupted(
    model: Module,
    optimizer: Optimizer,
    history: History,
    stopped: tuple[int, int],
    batches: int,
    metadata: dict[str, Any],
    path: str,
) -> int:
    """Ctrl-C during training: save the model so far, marked as interrupted, and say where.

    The optimizer and the History are here so that a checkpoint that resumes
    the run can be written beside the model.
    """
    epoch, batch = stopped
    epochs = metadata["settings"]["epochs"]
    metadata["interrupted"] = {"epoch": epoch, "batch": batch, "batches": batches}
    save(model, path, metadata=metadata)
    where = f"epoch {epoch}/{epochs}" + (f" after batch {batch}/{batches}" if batch < batches else " at its end")
    print(
        f"interrupted in {where}: the model trained so far is saved to {path} "
        "(marked interrupted in its metadata; not tested)",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


# -- evaluate -------------------------------------------------------------------------


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """counts[i, j] = number of samples of class i predicted as class j."""
    return np.bincount(y_true * classes + y_pred, minlength=classes * classes).reshape(classes, classes)


def format_confusion(matrix: np.ndarray, names: list[str]) -> str:
    """Rows labelled "number name", columns by number only, so long names never squeeze the columns.

    The last column is the recall: the share of each true class predicted right.
    """
    classes = len(matrix)
    width = max(len(f"{int(matrix.max()):,}"), len(str(classes - 1))) + 2
    labels = [str(i) if name == str(i) else f"{i:>{len(str(classes - 1))}}  {name}" for i, name in enumerate(names)]
    label_width = max(len("true"), *(len(label) for label in labels))
    header = f"{'true':<{label_width}}" + "".join(f"{j:>{width}}" for j in range(classes)) + f"{'recall':>10}"
    lines = [f"{'':<{label_width}}{'predicted':^{width * classes}}".rstrip(), header]
    for i, (label, row) in enumerate(zip(labels, matrix)):
        total = int(row.sum())
        recall = f"{100 * row[i] / total:7.1f}%" if total else "      -"
        lines.append(f"{label:<{label_width}}" + "".join(f"{int(v):>{width},}" for v in row) + f"  {recall}")
    return "\n".join(lines)


def _samples_are(name: str, shape: tuple[int, ...]) -> str:
    return f"{name} {'images are' if name in recipes.IMAGE_DATASETS else 'samples are'} {recipes.describe_shape(name, shape).removesuffix(' images')}"


def _evaluation_seed(seed: int | None, info: RunInfo, name: str) -> int:
    if seed is None:
        return info.seed if info.seed is not None else 0
    if info.seed is not None and seed != info.seed and name == info.data and name in recipes.SEEDED_SPLITS:
        raise CommandError(
            f"the {name} test split is drawn with the seed, and this model was trained with seed {info.seed}: "
            f"--seed {seed} would test it on samples it trained on; leave --seed out"
        )
    return seed


def evaluate(args: argparse.Namespace) -> int:
    model, info = load_model(args.model_file)
    name = args.data or info.data
    if name is None:
        raise CommandError("the model file does not say which data set it was trained on: pass --data NAME")
    if name not in recipes.DATASETS:
        raise CommandError(
            f"the model was trained on {name}; evaluate knows {', '.join(recipes.DATASETS)}: pass --data NAME"
        )
    seed = _evaluation_seed(args.seed, info, name)
    data = load_data(name, seed, args.data_path, args.download)
    shape = tuple(data.x_test.shape[1:])
    if info.input_shape is not None and info.input_shape != shape:
        trained = f"{info.data}, " if info.data else ""
        raise CommandError(
            f"this model was trained on {trained}{recipes.describe_shape(info.data, info.input_shape)}; "
            f"{_samples_are(name, shape)}"
            + (f": leave --data out to use {info.data}" if info.data in recipes.DATASETS else "")
        )
    if info.data is not None and info.data != name:
        note(f"this model was trained on {info.data}; scoring it on {name}")
    try:
        logits = model.predict(data.x_test)
    except ValueError as err:
        raise CommandError(f"the model cannot take {_samples_are(name, shape)}: {err}") from None
    if logits.ndim != 2 or logits.shape[1] != data.classes:
        raise CommandError(f"the model outputs shape {logits.shape[1:]}, but {name} has {data.classes} classes")
    predicted = logits.argmax(axis=1)
    accuracy = float(np.mean(predicted == data.y_test))
    print(
        f"{name} test split: {len(data.y_test):,} samples"
        + (f" (seed {seed})" if name in recipes.SEEDED_SPLITS else "")
    )
    print(f"accuracy: {accuracy:.4f}")
    print("confusion matrix (rows: true class; columns: predicted class, numbered as the rows):")
    print(format_confusion(confusion_matrix(data.y_test, predicted, data.classes), data.class_names))
    from glassnet.show import evaluation_pictures

    folder = os.path.dirname(os.path.abspath(args.model_file))
    evaluation_pictures(
        folder, data.x_test, data.y_test, logits, data.class_names, f"{name}, {info.model or 'model'}", model
    )
    return 0


# -- predict and summary ----------------------------------------------------------------


def _read_npy(path: str) -> np.ndarray:
    if os.path.isdir(path):
        raise CommandError(f"{path} is a folder: give a .npy file of samples (numpy.save(path, x))")
    with open(path, "rb") as f:
        start = f.read(6)
    if start != b"\x93NUMPY":
        kind = "a .npz archive" if start[:2] == b"PK" else "not a .npy file"
        raise CommandError(f"{path} is {kind}: save one array of samples with numpy.save(path, x)")
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err):
            raise CommandError(
                f"{path} holds Python objects, not numbers: save a numeric array (e.g. float32)"
            ) from None
        raise CommandError(f"{path} is a damaged .npy file ({err})") from None
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise CommandError(f"{path} holds {x.dtype} values: save real numbers (integers or floats)")
    return x


def fit_input(x: np.ndarray, info: RunInfo, source: str) -> np.ndarray:
    """``x`` as the model's input: the batch axis and layout restored, and the training's scaling applied."""
    shape = info.input_shape
    if shape is not None and x.shape[1:] != shape:
        size = int(np.prod(shape))
        if x.ndim >= 2 and int(np.prod(x.shape[1:])) == size:
            x = x.reshape((len(x), *shape))  # the same pixels in another layout, e.g. (N, 8, 8) for (N, 1, 8, 8)
        elif x.size == size:
            x = x.reshape((1, *shape))  # one sample without the batch axis
        else:
            trained = f"{info.data}, " if info.data else ""
            raise CommandError(
                f"this model was trained on {trained}{recipes.describe_shape(info.data, shape)} "
                f"(input (N, {', '.join(map(str, shape))})); {source} holds an array of shape {x.shape}"
            )
    d = info.divide_by
    if np.issubdtype(x.dtype, np.integer):
        if d is not None:
            note(f"{source} holds integers: divided by {d:g}, as the model's training data were")
            return np.divide(x, d, dtype=np.float32)
        return x.astype(np.float32)
    if d is not None and x.size:
        lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise CommandError(
                f"{source} holds values from {lo:g} to {hi:g}, but this model was trained on pixels scaled to [0, 1] "
                f"(pixel / {d:g}): save the raw integer pixels, or divide them by {d:g} first"
            )
    return x


def predict(args: argparse.Namespace) -> int:
    model, info = load_model(args.model_file)
    x = fit_input(_read_npy(args.input), info, args.input)
    try:
        logits = model.predict(x)
    except ValueError as err:
        raise CommandError(f"the model cannot take the samples in {args.input}: {err}") from None
    if logits.ndim != 2:
        raise CommandError(
            f"the model outputs shape {logits.shape[1:]} per sample; predict shows classes of (N, classes)"
        )
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    names = [str(i) for i in range(probs.shape[1])]
    if info.class_names is not None:
        if len(info.class_names) == probs.shape[1]:
            names = info.class_names
        else:
            note(
                f"the model file names {len(info.class_names)} classes but the model has {probs.shape[1]} outputs: showing numbers"
            )
    top = min(args.top, probs.shape[1])
    print(f"sample  class  probabilities (top {top})")
    for i, row in enumerate(probs):
        best = np.argsort(row)[::-1][:top]
        shown = ", ".join(f"{names[j]}: {row[j]:.3f}" for j in best)
        print(f"{i:>6}  {best[0]:>5}  {shown}")
    return 0


def summary(args: argparse.Namespace) -> int:
    model, info = load_model(args.model_file)
    shape = args.input_shape or info.input_shape
    if shape is None:
        raise CommandError("the model file does not record its input shape: pass --input-shape, e.g. 1,28,28")
    described = info.describe()
    if described:
        print(described)
    model.summary(shape)
    return 0


def show(args: argparse.Namespace) -> int:
    from glassnet.show import show as show_pictures

    return show_pictures(args)


def generate(args: argparse.Namespace) -> int:
    from glassnet import text_commands

    return text_commands.generate(args)


def export(args: argparse.Namespace) -> int:
    from glassnet.onnx import IR_VERSION, OPSET
    from glassnet.onnx import export as export_onnx

    model, info = load_model(args.model_file)
    shape = args.input_shape or info.input_shape
    if shape is None:
        raise CommandError("the model file does not record its input shape: pass --input-shape, e.g. 1,28,28")
    # a missing or read-only folder or a full disk raises OSError: cli.py prints one line; the old file stays
    proto = export_onnx(model, args.output, shape)
    out_dims = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    print(
        f"{args.output}: ONNX opset {OPSET}, IR version {IR_VERSION}, {len(proto.graph.node)} nodes; "
        f"input 'input' (N, {', '.join(map(str, shape))}) -> output 'output' ({', '.join(map(str, out_dims))})"
    )
    return 0


# -- seeing inside: the functions live in seeing.py --------------------------------------


def explain(args: argparse.Namespace) -> int:
    from glassnet.seeing import explain as run

    return run(args)


def lr_find(args: argparse.Namespace) -> int:
    from glassnet.seeing import lr_find as run

    return run(args)
