"""Build notebooks/*.ipynb from their reviewable sources in tools/notebook_sources/*.py.

A source is a Python file in the "percent" format: a line starting with ``# %%`` opens a cell.
``# %% [markdown]`` opens a Markdown cell whose lines are written as ``# text`` comments;
``tags=["parameters"]`` tags a cell (papermill's parameters cell); the word ``hidden`` collapses the
cell's input in JupyterLab (used for exercise solutions).

    python tools/build_notebooks.py          # (re)write notebooks/*.ipynb
    python tools/build_notebooks.py --check  # exit 1 if a committed notebook is out of date

The output has no outputs or execution counts, and stable cell ids, so it is the same every time.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "tools" / "notebook_sources"
NOTEBOOKS = ROOT / "notebooks"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_HEADER = re.compile(r"^# %%(?P<rest>.*)$")


def _cell(kind: str, lines: list[str], tags: list[str], hidden: bool, cell_id: str):
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if kind == "markdown":
        text = "\n".join(re.sub(r"^# ?", "", line) if line.startswith("#") else line
                         for line in lines)
        cell = nbformat.v4.new_markdown_cell(text, id=cell_id)
    else:
        cell = nbformat.v4.new_code_cell("\n".join(lines), id=cell_id)
    if tags:
        cell.metadata["tags"] = tags
    if hidden:
        cell.metadata["jupyter"] = {"source_hidden": True}
    return cell


def parse_source(path: Path) -> nbformat.NotebookNode:
    """The notebook described by a percent-format source file."""
    stem = path.stem
    cells, header, body = [], None, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = _HEADER.match(line)
        if match:
            if header is not None:
                cells.append((header, body))
            header, body = (match.group("rest").strip(), number), []
        elif header is not None:
            body.append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"{path}:{number}: text before the first '# %%' cell marker")
    if header is not None:
        cells.append((header, body))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    prefix = re.sub(r"[^A-Za-z0-9]", "", stem)[:12] or "cell"
    for index, ((rest, number), body) in enumerate(cells):
        kind = "markdown" if "[markdown]" in rest else "code"
        tags = []
        tag_match = re.search(r"tags=(\[[^\]]*\])", rest)
        if tag_match:
            try:
                tags = json.loads(tag_match.group(1))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: bad tags list: {err}") from None
        hidden = bool(re.search(r"\bhidden\b", rest))
        nb.cells.append(_cell(kind, body, tags, hidden, f"{prefix}-{index:03d}"))
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def build(check: bool = False, names: list[str] | None = None) -> list[Path]:
    """Write (or with ``check``, compare) every notebook; returns the ones that differ/changed."""
    differing = []
    for source in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        if names and source.stem not in names:
            continue
        target = NOTEBOOKS / f"{source.stem}.ipynb"
        text = render(parse_source(source))
        current = target.read_text() if target.exists() else None
        if current != text:
            differing.append(target)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only report notebooks that differ from their sources")
    parser.add_argument("names", nargs="*", help="notebook names (default: all)")
    args = parser.parse_args(argv)
    differing = build(args.check, args.names)
    for path in differing:
        print(f"{'out of date' if args.check else 'wrote'}: {path.relative_to(ROOT)}")
    if args.check and differing:
        print("run `python tools/build_notebooks.py` and commit the notebooks", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
