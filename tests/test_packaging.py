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
CONDA_NAMES = {"tensorflow-cpu": "tensorflow", "soundfile": "pysoundfile", "soxr": "soxr-python",
               "jupyter-client": "jupyter_client"}


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


# Declared dependencies used otherwise than by an import, and why.
NOT_IMPORTED = {"jupyterlab": "`make lab` serves the course with it",
                "ipykernel": "the notebooks' kernel, for JupyterLab and papermill",
                "pytest-timeout": "a pytest plug-in (pyproject's timeout setting)",
                "pytest-xdist": "a pytest plug-in (pyproject's addopts: -n 2 --dist loadfile)",
                "psycopg": "SQLAlchemy's PostgreSQL driver, loaded for postgresql+psycopg:// URLs"}
# import name -> distribution, for imports whose distribution is not installed here
KNOWN_DISTRIBUTIONS = {"playwright": "playwright"}
CODE_FOLDERS = ("atomicvad_lib", "tools", "tools/notebook_sources", "tests", "tests/fixtures",
                "benchmarks", "scripts")


def _third_party_imports() -> dict[str, set[str]]:
    """import name -> files that import it, over the repository's Python code."""
    import ast

    local = {p.stem for folder in CODE_FOLDERS for p in (REPO_ROOT / folder).glob("*.py")}
    found: dict[str, set[str]] = {}
    for folder in CODE_FOLDERS:
        for path in (REPO_ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in local | {"atomicvad_lib"}:
                        found.setdefault(top, set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def _declared() -> set[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"]
                                              .values() for r in extra]
    return {_split(r)[0].replace("_", "-") for r in requirements}


def test_every_import_is_declared_and_every_dependency_used():
    from importlib import metadata

    distributions = metadata.packages_distributions()
    declared = _declared()
    used = set()
    for module, files in _third_party_imports().items():
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [])} or \
            {KNOWN_DISTRIBUTIONS.get(module, module).lower()}
        assert names & declared, f"{module} (imported by {sorted(files)}) is not in pyproject.toml"
        used |= names & declared
    if "tensorflow-cpu" in used or "tensorflow" in used:  # one import, two platform builds
        used |= {"tensorflow", "tensorflow-cpu"}
    unused = declared - used - set(NOT_IMPORTED)
    assert not unused, f"declared in pyproject.toml but imported nowhere: {sorted(unused)}"


def test_each_dependency_says_what_uses_it():
    lines = (REPO_ROOT / "pyproject.toml").read_text().split("dependencies = [", 1)[1] \
        .split("]\n", 1)[0].splitlines()
    requirements = [i for i, line in enumerate(lines) if line.strip().startswith('"')]
    assert requirements
    for i in requirements:
        described = "#" in lines[i] or lines[i - 1].strip().startswith("#")
        assert described, f"no comment says what uses {lines[i].strip()}"
