"""Issue 15: every command fails early and clearly. One test (or more) per row of the issue's
table, each running the command or function on tiny inputs in tmp_path and checking the one-line
message and that nothing was written or changed; plus the CLI's error style itself (--debug,
unexpected errors, usage errors) and Ctrl-C.

Only ``test_ctrl_c_during_training_...`` starts a subprocess (it trains a few epochs on the tiny
corpus, then gets SIGINT); everything else runs in-process in well under a second.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO_ROOT, write_tiny_corpus

from atomicvad_lib.cli import main

SR = 16000


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, and every folder (to see new empty ones)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err: str, command: str) -> str:
    """The message of a one-line error in the CLI's style (asserts the style)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"atomicvad {command}: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_tiny_corpus(tmp_path_factory.mktemp("data") / "tiny", per_class=3)


@pytest.fixture
def no_data_loading(monkeypatch):
    """Fail the test if a command starts decoding audio (its checks must come first).

    Every library module is imported first and each one's own name for the loaders is patched:
    a module first imported while only ``pipeline``'s names were patched would keep the stand-in
    for good, and a later test in the same process would fail on it (seen when this file ran
    beside test_tuning.py only)."""
    import atomicvad_lib
    import atomicvad_lib.pipeline as pipeline

    for info in pkgutil.iter_modules(atomicvad_lib.__path__):
        importlib.import_module(f"atomicvad_lib.{info.name}")

    def refuse(*args, **kwargs):
        raise AssertionError("the command loaded data before checking its output")

    real = {pipeline.load_split, pipeline.load_windows}
    for name, module in list(sys.modules.items()):
        if name.startswith("atomicvad_lib"):
            for loader in ("load_split", "load_windows"):
                if getattr(module, loader, None) in real:
                    monkeypatch.setattr(module, loader, refuse)


def test_the_loading_guard_covers_the_modules_commands_call_it_from(no_data_loading):
    from atomicvad_lib import pipeline, training

    for loader in (pipeline.load_split, training.load_split, pipeline.load_windows):
        with pytest.raises(AssertionError, match="loaded data before checking"):
            loader("data_samples", "training")


def _wav(path: Path, seconds: float = 1.0, subtype: str = "PCM_16", value=0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(int(seconds * SR), value, np.float32), SR, subtype=subtype)
    return path


# --out is a file / under a file / not writable ------------------------------------------------------
def test_train_out_is_a_file_stops_before_loading_data(tmp_path, corpus, capsys, no_data_loading):
    out = tmp_path / "afile"
    out.write_text("keep me")
    before = _tree(tmp_path)
    code, _, err = _run(capsys, "train", "--out", out, "--data", corpus, "--no-progress")
    assert code == 2
    assert f"--out {out} is a file, not a folder: give a folder path" in _one_error_line(err, "train")
    assert _tree(tmp_path) == before


