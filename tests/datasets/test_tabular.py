"""CSV files as arrays: reading, fitting on training rows only, predict-time rows, hostile files, real data."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.datasets import (
    RecordError,
    Table,
    TabularPreprocessing,
    apply,
    data_warnings,
    decode,
    from_csv,
    preprocessing_from_json,
    preprocessing_from_metadata,
    read_csv,
)
from glassnet.datasets._prep import split_indices


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(err.value)
    assert "\n" not in message and len(message) < 600
    return message


MIXED = "size,colour,weight,kind\n" + "".join(
    f"{1 + i % 5},{['red', 'green', 'blue'][i % 3]},{10 + (i * 7) % 11}.5,{'ab'[i % 2]}\n" for i in range(30)
)


# -- reading ------------------------------------------------------------------
def test_read_csv_strips_cells_skips_blank_lines_and_keeps_quoted_fields(tmp_path: Path) -> None:
    path = write(tmp_path, '\ufeff a , b \n 1 ,"x, ""y""\nz"\n\n2,w\n')
    table = read_csv(path)
    assert table.columns == ["a", "b"]
    assert table.column("a") == ["1", "2"]
    assert table.column("b") == ['x, "y"\nz', "w"]
    assert table.lines.tolist() == [3, 5]  # the line each row ended on


def test_read_csv_other_delimiter_and_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "name;x\ncafé;1\n".encode("latin-1"))
    table = read_csv(path, delimiter=";", encoding="latin-1")
    assert table.column("name") == ["café"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"a,b,c\n", "header but no rows"),
        (b"\n\n", "is empty"),
        (b"a,b\n1,2\n3\n", "line 3 has 1 fields, but the header has 2 columns"),
        (b"a,b\n1,2,3\n", "line 2 has 3 fields"),
        (b"a,a\n1,2\n", "repeats the column(s) ['a']"),
        (b"a,,c\n1,2,3\n", "column 2 of the header has no name"),
        (b"a,b\n1,\x002\n", "binary file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        (b"a,b\n1,caf\xe9\n", "offset 9 (line 2) are not valid utf-8; pass the file's encoding"),
    ],
)
def test_read_csv_refuses_broken_files_in_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    with pytest.raises(ValueError) as err:
        read_csv(write(tmp_path, content))
    assert expected in one_line(err)
    assert "data.csv" in str(err.value)


def test_a_huge_field_is_refused_and_the_csv_limit_restored(tmp_path: Path) -> None:
    before = __import__("csv").field_size_limit()
    path = write(tmp_path, "a,b\n1," + "x" * 200_000 + "\n")
    with pytest.raises(ValueError) as err:
        read_csv(path)
    assert "a field longer than max_field=131,072 characters" in one_line(err)
    assert csv.field_size_limit() == before
    with pytest.raises(ValueError, match="longer than 4,194,304 bytes"):  # one line with no end, bounded
        read_csv(write(tmp_path, b"a,b\n" + b"y" * (5 << 20), "long.csv"))


def test_a_million_columns_are_refused(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(1_000_000))
    with pytest.raises(ValueError) as err:
        read_csv(write(tmp_path, header + "\n"))
    assert "the header has more than max_columns=10,000 columns" in one_line(err)


def test_read_csv_argument_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "a\n1\n")
    with pytest.raises(ValueError, match="delimiter must be one character"):
        read_csv(path, delimiter=",,")
    with pytest.raises(ValueError, match="encoding is not a known text encoding"):
        read_csv(path, encoding="no-such-codec")
    with pytest.raises(ValueError, match="is a folder"):
        read_csv(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_csv(tmp_path / "missing.csv")


# -- fitting and transforming ---------------------------------------------------
def test_from_csv_fits_statistics_on_the_training_rows_only(tmp_path: Path) -> None:
    path = write(tmp_path, MIXED)
    data = from_csv(path, target="kind", val_size=0.2, test_size=0.2, seed=3)
    prep = data.preprocessing
    assert prep.task == "classification" and prep.classes == ["a", "b"]
    assert prep.features == ["size", "colour=blue", "colour=green", "colour=red", "weight"]
    assert data.x_train.shape == (18, 5) and data.x_val.shape == (6, 5) and data.x_test.shape == (6, 5)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    # the numeric columns are standardised with the training rows' mean and std
    np.testing.assert_allclose(data.x_train[:, [0, 4]].mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(data.x_train[:, [0, 4]].std(axis=0), 1.0, atol=1e-6)
    train, val, test = split_indices(30, 0.2, 0.2, 3)
    table = read_csv(path)
    sizes = np.array(table.column("size"), dtype=np.float64)
    expected = (sizes[test] - sizes[train].mean()) / sizes[train].std()
    np.testing.assert_allclose(data.x_test[:, 0], expected, rtol=1e-6)
    # the one-hot blocks: a single 1 per row
    assert (data.x_train[:, 1:4].sum(axis=1) == 1).all()
    kinds = np.array(table.column("kind"))
    assert data.y_test.tolist() == [prep.classes.index(k) for k in kinds[test]]


def test_transform_of_raw_rows_equals_what_training_saw_and_survives_json(tmp_path: Path) -> None:
    path = write(tmp_path, MIXED)
    data = from_csv(path, target="kind", seed=0)
    train, _, _ = split_indices(30, 0.1, 0.2, 0)
    record = json.loads(json.dumps(data.preprocessing.to_json()))
    again = preprocessing_from_json(record)
    assert isinstance(again, TabularPreprocessing) and again.to_json() == record
    x, y = again.transform(read_csv(path).take(train))
    assert np.array_equal(x, data.x_train) and np.array_equal(y, data.y_train)


def test_predict_rows_match_columns_by_name_and_name_extra_or_missing_ones(tmp_path: Path) -> None:
    prep = from_csv(write(tmp_path, MIXED), target="kind").preprocessing
    rows = [{"weight": "12.5", "kind": "a", "colour": "red", "size": "2"}]
    reordered = Table.from_records(rows)
    x, y = prep.transform(reordered)
    same, _ = prep.transform(Table.from_records([{"size": 2, "colour": "red", "weight": 12.5, "kind": "a"}]))
    assert np.array_equal(x, same) and y is not None and y.tolist() == [0]
    without_target, none = prep.transform(Table.from_records([{k: v for k, v in rows[0].items() if k != "kind"}]))
    assert none is None and np.array_equal(without_target, x)
    with pytest.raises(ValueError) as err:
        prep.transform(Table.from_records([{"size": 2, "colour": "red"}]))
    assert "lacks the column(s) ['weight']" in one_line(err)
    with pytest.raises(ValueError) as err:
        prep.transform(Table.from_records([{**rows[0], "height": 3}]))
    assert "has column(s) ['height'] the model was not trained on" in one_line(err)


def test_unseen_categories_are_an_error_or_all_zeros(tmp_path: Path) -> None:
    prep = from_csv(write(tmp_path, MIXED), target="kind").preprocessing
    table = Table.from_records([{"size": 2, "colour": "purple", "weight": 12.5}])
    with pytest.raises(ValueError) as err:
        prep.transform(table)
    assert "column 'colour' holds 'purple', a value training never saw" in one_line(err)
    x, _ = prep.transform(table, unknown="zeros")
    assert x[0, 1:4].tolist() == [0.0, 0.0, 0.0]


def test_empty_cells_are_errors_naming_line_and_column_unless_filled(tmp_path: Path) -> None:
    text = "a,b,c,y\n1,x,5,p\n,x,6,q\n3,,7,p\n5,z,,q\n"
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as err:
        from_csv(path, val_size=0.0, test_size=0.0)
    assert "line 3: column 'a' is empty; pass fill='mean', 'median' or 'most-frequent'" in one_line(err)
    table = read_csv(path)
    for fill, a_value, c_value in (("mean", 3.0, 6.0), ("median", 3.0, 6.0), ("most-frequent", 1.0, 5.0)):
        prep = TabularPreprocessing.fit(table, fill=fill)
        columns = {c["name"]: c for c in prep.to_json()["columns"]}
        assert columns["a"]["fill"] == a_value and columns["c"]["fill"] == c_value
        assert columns["b"]["fill"] == "x"  # strings take the most frequent value
        x, _ = prep.transform(table)
        assert np.isfinite(x).all()
    with pytest.raises(ValueError, match="line 2: the target column 'y' is empty"):
        TabularPreprocessing.fit(read_csv(write(tmp_path, "a,y\n1,\n2,p\n", "t.csv")), fill="mean")


def test_junk_in_a_numeric_column_names_line_and_column(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i % 2}\n" for i in range(30))
    path = write(tmp_path, "x,y\n" + rows + "12kg,1\n")
    with pytest.raises(ValueError) as err:
        from_csv(path)
    assert "line 32: column 'x' holds '12kg', not a number" in one_line(err)
    assert "categorical=['x']" in str(err.value)
    with pytest.raises(ValueError, match="line 2: column 'x' holds 'inf', not a finite number"):
        from_csv(write(tmp_path, "x,y\ninf,0\n" + rows, "inf.csv"))
    prep = from_csv(path, categorical=["x"], val_size=0, test_size=0).preprocessing  # codes, not numbers
    assert prep.features[0] == "x=0" and len(prep.features) == 31


def test_task_detection_and_regression_scale(tmp_path: Path) -> None:
    xs = np.linspace(-1, 1, 40)
    few = write(tmp_path, "x,y\n" + "".join(f"{v},{i % 3}\n" for i, v in enumerate(xs)), "few.csv")
    prep = from_csv(few).preprocessing
    assert prep.task == "classification" and prep.classes == ["0", "1", "2"] and prep.integer_classes
    many = write(tmp_path, "x,y\n" + "".join(f"{v},{i}\n" for i, v in enumerate(xs)), "many.csv")
    assert from_csv(many).preprocessing.task == "regression"
    floats = write(tmp_path, "x,y\n" + "".join(f"{v},{3 * v + 100}\n" for v in xs), "floats.csv")
    data = from_csv(floats, val_size=0.0)
    prep = data.preprocessing
    assert prep.task == "regression" and data.y_train.shape == (len(data.x_train), 1)
    np.testing.assert_allclose(data.y_train.mean(), 0.0, atol=1e-6)
    truth = 3 * (data.x_test[:, 0] * prep.to_json()["columns"][0]["std"] + prep.to_json()["columns"][0]["mean"]) + 100
    np.testing.assert_allclose(prep.inverse_target(data.y_test[:, 0]), truth, rtol=1e-5)
    assert from_csv(few, task="regression").preprocessing.task == "regression"
    with pytest.raises(ValueError, match="column 'y' holds 'p', not a number"):
        from_csv(write(tmp_path, "x,y\n1,p\n2,q\n3,p\n", "s.csv"), task="regression")


def test_fit_errors_name_what_is_wrong(tmp_path: Path) -> None:
    path = write(tmp_path, MIXED)
    with pytest.raises(ValueError) as err:
        from_csv(path, target="species")
    assert "has no column 'species' (given as target); its columns are" in one_line(err)
    table = read_csv(path)
    with pytest.raises(ValueError, match="fill must be None or one of"):
        TabularPreprocessing.fit(table, fill="zero")
    with pytest.raises(ValueError, match="given as ignore"):
        TabularPreprocessing.fit(table, ignore=["nope"])
    with pytest.raises(ValueError, match="holds one class only"):
        TabularPreprocessing.fit(read_csv(write(tmp_path, "a,y\n1,p\n2,p\n", "one.csv")))
    ids = write(tmp_path, "id,v,y\n" + "".join(f"u{i},{i},{i % 2}\n" for i in range(50)), "ids.csv")
    with pytest.raises(ValueError, match="column 'id' has 35 distinct values, more than max_categories=20"):
        from_csv(ids, max_categories=20)
    prep = from_csv(ids, ignore=["id"]).preprocessing
    assert prep.columns == ["v"] and prep.ignored == ["id"]
    with pytest.raises(ValueError, match="val_size \\+ test_size must be below 1"):
        from_csv(path, val_size=0.5, test_size=0.5)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r.update(kind="images"), "of kind 'images', expected 'tabular'"),
        (lambda r: r.update(version=2), "version 2; this glassnet reads versions 1 to 1"),
        (lambda r: r.pop("columns"), "has no 'columns' field"),
        (lambda r: r["columns"][0].update(std=-1.0), "columns[0].std must be positive"),
        (lambda r: r["columns"][0].update(mean=float("nan")), "columns[0].mean must be a finite number"),
        (lambda r: r["columns"][1].update(categories="red"), "columns[1].categories must be a list"),
        (lambda r: r["columns"][1].update(categories=["a"] * 3), "must not repeat a name"),
        (lambda r: r["columns"][1].update(categories=[str(i) for i in range(2000)]), "list of 1 to 1000 names"),
        (lambda r: r["columns"][1].update(fill="purple"), "columns[1].fill must be one of its categories"),
        (lambda r: r["columns"][0].update(type="date"), "columns[0].type must be 'numeric' or 'categorical'"),
        (lambda r: r["columns"][0].update(name="x" * 5000), "columns[0].name must be a string of at most 1000"),
        (lambda r: r.update(columns=[{}] * 20_000), "columns must be a list of 1 to 10,000 columns"),
        (lambda r: r.update(classes=["a"]), "classes must be a list of 2 to 100000 names"),
        (lambda r: r.update(target="size"), "must all differ"),
        (lambda r: r.update(task="ranking"), "task must be 'classification' or 'regression'"),
    ],
)
def test_hostile_records_are_refused_naming_the_field(tmp_path: Path, change, expected: str) -> None:
    record = from_csv(write(tmp_path, MIXED), target="kind").preprocessing.to_json()
    change(record)
    with pytest.raises(RecordError) as err:
        TabularPreprocessing.from_json(record)
    assert expected in one_line(err)


def test_records_of_no_known_kind_and_metadata_without_one() -> None:
    for record in (None, [], {"kind": "audio", "version": 1}, {"kind": ["tabular"]}):
        with pytest.raises(ValueError, match="preprocessing record"):
            preprocessing_from_json(record)
    assert preprocessing_from_metadata({}) is None and preprocessing_from_metadata(None) is None
    with pytest.raises(ValueError, match="metadata must be a JSON object"):
        preprocessing_from_metadata("tabular")


def test_fit_keeps_the_record_and_a_saved_model_predicts_raw_rows(tmp_path: Path) -> None:
    path = write(tmp_path, MIXED)
    data = from_csv(path, target="kind", seed=1)
    prep = data.preprocessing
    model = gn.Sequential(gn.Linear(prep.n_features, 8, rng=0), gn.ReLU(), gn.Linear(8, prep.n_outputs, rng=1))
    opt = gn.Adam(model.parameters(), lr=1e-2)
    model.fit(data.x_train, data.y_train, loss=gn.CrossEntropyLoss(), optimizer=opt, epochs=2, verbose=0,
              preprocessing=prep)  # fmt: skip
    assert model.metadata["preprocessing"] == prep.to_json()
    model.save(tmp_path / "m.gnet", metadata=model.metadata)
    loaded = gn.load(tmp_path / "m.gnet")
    again = preprocessing_from_metadata(loaded.metadata)
    assert isinstance(again, TabularPreprocessing)
    prepared = apply(again, path)
    assert prepared.names[:2] == ["row 1", "row 2"] and prepared.y is not None
    train, _, _ = split_indices(30, 0.1, 0.2, 1)
    assert np.array_equal(loaded.predict(prepared.x[train]), model.predict(data.x_train))
    names, probabilities = decode(again, loaded.predict(prepared.x))
    assert names is not None and set(names) <= {"a", "b"} and ((probabilities >= 0.5) & (probabilities <= 1)).all()
    rows = [{"size": 1, "colour": "red", "weight": 10.5}]
    assert apply(again, rows).y is None and apply(again, rows).x.shape == (1, prep.n_features)
    with pytest.raises(
        TypeError, match="preprocessing must be a TabularPreprocessing, ImagePreprocessing or TextPreprocessing"
    ):
        model.fit(data.x_train, data.y_train, loss=gn.CrossEntropyLoss(), optimizer=opt, epochs=0, preprocessing={})


# -- real data no one here made: scikit-learn's bundled sets ---------------------
def sklearn_csv(tmp_path: Path, name: str) -> tuple[Path, bool]:
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = getattr(datasets, f"load_{name}")()
    regression = name == "diabetes"
    labels = bunch.target if regression or name == "digits" else np.asarray(bunch.target_names)[bunch.target]
    names = [f"pixel{i}" for i in range(64)] if name == "digits" else list(bunch.feature_names)
    path = tmp_path / f"{name}.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*names, "target"])
        writer.writerows([*map(repr, row), label] for row, label in zip(bunch.data.tolist(), labels.tolist()))
    return path, regression


def sklearn_default_mlp_score(data, regression: bool) -> float:
    """scikit-learn's MLPClassifier/MLPRegressor, default settings, on the same arrays."""
    neural_network = pytest.importorskip("sklearn.neural_network")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import r2_score
    from threadpoolctl import threadpool_limits

    prep = data.preprocessing
    # one BLAS thread: on a small machine shared by several processes, more only wait for each other
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # 200 iterations, its default, may stop short
        if regression:
            model = neural_network.MLPRegressor(random_state=0).fit(data.x_train, data.y_train[:, 0])
            predicted = prep.inverse_target(model.predict(data.x_test))
            return float(r2_score(prep.inverse_target(data.y_test[:, 0]), predicted))
        return float(
            neural_network.MLPClassifier(random_state=0).fit(data.x_train, data.y_train).score(data.x_test, data.y_test)
        )


