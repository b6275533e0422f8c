"""Files: checks of the places a command writes to, reading JSON, and writing atomically.

Every command that writes calls ``check_output_dir`` (or ``check_output_file``) on its ``--out``
first, so a path that is a file, lies under a file or cannot be written stops it in a second,
with one line that names the path and what to do, instead of failing after minutes of work.
Permissions alone do not tell (root passes them; a read-only disk or a special file system like
/proc does not), so the check also creates a temporary file in the nearest existing folder and
removes it again: it leaves nothing behind, and never creates or removes a folder (parallel folds
check the same run folder).

Every file the library must never leave half-written (manifests, run records, checkpoints, training
state, the decoded-audio cache) goes through :func:`atomic_path`: written under a temporary name
beside its target and renamed over it, so a killed process leaves the old file or the new one.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class OutputError(ValueError):
    """An output location cannot be used; the message names it and what to do."""


def _nearest_existing(path: Path) -> Path:
    for folder in (path, *path.parents):
        if os.path.lexists(folder):
            return folder
    return Path(path.anchor or ".")


def _writable(folder: Path, what: str, path: Path) -> None:
    inside = "" if folder == path else f" (it would be created in {folder})"
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path} is not writable{inside}: permission denied or a "
                          f"read-only disk; choose another place, or fix the permissions")
    try:  # a temporary file, removed at once (unique names: parallel checks do not collide)
        handle, probe = tempfile.mkstemp(prefix=".atomicvad-write-check-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{what} {path} is not writable{inside} ({err.strerror or err}): "
                          f"choose another place, or fix the permissions") from None


def check_output_dir(path, what: str = "--out") -> Path:
    """``path`` as a Path when it is a writable folder or can be created as one; OutputError
    otherwise (a file, a folder under a file, no write permission). Leaves nothing behind."""
    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} is a file, not a folder: give a folder path (it is "
                          f"created when missing), or move the file away")
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise OutputError(f"{what} {path} cannot be created: {existing} is a file, not a "
                          f"folder; give a path under a folder")
    _writable(existing, what, path)
    return path


def check_output_file(path, what: str = "--out") -> Path:
    """``path`` as a Path when a file can be written there (a missing parent folder can be
    created); OutputError when it is a folder or its folder cannot be used. Leaves nothing
    behind."""
    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder: give a file name (e.g. "
                          f"{path / 'aggregate.csv'})")
    check_output_dir(path.parent, f"{what} {path}: its folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{what} {path} is not writable: permission denied; choose another "
                          f"file, or fix the permissions")
    return path


def read_json(path, what: str = "") -> object:
    """The JSON in ``path``; a ValueError naming the file, where it breaks and what to do when
    it is truncated or not JSON (``what`` is appended to that message)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        empty = "is empty" if not err.doc.strip() else \
            f"is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
        raise ValueError(f"{path} {empty}: the file is truncated or damaged"
                         f"{'; ' + what if what else ''}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file: the file is damaged"
                         f"{'; ' + what if what else ''}") from None


@contextmanager
def atomic_path(path, directory: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to (a folder with ``directory``). When the block
    ends it is renamed over ``path``; when the block fails it is removed. Its name ends with
    ``path``'s name, so writers that insist on a suffix (``.keras``, ``.weights.h5``) accept it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", suffix=f"-{path.name}", dir=path.parent))
    else:  # a unique name the writer creates, with the usual permissions (mkstemp's are 0600)
        tmp = path.with_name(f".partial-{os.getpid()}-{secrets.token_hex(4)}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path, mode: str = "w", **kwargs):
    """``open(path, mode)`` through :func:`atomic_path`: readers never see a half-written file."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def write_json_atomic(path, data) -> Path:
    """``data`` as indented JSON (NaN refused), written atomically."""
    with atomic_open(path) as handle:
        json.dump(data, handle, indent=2, allow_nan=False)
        handle.write("\n")
    return Path(path)
