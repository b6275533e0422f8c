"""Parameter table, MACs, depthwise comparison and receptive field of the AtomicVAD model."""
from __future__ import annotations

import keras
import pytest

from atomicvad_lib import Config, build_model
from atomicvad_lib import model_stats as ms


@pytest.fixture(scope="module")
def model():
    return build_model(Config(), seed=1)


def test_layer_table_adds_up_to_298(model):
    table = ms.layer_table(model)
    assert table["parameters"].sum() == 298 == model.count_params()
    assert table["cumulative"].iloc[-1] == 298
    assert table.loc["block1_depthwise", "output shape"] == (64, 64, 3)


def test_macs_match_a_hand_count(model):
    # depthwise 7x7 on 64x64, 1 channel x 3; 1x1 convs on 13x13; depthwise 3x3 on 13x13x2; ...
    expected = {"block1_depthwise": 64 * 64 * 3 * 49, "block1_expand": 13 * 13 * 3 * 8,
                "block1_project": 13 * 13 * 8 * 2, "block2_depthwise": 13 * 13 * 2 * 9,
                "block2_expand": 2 * 2 * 2 * 8, "block2_project": 2 * 2 * 8 * 2,
                "classifier": 8 * 2}
    table = ms.macs_table(model)
    assert table["MACs"].to_dict() == expected
    assert ms.count_macs(model) == sum(expected.values()) == 612058
    assert table["share"].sum() == pytest.approx(1.0)


def test_macs_count_a_standard_conv_and_groups():
    inputs = keras.Input((10, 12, 4))
    x = keras.layers.Conv2D(6, 3, padding="same")(inputs)
    y = keras.layers.Conv2D(6, 3, padding="valid", groups=2)(x)
    model = keras.Model(inputs, y)
    assert ms.count_macs(model) == 10 * 12 * 6 * 9 * 4 + 8 * 10 * 6 * 9 * 6 // 2


def test_conv_comparison_against_keras_parameter_counts():
    h, w, cin, cout, k = 13, 13, 8, 16, 3
    table = ms.conv_comparison(h, w, cin, cout, k)
    standard = keras.Sequential([keras.Input((h, w, cin)), keras.layers.Conv2D(cout, k, padding="same")])
    separable = keras.Sequential([keras.Input((h, w, cin)),
                                  keras.layers.DepthwiseConv2D(k, padding="same"),
                                  keras.layers.Conv2D(cout, 1)])
    assert table.loc["standard conv", "parameters"] == standard.count_params()
    assert table.loc["depthwise separable", "parameters"] == separable.count_params()
    assert table.loc["standard conv", "MACs"] == ms.count_macs(standard)
    assert table.loc["depthwise separable", "MACs"] == ms.count_macs(separable)


def test_receptive_field_agrees_with_valid_padding_shapes(model):
    table = ms.receptive_field(model)
    assert table.loc["block1_depthwise", "frames"] == 7
    assert table.loc["block1_pool", "frames"] == 11
    assert table.loc["block2_depthwise", "frames"] == 21
    assert table.loc["block2_pool", "frames"] == 51
    assert table.loc["skip_pool", "frames"] == 41
    assert table.loc["skip_add", "frames"] == 51
    assert table.loc["flatten", "frames"] == Config().n_frames
    # independent check: an unpadded chain of the same kernels maps exactly 51 inputs to 1 output
    def chain(size):
        return keras.Sequential([keras.Input((size, size, 1)), keras.layers.Conv2D(1, 7),
                                 keras.layers.MaxPooling2D(5), keras.layers.Conv2D(1, 3),
                                 keras.layers.MaxPooling2D(7)]).output_shape[1]
    assert chain(51) == 1
    with pytest.raises(ValueError):  # one input fewer leaves nothing for the last pool
        chain(50)
    assert table.loc["block2_pool", "audio span (ms)"] == pytest.approx(
        (50 * 160 + 400) / 16.0)


def test_frontend_estimate_adds_up():
    table = ms.frontend_macs(Config())
    assert table.loc["mel filterbank", "MACs"] == 64 * 257 * 64
    assert table.loc["DCT", "MACs"] == 64 * 64 * 64
    assert table["share"].sum() == pytest.approx(1.0)
