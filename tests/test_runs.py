"""Run folders and model files: the one loader for every kind of .keras file, and the best
checkpoint of a run."""
from __future__ import annotations

import pytest

from atomicvad_lib.runs import best_checkpoint, load_model


def test_best_checkpoint_is_the_newest_runs_best_validation_fold(tmp_path):
    import json
    import os


    assert best_checkpoint(tmp_path) is None

    def fold(run, i, val_auroc, mtime, finished=True):
        folder = tmp_path / run / "checkpoints" / f"fold_{i}"
        folder.mkdir(parents=True)
        (folder / "best.keras").write_bytes(b"")
        os.utime(folder / "best.keras", (mtime, mtime))
        if finished:
            (folder / "metrics.json").write_text(json.dumps(
                {"validation": {"auroc": val_auroc}, "test": {"auroc": 1.0 - val_auroc}}))
        return folder / "best.keras"

    fold("old", 0, 0.99, 1_000)
    fold("new", 0, 0.70, 2_000)
    best = fold("new", 1, 0.80, 2_100)
    fold("new", 2, 0.75, 2_200)
    fold("new", 3, None, 2_300, finished=False)  # still training: newest file, no score
    assert best_checkpoint(tmp_path) == best
    unscored = fold("lone", 0, None, 3_000, finished=False)
    assert best_checkpoint(tmp_path) == unscored


def test_load_model_names_a_missing_file_and_a_file_that_is_no_archive(tmp_path):
    fake = tmp_path / "AtomicVADGGCU-chkpt0.keras"
    fake.write_text("a text file")
    with pytest.raises(ValueError, match=r"AtomicVADGGCU-chkpt0.keras is not a Keras 3 \.keras "
                                         r"archive \(File is not a zip file\)"):
        load_model(fake)
    with pytest.raises(FileNotFoundError, match="no model at"):
        load_model(tmp_path / "missing.keras")
    (tmp_path / "bad.keras").write_text("not a zip")
    with pytest.raises(ValueError, match="not a Keras 3"):
        load_model(tmp_path / "bad.keras")
