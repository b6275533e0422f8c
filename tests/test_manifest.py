"""Manifests: parsing, path resolution, label aliases, line-numbered errors, round trips."""
import json
import os
import shutil

import pytest

from atomicvad_lib.manifest import (SPLITS, ManifestEntry, ManifestError, normalise_label,
                                    read_manifest, scan_manifest, split_manifests, write_manifest)


def _write_lines(path, objects):
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects))
    return path


def test_reads_entries_resolves_relative_paths_and_keeps_extras(tmp_path):
    (tmp_path / "audio").mkdir()
    manifest = _write_lines(tmp_path / "m.json", [
        {"audio_filepath": "audio/a.wav", "duration": 0.63, "label": "speech", "offset": 1.5,
         "text": "hello", "voice": "alice", "source": "tts"},
        {"audio_filepath": "/elsewhere/b.flac", "duration": 2, "label": "NO_SPEECH"},
        "",  # blank lines are skipped
        {"audio_filepath": "audio/../c.wav", "duration": 1.0, "label": "SPEECH_WITH_MUSIC",
         "offset": 0},
    ])
    a, b, c = read_manifest(manifest)
    assert a.audio_filepath == tmp_path / "audio" / "a.wav"
    assert (a.duration, a.offset, a.label, a.source_label, a.text) == (0.63, 1.5, "speech",
                                                                       "speech", "hello")
    assert a.extra == {"voice": "alice", "source": "tts"}
    assert (a.manifest, a.line) == (manifest, 1)
    assert b.audio_filepath.as_posix() == "/elsewhere/b.flac"
    assert (b.label, b.source_label, b.offset, b.text) == ("background", "NO_SPEECH", 0.0, None)
    assert c.audio_filepath == tmp_path / "c.wav" and c.line == 4 and c.label == "speech"


def test_moving_the_data_set_moves_the_paths(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    _write_lines(old / "m.json", [{"audio_filepath": "x.wav", "duration": 1, "label": "speech"}])
    shutil.move(old, tmp_path / "new")
    (entry,) = read_manifest(tmp_path / "new" / "m.json")
    assert entry.audio_filepath == tmp_path / "new" / "x.wav"


@pytest.mark.parametrize("label, expected", [
    ("speech", "speech"), ("background", "background"), ("NO_SPEECH", "background"),
    ("CLEAN_SPEECH", "speech"), ("SPEECH_WITH_MUSIC", "speech"), ("SPEECH_WITH_NOISE", "speech")])
def test_label_aliases(label, expected):
    assert normalise_label(label) == expected
    entry = ManifestEntry("a.wav", 1.0, 0.0, label)
    assert (entry.label, entry.source_label) == (expected, label)


def test_entry_rejects_disagreeing_labels():
    with pytest.raises(ValueError):
        ManifestEntry("a.wav", 1.0, 0.0, "speech", source_label="NO_SPEECH")
    with pytest.raises(ValueError, match="unknown label"):
        ManifestEntry("a.wav", 1.0, 0.0, "music")


@pytest.mark.parametrize("line, message", [
    ('{"audio_filepath": "a.wav", "duration": 1.0, "label": "speech"', "malformed JSON"),
    ('[1, 2]', "expected a JSON object"),
    ('{"audio_filepath": "a.wav", "label": "speech"}', "missing required key(s) duration"),
    ('{"duration": 1, "label": "speech"}', "missing required key(s) audio_filepath"),
    ('{"audio_filepath": "a.wav", "duration": 1.0, "label": "music"}', "unknown label 'music'"),
    ('{"audio_filepath": "a.wav", "duration": "1.0", "label": "speech"}', "'duration' must be"),
    ('{"audio_filepath": "a.wav", "duration": 0, "label": "speech"}', "'duration' must be > 0"),
    ('{"audio_filepath": "a.wav", "duration": 1, "label": "speech", "offset": -1}',
     "'offset' must be >= 0"),
    ('{"audio_filepath": "", "duration": 1, "label": "speech"}', "'audio_filepath' must be"),
    ('{"audio_filepath": "a.wav", "duration": 1, "label": "speech", "text": 3}', "'text' must be"),
])
def test_bad_line_names_file_and_line(tmp_path, line, message):
    good = '{"audio_filepath": "a.wav", "duration": 1.0, "label": "speech"}'
    manifest = _write_lines(tmp_path / "bad.json", [good, good, line])
    with pytest.raises(ManifestError) as info:
        read_manifest(manifest)
    text = str(info.value)
    assert f"{manifest}:3:" in text and message in text


def test_scan_reports_every_problem(tmp_path):
    manifest = _write_lines(tmp_path / "m.json", [
        "{not json", {"audio_filepath": "a.wav", "duration": 1, "label": "speech"},
        {"audio_filepath": "a.wav", "label": "cat"}])
    entries, problems = scan_manifest(manifest)
    assert len(entries) == 1
    assert [(p.line, p.message.split(" ")[0]) for p in problems] == [
        (1, "malformed"), (3, "missing"), (3, "unknown")]
    with pytest.raises(ManifestError, match="and 2 more problems"):
        read_manifest(manifest)


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "nope.json")


