"""``glassnet train``: its flags and its body, for every kind of data.

- image and toy data sets (``recipes.py``): epochs of ``Module.fit``, a checkpoint after each
  (``--resume``), the test accuracy, the curves, the pictures and report.html; ``--distributed``
  over MPI; ``--diagnose`` adds per-layer statistics;
- ``--data shakespeare`` (``text_recipes.py``): a language model trained for steps;
- ``--seeds K``: K runs, then the test accuracy as mean ± std.

Each mistake is found before any long work starts and raised as ``CommandError``
(one line, worded with the command's own flags).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import Any

import numpy as np

from glassnet._checks import short
from glassnet.checkpoint import ModelCheckpoint, check_settings, read_checkpoint
from glassnet.cli import gpt2_train, own_data, own_training, recipes, text_recipes
from glassnet.cli.applies import TEXT_DATASETS, check_applies
from glassnet.cli.args import add_data_source_args, data_help, integer, positive_float, positive_int
from glassnet.cli.common import (
    CHECKPOINT,
    checkpoint_of,
    confusion_matrix,
    evaluation_pictures,
    format_confusion,
    load_data,
    make_optimizer,
    output_files,
    plural,
)
from glassnet.cli.errors import EXIT_INTERRUPTED, CommandError
from glassnet.cli.language_model import resume_args, run_character_model
from glassnet.cli.lock import hold_folder
from glassnet.cli.runs import StopOnInterrupt, interruptible
from glassnet.cli.text_recipes import TextRecipe
from glassnet.datasets.text import CharTokenizer, shakespeare
from glassnet.history import History
from glassnet.io import load, save
from glassnet.losses import CrossEntropyLoss
from glassnet.module import Module
from glassnet.optim import CosineAnnealingLR, Optimizer


def epilog() -> str:
    """The defaults per data set and model, under --help."""
    from glassnet.cli.recipes import DEFAULTS

    lines = ["defaults per data set and model (each can be overridden):"]
    for (data, model), s in DEFAULTS.items():
        lines.append(f"  {data:<14} {model:<4} {s.epochs:>4} epochs, batch {s.batch_size:<4} {s.optimizer} lr {s.lr:g}")
    from glassnet.cli.text_recipes import RECIPES as TEXT_MODELS

    for model, r in TEXT_MODELS.items():
        lines.append(
            f"  {'shakespeare':<14} {model:<4} {r.steps:>4} steps,  batch {r.batch_size:<4} context {r.context}, lr {r.lr:g}"
        )
    lines.append(
        "all with a cosine learning-rate decay (lstm, rnn: a constant rate); the model and curves go to --out (default runs/DATA-MODEL)"
    )
    return "\n".join(lines)


def add_args(p: argparse.ArgumentParser) -> None:
    TEXT_MODELS = text_recipes.RECIPES
    p.add_argument(
        "--data",
        default=None,
        type=own_data.data_argument,
        metavar="DATA",
        help=data_help()
        + "; or your own: a .csv file, a folder of class folders of images, a .txt file (--model gpt|lstm|rnn, or gpt2)",
    )  # required unless --resume
    p.add_argument(
        "--model",
        default=None,
        choices=recipes.MODELS + tuple(TEXT_MODELS) + ("gpt2",),
        help=f"mlp (default) or cnn (image data sets); for shakespeare: {', '.join(TEXT_MODELS)} (default gpt); "
        "gpt2 for --data FILE.txt (with --init PATH to fine-tune a pretrained GPT-2)",
    )
    p.add_argument("--epochs", type=positive_int, help="passes over the training set (default per data set)")
    p.add_argument("--batch-size", type=positive_int, help="samples per step (default per data set)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), help="adam (default) or sgd with momentum 0.9")
    p.add_argument("--lr", type=positive_float, help="initial learning rate (default per data set; cosine decay)")
    p.add_argument(
        "--seed", type=integer, default=None, help="seed of the weights, the splits and the shuffling (default 0)"
    )
    p.add_argument(
        "--out", default=None, help="folder for the model file, the curves and the checkpoint (default runs/DATA-MODEL)"
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="continue the run whose checkpoint.gnet is in DIR (its --out), with its settings, bit for bit",
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="train data-parallel over MPI, the same model as one process: mpirun -n 2 glassnet train ... "
        "--distributed (needs glassnet[mpi]); --batch-size stays the global batch",
    )
    add_data_source_args(p)
    own_data.add_args(p)  # --target, --task, --fill, --image-size, --flip, --shift, --test, --hidden, --dropout
    gpt2_train.add_args(p)  # --init, --vocab-size
    # language models
    p.add_argument("--steps", type=positive_int, help="language models: training steps (default: the recipe's, 2000)")
    p.add_argument("--context", type=positive_int, help="language models: characters of context (default 64)")
    p.add_argument("--eval-interval", type=positive_int, help="language models: steps between loss reports (250)")
    # seeing inside, and the spread over seeds
    p.add_argument(
        "--diagnose",
        action="store_true",
        help="record per-layer statistics, warn when training goes wrong, write diagnostics.png",
    )
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=None,
        metavar="K",
        help="train K times, seeds --seed .. --seed+K-1 (each into --out/seed-S), and report test accuracy mean ± std",
    )


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.data is None and args.resume is None:
        parser.error("the following arguments are required: --data (or --resume DIR to continue a run)")


_RUN_SETTINGS = ("data", "model", "seed", "epochs", "batch_size", "optimizer", "lr")


def _run_to_resume(args: argparse.Namespace) -> tuple[str | None, int]:
    """With ``--resume``: the checkpoint to continue and its epoch, the run's own settings put into ``args``.

    Without it: ``(None, 0)``, and the defaults (mlp, seed 0) put into ``args``.
    """
    if args.resume is None:
        args.model = args.model or "mlp"
        args.seed = 0 if args.seed is None else args.seed
        return None, 0
    path = checkpoint_of(args.resume)
    ck = read_checkpoint(path)
    meta = ck.metadata
    saved = {k: meta.get(k) for k in ("data", "model", "seed")}
    if isinstance(meta.get("settings"), dict):
        saved.update(meta["settings"])
    if any(saved.get(k) is None for k in _RUN_SETTINGS):
        raise CommandError(f"--resume {args.resume}: {path} was not written by glassnet train (no run settings in it)")
    _check_saved_run(saved, path)
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


def _check_saved_run(saved: dict[str, Any], path: str) -> None:
    """The settings a checkpoint stores, checked as the command line checks its own flags."""
    try:
        check_settings(saved, path, optimizers=("sgd", "adam"), required=_RUN_SETTINGS)
    except ValueError as err:
        raise CommandError(f"--resume: {err}") from None
    for key, allowed in (("data", recipes.DATASETS), ("model", recipes.MODELS)):
        if saved[key] not in allowed:
            raise CommandError(
                f"--resume: {path}: the stored setting {key} must be one of {list(allowed)}. "
                f"Received: {key}={short(saved[key])}"
            )
    seed = saved["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise CommandError(
            f"--resume: {path}: the stored setting seed must be an integer >= 0. Received: seed={short(seed)}"
        )


def _finished(args: argparse.Namespace, epoch: int, out: str, model_path: str) -> bool:
    """A resumed run already at its last epoch: say so; True when there is nothing to do.

    Its model file is written from the checkpoint when it is missing (a kill while it was written):
    ``fit`` then restores the final weights and trains nothing, and the run's end (test, files) follows.
    """
    if epoch < args.epochs:
        return False
    if os.path.isfile(model_path):
        print(
            f"the run in {out} is finished (epoch {epoch} of {args.epochs}): nothing left to train; "
            f"its model is {model_path}"
        )
        return True
    print(
        f"the run in {out} is finished (epoch {epoch} of {args.epochs}) but its model file is missing: "
        f"writing {model_path} from the checkpoint"
    )
    return False


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


def _resume_language_model(args: argparse.Namespace) -> None:
    """``--resume`` of a language model's run (its checkpoint holds a loop of steps): its flags back into ``args``."""
    if args.resume is None or getattr(args, "seeds", None) is not None:
        return
    path = checkpoint_of(args.resume)
    ck = read_checkpoint(path)
    if ck.steps is not None:
        resume_args(args, path, ck)
    elif args.data in TEXT_DATASETS or args.model == "gpt2" or gpt2_train.is_text_file(args.data):
        raise CommandError(
            f"--resume {args.resume} holds a checkpoint of epochs (the image and toy data sets), "
            f"not of a language model's steps: it cannot continue a run on --data {args.data}"
        )


