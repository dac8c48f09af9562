"""The training report: one self-contained HTML page (pictures embedded) that ``glassnet train`` writes.

The page needs nothing but itself: no script, no style sheet or image from elsewhere, so it opens the
same from a folder, an e-mail or a browser with no network.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from typing import Any

from glassnet._files import atomic_write

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 0.2rem 0.8rem; text-align: left; border-bottom: 1px solid #eee; }
th { color: #555; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9rem; } pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; }
"""


def _table(rows: Mapping[str, Any]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    return f"<table>{cells}</table>"


def _history_table(history: Mapping[str, Sequence[float]]) -> str:
    keys = list(history)
    if not keys:
        return "<p>No epoch was completed.</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ["epoch", *keys])
    epochs = max(len(v) for v in history.values())
    body = ""
    for e in range(epochs):
        values = "".join(
            f'<td class="num">{history[k][e]:.4f}</td>' if e < len(history[k]) else "<td></td>" for k in keys
        )
        body += f'<tr><td class="num">{e + 1}</td>{values}</tr>'
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(path: str, caption: str) -> str:
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    alt = html.escape(caption)
    return f'<figure><img src="data:image/png;base64,{data}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'


def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    summary: Mapping[str, Any],
    settings: Mapping[str, Any],
    history: Mapping[str, Sequence[float]],
    pictures: Sequence[tuple[str, str]] = (),
    texts: Sequence[tuple[str, str]] = (),
) -> None:
    """Write the report to ``path`` atomically.

    Args:
        title: the page's heading.
        summary: the results that matter first (test accuracy, time), shown as a table.
        settings: what the run was given (data set, model, epochs, batch size, ...).
        history: the per-epoch values of ``fit``'s History.
        pictures: ``(png_path, caption)`` pairs, embedded in the page; missing files are skipped.
        texts: ``(heading, preformatted text)`` pairs, such as the model summary or the confusion table.
    """
    figures = "".join(_figure(p, caption) for p, caption in pictures if os.path.isfile(p))
    blocks = "".join(f"<h2>{html.escape(h)}</h2><pre>{html.escape(t)}</pre>" for h, t in texts)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{_table(summary)}"
        f"<h2>Pictures</h2>{figures or '<p>No pictures (matplotlib is not installed).</p>'}"
        f"<h2>Per epoch</h2>{_history_table(history)}"
        f"<h2>Settings</h2>{_table(settings)}{blocks}</body></html>\n"
    )
    atomic_write(os.fspath(path), page.encode("utf-8"))
