"""Shared pytest fixtures. Each fixture is named for what it builds; add yours below."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
import soundfile as sf

from atomicvad_lib.synthetic import harmonic_tone

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist runs two workers side by side (see pyproject.toml): each TensorFlow process
    # (this worker, and the kernels and subprocesses it starts, which inherit the variables) gets
    # one op thread instead of one per core, so they do not spin against each other
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
PUBLISHED_DIR = Path(os.environ.get("ATOMICVAD_PUBLISHED_DIR",
                                    REPO_ROOT.parent / "shared" / "reference" / "atomicvad-published"))


@pytest.fixture(scope="session")
def published_dir() -> Path:
    """The authors' checkpoints and parity data (../shared, beside the checkout); skip if absent."""
    if not (PUBLISHED_DIR / "reference.json").is_file():
        pytest.skip(f"published checkpoints not found at {PUBLISHED_DIR} (they live in ../shared "
                    f"beside the checkout, or set ATOMICVAD_PUBLISHED_DIR)")
    return PUBLISHED_DIR


def _load_fixture_builder():
    spec = importlib.util.spec_from_file_location(
        "make_fixture_model", REPO_ROOT / "tests" / "fixtures" / "make_fixture_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIXTURE_BUILDER = _load_fixture_builder()


@pytest.fixture(scope="session")
def fixture_model():
    """The committed trained model (tests/fixtures/make_fixture_model.py builds it) and the
    synthetic test windows it was scored on: (model, waveforms, labels)."""
    from atomicvad_lib.runs import load_model
    from atomicvad_lib.synthetic import synthetic_windows

    model = load_model(FIXTURE_BUILDER.OUT)
    x, y = synthetic_windows(FIXTURE_BUILDER.TEST_WINDOWS, seed=FIXTURE_BUILDER.TEST_SEED,
                             **FIXTURE_BUILDER.HARD)
    return model, x, y


SPLITS = ("training", "validation", "testing")


def write_tiny_corpus(root: Path, per_class: int = 6, sample_rate: int = 16000,
                      seconds: float = 0.63, seed: int = 0) -> Path:
    """Six balanced manifests with ``per_class`` one-window WAVs per class and split: speech is a
    harmonic tone with a syllable-rate envelope, background is coloured noise (both random)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    for split in SPLITS:
        for label in ("speech", "background"):
            folder = root / "audio" / split / label
            folder.mkdir(parents=True, exist_ok=True)
            lines = []
            for i in range(per_class):
                if label == "speech":
                    x = harmonic_tone(t, rng.uniform(100, 250), 5, rng.uniform(3, 6))
                else:
                    x = np.cumsum(rng.normal(size=n)) * 0.01
                    x -= x.mean()
                x = (0.3 * x / np.max(np.abs(x))).astype(np.float32)
                path = folder / f"{label}_{i}.wav"
                sf.write(path, x, sample_rate, subtype="PCM_16")
                lines.append(json.dumps({"audio_filepath": path.relative_to(root).as_posix(),
                                         "duration": seconds, "label": label, "offset": 0.0}))
            manifest = root / f"balanced_{label}_{split}_manifest.json"
            manifest.write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    """A data folder in the layout of data_samples/: six balanced manifests and their WAVs."""
    return write_tiny_corpus(tmp_path / "tiny_corpus")


@pytest.fixture(scope="module")
def dask_cluster():
    """A LocalCluster of two single-threaded worker processes, shared by the tests of a module
    (starting one costs seconds, and its workers keep TensorFlow imported from one test to the
    next). Not session-wide: even idle, its scheduler and workers take about 10 s of CPU a
    minute, so it is closed when the module's tests are done. Yields (cluster, {worker address:
    worker process id})."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        with Client(cluster) as client:
            pids = client.run(os.getpid)
        yield cluster, pids


# Stand-in notebooks for the course runner and the sweep: a "05_training" that records what it
# was given and where it ran (and fails for a negative seed), and a "06_results_analysis" that
# lists the folds it finds. The real notebooks are executed in test_notebooks.py.
STAND_IN_TRAINING_PARAMETERS = ('seed = 0\nfold = 0\nrun_dir = ""\nquick = False\n'
                                'interactive = None\ndata_dir = ""')
STAND_IN_TRAINING_BODY = """import json, os, pathlib
if seed < 0:
    raise ValueError(f"seed must be non-negative, got {seed}")
out = pathlib.Path(run_dir) / f"fold_{fold}"
out.mkdir(parents=True, exist_ok=True)
(out / "seen.json").write_text(json.dumps({"seed": seed, "quick": quick, "data_dir": data_dir,
    "headless": os.environ.get("ATOMICVAD_HEADLESS"), "figures": os.environ.get("ATOMICVAD_FIGURES"),
    "threads": os.environ.get("TF_NUM_INTRAOP_THREADS"), "cwd": os.getcwd(),
    "kernel_parent_pid": os.getppid()}))
"""
STAND_IN_ANALYSIS_PARAMETERS = 'run_dir = ""\nquick = False\ninteractive = None'
STAND_IN_ANALYSIS_BODY = """import pathlib
folds = sorted(p.name for p in pathlib.Path(run_dir).glob("fold_*"))
(pathlib.Path(run_dir) / "analysed.txt").write_text(",".join(folds))
"""


def write_notebook(path: Path, parameters: str, body: str) -> Path:
    """A two-cell notebook: ``parameters`` (tagged for papermill), then ``body``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_stand_in_notebooks(folder: Path) -> Path:
    """The stand-in 05_training and 06_results_analysis in ``folder``."""
    write_notebook(folder / "05_training.ipynb", STAND_IN_TRAINING_PARAMETERS,
                   STAND_IN_TRAINING_BODY)
    write_notebook(folder / "06_results_analysis.ipynb", STAND_IN_ANALYSIS_PARAMETERS,
                   STAND_IN_ANALYSIS_BODY)
    return folder
