"""Config: paper defaults, YAML/JSON round trips, and errors that name the key."""
from __future__ import annotations

import json

import pytest

from atomicvad_lib import PAPER_SEEDS, Config, ConfigError


def test_defaults_are_the_papers():
    c = Config()
    assert (c.sample_rate, c.window_seconds, c.window_samples) == (16000, 0.63, 10080)
    assert (c.n_fft, c.hop_length, c.win_length, c.window) == (512, 160, 400, "hamming")
    assert (c.n_mels, c.n_mfcc, c.n_frames) == (64, 64, 64)
    assert (c.freq_masks, c.freq_mask_param, c.time_masks, c.time_mask_param) == (2, 15, 2, 25)
    assert (c.cutout_masks, c.cutout_time, c.cutout_freq) == (5, 25, 15)
    assert (c.block1_depth_multiplier, c.block1_kernel, c.block1_pool, c.block1_filters) == (3, 7, 5, (8, 2))
    assert (c.block2_depth_multiplier, c.block2_kernel, c.block2_pool, c.block2_filters) == (1, 3, 7, (8, 2))
    assert (c.dropout, c.normalization, c.activation, c.n_classes) == (0.2, "layer", "ggcu", 2)
    assert (c.batch_size, c.epochs, c.learning_rate, c.patience) == (256, 150, 1e-3, 20)
    assert (c.time_shift_ms, c.time_shift_prob) == (5.0, 0.8)
    assert (c.noise_db_min, c.noise_db_max, c.noise_prob) == (-90.0, -46.0, 0.8)
    assert c.seeds == PAPER_SEEDS == (43185, 86648, 92813, 89816, 69375, 47845, 10357, 37555,
                                      79511, 78417)


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_round_trip(tmp_path, suffix):
    c = Config(activation="gelu", epochs=3, block2_filters=(6, 2), seeds=(1, 2))
    path = c.save(tmp_path / f"run{suffix}")
    assert Config.load(path) == c
    assert Config.load(path).block2_filters == (6, 2)


def test_replace_validates():
    assert Config().replace(epochs=5).epochs == 5
    with pytest.raises(ConfigError, match="'epochs'"):
        Config().replace(epochs=0)


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epochs": 3, "learnig_rate": 0.1}))
    with pytest.raises(ConfigError, match="learnig_rate"):
        Config.load(path)


@pytest.mark.parametrize("key, value", [
    ("dropout", 1.5), ("batch_size", 0), ("n_mfcc", 80), ("activation", "tanh"),
    ("time_mask_param", 100), ("noise_db_max", 3.0), ("window", "kaiser"), ("seeds", ()),
    ("block2_filters", (8, 3)), ("cache", "ssd"), ("fmax", 9000.0),
])
def test_out_of_range_value_names_the_key(key, value):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        Config(**{key: value})


def test_broken_files_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Config.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        Config.load(bad)
    listy = tmp_path / "list.json"
    listy.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping"):
        Config.load(listy)


def test_recipes_layer_over_the_paper_defaults():
    from atomicvad_lib.config import RECIPES
    assert Config.for_recipe("paper") == Config()
    course = Config.for_recipe("course", epochs=7)
    assert course.epochs == 7
    for key, value in RECIPES["course"].items():
        assert getattr(course, key) == value
    assert course.n_mfcc == Config().n_mfcc  # the architecture is untouched
    with pytest.raises(ConfigError, match="'fast'"):
        Config.for_recipe("fast")


def test_paper_seeds_train_their_paper_fold():
    from atomicvad_lib.config import fold_for_seed

    assert fold_for_seed(43185) == 0 and fold_for_seed(78417, position=0) == 9
    assert fold_for_seed(7, position=2) == 12
