"""Decode audio files into 16 kHz mono float32 arrays.

Any format libsndfile reads (WAV with integer or float samples, FLAC, OGG, ...) at any sample
rate: samples are scaled to [-1, 1], channels are averaged to mono and the audio is resampled with
soxr at "HQ" quality (librosa's default resampler). A missing, empty or corrupt file raises
``AudioError`` naming the file and, when known, the manifest line; nothing is ever silently
replaced by zeros.

End-of-file rule: a segment that runs past the end of its file is zero-padded at the end only
when the overrun is at most ``max_pad_fraction`` (10 %) of the requested duration, which absorbs
rounding in manifests and slightly short recordings. A segment that starts at or after the end of
the file, or that overruns it by more, is an error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

MAX_PAD_FRACTION = 0.1
# The first bytes each container starts with. A damaged file is refused on them before libsndfile
# sees it: libsndfile then tries decoders in turn, one of which prints "Illegal Audio-MPEG-Header"
# noise on stderr, and it may report a damaged file as "File does not exist".
MAGIC = {".wav": (b"RIFF", b"RIFX", b"RF64", b"BW64"), ".flac": (b"fLaC", b"ID3"),
         ".ogg": (b"OggS",), ".opus": (b"OggS",)}


class AudioError(ValueError):
    """An audio file cannot be used; the message names the file (and manifest line when known)."""


def _where(path: Path, manifest: Path | str | None, line: int | None) -> str:
    if manifest is None:
        return str(path)
    return f"{path} (manifest {manifest} line {line})" if line else f"{path} (manifest {manifest})"


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says: native sample rate, frames per channel, channels."""

    sample_rate: int
    frames: int
    channels: int
    subtype: str = ""  # libsndfile's sample format: PCM_16, FLOAT, ...

    @property
    def floating_point(self) -> bool:
        """Samples stored as floats, which (unlike integers) can be NaN or infinite."""
        return self.subtype in ("FLOAT", "DOUBLE")

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def container_problem(path: str | Path) -> str | None:
    """Why an existing file cannot be a ``.wav``/``.flac``/``.ogg`` file (its first bytes are
    not that container's), or None; other suffixes are left to libsndfile."""
    path = Path(path)
    magic = MAGIC.get(path.suffix.lower())
    if magic is None:
        return None
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head:
        return "the file is empty (0 bytes)"
    if head.startswith(magic):
        return None
    return (f"not a {path.suffix.lower()[1:].upper()} file: it does not start with a "
            f"{'/'.join(m.decode() for m in magic)} header (damaged, truncated, or another "
            f"format renamed)")


def _libsndfile_text(path: Path, err: Exception) -> str:
    """libsndfile's reason without its "Error opening '<path>': " prefix; its "File does not
    exist" for a file that exists (a format it failed to probe) said as what it means."""
    text = str(err).replace(f"Error opening {str(path)!r}: ", "").strip()
    if "does not exist" in text and path.is_file():
        return "libsndfile recognises no audio format in it"
    return text


def audio_info(path: str | Path, manifest: Path | str | None = None,
               line: int | None = None) -> AudioInfo:
    """Read only the header (cheap); AudioError if the file is missing, unreadable or empty."""
    path = Path(path)
    where = _where(path, manifest, line)
    if not path.is_file():
        raise AudioError(f"{where}: audio file does not exist (check the path, or rerun "
                         f"`atomicvad prepare`)")
    problem = container_problem(path)
    if problem is None:
        try:
            info = sf.info(str(path))
        except (RuntimeError, sf.SoundFileError) as err:
            problem = _libsndfile_text(path, err)
    if problem is not None:
        raise AudioError(f"{where}: cannot decode audio ({problem}); the file is corrupt or not "
                         f"in a format libsndfile reads (WAV, FLAC, OGG): re-export or remove "
                         f"it") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{where}: audio file holds no samples: re-export or remove it")
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels),
                     str(info.subtype))


def load_audio(path: str | Path, offset: float = 0.0, duration: float | None = None,
               sample_rate: int = 16000, *, manifest: Path | str | None = None,
               line: int | None = None, max_pad_fraction: float = MAX_PAD_FRACTION) -> np.ndarray:
    """``duration`` seconds (to the end when None) from ``offset`` as float32 mono at ``sample_rate``.

    With a duration the result holds exactly ``round(duration * sample_rate)`` samples; see the
    module docstring for the end-of-file padding rule. ``manifest``/``line`` only enrich errors.
    """
    path = Path(path)
    where = _where(path, manifest, line)
    if not (math.isfinite(offset) and offset >= 0):
        raise AudioError(f"{where}: offset must be a finite number >= 0 s, got {offset!r}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise AudioError(f"{where}: duration must be a finite number > 0 s, got {duration!r}")
    info = audio_info(path, manifest, line)
    native = info.sample_rate
    start = int(round(offset * native))
    if start >= info.frames:
        raise AudioError(f"{where}: offset {offset:.3f} s lies at or beyond the end of the file "
                         f"({info.duration:.3f} s): fix the manifest line")
    wanted = info.frames - start if duration is None else max(1, int(round(duration * native)))
    available = min(wanted, info.frames - start)
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(start)
            data = f.read(available, dtype="float32", always_2d=True)
    except (RuntimeError, sf.SoundFileError) as err:
        raise AudioError(f"{where}: cannot decode audio ({_libsndfile_text(path, err)}); the file "
                         f"is corrupt: re-export or remove it") from None
    missing = wanted - data.shape[0]
    if missing > max_pad_fraction * wanted:
        got = data.shape[0] / native
        raise AudioError(f"{where}: segment {offset:.3f}+{wanted / native:.3f} s runs "
                         f"{missing / native:.3f} s past the end of the file (only {got:.3f} s "
                         f"available; at most {max_pad_fraction:.0%} of a segment is zero-padded): "
                         f"fix the manifest's offset/duration or the file")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"{where}: audio holds NaN or infinite samples: re-export the file")
    if native != sample_rate and mono.size:
        # soxr "HQ" is librosa's default resampler, called directly to skip librosa's start-up
        mono = soxr.resample(mono, native, sample_rate, quality="HQ")
    if duration is not None:
        # zero-pads the permitted overrun at the end, trims resampling's rounding
        size = int(round(duration * sample_rate))
        mono = np.pad(mono[:size], (0, max(0, size - mono.size)))
    return np.ascontiguousarray(mono, dtype=np.float32)