def run(args: argparse.Namespace) -> int:
    _resume_language_model(args)  # then its data and model route the run as they did the first time
    if args.model == "gpt2":  # GPT-2 on a text file: its own module
        own_data.check_flags(args, "text")  # --target, --image-size, ... are for tables and images
        return gpt2_train.run(args)
    for flag in ("init", "vocab_size"):
        if getattr(args, flag, None) is not None:
            raise CommandError(
                f"--{flag.replace('_', '-')} does not apply to --model {args.model}: it is for --model gpt2"
            )
    if own_training.is_own(args.data):  # a CSV file, an image folder or a text file of one's own
        return own_training.train(args)
    own_data.check_flags(args, "built-in")  # --target, --image-size, ... are for files of one's own
    if getattr(args, "seeds", None) is not None:  # --seeds K: K runs, then mean ± std
        return train_seeds(args)

    if args.data in TEXT_DATASETS and getattr(args, "distributed", False):  # before mpirun's ranks each train alone
        raise CommandError(
            f"--distributed trains the image and toy data sets over MPI; the language models of --data {args.data} "
            "train in one process: leave out --distributed (and mpirun)"
        )
    if args.data in TEXT_DATASETS:  # language models train for steps, not epochs
        args.model = args.model or "gpt"
        args.seed = 0 if args.seed is None else args.seed
        return train_text(args)
    started = time.perf_counter()
    resume_from, resumed_epoch = _run_to_resume(args)
    if args.model not in recipes.MODELS:
        raise CommandError(f"--model {args.model} is a language model: train it with --data shakespeare")
    if args.model == "cnn" and args.data not in recipes.IMAGE_DATASETS:
        raise CommandError(
            f"--model cnn needs image data ({', '.join(recipes.IMAGE_DATASETS)}); use --model mlp for {args.data}"
        )
    check_applies(args, args.data, args.model)
    comm = _data_parallel(args)
    writes = comm is None or comm.rank == 0  # distributed: rank 0 alone prints and writes files
    if not writes:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of this process
    out = args.out or os.path.join("runs", f"{args.data}-{args.model}")
    model_path, plot_path, checkpoint_path = output_files(out, "--out", "model.gnet", "curves.png", CHECKPOINT)
    if writes:
        hold_folder(out)  # one run per folder: a second one into it is refused
    if resume_from is not None and _finished(args, resumed_epoch, out, model_path):
        return 0
    data = load_data(args.data, args.seed, args.data_path, args.download)
    input_shape = tuple(data.x_train.shape[1:])
    model = recipes.build_model(
        args.data,
        args.model,
        input_shape,
        data.classes,
        seed=args.seed,
        hidden=getattr(args, "hidden", None),
        dropout=getattr(args, "dropout", None),
    )
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
    if comm is not None:
        for line in distributed_header(comm.size, min(s.batch_size, len(data.x_train)), len(data.x_train)):
            print(line)
    if resume_from is not None:
        print(f"  resuming from the end of epoch {resumed_epoch}/{s.epochs} ({resume_from})")
    print(
        f"  (Ctrl-C stops at the end of a batch and saves the model trained so far; {CHECKPOINT}, "
        "written after each epoch, resumes the run: --resume)",
        flush=True,
    )
    optimizer = make_optimizer(s.optimizer, model, s.lr)
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
    diagnostics = diagnostics_for(args)  # [] unless --diagnose
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
        report_diagnostics(diagnostics, out, f"{args.data}, {args.model}")
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


