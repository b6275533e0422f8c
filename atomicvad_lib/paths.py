"""Where things are: the repository, so notebooks and commands find ``data_samples/`` and
``figures/`` whether they run from the repository root or from ``notebooks/`` (JupyterLab,
papermill), and the two environment variables the course runner sets for a notebook's kernel."""
from __future__ import annotations

import os
from pathlib import Path

_MARKER = "atomicvad-lib"
HEADLESS_ENV = "ATOMICVAD_HEADLESS"  # "1": run by the course runner, nobody moves a widget
FIGURES_ENV = "ATOMICVAD_FIGURES"  # folder for the figures (default: figures/ in the repository)


def _is_repo_root(folder: Path) -> bool:
    project = folder / "pyproject.toml"
    try:
        return project.is_file() and _MARKER in project.read_text(errors="ignore")
    except OSError:
        return False


def repo_root(start: str | Path | None = None) -> Path:
    """The checkout holding this course: the first folder upwards from ``start`` (default: the
    working directory), then from this package, whose ``pyproject.toml`` names atomicvad-lib.
    Falls back to the working directory when neither is inside a checkout."""
    here = Path(start or os.getcwd()).resolve()
    for origin in (here, Path(__file__).resolve().parent):
        for folder in (origin, *origin.parents):
            if _is_repo_root(folder):
                return folder
    return here


def repo_path(path: str | Path) -> Path:
    """``path`` as given when absolute or present under the working directory; otherwise
    relative to the repository root (so ``"data_samples"`` works from ``notebooks/`` too)."""
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve() if path.exists() else path
    return repo_root() / path


def figures_dir() -> Path:
    """Where figures go: ``$ATOMICVAD_FIGURES`` if set, else ``figures/`` at the repository root."""
    folder = os.environ.get(FIGURES_ENV)
    return Path(folder) if folder else repo_root() / "figures"
