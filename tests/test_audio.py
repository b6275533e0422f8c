"""Audio decoding: formats, resampling, channel mixing, padding rule, clear errors."""
import numpy as np
import pytest
import soundfile as sf

from atomicvad_lib.audio import AudioError, audio_info, load_audio


def _tone(freq, seconds, rate, amplitude=0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_frequency(x, rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)]


@pytest.mark.parametrize("rate", [8000, 44100])
def test_resamples_to_16k_keeping_length_and_pitch(tmp_path, rate):
    path = tmp_path / f"tone_{rate}.wav"
    sf.write(path, _tone(440.0, 1.0, rate), rate, subtype="FLOAT")
    y = load_audio(path)
    assert y.dtype == np.float32 and y.shape == (16000,)
    assert abs(_peak_frequency(y, 16000) - 440.0) <= 1.0  # bin width 1 Hz
    # the tone's level survives resampling (edges aside)
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    segment = load_audio(path, offset=0.25, duration=0.63)
    assert segment.shape == (10080,)
    assert abs(_peak_frequency(segment, 16000) - 440.0) < 16000 / 10080


def test_stereo_becomes_the_channel_mean(tmp_path):
    rng = np.random.default_rng(1)
    stereo = rng.uniform(-0.5, 0.5, size=(16000, 2)).astype(np.float32)
    sf.write(tmp_path / "s.wav", stereo, 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "s.wav"), stereo.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("name, subtype, step", [
    ("a.wav", "PCM_16", 2.0 ** -15), ("a.wav", "PCM_32", 2.0 ** -31), ("a.wav", "FLOAT", 0.0),
    ("a.flac", "PCM_16", 2.0 ** -15), ("a.flac", "PCM_24", 2.0 ** -23)])
def test_integer_float_and_flac_decode_equal_within_quantisation(tmp_path, name, subtype, step):
    x = _tone(300.0, 0.5, 16000, amplitude=0.7)
    sf.write(tmp_path / name, x, 16000, subtype=subtype)
    y = load_audio(tmp_path / name)
    assert y.shape == x.shape
    assert np.max(np.abs(y - x)) <= step + 1e-7


def test_offset_and_duration_cut_the_right_samples(tmp_path):
    x = np.arange(16000, dtype=np.float32) / 16000
    sf.write(tmp_path / "ramp.wav", x, 16000, subtype="FLOAT")
    y = load_audio(tmp_path / "ramp.wav", offset=0.5, duration=0.25)
    np.testing.assert_array_equal(y, x[8000:12000])


def test_small_overrun_is_zero_padded_large_one_is_an_error(tmp_path):
    x = np.full(16000, 0.25, np.float32)
    sf.write(tmp_path / "one_second.wav", x, 16000, subtype="FLOAT")
    # 0.63 s from 0.4 s needs 0.03 s past the end: under 10 % of 0.63 s, padded with zeros
    y = load_audio(tmp_path / "one_second.wav", offset=0.4, duration=0.63)
    assert y.shape == (10080,)
    np.testing.assert_array_equal(y[:9600], 0.25)
    np.testing.assert_array_equal(y[9600:], 0.0)
    with pytest.raises(AudioError, match="past the end of the file") as info:
        load_audio(tmp_path / "one_second.wav", offset=0.5, duration=0.63, manifest="m.json",
                   line=7)
    assert "one_second.wav" in str(info.value) and "m.json line 7" in str(info.value)
    with pytest.raises(AudioError, match="beyond the end of the file"):
        load_audio(tmp_path / "one_second.wav", offset=1.0, duration=0.1)


def test_missing_empty_and_corrupt_files_name_the_file_and_line(tmp_path):
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk" * 4)
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    cases = {"missing.wav": "does not exist", "corrupt.wav": "cannot decode",
             "empty.wav": "no samples"}
    for name, message in cases.items():
        with pytest.raises(AudioError, match=message) as info:
            load_audio(tmp_path / name, manifest="train.json", line=3)
        assert name in str(info.value) and "train.json line 3" in str(info.value)
        with pytest.raises(AudioError):
            audio_info(tmp_path / name)


def test_non_finite_samples_are_rejected(tmp_path):
    x = np.zeros(1600, np.float32)
    x[5] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(tmp_path / "nan.wav")


def test_audio_info_reads_the_header(tmp_path):
    sf.write(tmp_path / "a.flac", np.zeros((22050, 2), np.float32), 44100)
    info = audio_info(tmp_path / "a.flac")
    assert (info.sample_rate, info.frames, info.channels, info.duration) == (44100, 22050, 2, 0.5)