# Below these, distribution costs more than it gains: on digits (1,437 training images, batches of 32 per
# rank), 2 ranks took 13.7 s where one process took 1.1 s, each short step waiting on the gradients' exchange.
MIN_RANK_BATCH = 16
MIN_DISTRIBUTED_SAMPLES = 10_000


def distributed_header(ranks: int, batch_size: int, samples: int) -> list[str]:
    """The header's lines under ``--distributed``: the ranks, each one's part of a batch, and what will not pay."""
    low, high = batch_size // ranks, -(-batch_size // ranks)
    part = str(low) if low == high else f"{low} or {high}"
    lines = [
        f"  distributed over {plural(ranks, 'rank')}: each takes {part} of the {batch_size} samples of every batch "
        "(--batch-size is the global batch)"
    ]
    if ranks == 1:
        lines.append(
            "  warning: --distributed with 1 rank trains in this one process: start it as "
            "mpirun -n N glassnet train ... --distributed"
        )
    elif low < MIN_RANK_BATCH:
        lines.append(
            f"  warning: {plural(low, 'sample')} per rank and step are too few for distribution to pay (each rank's "
            f"work is small next to the exchange of gradients): raise --batch-size to {MIN_RANK_BATCH * ranks} or "
            "more, or use fewer ranks"
        )
    if ranks > 1 and samples < MIN_DISTRIBUTED_SAMPLES:
        lines.append(
            f"  warning: {samples:,} training samples are too few for distribution to pay (on digits, 2 ranks "
            "took 13.7 s where one process took 1.1 s): one process is faster, leave out --distributed"
        )
    return lines


def _data_parallel(args: argparse.Namespace) -> Any:
    """A DataParallel over MPI's world for ``--distributed`` (BatchNorm synchronised), else None."""
    if not getattr(args, "distributed", False):
        return None
    from glassnet.distributed import DataParallel

    try:
        # an error on one rank is printed as one line by glassnet's main, which then ends every rank
        return DataParallel(sync_batchnorm=True, abort_on_error=False)
    except ImportError as err:
        raise CommandError(f"--distributed: {err}") from None


