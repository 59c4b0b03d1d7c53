"""Sphinx extension for this book (loaded from _config.yml, ``sphinx:
local_extensions``).

1. Rebuild the pages generated from vit_core/results/ whenever a file there changes.
   Sphinx re-reads a page only when its source changes, and the execution cache keys a
   notebook on its code, so a page whose tables are read from vit_core/results/*.json(l)
   would otherwise keep showing old numbers. Those pages are marked outdated when any
   file in vit_core/results/ (or the folder itself, or a module of book/tools/) is
   newer than the page's last read; they also set ``mystnb: execution_mode: force``
   so they re-run rather than use the cache.
2. Copy changed static files. With no page to rewrite, Sphinx stops before copying
   static files, so a new explorer export or vendored script (book/_generated/) would
   not reach _build/html/_static/. When a file in html_static_path is newer than the
   last build, the root page is marked outdated, which makes Sphinx finish the build and
   copy them.
3. In the student edition (``hide_solutions: true``), strip the solutions from the
   downloadable sources too (``_sources/**/*.ipynb`` and ``*.md``, behind each page's
   download button): sphinx-exercise removes them from the pages only. The student
   edition's notebooks (student/, written by make_student.py with
   :func:`student_notebook`) hold none; this guards the book's other pages. Those
   notebooks' predict-then-check cells carry ``remove-output``, so that the student
   website does not print the measured answer before the student has predicted it.
4. In the student edition, point the book's links to notebooks (``{doc}`` roles and
   Markdown links to ``../notebooks/NN_...``) at the student notebooks in student/,
   the only ones that edition builds.
5. Drop repeated inline scripts from each page. sphinx-thebe adds its configuration
   script (``const THEBE_JS_URL = ...``) twice with jupyter-book 1.0.4, and the second
   copy is a JavaScript error ("Identifier 'THEBE_JS_URL' has already been declared") on
   every page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

GENERATED_PAGES = ("book/results", "book/search_history", "book/instructor_guide")


def _newest_mtime(folder: Path) -> float:
    if not folder.is_dir():
        return 0.0
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])


def _newest_static(app) -> float:
    newest = 0.0
    for entry in getattr(app.config, "html_static_path", []):
        folder = Path(app.confdir) / entry
        if folder.is_dir():
            newest = max(
                [newest] + [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()]
            )
    return newest


def _outdated(app, env, added, changed, removed):
    # the data, and the code that renders it
    newest = max(
        _newest_mtime(Path(app.srcdir) / "vit_core" / "results"),
        _newest_mtime(Path(__file__).parent),  # results_view.py, search_log.py, ...
    )
    out = []
    for doc in GENERATED_PAGES:
        # microseconds since the epoch, when Sphinx last read the page
        read_at = env.all_docs.get(doc)
        if read_at is not None and newest * 1e6 > read_at:
            out.append(doc)
    # rewritten at the end of every build that writes pages
    buildinfo = Path(app.outdir) / ".buildinfo"
    if buildinfo.is_file() and _newest_static(app) > buildinfo.stat().st_mtime:
        root = app.config.root_doc
        if root in env.all_docs and root not in out:
            out.append(root)
    return out


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # the copies differ only in filename (None vs ''), which both mean "inline
        # script"
        key = (
            str(getattr(js, "filename", js) or ""),
            repr(sorted(getattr(js, "attributes", {}).items())),
        )
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\s*\{(?P<name>[\w-]+)\}")


def strip_solutions(text: str) -> str:
    """Remove MyST ``{solution}`` directives and ``{solution-start}`` ...
    ``{solution-end}`` spans."""
    out, lines, i, gated = [], text.split("\n"), 0, False
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m and m["name"] in ("solution", "solution-start", "solution-end"):
            fence = m["fence"]
            closing = re.compile(
                r"^\s*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$"
            )
            j = i + 1
            while j < len(lines) and not closing.match(lines[j]):
                j += 1
            gated = {"solution-start": True, "solution-end": False}.get(
                m["name"], gated
            )
            i = j + 1
            continue
        if not gated:
            out.append(lines[i])
        i += 1
    return "\n".join(out)


HIDDEN_TAGS = {"remove-input", "remove-cell", "hide-input", "hide-cell"}


def is_hidden_reference(cell: dict) -> bool:
    """A hidden code cell that defines a function or class: an exercise's answer kept
    out of sight, which a student edition must not hold."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    if cell.get("cell_type") != "code" or not tags & HIDDEN_TAGS:
        return False
    source = "".join(cell.get("source", []))
    return re.search(r"^\s*(def|class)\s", source, re.MULTILINE) is not None


