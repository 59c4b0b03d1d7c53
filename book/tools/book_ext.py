"""Sphinx extension for this book (loaded from _config.yml, ``sphinx: local_extensions``).

1. Rebuild the pages generated from results/ whenever a file there changes. Sphinx re-reads a page only
   when its source changes, and the execution cache keys a notebook on its code, so a page whose tables are
   read from results/*.json(l) would otherwise keep showing old numbers. Those pages are marked outdated
   when any file in results/ (or the folder itself) is newer than the page's last read; they also set
   ``mystnb: execution_mode: force`` so they re-run rather than use the cache.
2. Drop repeated inline scripts from each page. sphinx-thebe adds its configuration script
   (``const THEBE_JS_URL = ...``) twice with jupyter-book 1.0.4, and the second copy is a JavaScript
   error ("Identifier 'THEBE_JS_URL' has already been declared") on every page.
"""
from __future__ import annotations

from pathlib import Path

GENERATED_PAGES = ("book/results", "book/instructor_guide")


def _newest_mtime(folder: Path) -> float:
    if not folder.is_dir():
        return 0.0
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])


def _outdated(app, env, added, changed, removed):
    newest = _newest_mtime(Path(app.srcdir) / "results")
    out = []
    for doc in GENERATED_PAGES:
        read_at = env.all_docs.get(doc)  # microseconds since the epoch, when Sphinx last read the page
        if read_at is not None and newest * 1e6 > read_at:
            out.append(doc)
    return out


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # the copies differ only in filename (None vs ''), which both mean "inline script"
        key = (str(getattr(js, "filename", js) or ""), repr(sorted(getattr(js, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


def setup(app):
    app.connect("env-get-outdated", _outdated)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
