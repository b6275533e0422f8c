"""Shared pytest fixtures. Each fixture is named for what it builds; add yours below."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

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
                    f0 = rng.uniform(100, 250)
                    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
                    x *= 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 6) * t))
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