# a call of a reveal helper of vit_core.course.checks (reveal, reveal_ladder, ...),
# which prints the measured answer, and the cell where the student writes a prediction
_REVEAL = re.compile(r"^[^#\n]*\breveal\w*\(", re.MULTILINE)
_PREDICTION = re.compile(r"^my_\w+ = None\b", re.MULTILINE)


def predict_then_check(sources: list[str | None]) -> set[int]:
    """Which of the code cells (their sources, None for a markdown cell) show the
    measured answer of a predict-then-check exercise: each cell that calls a reveal
    helper, and the cells after the prediction that lead to it (the measurements it
    reads, as tables and figures)."""
    out: set[int] = set()
    since = None  # the first cell after the last prediction not yet revealed
    for i, source in enumerate(sources):
        if source is None:
            continue
        if _PREDICTION.search(source):
            since = i + 1
        elif _REVEAL.search(source):
            out |= {j for j in range(since or i, i + 1) if sources[j] is not None}
            since = None
    return out


def student_notebook(nb: dict) -> dict:
    """``nb`` without its solutions: {solution} blocks, the cells between
    {solution-start} and {solution-end}, and hidden reference cells; and without the
    outputs of its predict-then-check cells on the student website (tag
    ``remove-output``): the student sees the answer by running them, after
    predicting."""
    cells, gated = [], False
    for cell in nb.get("cells", []):
        source = "".join(cell.get("source", []))
        has_start = re.search(r"\{solution-start\}", source) is not None
        has_end = re.search(r"\{solution-end\}", source) is not None
        if cell.get("cell_type") == "markdown":
            stripped = strip_solutions(source)
            if has_start and not has_end:
                gated = True
            elif has_end:
                gated = False
            if stripped == source:
                cells.append(cell)
            elif stripped.strip():
                cells.append({**cell, "source": stripped})
        elif not gated and not is_hidden_reference(cell):
            cells.append(cell)
    sources = [
        "".join(c.get("source", [])) if c.get("cell_type") == "code" else None
        for c in cells
    ]
    for i in predict_then_check(sources):
        meta = cells[i].get("metadata", {})
        tags = meta.get("tags", [])
        if "remove-output" not in tags:
            tags = [*tags, "remove-output"]
            cells[i] = {**cells[i], "metadata": {**meta, "tags": tags}}
    return {**nb, "cells": cells}


def _strip_sources(app, exception):
    if exception is not None or not getattr(app.config, "hide_solutions", False):
        return
    sources = Path(app.outdir) / "_sources"
    if not sources.is_dir():
        return
    for path in sources.rglob("*"):
        if path.suffix == ".ipynb":
            nb = json.loads(path.read_text(encoding="utf8"))
            stripped = student_notebook(nb)
            # a student notebook stays byte for byte the file in student/
            if stripped != nb:
                path.write_text(
                    json.dumps(stripped, indent=1, ensure_ascii=False) + "\n",
                    encoding="utf8",
                )
        elif path.suffix in (".md", ".txt"):
            path.write_text(
                strip_solutions(path.read_text(encoding="utf8")), encoding="utf8"
            )


_NOTEBOOK_LINK = re.compile(r"\.\./notebooks/(?=\d\d_)")


def _student_links(app, docname, source):
    if getattr(app.config, "hide_solutions", False):
        source[0] = _NOTEBOOK_LINK.sub("../student/", source[0])


def setup(app):
    app.connect("source-read", _student_links)
    app.connect("env-get-outdated", _outdated)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("build-finished", _strip_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