def test_write_then_read_round_trip_with_relative_paths(tmp_path):
    inside = tmp_path / "data" / "audio" / "a.wav"
    outside = tmp_path / "other" / "b.wav"
    entries = [ManifestEntry(inside, 0.63, 1.26, "speech", text="hi", extra={"voice": "v1"}),
               ManifestEntry(outside, 0.63, 0.0, "NO_SPEECH")]
    path = write_manifest(tmp_path / "data" / "m.json", entries)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"audio_filepath": "audio/a.wav", "duration": 0.63, "label": "speech",
                        "offset": 1.26, "text": "hi", "voice": "v1"}
    assert lines[1]["audio_filepath"] == str(outside) and lines[1]["label"] == "NO_SPEECH"
    back = read_manifest(path)
    assert back == [ManifestEntry(inside, 0.63, 1.26, "speech", "speech", "hi", path, 1),
                    ManifestEntry(outside, 0.63, 0.0, "background", "NO_SPEECH", None, path, 2)]
    assert back[0].extra == {"voice": "v1"}
    assert [p for p in os.listdir(path.parent) if p.endswith(".tmp")] == []


def test_split_manifests(tmp_path):
    assert split_manifests(tmp_path, "validation") == {
        "speech": tmp_path / "balanced_speech_validation_manifest.json",
        "background": tmp_path / "balanced_background_validation_manifest.json"}
    assert SPLITS == ("training", "validation", "testing")
    with pytest.raises(ValueError, match="split must be one of"):
        split_manifests(tmp_path, "train")


# `atomicvad validate` -----------------------------------------------------------------------------
def test_validate_reports_every_problem_in_one_run(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    from atomicvad_lib.cli import main

    sf.write(tmp_path / "one_second.wav", np.zeros(16000, np.float32), 16000)
    sf.write(tmp_path / "stereo.flac", np.zeros((16000, 2), np.float32), 8000)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage" * 3)
    ok = {"audio_filepath": "one_second.wav", "duration": 0.63, "label": "speech", "offset": 0.0}
    manifest = _write_lines(tmp_path / "balanced_speech_training_manifest.json", [
        ok,                                                             # 1 fine
        {**ok, "offset": 0.3},                                          # 2 fine
        "{oops",                                                        # 3 malformed JSON
        {"audio_filepath": "one_second.wav", "label": "speech"},        # 4 missing duration
        {**ok, "label": "laughter", "offset": 0.1},                     # 5 unknown label
        {**ok, "audio_filepath": "missing.wav"},                        # 6 missing file
        {**ok, "audio_filepath": "corrupt.wav"},                        # 7 corrupt file
        {**ok, "offset": 1.2},                                          # 8 offset past the end
        {**ok, "offset": 0.5},                                          # 9 runs far past the end
        {**ok, "label": "NO_SPEECH", "offset": 0.2},                    # 10 wrong class
        {**ok, "offset": 0.3},                                          # 11 duplicate of line 2
        {**ok, "audio_filepath": "stereo.flac", "duration": 1.0},       # 12 fine (1 s at 8 kHz)
        {**ok, "duration": 0.2, "offset": 0.7},                         # 13 shorter than a window
    ])
    code = main(["validate", "--no-progress", str(manifest)])
    out = capsys.readouterr().out
    assert code == 1
    expected = {3: "malformed JSON", 4: "missing required key(s) duration",
                5: "unknown label 'laughter'", 6: "does not exist", 7: "cannot decode",
                8: "beyond the end", 9: "past the end", 10: "label 'NO_SPEECH' in a speech manifest",
                11: "duplicate of balanced_speech_training_manifest.json line 2",
                13: "shorter than a 0.63 s window"}
    problem_lines = [line for line in out.splitlines() if line.startswith(str(manifest))]
    assert len(problem_lines) == len(expected)
    for number, message in expected.items():
        assert any(line.startswith(f"{manifest}:{number}: ") and message in line
                   for line in problem_lines), (number, out)
    assert "checked 13 line(s) in 1 manifest(s): 10 problem(s) on 10 line(s)" in out


def test_validate_passes_a_clean_corpus(tiny_corpus, capsys):
    from atomicvad_lib.cli import main

    manifests = sorted(str(p) for p in tiny_corpus.glob("balanced_*_manifest.json"))
    assert main(["validate", "--no-progress", "--decode", *manifests]) == 0
    assert "checked 36 line(s) in 6 manifest(s): 0 problem(s)" in capsys.readouterr().out


def test_subset_manifests_keeps_a_seeded_subset(tiny_corpus, tmp_path):
    from atomicvad_lib.manifest import read_manifest, split_manifests, subset_manifests

    out = subset_manifests(tiny_corpus, tmp_path / "sub", per_manifest=4, seed=1)
    again = subset_manifests(tiny_corpus, tmp_path / "sub2", per_manifest=4, seed=1)
    for split in ("training", "validation", "testing"):
        for label, path in split_manifests(out, split).items():
            entries = read_manifest(path)
            original = {e.audio_filepath for e in read_manifest(split_manifests(tiny_corpus, split)[label])}
            assert len(entries) == 4 and all(e.label == label for e in entries)
            assert {e.audio_filepath for e in entries} <= original
            assert all(e.audio_filepath.is_file() for e in entries)
            assert [e.audio_filepath for e in entries] == [
                e.audio_filepath for e in read_manifest(split_manifests(again, split)[label])]
