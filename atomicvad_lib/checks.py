"""``atomicvad check``: are the packages the course needs installed, and recent enough?

What is needed is read from the installed package's own metadata (``pyproject.toml``'s
``requires-python`` and ``dependencies``, as pip recorded them), so there is no second list to
keep in step.
"""
from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

DISTRIBUTION = "atomicvad-lib"
# how a few packages are called in print; the others by their distribution name
LABELS = {"tensorflow": "TensorFlow", "tensorflow-cpu": "TensorFlow", "keras": "Keras",
          "jupyterlab": "JupyterLab"}
_REINSTALL = "run `make test` or `make course` from the repository root, which install it into .venv"


class _NotInstalled(Exception):
    pass


def requirements() -> tuple[SpecifierSet, list[Requirement]]:
    """The Python versions and the packages this library needs on this platform (extras left
    out), from its installed metadata; _NotInstalled when the library is not installed."""
    try:
        meta = metadata.metadata(DISTRIBUTION)
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        raise _NotInstalled from None
    needed = []
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            needed.append(requirement)
    return SpecifierSet(meta.get("Requires-Python") or ""), needed


def label(requirement: Requirement) -> str:
    name = canonicalize_name(requirement.name)
    return LABELS.get(name, requirement.name)


def package_versions() -> dict[str, str | None]:
    """Python's version and the installed version of each required package (None when
    missing), by label."""
    found: dict[str, str | None] = {"Python": platform.python_version()}
    try:
        _, needed = requirements()
    except _NotInstalled:
        return found
    for requirement in needed:
        try:
            found[label(requirement)] = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            found[label(requirement)] = None
    return found


def _problem(requirement: Requirement, have: str | None) -> str | None:
    name = label(requirement)
    if have is None:
        return f"{name} is missing: {_REINSTALL}"
    try:
        version = Version(have)
    except InvalidVersion:
        return f"{name} {have} has a version number that cannot be read: {_REINSTALL}"
    if requirement.specifier.contains(version, prereleases=True):
        return None
    lower = [s for s in requirement.specifier if s.operator in (">=", ">", "==", "~=")]
    if any(not s.contains(version, prereleases=True) for s in lower):
        minimum = " and ".join(f"{s.operator}{s.version}" for s in lower)
        return f"{name} {have} is too old: need {minimum} (delete .venv and run `make test` again)"
    return (f"{name} {have} is not supported: need {requirement.specifier} (delete .venv and run "
            f"`make test` again)")


def check_environment() -> list[str]:
    """Problems with the environment, each with what to do; empty when all is well."""
    try:
        python, needed = requirements()
    except _NotInstalled:
        return [f"the {DISTRIBUTION} package itself is not installed: {_REINSTALL}"]
    problems = []
    if not python.contains(platform.python_version(), prereleases=True):
        problems.append(f"Python {platform.python_version()} is not supported: the course needs "
                        f"Python {python}")
    versions = package_versions()
    for requirement in needed:
        found = _problem(requirement, versions.get(label(requirement)))
        if found:
            problems.append(found)
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for name, version in package_versions().items():
        print(f"{name:<16} {version or 'MISSING'}")
    problems = check_environment()
    if problems:
        print("\nProblems:", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    print("\nEverything the course needs is installed.")
    return 0
