"""`atomicvad prepare` on small fake trees of each corpus layout: counts, splits, reruns."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from atomicvad_lib.cli import main
from atomicvad_lib.manifest import SPLITS, read_manifest, split_manifests, validate_manifests
from atomicvad_lib.prepare import (PrepareError, assign_splits, prepare, window_offsets)


def _wav(path: Path, seconds: float, rate: int = 16000, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.1 * np.random.default_rng(seed).normal(size=int(round(seconds * rate)))
    sf.write(path, x.astype(np.float32), rate, subtype="PCM_16")
    return path


def _entries(out: Path):
    return {(split, label): read_manifest(path)
            for split in SPLITS for label, path in split_manifests(out, split).items()}


def _counts(out: Path):
    return {key: len(entries) for key, entries in _entries(out).items()}


def _manifest_bytes(out: Path):
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.json"))}


@pytest.fixture
def speech_commands_tree(tmp_path):
    """4 speakers x 3 words of 1 s clips; speaker C in validation_list, D in testing_list; one
    0.8 s clip (centred window) and one 0.5 s clip (too short); three 3 s noise files."""
    root = tmp_path / "speech_commands_v0.02"
    for w, word in enumerate(("yes", "no", "up")):
        for s, speaker in enumerate(("aaaa1111", "bbbb2222", "cccc3333", "dddd4444")):
            _wav(root / word / f"{speaker}_nohash_0.wav", 1.0, seed=10 * w + s)
    _wav(root / "up" / "aaaa1111_nohash_1.wav", 0.8)
    _wav(root / "up" / "bbbb2222_nohash_1.wav", 0.5)
    (root / "validation_list.txt").write_text("".join(f"{w}/cccc3333_nohash_0.wav\n"
                                                      for w in ("yes", "no", "up")))
    (root / "testing_list.txt").write_text("".join(f"{w}/dddd4444_nohash_0.wav\n"
                                                   for w in ("yes", "no", "up")))
    for i, name in enumerate(("white_noise.wav", "running_tap.wav", "dishes.wav")):
        _wav(root / "_background_noise_" / name, 3.0, seed=100 + i)
    (root / "_background_noise_" / "README.md").write_text("not audio")
    return root


def test_window_offsets():
    assert window_offsets(1.0, 0.63, 0.63, start=0.2) == [0.2]
    assert len(window_offsets(1.0, 0.63, 0.01, start=0.2)) == 18  # 0.20 ... 0.37
    assert window_offsets(1.26, 0.63, 0.63) == [0.0, 0.63]
    assert window_offsets(3.0, 0.63, 0.15)[-1] == 2.25 and len(window_offsets(3.0, 0.63, 0.15)) == 16
    assert window_offsets(0.8, 0.63, 0.63, start=0.2) == []
    assert window_offsets(0.8, 0.63, 0.63, start=0.2, centre_fallback=True) == [0.085]
    assert window_offsets(0.5, 0.63, 0.63, centre_fallback=True) == []
    assert window_offsets(10.0, 0.63, 0.5, start=2.0, stop=3.5) == [2.0, 2.5]


def test_assign_splits_is_deterministic_and_proportional():
    groups = [f"speaker{i}" for i in range(20)]
    splits = assign_splits(groups, (0.8, 0.1, 0.1), seed=3, salt="x")
    assert assign_splits(reversed(groups), (0.8, 0.1, 0.1), seed=3, salt="x") == splits
    assert sorted(splits.values()).count("training") == 16
    assert list(splits.values()).count("validation") == 2
    assert assign_splits(groups, (0.8, 0.1, 0.1), seed=4, salt="x") != splits
    assert sorted(assign_splits(["a", "b", "c"]).values()) == ["testing", "training", "validation"]
    assert set(assign_splits(["a", "b"]).values()) == {"training"}


def test_speech_commands_honours_its_lists(speech_commands_tree, tmp_path):
    out = tmp_path / "data"
    result = prepare(out, speech_commands=speech_commands_tree, progress=False)
    # available: speech 1 window per 1 s clip (at 0.2 s) in training/validation, 18 in testing,
    # plus the 0.8 s clip's centred window; noise 16 windows per 3 s file, 238 in testing
    assert result.available == {
        ("training", "speech"): 7, ("training", "background"): 16,
        ("validation", "speech"): 3, ("validation", "background"): 16,
        ("testing", "speech"): 54, ("testing", "background"): 238}
    assert result.too_short == 1 and result.unreadable == []
    assert _counts(out) == {("training", "speech"): 7, ("training", "background"): 7,
                            ("validation", "speech"): 3, ("validation", "background"): 3,
                            ("testing", "speech"): 54, ("testing", "background"): 54}
    entries = _entries(out)
    speakers = {split: {e.audio_filepath.name.split("_nohash_")[0]
                        for e in entries[split, "speech"]} for split in SPLITS}
    assert speakers == {"training": {"aaaa1111", "bbbb2222"}, "validation": {"cccc3333"},
                        "testing": {"dddd4444"}}
    noise_files = {split: {e.audio_filepath.name for e in entries[split, "background"]}
                   for split in SPLITS}
    assert all(len(files) == 1 for files in noise_files.values())
    assert len(set.union(*noise_files.values())) == 3  # each noise file in exactly one split
    centred = [e for e in entries["training", "speech"] if e.audio_filepath.name ==
               "aaaa1111_nohash_1.wav"]
    assert [(e.offset, e.duration) for e in centred] == [(0.085, 0.63)]
    assert all(e.extra["source"] == "speech_commands" for e in entries["training", "speech"])


def test_reruns_are_identical_and_free_of_duplicates(speech_commands_tree, tmp_path):
    out = tmp_path / "data"
    prepare(out, speech_commands=speech_commands_tree, progress=False)
    first = _manifest_bytes(out)
    prepare(out, speech_commands=speech_commands_tree, progress=False)
    assert _manifest_bytes(out) == first and len(first) == 6
    all_rows = [(e.audio_filepath, e.offset) for es in _entries(out).values() for e in es]
    assert len(all_rows) == len(set(all_rows))
    prepare(tmp_path / "other", speech_commands=speech_commands_tree, seed=1, progress=False)
    other = _manifest_bytes(tmp_path / "other")
    # the rebalanced background draw depends on the seed; the kept-whole speech does not
    assert other["balanced_background_testing_manifest.json"] != \
        first["balanced_background_testing_manifest.json"]
    assert other["balanced_speech_training_manifest.json"] == \
        first["balanced_speech_training_manifest.json"]


@pytest.fixture
def librispeech_and_freesound_trees(tmp_path):
    libri = tmp_path / "LibriSpeech" / "train-clean-100"
    for s in range(10):
        speaker = str(100 + s)
        _wav(libri / speaker / "7" / f"{speaker}-7-0000.flac", 2.0, seed=s)
    freesound = tmp_path / "freesound"
    for i in range(10):
        _wav(freesound / f"category{i % 3}" / "deeper" / f"sound{i}.wav", 1.5, seed=50 + i)
    return libri.parent, freesound


def test_librispeech_split_by_speaker_with_freesound_background(librispeech_and_freesound_trees,
                                                                  tmp_path):
    libri, freesound = librispeech_and_freesound_trees
    out = tmp_path / "data"
    result = prepare(out, librispeech=libri, freesound=[freesound], progress=False)
    # speakers and files split 8/1/1; 2 s utterance: 3 windows (138 at 0.01 s); 1.5 s sound:
    # 6 windows (88 at 0.01 s)
    assert result.available == {
        ("training", "speech"): 24, ("training", "background"): 48,
        ("validation", "speech"): 3, ("validation", "background"): 6,
        ("testing", "speech"): 138, ("testing", "background"): 88}
    assert result.selected == {
        ("training", "speech"): 24, ("training", "background"): 24,
        ("validation", "speech"): 3, ("validation", "background"): 3,
        ("testing", "speech"): 88, ("testing", "background"): 88}
    entries = _entries(out)
    speakers = {split: {e.audio_filepath.parent.parent.name for e in entries[split, "speech"]}
                for split in SPLITS}
    assert [len(speakers[s]) for s in SPLITS] == [8, 1, 1]
    assert not (speakers["training"] & speakers["validation"]) and \
        not (speakers["training"] & speakers["testing"]) and \
        not (speakers["validation"] & speakers["testing"])
    checked, problems = validate_manifests(sorted(out.glob("*.json")), progress=False)
    assert checked == sum(result.selected.values()) and problems == []


def test_fixed_counts_cap_at_what_is_available(librispeech_and_freesound_trees, tmp_path):
    libri, freesound = librispeech_and_freesound_trees
    out = tmp_path / "data"
    code = main(["prepare", "--out", str(out), "--librispeech", str(libri), "--freesound",
                 str(freesound), "--speech-count", "10", "--background-count", "5,2,100",
                 "--no-progress"])
    assert code == 0
    assert _counts(out) == {("training", "speech"): 10, ("training", "background"): 5,
                            ("validation", "speech"): 3, ("validation", "background"): 2,
                            ("testing", "speech"): 10, ("testing", "background"): 88}


def test_musan_music_and_noise_are_background(tmp_path):
    musan = tmp_path / "musan"
    for i in range(2):
        _wav(musan / "music" / "fma" / f"music-{i}.wav", 1.26, rate=8000, seed=i)
    for category in ("noise", "speech"):
        for i in range(3):
            _wav(musan / category / "sub" / f"{category}-{i}.flac", 1.26, rate=8000, seed=9 + i)
    out = tmp_path / "data"
    result = prepare(out, musan=musan, progress=False)
    # 1.26 s files: speech 2 windows (stride 0.63), background 5 (0.15), 64 in testing (0.01);
    # speech and noise split 1/1/1 by file, the two music files both go to training
    assert result.available == {
        ("training", "speech"): 2, ("training", "background"): 5 + 10,
        ("validation", "speech"): 2, ("validation", "background"): 5,
        ("testing", "speech"): 64, ("testing", "background"): 64}
    entries = _entries(out)
    assert {e.audio_filepath.parent.parent.name for key, es in entries.items()
            if key[1] == "speech" for e in es} == {"speech"}
    assert {e.extra["source"] for e in entries["training", "background"]} <= \
        {"musan_music", "musan_noise"}


def test_ava_speech_makes_the_testing_split(tmp_path, librispeech_and_freesound_trees):
    libri, freesound = librispeech_and_freesound_trees
    ava = tmp_path / "ava"
    _wav(ava / "audio" / "vid1.wav", 10.0, seed=1)
    _wav(ava / "audio" / "vid2.flac", 10.0, seed=2)
    (ava / "ava_speech_labels_v1.csv").write_text(
        "vid1,900.0,902.0,NO_SPEECH\nvid1,902.0,905.0,CLEAN_SPEECH\n"
        "vid2,900,901,SPEECH_WITH_MUSIC\nvid3,900,905,NO_SPEECH\n")
    out = tmp_path / "data"
    result = prepare(out, librispeech=libri, freesound=[freesound], ava=ava, ava_offset=900.0,
                     test_stride=0.1, progress=False)
    # 0.1 s stride: 2 s -> 14 windows, 3 s -> 24, 1 s -> 4; vid3 has no audio
    assert result.available["testing", "background"] == 14
    assert result.available["testing", "speech"] == 28
    assert result.available["training", "speech"] == 24  # the other corpora still train
    entries = _entries(out)
    assert {e.extra["source"] for key, es in entries.items() if key[0] == "testing"
            for e in es} == {"ava_speech"}
    speech = entries["testing", "speech"]
    assert {e.source_label for e in speech} <= {"CLEAN_SPEECH", "SPEECH_WITH_MUSIC"}
    assert all(e.label == "speech" for e in speech)
    clean = sorted(e.offset for e in speech if e.source_label == "CLEAN_SPEECH")
    assert clean[0] >= 2.0 and clean[-1] + 0.63 <= 5.0 + 1e-9
    assert {e.source_label for e in entries["testing", "background"]} == {"NO_SPEECH"}


def test_bad_inputs_give_clear_errors(tmp_path, capsys):
    with pytest.raises(PrepareError, match="no audio found"):
        prepare(tmp_path / "out", progress=False)
    with pytest.raises(PrepareError, match="folder does not exist"):
        prepare(tmp_path / "out", librispeech=tmp_path / "nope", progress=False)
    ava = tmp_path / "ava"
    _wav(ava / "vid1.wav", 3.0)
    (ava / "labels.csv").write_text("vid1,0,1,NO_SPEECH\nvid1,2,1.5,CLEAN_SPEECH\n")
    with pytest.raises(PrepareError, match=r"labels.csv:2: .*start must be >= 0 and below end"):
        prepare(tmp_path / "out", ava=ava, progress=False)
    (ava / "labels.csv").write_text("vid1,0,1,LAUGHTER\n")
    with pytest.raises(PrepareError, match=r"labels.csv:1: .*unknown label"):
        prepare(tmp_path / "out", ava=ava, progress=False)
    only_speech = tmp_path / "libri"
    _wav(only_speech / "1" / "2" / "1-2-0.flac", 1.0)
    assert main(["prepare", "--out", str(tmp_path / "out"), "--librispeech", str(only_speech),
                 "--no-progress"]) == 2
    assert "atomicvad prepare: no background windows" in capsys.readouterr().err


def test_unreadable_files_are_listed_not_used(tmp_path, capsys):
    freesound = tmp_path / "fs"
    for i in range(3):
        _wav(freesound / f"ok{i}.wav", 1.5, seed=i)
    (freesound / "broken.wav").write_bytes(b"RIFFnonsense" * 10)
    libri = tmp_path / "libri"
    for s in range(3):
        _wav(libri / str(s) / "1" / f"{s}-1-0.flac", 2.0, seed=s)
    assert main(["prepare", "--out", str(tmp_path / "out"), "--librispeech", str(libri),
                 "--freesound", str(freesound), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "skipped unreadable file" in out and "broken.wav" in out
    assert "training" in out and "background" in out  # the summary table
    rows = [e.audio_filepath.name for es in _entries(tmp_path / "out").values() for e in es]
    assert "broken.wav" not in rows
