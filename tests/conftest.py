"""Shared pytest fixtures. Each fixture is named for what it builds; add yours below."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from atomicvad_lib.synthetic import harmonic_tone

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
