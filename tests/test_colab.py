"""What a notebook needs in Colab or Binder, where the package is installed from the
repository and no clone sits beside the notebook: the install line's package carries
the results and the checkpoints, the notebooks install it when it is missing, and the
data is downloaded when it is absent."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import write_fake_cifar

from vit_core.data import load_cifar10
from vit_core.pretrained import DEFAULT, shipped
from vit_core.records import RESULTS_DIR, load_result

ROOT = Path(__file__).resolve().parents[1]
INSTALL_LINE = "git+https://github.com/vit-from-scratch/vit-from-scratch"


def source_tree(dest: Path) -> Path:
    """The files `pip install git+...` sees: the work tree without build outputs."""
    skip = shutil.ignore_patterns(
        ".git", ".venv", "_build", "runs", "node_modules", "*.egg-info", "__pycache__"
    )
    return Path(shutil.copytree(ROOT, dest / "src", ignore=skip))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package built as a wheel and installed into a folder of its own."""
    tmp = tmp_path_factory.mktemp("colab")
    src = source_tree(tmp)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", src],
        check=True,
        cwd=tmp,
    )
    (wheel,) = (tmp / "dist").glob("vit_core-*.whl")
    subprocess.run(
        pip + ["install", "--no-deps", "--target", tmp / "site", wheel],
        check=True,
        cwd=tmp,
    )
    return tmp / "site"


@pytest.mark.slow
def test_the_installed_package_has_the_results_and_the_checkpoints(installed):
    names = {p.relative_to(installed).as_posix() for p in installed.rglob("*")}
    for result in RESULTS_DIR.glob("*.json*"):
        assert f"vit_core/results/{result.name}" in names, result.name
    for name in shipped():
        assert f"vit_core/checkpoints/{name}.safetensors" in names, name
    assert "vit_core/static/explorer.js" in names
    # a notebook of the course, run elsewhere, reads them from the installed package
    code = (
        f"import sys; sys.path.insert(0, {str(installed)!r});"
        "import json, vit_core.records as r, vit_core.pretrained as p;"
        "print(json.dumps([str(r.RESULTS_DIR), len(r.load_result('cpu_ablation.json')),"
        " p.pretrained_card()['model']]))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=installed.parent,
    )
    where, n_records, model = json.loads(out.stdout)
    assert Path(where) == installed / "vit_core" / "results"
    assert n_records == len(load_result("cpu_ablation.json")) and model == DEFAULT


def test_every_notebook_installs_the_package_when_it_is_missing():
    for folder in ("notebooks", "student"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            cells = json.loads(path.read_text())["cells"]
            first_code = next(c for c in cells if c["cell_type"] == "code")
            text = "".join(first_code["source"])
            assert 'find_spec("vit_core") is None' in text, path.name
            assert INSTALL_LINE in text, path.name


def test_the_how_to_page_gives_the_same_install_line():
    assert INSTALL_LINE in (ROOT / "book" / "how_to_use.md").read_text()


def test_missing_data_is_downloaded_once(tmp_path, monkeypatch):
    import torchvision

    calls = []

    def fake_cifar10(root, train, download):
        calls.append((root, download))
        write_fake_cifar(Path(root), n=4)

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fake_cifar10)
    images, labels = load_cifar10(tmp_path, train=False, download=True)
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.uint8
    load_cifar10(tmp_path, train=True, download=True)
    assert calls == [(str(tmp_path), True)], "downloaded once, then read from disk"


def test_notebooks_that_read_the_data_download_it_when_it_is_missing():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "code"
        )
        for line in code.splitlines():
            if "load_cifar10(" in line and "no/such" not in line:
                assert "download=True" in line, f"{path.name}: {line.strip()}"