def glassnet_mlp_score(data, regression: bool) -> float:
    """The same network written with glassnet's layers: 100 ReLU units, Glorot init, Adam 1e-3, 200 epochs."""
    prep = data.preprocessing
    x_train, x_test = data.x_train.reshape(len(data.x_train), -1), data.x_test.reshape(len(data.x_test), -1)
    rng = np.random.default_rng(0)
    model = gn.Sequential(
        gn.Linear(x_train.shape[1], 100, init="xavier_uniform", rng=rng),
        gn.ReLU(),
        gn.Linear(100, prep.n_outputs, init="xavier_uniform", rng=rng),
    )
    loss = gn.MSELoss() if regression else gn.CrossEntropyLoss()
    model.fit(x_train, data.y_train, loss=loss, optimizer=gn.Adam(model.parameters(), lr=1e-3), epochs=200,
              batch_size=min(200, len(x_train)), seed=0, verbose=0, preprocessing=prep)  # fmt: skip
    if regression:
        from sklearn.metrics import r2_score

        return float(r2_score(prep.inverse_target(data.y_test[:, 0]), prep.inverse_target(model.predict(x_test)[:, 0])))
    return float((model.predict(x_test).argmax(axis=1) == data.y_test).mean())


@pytest.mark.parametrize(("name", "seeds"), [("iris", 4), ("wine", 4), ("breast_cancer", 4), ("diabetes", 4)])
def test_scikit_learn_sets_from_csv_score_as_scikit_learns_mlp(tmp_path: Path, name: str, seeds: int) -> None:
    """Averaged over seeded splits (a quarter for testing): one iris test row alone is 2.6 points."""
    path, regression = sklearn_csv(tmp_path, name)
    from threadpoolctl import threadpool_limits

    ours, theirs = [], []
    for seed in range(seeds):
        data = from_csv(path, val_size=0.0, test_size=0.25, seed=seed)
        assert data.preprocessing.task == ("regression" if regression else "classification")
        # one BLAS thread: on a small machine shared by several processes, more only wait for each other
        with threadpool_limits(1):
            ours.append(glassnet_mlp_score(data, regression))
        theirs.append(sklearn_default_mlp_score(data, regression))
    tolerance = 0.02 if regression else 0.01  # R² within 0.02; accuracy within 1 point
    assert np.mean(ours) >= np.mean(theirs) - tolerance, (ours, theirs)
    assert np.mean(ours) > (0.3 if regression else 0.9)


