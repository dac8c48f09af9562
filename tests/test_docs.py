"""Every notebook in docs/ and docs/lessons/ runs from top to bottom, offline (executed with nbclient, as CI does),
and writes nothing: neither into the folder it runs in nor into the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
NOTEBOOKS = sorted([*DOCS.glob("*.ipynb"), *DOCS.glob("lessons/*.ipynb")]) if DOCS.is_dir() else []


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.skipif(not NOTEBOOKS, reason="docs/ is not beside the tests")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(DOCS).with_suffix("")))
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    import glassnet

    # the kernel imports the glassnet under test, and runs in a scratch folder
    src = str(Path(glassnet.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(path, as_version=4)
    docs_before = _files(DOCS)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    # a lesson shows its figures inline; files it needs go to a temporary folder it removes
    left = sorted(_files(tmp_path))
    assert not left, f"{path.name} left files in the folder it ran in: {left}"
    assert _files(DOCS) == docs_before, f"{path.name} wrote into docs/: {sorted(_files(DOCS) - docs_before)}"
