"""``atomicvad check``: are the packages the course needs installed, and recent enough?"""
from __future__ import annotations

import argparse
import platform
import re
import sys
from importlib import metadata

# (distribution names to try, import label, minimum version)
REQUIREMENTS = [
    (("tensorflow-cpu", "tensorflow"), "TensorFlow", "2.16"),
    (("keras",), "Keras", "3.10"),
    (("librosa",), "librosa", "0.10"),
    (("soundfile",), "soundfile", "0.12"),
    (("papermill",), "papermill", "2.5"),
    (("jupyterlab",), "JupyterLab", "4.0"),
    (("ipywidgets",), "ipywidgets", "8.0"),
    (("scikit-learn",), "scikit-learn", "1.3"),
]
MIN_PYTHON = (3, 10)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = re.match(r"\d*", piece).group(0)
        if not digits:
            break
        parts.append(int(digits))
        if digits != piece:  # a pre-release tag such as "0rc1" ends the number
            break
    return tuple(parts)


def package_versions() -> dict[str, str | None]:
    """Installed version of each required package (None when missing), plus Python's."""
    found: dict[str, str | None] = {"Python": platform.python_version()}
    for dists, label, _ in REQUIREMENTS:
        version = None
        for dist in dists:
            try:
                version = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
        found[label] = version
    return found


def check_environment() -> list[str]:
    """Problems with the environment, each with what to do; empty when all is well."""
    problems = []
    if sys.version_info[:2] < MIN_PYTHON:
        problems.append(f"Python {platform.python_version()} is too old: the course needs "
                        f"{'.'.join(map(str, MIN_PYTHON))} or newer")
    versions = package_versions()
    for _, label, minimum in REQUIREMENTS:
        have = versions[label]
        if have is None:
            problems.append(f"{label} is missing: run `make test` or `make course` from the "
                            f"repository root, which install it into .venv")
        elif _version_tuple(have) < _version_tuple(minimum):
            problems.append(f"{label} {have} is too old: need {minimum} or newer "
                            f"(delete .venv and run `make test` again)")
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for label, version in package_versions().items():
        print(f"{label:<13} {version or 'MISSING'}")
    problems = check_environment()
    if problems:
        print("\nProblems:", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    print("\nEverything the course needs is installed.")
    return 0