def test_digits_from_csv_scores_as_scikit_learns_mlp(tmp_path: Path) -> None:
    path, _ = sklearn_csv(tmp_path, "digits")
    data = from_csv(path, val_size=0.0, test_size=0.25, seed=0)
    assert data.preprocessing.classes == [str(i) for i in range(10)] and data.x_train.shape == (1347, 64)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        ours = glassnet_mlp_score(data, False)
    theirs = sklearn_default_mlp_score(data, False)
    assert ours >= theirs - 0.01 and ours > 0.95


def test_the_same_seed_gives_the_same_arrays_and_float64_on_request(tmp_path: Path) -> None:
    path = write(tmp_path, MIXED)
    a, b = from_csv(path, seed=7), from_csv(path, seed=7)
    assert all(
        np.array_equal(getattr(a, k), getattr(b, k)) for k in ("x_train", "y_train", "x_val", "x_test", "y_test")
    )
    assert a.preprocessing.to_json() == b.preprocessing.to_json()
    assert not np.array_equal(from_csv(path, seed=8).y_train, a.y_train)
    assert from_csv(path, seed=7, dtype=np.float64).x_train.dtype == np.float64


def test_data_warnings_name_tiny_imbalanced_constant_and_leaky_splits(tmp_path: Path) -> None:
    rows = "".join(f"{i % 4},7,{'rare' if i == 0 else 'common'}\n" for i in range(40))
    data = from_csv(write(tmp_path, "a,const,y\n" + rows), seed=0)
    lines = data_warnings(data)
    assert any(line.startswith("only 28 training rows") for line in lines)
    assert any("1 input column(s) constant over the training rows: ['const']" in line for line in lines)
    assert any("test rows are identical to training rows" in line for line in lines)
    assert any(
        "imbalanced classes: 'common' has 27 training rows, 'rare' only 1" in line
        or "no training rows of the class(es) ['rare']" in line
        for line in lines
    )
    clean = from_csv(write(tmp_path, "a,b,y\n" + "".join(f"{i},{i * i % 17},{i % 2}\n" for i in range(200)), "c.csv"))
    assert data_warnings(clean) == []
