"""Run by test_distributed.py under mpirun: trains a small float64 model data-parallel, rank 0 writes its weights.

    mpirun -n 2 python tests/mpi_worker.py KIND OUT.npz [--differ] [--kill-rank R] [--fewer-samples]
        [--raise-rank R] [--full-disk R] [--mismatch WHAT]

``--raise-rank R``: rank R raises in its second batch; ``--full-disk R``: rank R cannot write more than 4 KiB
to a file (RLIMIT_FSIZE, as a full disk) and a ModelCheckpoint saves every epoch; ``--mismatch WHAT``: rank 1
alone is given another setting (see MISMATCHES), which fit must refuse at the start.

KIND is "mlp", "mlp-dropout", "cnn" (BatchNorm2d, synchronised), "gpt" (a tiny GPT) or "lstm" (Embedding, LSTM, Linear).
``build(kind)`` is also what the test trains in one process, for the comparison.
"""

from __future__ import annotations

import sys

import numpy as np

BATCH = 24
# what rank 1 alone changes for --mismatch: epochs, lr, momentum, seed (or None), EarlyStopping,
# validation data (none, or other samples), metrics, the training data
# ("none" changes nothing: the same settings, validation data included, must train)
MISMATCHES = ("epochs", "lr", "momentum", "seed", "seed-none", "early-stopping", "validation", "metrics", "data")
MISMATCHES += ("val-data", "none")


def build(kind: str, hidden: int = 16):
    """The model, its optimizer, the data and the loss for ``kind``, all float64 and seeded."""
    import glassnet as gn

    rng = np.random.default_rng(0)
    f64 = np.float64
    if kind in ("mlp", "mlp-dropout"):
        x = rng.normal(size=(100, 5))
        y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
        dropout = [gn.Dropout(0.3)] if kind == "mlp-dropout" else []
        model = gn.Sequential(
            gn.Linear(5, hidden, rng=1, dtype=f64), gn.Tanh(), *dropout, gn.Linear(hidden, 3, rng=2, dtype=f64)
        )
        opt = gn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    elif kind == "cnn":
        x = rng.normal(size=(60, 1, 6, 6))
        y = (x[:, 0, :3].mean(axis=(1, 2)) > 0).astype(np.int64)
        model = gn.Sequential(
            gn.Conv2d(1, 4, 3, padding=1, bias=False, rng=1, dtype=f64),  # BatchNorm removes a bias anyway
            gn.BatchNorm2d(4, dtype=f64),
            gn.ReLU(),
            gn.MaxPool2d(2),
            gn.Flatten(),
            gn.Linear(4 * 3 * 3, 2, rng=2, dtype=f64),
        )
        opt = gn.Adam(model.parameters(), lr=0.01)
    elif kind == "gpt":
        ids = rng.integers(0, 7, size=(60, 9))
        x, y = ids[:, :-1], ids[:, 1:]
        model = gn.models.gpt(7, context=8, n_layer=1, n_head=2, n_embd=8, rng=1, dtype=f64)
        opt = gn.AdamW(gn.models.gpt_param_groups(model, weight_decay=0.1), lr=1e-2)
    elif kind == "lstm":
        ids = rng.integers(0, 7, size=(60, 9))
        x, y = ids[:, :-1], ids[:, 1:]
        model = gn.Sequential(
            gn.Embedding(7, 4, rng=1, dtype=f64), gn.LSTM(4, 6, rng=2, dtype=f64), gn.Linear(6, 7, rng=3, dtype=f64)
        )
        opt = gn.Adam(model.parameters(), lr=1e-2)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return model, opt, x, y, gn.CrossEntropyLoss()


def main(argv: list[str]) -> int:
    import glassnet as gn
    from glassnet.distributed import DataParallel

    kind, out = argv[0], argv[1]
    dp = DataParallel(sync_batchnorm=True)
    model, opt, x, y, loss = build(kind, hidden=17 if "--differ" in argv and dp.rank == 1 else 16)
    if "--fewer-samples" in argv and dp.rank == 1:
        x, y = x[:-1], y[:-1]
    callbacks: list[gn.Callback] = []
    settings: dict = {"epochs": 3, "seed": 0, "metrics": ["accuracy"], "validation_data": None}
    mismatch = argv[argv.index("--mismatch") + 1] if "--mismatch" in argv else None
    if mismatch is not None:
        settings["validation_data"] = (x[:30].copy(), y[:30].copy())
        if dp.rank == 1:
            if mismatch == "epochs":
                settings["epochs"] = 4
            elif mismatch == "lr":
                opt.lr = 0.2
            elif mismatch == "momentum":
                opt = gn.SGD(model.parameters(), lr=0.1, momentum=0.5)
            elif mismatch == "seed":
                settings["seed"] = 1
            elif mismatch == "seed-none":
                settings["seed"] = None
            elif mismatch == "early-stopping":
                callbacks.append(gn.EarlyStopping(monitor="loss", patience=1))
            elif mismatch == "validation":
                settings["validation_data"] = None
            elif mismatch == "metrics":
                settings["metrics"] = []
            elif mismatch == "data":
                x = x.copy()
                x[50, 2] += 1e-3  # one value of one sample
            elif mismatch == "val-data":
                settings["validation_data"] = (x[30:60].copy(), y[30:60].copy())
            elif mismatch != "none":
                raise ValueError(f"unknown mismatch {mismatch!r}")

        class Rank(gn.Callback):  # a callback of one's own may hold per-rank values
            def __init__(self) -> None:
                self.rank = dp.rank

        callbacks.append(Rank())
    if "--raise-rank" in argv:
        culprit = int(argv[argv.index("--raise-rank") + 1])

        class Fail(gn.Callback):
            def on_batch_end(self, batch: int, loss: float) -> None:
                if dp.rank == culprit and batch == 1:
                    raise RuntimeError(f"a bug on rank {dp.rank}")

        callbacks.append(Fail())
    full_disk = int(argv[argv.index("--full-disk") + 1]) if "--full-disk" in argv else None
    if full_disk is not None:
        if dp.rank == full_disk:
            import resource
            import signal

            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so that a write past the limit fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        callbacks.append(gn.ModelCheckpoint(out + ".ck.gnet", monitor="loss"))
    if "--kill-rank" in argv:
        victim = int(argv[argv.index("--kill-rank") + 1])

        class Die(gn.Callback):
            def on_batch_end(self, batch: int, loss: float) -> None:
                if dp.rank == victim and batch == 1:
                    import os
                    import signal

                    os.kill(os.getpid(), signal.SIGKILL)

        callbacks.append(Die())
    if {"--kill-rank", "--raise-rank"} & set(argv) or full_disk == 0:
        epochs = 1000  # the survivors would train for a long time: they must stop because a rank failed
    else:
        epochs = int(argv[argv.index("--epochs") + 1]) if "--epochs" in argv else settings["epochs"]
    if "--checkpoint" in argv:
        callbacks.append(gn.ModelCheckpoint(argv[argv.index("--checkpoint") + 1], monitor="loss"))
    resume = argv[argv.index("--resume") + 1] if "--resume" in argv else None
    history = model.fit(
        x,
        y,
        loss=loss,
        optimizer=opt,
        epochs=epochs,
        batch_size=BATCH,
        seed=settings["seed"],
        distributed=dp,
        callbacks=callbacks,
        metrics=settings["metrics"],
        validation_data=settings["validation_data"],
        verbose=0,
        resume_from=resume,
    )
    if dp.rank == 0:
        np.savez(out, loss=np.array(history.history["loss"]), **model.state_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