def _test_pictures(model: Module, data: recipes.Data, folder: str, title: str) -> list[tuple[str, str]]:
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


# -- --diagnose and --seeds ------------------------------------------------------------


def diagnostics_for(args: argparse.Namespace) -> list[Any]:
    """``[Diagnostics()]`` for ``--diagnose``, else ``[]``."""
    from glassnet.diagnostics import Diagnostics

    return [Diagnostics()] if getattr(args, "diagnose", False) else []


def report_diagnostics(diagnostics: list[Any], out: str, title: str) -> None:
    """Print the last epoch's table and write diagnostics.png into ``out``."""
    for diag in diagnostics:
        print(diag.table())
        if not diag.warnings:
            print("diagnostics: no warning (gradients, ReLUs, saturation, loss and NaN all looked healthy)")
        path = os.path.join(out, "diagnostics.png")
        try:
            diag.plot(path, title=f"glassnet diagnostics: {title}")
        except ImportError:
            print('matplotlib is not installed; for a PNG of the diagnostics: pip install "glassnet[plot]"')
        else:
            print(f"diagnostics written to {path}")


def train_seeds(args: argparse.Namespace) -> int:
    """``glassnet train ... --seeds K``: one run per seed, then the test accuracy as mean ± std."""
    if args.data in TEXT_DATASETS:
        raise CommandError(f"--seeds reports test accuracy, which --data {args.data} has not: leave --seeds out")
    if args.resume is not None:
        raise CommandError("--seeds starts fresh runs: leave out --resume, or --seeds to resume one run")
    if args.data is None:
        raise CommandError("--seeds needs --data")
    base = 0 if args.seed is None else args.seed
    out = args.out or os.path.join("runs", f"{args.data}-{args.model or 'mlp'}")
    seeds = list(range(base, base + args.seeds))
    accuracies = []
    for k, seed in enumerate(seeds):
        print(f"== seed {seed} ({k + 1} of {len(seeds)}) ==", flush=True)
        one = argparse.Namespace(
            **{**vars(args), "seeds": None, "seed": seed, "out": os.path.join(out, f"seed-{seed}")}
        )
        code = run(one)
        if code != 0:
            return int(code)
        accuracies.append(float(load(os.path.join(one.out, "model.gnet")).metadata["test_accuracy"]))  # type: ignore[attr-defined]
    acc = np.array(accuracies)
    spread = float(acc.std(ddof=1)) if len(acc) > 1 else 0.0
    print()
    print("  seed  test accuracy")
    for seed, a in zip(seeds, accuracies):
        print(f"  {seed:>4}  {a:.4f}")
    print(
        f"test accuracy over {len(seeds)} seeds ({seeds[0]} to {seeds[-1]}): {acc.mean():.4f} ± {spread:.4f} "
        f"(mean ± sample standard deviation; min {acc.min():.4f}, max {acc.max():.4f})"
    )
    return 0


# -- language models --------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> TextRecipe:
    if args.model not in text_recipes.RECIPES:
        raise CommandError(
            f"--model {args.model} is not a language model; for --data {args.data} use one of {sorted(text_recipes.RECIPES)}"
        )
    check_applies(args, args.data, args.model)
    s = text_recipes.RECIPES[args.model].with_overrides(
        steps=getattr(args, "steps", None),
        batch_size=args.batch_size,
        context=getattr(args, "context", None),
        lr=args.lr,
        eval_interval=getattr(args, "eval_interval", None),
    )
    if s.min_lr is not None and s.min_lr > s.lr:
        s = s.with_overrides(min_lr=s.lr)
    try:
        text_recipes.check_cost(s)  # before any work: a step that would not fit is refused by its flag
    except ValueError as err:
        raise CommandError(str(err)) from None
    return s


def train_text(args: argparse.Namespace) -> int:
    """``glassnet train --data shakespeare``: a character-level language model, trained for steps."""
    s = _settings(args)
    out = args.out or os.path.join("runs", f"{args.data}-{args.model}")
    train_text, val_text = shakespeare()
    tokenizer = CharTokenizer.from_text(train_text + val_text)  # nanoGPT's vocabulary: every character of the corpus
    train_ids, val_ids = tokenizer.encode(train_text), tokenizer.encode(val_text)
    return run_character_model(
        args,
        s,
        tokenizer,
        train_ids,
        val_ids,
        out=out,
        title=f"{args.data}, {args.model}",
        metadata={"data": args.data},
    )
