"""MkDocs hooks for glassnet's documentation site (named in mkdocs.yml).

- The lessons: every notebook in docs/ and docs/lessons/ joins the navigation and the list on lessons.md,
  in file-name order, so a new lesson needs no edit here.
- Docstrings as written: glassnet's docstrings have ``Shape:`` and ``Backward:`` sections that no docstring style
  knows; ``SectionsAsWritten`` (a griffe extension, named in mkdocs.yml) shows them as preformatted text, as they
  read in the source, and treats ``Example:`` as the doctest examples they are.
- Math without the internet: MathJax comes from the ``jupyter-server-mathjax`` package (the ``docs`` extra) and
  is copied into the site under assets/mathjax; every page that holds math loads it from there.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import griffe

MATHJAX_PLACEHOLDER = "GLASSNET_MATHJAX"
MATHJAX_DIR = "assets/mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
# The shipped MathJax has the STIX web fonts only: use them, and never look for the TeX fonts or image fonts.
# MathJax 2 also declares a blank font at url('about:blank'), which browsers refuse with a console error;
# a local() source that names no installed font is the same empty fallback without the request.
FONT_CONFIG = (
    '<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": '
    '{availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null, '
    'styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local(\'MathJax_Blank\')"}}}});</script>'
)
AS_WRITTEN = re.compile(r"^(Shape|Backward\b[^:]*):\s*$")


def sections_as_written(text: str) -> str:
    """Rewrite a (dedented) docstring: Shape and Backward sections become fenced text, Example becomes Examples."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if line == "Example:":
            out.append("Examples:")
        elif AS_WRITTEN.match(line):
            block, i = [], i + 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            indent = min(len(b) - len(b.lstrip()) for b in block if b.strip()) if block else 0
            out += [f"**{line}**", "", "```text", *(b[indent:] for b in block), "```", ""]
            continue
        else:
            out.append(line)
        i += 1
    return "\n".join(out)


class SectionsAsWritten(griffe.Extension):
    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = sections_as_written(obj.docstring.value)


# lessons.md keeps a list for readers of the repository; the site's list is made afresh from the files
LIST_START, LIST_END = "<!-- lessons: made by docs_hooks.py -->", "<!-- /lessons -->"


def _notebooks(docs_dir: Path) -> list[str]:
    found = sorted(docs_dir.glob("*.ipynb")) + sorted(docs_dir.glob("lessons/*.ipynb"))
    return [p.relative_to(docs_dir).as_posix() for p in found]


def _title(path: Path) -> str:
    """The notebook's first Markdown heading, else its file name."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        for line in (source if isinstance(source, str) else "".join(source)).splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return path.stem


def on_config(config):
    docs_dir = Path(config["docs_dir"])
    lessons = [{"Overview": "lessons.md"}] + [{_title(docs_dir / nb): nb} for nb in _notebooks(docs_dir)]
    nav = config["nav"] or []
    for i, entry in enumerate(nav):
        if isinstance(entry, dict) and entry.get("Lessons") == "lessons.md":
            nav[i] = {"Lessons": lessons}
    return config


def on_page_markdown(markdown, page, config, files):
    markdown = markdown.replace(f"](../{BENCHMARKS_README})", f"]({BENCHMARKS_PAGE})")
    start, end = markdown.find(LIST_START), markdown.find(LIST_END)
    if start < 0 or end < start:
        return markdown
    docs_dir = Path(config["docs_dir"])
    items = "\n".join(f"- [{_title(docs_dir / nb)}]({nb})" for nb in _notebooks(docs_dir)) or "(No lessons yet.)"
    return markdown[:start] + items + markdown[end + len(LIST_END) :]


def _relative_root(page) -> str:
    return "../" * page.url.count("/")


def on_post_page(output, page, config):
    mathjax = _relative_root(page) + MATHJAX_DIR
    if MATHJAX_PLACEHOLDER in output:  # a notebook: its template already loads MathJax
        output = output.replace(MATHJAX_PLACEHOLDER, mathjax)
    elif 'class="arithmatex"' in output:  # a Markdown page with math
        output = output.replace(
            "</head>", f'<script src="{mathjax}/MathJax.js?config={MATHJAX_CONFIG}"></script>\n</head>', 1
        )
    else:
        return output
    return output.replace("<head>", "<head>\n" + FONT_CONFIG, 1)


def on_post_build(config):
    try:
        import jupyter_server_mathjax
    except ImportError as error:
        raise RuntimeError('the site serves its own MathJax: pip install -e ".[docs]"') from error
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = Path(config["site_dir"]) / MATHJAX_DIR
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.py", "__pycache__", "unpacked"))


# benchmarks/README.md (protocol, full tables, profiles) lives beside the benchmarks; the site shows it as a page.
BENCHMARKS_README = "benchmarks/README.md"
BENCHMARKS_PAGE = "benchmarks.md"


def on_files(files, config):
    from mkdocs.structure.files import File

    source = Path(config["docs_dir"]).parent / BENCHMARKS_README
    files.append(File.generated(config, BENCHMARKS_PAGE, abs_src_path=str(source)))
    return files
