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
    """Versions are compared by packaging's rules: a release candidate counts as its release,
    and 3.10 is newer than 3.9.9."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    assert Version("2.21.0rc1").release == (2, 21, 0)
    assert Version("3.10") > Version("3.9.9")
    assert checks._problem(Requirement("tensorflow>=2.16"), "2.21.0rc1") is None
    assert "too old" in checks._problem(Requirement("keras>=3.10,<4"), "3.9.9")


def test_requirements_come_from_the_installed_metadata():
    """The list checked is pyproject.toml's, as installed: nothing to keep in step by hand."""
    import tomllib

    from conftest import REPO_ROOT

    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    python, needed = checks.requirements()
    assert str(python) == str(checks.SpecifierSet(declared["requires-python"]))
    names = {r.name for r in needed}
    assert {"keras", "librosa", "papermill", "jupytext"} <= names
    assert names <= {d.split(">")[0].split("<")[0].split("=")[0].split(";")[0].strip()
                     for d in declared["dependencies"]}
