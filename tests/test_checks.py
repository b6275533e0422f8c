"""`atomicvad check`: versions printed, missing or old packages reported with a non-zero exit."""
from __future__ import annotations

from importlib import metadata

from atomicvad_lib import checks
from atomicvad_lib.cli import main


def test_check_passes_in_this_environment(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    for label in ("Python", "TensorFlow", "Keras", "librosa", "papermill", "JupyterLab"):
        assert label in out
    assert metadata.version("keras") in out


def test_missing_and_old_packages_fail(monkeypatch, capsys):
    real = metadata.version

    def fake(dist):
        if dist == "papermill":
            raise metadata.PackageNotFoundError(dist)
        if dist == "keras":
            return "2.15.0"
        return real(dist)

    monkeypatch.setattr(checks.metadata, "version", fake)
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert "papermill is missing" in err
    assert "Keras 2.15.0 is too old" in err


def test_version_parsing():
    assert checks._version_tuple("2.21.0rc1") == (2, 21, 0)
    assert checks._version_tuple("3.10") > checks._version_tuple("3.9.9")
