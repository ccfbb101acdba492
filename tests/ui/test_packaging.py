"""The web UI ships inside the Python package: a wheel built from this tree carries the built app,
and the Docker image builds it in its own node stage before installing the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from attune import webui

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_carries_the_built_ui(tmp_path: Path, built_ui: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tree / name)
    shutil.copytree(REPO / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    # Build isolation fetches setuptools and wheel from PyPI, as any wheel build does.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(tmp_path / "dist"), str(tree)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("attune-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    built = {f"attune/webui/static/{p.relative_to(built_ui).as_posix()}"
             for p in built_ui.rglob("*") if p.is_file()}
    assert "attune/webui/static/index.html" in built
    assert built <= names, sorted(built - names)[:5]
    assert "attune/runtimes/_waiter.js" in names  # what pooled Node.js processes run (runtimes/pool.py)


def test_the_docker_image_builds_the_ui_before_installing() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    node = lines.index(next(line for line in lines if line.startswith("FROM node:")))
    copy_ui = lines.index(next(line for line in lines if line.startswith("COPY --from=web")))
    install = lines.index("RUN pip install --no-cache-dir .")
    assert "RUN npm ci --no-audit --no-fund" in lines[node:copy_ui]
    assert node < copy_ui < install
    assert lines[copy_ui].endswith(str(webui.STATIC_DIR.relative_to(REPO)))
