"""pyproject.toml, environment.yml, the Makefile, CI and the README stay in step."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT

# pyproject name -> conda-forge name, where they differ
CONDA_NAMES = {"tensorflow-cpu": "tensorflow", "soundfile": "pysoundfile", "soxr": "soxr-python"}


def _split(requirement: str) -> tuple[str, str]:
    requirement = requirement.split(";")[0].strip()
    name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower()
    return name, requirement[len(name):].replace(" ", "")


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda = {}
    pip_section = None
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_section = dep["pip"]
        else:
            name, spec = _split(dep.replace("=", "==", 1) if re.match(r"^[\w\-]+=[^=<>]", dep) else dep)
            conda[name] = spec
    assert conda.pop("python") == "==3.11"
    assert pip_section == ["-e ."], "the pip section installs this package"
    wanted = {}
    for req in project["dependencies"]:
        name, spec = _split(req)
        wanted[CONDA_NAMES.get(name, name)] = spec
    assert set(wanted) <= set(conda) | {"pip"}, f"missing in environment.yml: {set(wanted) - set(conda)}"
    for name, spec in wanted.items():
        assert conda[name] == spec, f"{name}: pyproject says {spec!r}, environment.yml {conda[name]!r}"
    assert set(conda) - set(wanted) == {"pip"}, "environment.yml lists packages pyproject does not"


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make course" in readme
    assert re.search(r"^make test$", ci, re.M)


def test_console_script_is_declared_and_runs():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["atomicvad"] == "atomicvad_lib.cli:main"
    out = subprocess.run([sys.executable, "-m", "atomicvad_lib.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "check" in out


def test_no_machine_paths_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        return
    offenders = []
    for rel in tracked.stdout.split():
        if rel == "tests/test_packaging.py":  # holds the patterns themselves
            continue
        path = REPO_ROOT / rel
        if path.suffix in {".py", ".md", ".ipynb", ".yml", ".yaml", ".toml", ".json", ".cfg"} \
                and path.is_file() and path.stat().st_size < 2_000_000:
            text = path.read_text(errors="ignore")
            if re.search(r"/work/main|/root/|/home/\w+/", text):
                offenders.append(rel)
    assert offenders == []


def test_importing_the_package_does_not_load_tensorflow():
    """`import atomicvad_lib` and the CLI's --help stay cheap: TensorFlow loads on first use."""
    code = ("import sys, atomicvad_lib, atomicvad_lib.cli; "
            "atomicvad_lib.cli.build_parser().format_help(); "
            "heavy = sorted({'tensorflow', 'keras'} & set(sys.modules)); print(heavy); "
            "atomicvad_lib.Config(); print(sorted({'tensorflow'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


def test_lazy_names_resolve_and_unknown_names_raise():
    import atomicvad_lib as av

    assert callable(av.build_model) and av.MFCC.__name__ == "MFCC"
    assert set(av.__all__) <= set(dir(av))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        av.nope