def test_out_under_a_file_or_unwritable_is_refused(tmp_path, corpus, capsys, monkeypatch,
                                                   no_data_loading):
    (tmp_path / "afile").write_text("x")
    before = _tree(tmp_path)
    code, _, err = _run(capsys, "train", "--out", tmp_path / "afile" / "run", "--data", corpus)
    assert code == 2
    assert f"cannot be created: {tmp_path / 'afile'} is a file" in _one_error_line(err, "train")

    import atomicvad_lib.files as files  # root ignores permissions: make the folder read-only
    locked = tmp_path / "locked"
    real_access = os.access
    monkeypatch.setattr(files.os, "access",
                        lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    locked.mkdir()
    before = _tree(tmp_path)
    code, _, err = _run(capsys, "train", "--out", locked / "run", "--data", corpus)
    assert code == 2
    assert f"--out {locked / 'run'} is not writable (it would be created in {locked})" in \
        _one_error_line(err, "train")
    assert _tree(tmp_path) == before


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_place_where_nothing_can_be_created_is_refused_before_loading_data(
        corpus, capsys, no_data_loading):
    out = Path("/proc") / "atomicvad-run"  # permissions say yes to root; mkdir still fails
    code, _, err = _run(capsys, "train", "--out", out, "--data", corpus)
    assert code == 2
    assert f"--out {out} is not writable (it would be created in /proc) (" in \
        _one_error_line(err, "train")


def _as_nobody(function, *args) -> str:
    """``function(*args)`` in a forked child that has dropped root's rights (user and group
    65534, "nobody"); returns what it printed to the pipe: "ok" or the error message."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                function(*args)
                message = "ok"
            except Exception as err:  # noqa: BLE001 - reported to the parent
                message = f"{type(err).__name__}: {err}"
            os.write(write_end, message.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    os.waitpid(child, 0)
    return message


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX permissions")
def test_read_only_folder_is_refused_for_real(tmp_path, corpus, capsys):
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            code, _, err = _run(capsys, "train", "--out", locked / "run", "--data", corpus)
        finally:
            locked.chmod(0o700)
        assert code == 2 and "is not writable" in _one_error_line(err, "train")
        assert list(locked.iterdir()) == []
        return
    # root may write anywhere: check as an unprivileged user, in a folder it can reach (under the
    # system's temporary folder, not pytest's root-only one) but not write in
    from atomicvad_lib.files import check_output_dir

    reachable = Path(tempfile.mkdtemp(prefix="atomicvad-test-"))
    try:
        reachable.chmod(0o711)
        locked = reachable / "locked"
        locked.mkdir(mode=0o555)
        message = _as_nobody(check_output_dir, locked / "run")
        assert message.startswith(f"OutputError: --out {locked / 'run'} is not writable"), message
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(reachable)


@pytest.mark.parametrize("command", ["stream", "evaluate", "prepare", "export"])
def test_out_is_a_file_stops_stream_evaluate_prepare_export_first(command, tmp_path, corpus,
                                                                  capsys, no_data_loading):
    out = tmp_path / "results"
    out.write_text("not a folder")
    wav = _wav(tmp_path / "talk.wav")
    model = tmp_path / "missing.keras"  # never reached: the output is checked first
    argv = {"stream": ["stream", wav, "--model", model, "--out", out],
            "evaluate": ["evaluate", model, "--data", corpus, "--out", out],
            "prepare": ["prepare", "--out", out, "--freesound", tmp_path / "nothing"],
            "export": ["export", model, "--out", out, "--data-dir", corpus]}[command]
    before = _tree(tmp_path)
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert f"--out {out} is a file, not a folder" in _one_error_line(err, command)
    assert _tree(tmp_path) == before


def test_library_functions_check_their_output_first(tmp_path, corpus):
    from atomicvad_lib.evaluation import evaluate
    from atomicvad_lib.files import OutputError
    from atomicvad_lib.prepare import prepare
    from atomicvad_lib.training import train_fold

    out = tmp_path / "afile"
    out.write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        train_fold(None, 1, 0, out, corpus, progress=False)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        evaluate(tmp_path / "missing.keras", [], out_dir=out)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        prepare(out, freesound=corpus, progress=False)
    assert out.read_text() == "x"


# Ctrl-C ------------------------------------------------------------------------------------------------
def test_ctrl_c_prints_where_the_run_stands_and_the_resume_command(tmp_path, corpus, capsys,
                                                                   monkeypatch):
    import atomicvad_lib.training as training
    from atomicvad_lib.runs import FoldPaths

    out = tmp_path / "run"
    paths = FoldPaths(out, 0)

    def interrupted_after_two_epochs(*args, **kwargs):
        training.Config(epochs=7).save(paths.config)
        (paths.fold_record).write_text('{"seed": 1, "fold": 0}')
        paths.backup_dir.mkdir(parents=True)
        paths.backup_state.write_text('{"epoch": 2, "weights": "epoch_2.weights.h5"}')
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train_fold", interrupted_after_two_epochs)
    argv = ["train", "--out", str(out), "--data", str(corpus), "--seed", "1", "--no-progress"]
    code, _, err = _run(capsys, *argv)
    assert code == 130
    line = _one_error_line(err, "train")
    assert f"interrupted (Ctrl-C); fold 0 has 2 of 7 epochs done and saved in " \
           f"{paths.backup_dir}" in line
    assert line.endswith(f"resume with: atomicvad train --out {out} --data {corpus} --seed 1 "
                         f"--no-progress")


@pytest.mark.parametrize("files, expected", [
    ({}, "nothing was written to"),
    ({"fold.json": "{}"}, "stopped before its first epoch of 5 finished"),
    ({"state": '{"epoch": 5}'}, "trained all 5 epochs"),
    ({"metrics.json": "{}"}, "had finished"),
])
def test_interrupt_description_of_each_stage(tmp_path, files, expected):
    from atomicvad_lib.runs import FoldPaths
    from atomicvad_lib.training import describe_interrupt

    paths = FoldPaths(tmp_path, 0)
    paths.fold_dir.mkdir(parents=True)
    for name, text in files.items():
        target = paths.backup_state if name == "state" else paths.fold_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    args = argparse.Namespace(out=str(tmp_path), fold=0, epochs=5)
    assert expected in describe_interrupt(args)


def test_ctrl_c_in_another_command_says_how_to_rerun(tmp_path, capsys, monkeypatch):
    import atomicvad_lib.manifest as manifest

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(manifest, "validate_manifests", interrupted)
    code, _, err = _run(capsys, "validate", "--no-progress", tmp_path / "m.json")
    assert code == 130
    assert _one_error_line(err, "validate") == (f"atomicvad validate: interrupted (Ctrl-C); rerun "
                                                f"with: atomicvad validate --no-progress "
                                                f"{tmp_path / 'm.json'}")


def test_ctrl_c_during_training_exits_130_with_the_resume_command(tmp_path, corpus):
    """The real thing: SIGINT to `atomicvad train` once an epoch is saved."""
    from atomicvad_lib import Config

    config = tmp_path / "long.yaml"
    Config(data_dir=str(corpus), epochs=500, patience=500, batch_size=4).save(config)
    out = tmp_path / "run"
    state = out / "backups" / "fold_0" / "state.json"
    command = [sys.executable, "-m", "atomicvad_lib.cli", "train", "--out", str(out), "--config",
               str(config), "--seed", "3", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None and not state.is_file():
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=150)  # 60 s ran out on a loaded 2-core machine
    finally:
        if process.poll() is None:
            process.kill()
    err = err.decode()
    assert process.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    line = [x for x in err.splitlines() if x.startswith("atomicvad train: ")]
    assert len(line) == 1, err[-2000:]
    assert "interrupted (Ctrl-C); fold 0 has " in line[0] and " of 500 epochs done and saved" in line[0]
    assert line[0].endswith(f"resume with: atomicvad {' '.join(command[3:])}")
    assert state.is_file() and not (out / "checkpoints" / "fold_0" / "metrics.json").exists()


# a resume on changed data --------------------------------------------------------------------------
@pytest.fixture
def started_fold(tmp_path):
    """A fold folder as `atomicvad train` leaves it when killed after an epoch (no training: the
    files are written with the functions train_fold uses), on its own copy of a tiny corpus."""
    from atomicvad_lib import Config
    from atomicvad_lib.pipeline import load_split
    from atomicvad_lib.runs import FoldPaths
    from atomicvad_lib.training import data_record

    corpus = write_tiny_corpus(tmp_path / "data", per_class=3)
    config = Config(data_dir=str(corpus), epochs=4, batch_size=4)
    paths = FoldPaths(tmp_path / "run", 0)
    splits = {s: load_split(corpus, s, config, progress=False)
              for s in ("training", "validation", "testing")}
    config.save(paths.config)
    paths.fold_record.write_text(json.dumps({"seed": 5, "fold": 0,
                                             "data": data_record(splits, config)}))
    paths.backup_dir.mkdir(parents=True)
    paths.backup_state.write_text('{"epoch": 1, "weights": "epoch_1.weights.h5", '
                                  '"seed_states": []}')
    return config, paths


def test_resume_with_an_edited_manifest_is_refused_naming_it(started_fold, capsys,
                                                             no_data_loading):
    config, paths = started_fold
    manifest = Path(config.data_dir) / "balanced_speech_training_manifest.json"
    manifest.write_text(manifest.read_text().splitlines()[0] + "\n")  # 3 windows -> 1
    before = _tree(paths.run_dir)
    code, _, err = _run(capsys, "train", "--out", paths.run_dir, "--config", paths.config,
                        "--seed", "5", "--no-progress")
    assert code == 2
    line = _one_error_line(err, "train")
    assert f"{paths.fold_dir} was started on other data: {manifest} changed since" in line
    assert "nothing was changed" in line and "balanced_background" not in line
    assert _tree(paths.run_dir) == before


def test_resume_with_changed_audio_is_refused(started_fold):
    from atomicvad_lib.pipeline import clear_cache
    from atomicvad_lib.training import RunConflictError, train_fold

    config, paths = started_fold
    clip = Path(config.data_dir) / "audio" / "validation" / "background" / "background_1.wav"
    _wav(clip, 0.63, value=0.2)  # same length, new samples
    os.utime(clip, ns=(1, 1))
    clear_cache()
    before = _tree(paths.run_dir)
    with pytest.raises(RunConflictError, match=r"started on other audio: files listed by the "
                                               r"validation manifests .* changed"):
        train_fold(config, 5, 0, paths.run_dir, progress=False)
    assert _tree(paths.run_dir) == before


# the smaller rows ----------------------------------------------------------------------------------
def test_predict_speech_on_an_empty_batch_is_empty():
    from atomicvad_lib import Config, build_model, predict_speech

    config = Config()
    out = predict_speech(build_model(config, seed=0), np.zeros((0, config.window_samples)))
    assert out.shape == (0,) and out.dtype == np.float32


def test_aggregate_names_a_truncated_metrics_json_and_writes_nothing(tmp_path, capsys):
    fold = tmp_path / "run" / "checkpoints" / "fold_0"
    fold.mkdir(parents=True)
    (fold / "metrics.json").write_text('{"seed": 1, "test": {"auroc": 0.9')
    before = _tree(tmp_path)
    code, _, err = _run(capsys, "aggregate", tmp_path / "run")
    assert code == 2
    line = _one_error_line(err, "aggregate")
    assert f"{fold / 'metrics.json'} is not valid JSON (" in line and "truncated" in line
    assert "rerun `atomicvad train --out" in line
    assert _tree(tmp_path) == before


def test_aggregate_out_that_is_a_folder_is_refused(tmp_path, capsys):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    code, _, err = _run(capsys, "aggregate", tmp_path / "run", "--out", tmp_path)
    assert code == 2 and "is a folder: give a file name" in _one_error_line(err, "aggregate")


@pytest.mark.parametrize("case", ["missing", "text", "threshold", "hop"])
def test_stream_bad_model_or_setting_is_one_line(case, tmp_path, capsys):
    wav = _wav(tmp_path / "talk.wav")
    (tmp_path / "notes.keras").write_text("not a model")
    model = {"missing": tmp_path / "missing.keras"}.get(case, tmp_path / "notes.keras")
    extra = {"threshold": ["--threshold", "2"], "hop": ["--hop", "0"]}.get(case, [])
    before = _tree(tmp_path)
    code, _, err = _run(capsys, "stream", wav, "--model", model, "--out", tmp_path / "o", *extra)
    assert code == 2
    expected = {"missing": f"--model {model} does not exist: pass a .keras file",
                "text": f"--model {model} is not a model: a .keras file is a zip archive",
                "threshold": "--threshold 2.0: must lie in [0, 1]",
                "hop": "--hop 0.0: must lie in (0, 0.63] s"}[case]
    assert expected in _one_error_line(err, "stream")
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("case", ["missing", "text"])
def test_export_bad_model_is_one_line(case, tmp_path, capsys):
    (tmp_path / "notes.keras").write_text("not a model")
    model = tmp_path / ("missing.keras" if case == "missing" else "notes.keras")
    before = _tree(tmp_path)
    code, _, err = _run(capsys, "export", model, "--out", tmp_path / "o")
    assert code == 2
    expected = {"missing": f"no model at {model}: pass a .keras file",
                "text": f"{model} is not a Keras 3 .keras archive (File is not a zip file)"}[case]
    assert expected in _one_error_line(err, "export")
    assert _tree(tmp_path) == before


def test_config_unknown_key_is_a_config_error_naming_it():
    from atomicvad_lib import Config
    from atomicvad_lib.config import ConfigError

    with pytest.raises(ConfigError, match=r"unknown config key\(s\): unknown_key;"):
        Config(unknown_key=1)
    with pytest.raises(ConfigError, match=r"epoch \(did you mean epochs\?\)"):
        Config(epoch=3)
    assert Config(epochs=3).epochs == 3


@pytest.mark.parametrize("flag, layout", [("--freesound", "audio files (.wav, .flac, .ogg)"),
                                          ("--speech-commands", "<folder>/<word>/*.wav"),
                                          ("--librispeech", "<speaker>/<chapter>/*.flac"),
                                          ("--musan", "music/, noise/ and speech/")])
def test_prepare_empty_corpus_folder_names_it_and_its_layout(flag, layout, tmp_path, capsys):
    empty = tmp_path / "corpus"
    empty.mkdir()
    code, out, err = _run(capsys, "prepare", "--out", tmp_path / "out", flag, empty,
                          "--no-progress")
    assert code == 2 and out == ""
    line = _one_error_line(err, "prepare")
    assert f"{flag} {empty}: no audio found in the folder; expected" in line and layout in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]


@pytest.mark.parametrize("content", [bytes(3000), b"\xff\xfb\x90\x00" + bytes(range(256)) * 8],
                         ids=["zeros", "mpeg-like"])
def test_corrupt_wav_is_refused_cleanly(content, tmp_path, capfd):
    from atomicvad_lib.manifest import validate_manifests

    (tmp_path / "broken.wav").write_bytes(content)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"audio_filepath": "broken.wav", "duration": 0.63,
                                    "label": "speech"}) + "\n")
    checked, problems = validate_manifests([manifest], progress=False)
    assert checked == 1 and len(problems) == 1
    message = str(problems[0])
    assert message.startswith(f"{manifest}:1: ") and "broken.wav" in message
    assert "not a WAV file: it does not start with a RIFF/RIFX/RF64/BW64 header" in message
    assert "does not exist" not in message
    assert "MPEG" not in capfd.readouterr().err  # no decoder noise on the terminal


def test_validate_flags_an_empty_manifest_and_nan_in_float_wavs(tmp_path, capsys):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    _wav(tmp_path / "nan.wav", 1.0, subtype="FLOAT", value=np.nan)
    _wav(tmp_path / "fine.wav", 1.0, subtype="FLOAT")
    floats = tmp_path / "floats.json"
    floats.write_text("".join(json.dumps({"audio_filepath": name, "duration": 0.63,
                                          "label": "speech"}) + "\n"
                              for name in ("nan.wav", "fine.wav")))
    code, out, _ = _run(capsys, "validate", "--no-progress", empty, floats)  # without --decode
    assert code == 1
    assert f"{empty}: manifest holds no entries (the file is empty)" in out
    assert f"{floats}:1: " in out and "NaN or infinite samples" in out
    assert f"{floats}:2:" not in out
    assert "checked 2 line(s) in 2 manifest(s): 2 problem(s)" in out


# the error style itself -------------------------------------------------------------------------------
def test_debug_prints_the_traceback_of_an_expected_error(tmp_path, capsys):
    code, _, err = _run(capsys, "aggregate", tmp_path / "norun", "--debug")
    assert code == 2
    assert "Traceback (most recent call last)" in err and "FileNotFoundError" in err
    assert err.strip().splitlines()[-1].startswith("atomicvad aggregate: ")
    code, _, err = _run(capsys, "--debug", "aggregate", tmp_path / "norun")
    assert code == 2 and "Traceback" in err


def test_an_unexpected_error_keeps_its_traceback(tmp_path, monkeypatch):
    import atomicvad_lib.aggregate as aggregate

    def bug(run_dir):
        raise KeyError("a bug")

    monkeypatch.setattr(aggregate, "load_run", bug)
    with pytest.raises(KeyError, match="a bug"):
        main(["aggregate", str(tmp_path)])


def test_usage_errors_use_the_same_style(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", "x", "--epochs", "many"])
    assert exit_info.value.code == 2
    line = _one_error_line(capsys.readouterr().err, "train")
    assert "argument --epochs: invalid int value: 'many'" in line
    assert line.endswith("(see `atomicvad train --help`)")
