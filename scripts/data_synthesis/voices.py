"""Synthetic voices from Debian's speech synthesizers (espeak-ng, flite, festival) and what they say.

A `Voice` is one timbre. Voices sharing a `speaker` (the same recorded person behind several
synthesizers, or numbered variants derived from one another) always go to the same split.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from . import SAMPLE_RATE

SPLITS = ("training", "validation", "testing")

DEBIAN_PACKAGES = (
    "espeak-ng", "flite", "festival", "festvox-kallpc16k", "festvox-kdlpc16k", "festvox-us-slt-hts",
    "festvox-italp16k", "festvox-itapc16k", "festival-ca", "festvox-ca-ona-hts", "festival-czech",
    "festvox-czech-dita", "festvox-czech-krb", "festvox-czech-machac", "festvox-czech-ph",
    "festvox-suopuhe-lj", "festvox-suopuhe-mv", "festvox-ru", "festival-hi", "festvox-hi-nsk",
    "festival-mr", "festvox-mr-nsk", "festival-te", "festvox-te-nsk",
)
INSTALL_HINT = "sudo apt-get install -y " + " ".join(DEBIAN_PACKAGES)

ENGLISH_DIALECTS = {
    "training": ["en-us", "en-gb", "en-gb-x-rp", "en-029", "en-gb-x-gbclan"],
    "validation": ["en-gb-x-gbcwmd"],
    "testing": ["en-us-nyc", "en-gb-scotland"],
}
# espeak-ng languages that do not synthesize cleanly from the Debian data (no full dictionary,
# or a voice name the -v option does not accept).
BROKEN_ESPEAK_LANGUAGES = {"be", "chr-US-Qaaa-x-west"}

# (festival voice, language, input encoding, speaker, gender, split)
FESTIVAL_VOICES = [
    ("kal_diphone", "en-us", "utf-8", "cmu-kal", "M", "training"),
    ("cmu_us_slt_arctic_hts", "en-us", "utf-8", "cmu-slt", "F", "training"),
    ("upc_ca_ona_hts", "ca", "iso-8859-1", "upc-ona", "F", "training"),
    ("pc_diphone", "it", "iso-8859-1", "it-pc", "M", "training"),
    ("czech_machac", "cs", "iso-8859-2", "cs-machac", "M", "training"),
    ("czech_krb", "cs", "iso-8859-2", "cs-krb", "M", "training"),
    ("suo_fi_lj_diphone", "fi", "iso-8859-1", "fi-lj", "F", "training"),
    ("msu_ru_nsh_clunits", "ru", "utf-8", "ru-nsh", "M", "training"),
    ("hindi_NSK_diphone", "hi", "utf-8", "in-nsk", "M", "training"),
    ("marathi_NSK_diphone", "mr", "utf-8", "in-nsk", "M", "training"),
    ("telugu_NSK_diphone", "te", "utf-8", "in-nsk", "M", "training"),
    ("ked_diphone", "en-us", "utf-8", "cmu-ked", "M", "validation"),
    ("lp_diphone", "it", "iso-8859-1", "it-lp", "F", "validation"),
    ("czech_ph", "cs", "iso-8859-2", "cs-ph", "M", "validation"),
    ("czech_dita", "cs", "iso-8859-2", "cs-dita", "F", "testing"),
    ("hy_fi_mv_diphone", "fi", "iso-8859-1", "fi-mv", "M", "testing"),
]
FLITE_VOICES = [
    ("kal", "en-us", "cmu-kal", "M", "training"),      # 8 kHz diphones
    ("kal16", "en-us", "cmu-kal", "M", "training"),
    ("slt", "en-us", "cmu-slt", "F", "training"),
    ("awb", "en-gb-scotland", "cmu-awb", "M", "training"),
    ("rms", "en-us", "cmu-rms", "M", "testing"),
]

# The 35 words of the Speech Commands data set, and short command-like phrases.
ENGLISH_WORDS = (
    "yes no up down left right on off stop go zero one two three four five six seven eight nine "
    "bed bird cat dog happy house marvin sheila tree wow backward forward follow learn visual").split()
ENGLISH_PHRASES = [
    "turn on the light", "turn off the radio", "hey marvin", "okay, go", "stop that", "what time is it?",
    "call my mother", "play some music", "open the door", "close the window", "next song",
    "volume up", "lights off, please", "good morning", "thank you", "where is the cat?",
    "the dog is happy", "follow me", "go backward", "move forward two steps", "sheila, are you there?",
    "is anyone home?", "hello", "can you hear me?", "one more time", "cancel", "repeat that",
    "not now", "I said no", "wow, that's great", "left, then right", "seven, eight, nine",
    "the bird is in the tree", "learn this word", "show me the visual", "yes, please",
    "no, thank you", "set a timer for five minutes", "what's the weather like?", "up and down",
    "turn it down", "wake up", "good night", "how are you?", "I'm over here", "come in",
    "just a moment", "pause", "go to bed", "that's the house", "three, two, one, go",
    "is it on or off?", "read it again", "where are my keys?", "call sheila", "it's six o'clock",
    "maybe later", "right now", "we're leaving", "listen to this",
]
NATIVE_PHRASES = {
    "it": ["sì", "no", "ciao", "buongiorno", "accendi la luce", "spegni la radio", "uno, due, tre",
           "quattro cinque sei", "dove sei?", "grazie mille", "va bene", "apri la porta",
           "sette otto nove", "a destra", "a sinistra", "avanti", "indietro", "fermati"],
    "ca": ["sí", "no", "bon dia", "gràcies", "obre la porta", "u, dos, tres", "quatre cinc sis",
           "bona nit", "on és el gat?", "endavant", "enrere", "a la dreta", "a l'esquerra", "para",
           "encén el llum"],
    "cs": ["ano", "ne", "dobrý den", "děkuji", "jedna, dva, tři", "čtyři pět šest", "otevři dveře",
           "zapni světlo", "vlevo", "vpravo", "nahoru", "dolů", "stůj", "jdi dál", "kde je kočka?"],
    "fi": ["kyllä", "ei", "hyvää päivää", "kiitos", "yksi, kaksi, kolme", "neljä viisi kuusi",
           "avaa ovi", "sytytä valo", "vasemmalle", "oikealle", "ylös", "alas", "seis",
           "mene eteenpäin", "missä kissa on?"],
    "ru": ["да", "нет", "привет", "спасибо", "один, два, три", "четыре пять шесть", "открой дверь",
           "включи свет", "налево", "направо", "вверх", "вниз", "стоп", "иди вперед", "где кошка?"],
    "hi": ["हाँ", "नहीं", "नमस्ते", "धन्यवाद", "एक दो तीन", "चार पाँच छह", "दरवाज़ा खोलो",
           "बत्ती जलाओ", "बाएँ", "दाएँ", "ऊपर", "नीचे", "रुको", "आगे बढ़ो"],
    "mr": ["होय", "नाही", "नमस्कार", "धन्यवाद", "एक दोन तीन", "चार पाच सहा", "दार उघड", "दिवा लाव",
           "डावीकडे", "उजवीकडे", "वर", "खाली", "थांब", "पुढे जा"],
    "te": ["అవును", "కాదు", "నమస్కారం", "ధన్యవాదాలు", "ఒకటి రెండు మూడు", "నాలుగు ఐదు ఆరు",
           "తలుపు తెరువు", "ఎడమ", "కుడి", "పైకి", "కిందకి", "ఆగు", "ముందుకు వెళ్ళు"],
}
SYLLABLE_ONSETS = ["", "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "tr", "kl"]
SYLLABLE_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]


class SynthesizerMissing(RuntimeError):
    """A synthesizer or voice is not installed; the message says which Debian packages to install."""


@dataclass(frozen=True)
class Voice:
    synth: str          # "espeak-ng", "festival" or "flite"
    name: str           # what the synthesizer calls it (espeak-ng: variant name, "" = default)
    speaker: str        # voices with one speaker stay in one split
    gender: str
    split: str
    language: str = ""  # fixed language (festival, flite); espeak-ng picks one per utterance

    @property
    def key(self) -> str:
        return f"{self.synth}/{self.name or 'default'}"


def _stable_rank(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _assign(names: list[str], validation: float = 0.15, testing: float = 0.15) -> dict[str, str]:
    """Split names by a hash order (stable when names are added): testing, validation, training."""
    ordered = sorted(names, key=_stable_rank)
    out = {}
    for i, name in enumerate(ordered):
        frac = (i + 0.5) / len(ordered)
        out[name] = "testing" if frac < testing else "validation" if frac < testing + validation else "training"
    return out


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, check=True, **kwargs)
    except FileNotFoundError as err:
        raise SynthesizerMissing(f"'{cmd[0]}' is not installed; install the synthesizers with: "
                                 f"{INSTALL_HINT}") from err
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({err.returncode}): "
                           f"{err.stderr.decode(errors='replace')[:300]}") from err


def espeak_variants() -> list[tuple[str, str]]:
    """(variant name, gender) of every espeak-ng variant installed."""
    out = _run(["espeak-ng", "--voices=variant"]).stdout.decode()
    variants = []
    for line in out.splitlines()[1:]:
        match = re.match(r"\s*\d+\s+variant\s+\S+/(\w)\s+.*?!v/(.+?)\s*(\(.*\))?$", line)
        if match:
            variants.append((match.group(2), match.group(1)))
    if not variants:
        raise SynthesizerMissing(f"espeak-ng lists no voice variants; reinstall with: {INSTALL_HINT}")
    return sorted(variants)


def espeak_languages() -> list[str]:
    out = _run(["espeak-ng", "--voices"]).stdout.decode()
    langs = [line.split()[1] for line in out.splitlines()[1:] if line.strip()]
    return sorted(set(langs) - BROKEN_ESPEAK_LANGUAGES)


def espeak_speaker(variant: str) -> str:
    """Numbered variants derived from one another (klatt2, Robosoft5, ...) share a speaker;
    the classic m1-m8 / f1-f5 voices are distinct people."""
    if re.fullmatch(r"[mf]\d+", variant):
        return f"espeak-ng/{variant}"
    return "espeak-ng/" + re.sub(r"\d+$", "", variant.lower())


def inventory() -> tuple[dict[str, list[Voice]], dict[str, list[str]]]:
    """Voices and espeak-ng languages of each split (disjoint by speaker and by language)."""
    variants = espeak_variants()
    speakers = sorted({espeak_speaker(v) for v, _ in variants})
    gender_of = {espeak_speaker(v): g for v, g in variants}
    split_of = {}
    for gender in ("F", "M"):
        split_of.update(_assign([s for s in speakers if gender_of[s] == gender]))
    voices = {s: [] for s in SPLITS}
    voices["training"].append(Voice("espeak-ng", "", "espeak-ng/default", "M", "training"))
    for variant, gender in variants:
        speaker = espeak_speaker(variant)
        voices[split_of[speaker]].append(Voice("espeak-ng", variant, speaker, gender, split_of[speaker]))
    for name, lang, _, speaker, gender, split in FESTIVAL_VOICES:
        voices[split].append(Voice("festival", name, "festival+flite/" + speaker, gender, split, lang))
    for name, lang, speaker, gender, split in FLITE_VOICES:
        voices[split].append(Voice("flite", name, "festival+flite/" + speaker, gender, split, lang))

    english = {d for ds in ENGLISH_DIALECTS.values() for d in ds}
    others = [lang for lang in espeak_languages() if lang not in english]
    lang_split = _assign(others)
    languages = {s: list(ENGLISH_DIALECTS[s]) + [l for l in others if lang_split[l] == s] for s in SPLITS}
    return voices, languages


def check_installed() -> None:
    """Raise SynthesizerMissing naming the packages when a synthesizer or voice is absent."""
    for tool in ("espeak-ng", "flite", "text2wave", "festival"):
        if shutil.which(tool) is None:
            raise SynthesizerMissing(f"'{tool}' is not installed; install with: {INSTALL_HINT}")
    listed = _run(["festival", "--batch", "(print (voice.list))"]).stdout.decode()
    missing = [v[0] for v in FESTIVAL_VOICES if v[0].lower() not in listed.lower()]
    if missing:
        raise SynthesizerMissing(f"festival voices {missing} are not installed; install with: {INSTALL_HINT}")
    flite_list = _run(["flite", "-lv"]).stdout.decode().split()
    missing = [v[0] for v in FLITE_VOICES if v[0] not in flite_list]
    if missing:
        raise SynthesizerMissing(f"flite voices {missing} are missing; install with: {INSTALL_HINT}")


def versions() -> dict[str, str]:
    """Debian package versions of the synthesizers (for the data set's README)."""
    found = {}
    for package in ("espeak-ng", "espeak-ng-data", "flite", "festival"):
        try:
            result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True)
            found[package] = result.stdout.decode().strip() or "?"
        except FileNotFoundError:
            found[package] = "?"
    return found


# ---------------------------------------------------------------- texts and prosody
def pseudo_word(rng: np.random.Generator) -> str:
    return "".join(rng.choice(SYLLABLE_ONSETS) + rng.choice(SYLLABLE_VOWELS)
                   for _ in range(rng.integers(2, 4)))


def number_text(rng: np.random.Generator) -> str:
    kind = rng.integers(3)
    if kind == 0:
        return str(rng.integers(0, 100))
    if kind == 1:
        return " ".join(str(d) for d in rng.integers(0, 10, rng.integers(2, 4)))
    return str(rng.integers(100, 2000))


def english_text(rng: np.random.Generator) -> str:
    if rng.random() < 0.4:
        return str(rng.choice(ENGLISH_WORDS))
    return str(rng.choice(ENGLISH_PHRASES))


def choose_text(rng: np.random.Generator, voice: Voice, language: str) -> str:
    """What `voice` says in `language`: commands in English, numbers or pseudo-words elsewhere."""
    if language.startswith("en"):
        return english_text(rng)
    if voice.synth == "espeak-ng":
        pick = rng.random()
        if pick < 0.5:
            return number_text(rng)
        return pseudo_word(rng) if pick < 0.75 else english_text(rng)
    if language in ("cs", "fi", "it", "ca", "ru") and rng.random() < 0.3:
        return number_text(rng)
    return str(rng.choice(NATIVE_PHRASES[language]))


# ---------------------------------------------------------------- synthesis
def resample_to_16k(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return x
    ratio = Fraction(SAMPLE_RATE, rate)
    return signal.resample_poly(x, ratio.numerator, ratio.denominator)


def synthesize(voice: Voice, text: str, language: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Speak `text`; returns 16 kHz float samples and the prosody settings drawn from rng."""
    with tempfile.TemporaryDirectory(prefix="speech-") as tmp:
        wav = Path(tmp) / "out.wav"
        if voice.synth == "espeak-ng":
            prosody = {"rate": int(rng.integers(110, 241)), "pitch": int(rng.integers(10, 91)),
                       "range": int(rng.integers(20, 201)), "gap": int(rng.choice([0, 0, 0, 1, 3, 6]))}
            name = language + (f"+{voice.name}" if voice.name else "")
            ssml = f'<speak><prosody range="{prosody["range"]}%">{text}</prosody></speak>'
            _run(["espeak-ng", "-m", "-v", name, "-s", str(prosody["rate"]), "-p", str(prosody["pitch"]),
                  "-g", str(prosody["gap"]), "-a", "60", "-w", str(wav), ssml])
        elif voice.synth == "flite":
            prosody = {"stretch": round(float(rng.uniform(0.8, 1.35)), 3)}
            cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={prosody['stretch']}"]
            if voice.name.startswith("kal"):
                prosody["f0"] = int(rng.integers(85, 150))
                cmd += ["--setf", f"int_f0_target_mean={prosody['f0']}"]
            _run(cmd + ["-t", text, "-o", str(wav)])
        else:
            prosody = {"stretch": round(float(rng.uniform(0.8, 1.35)), 3)}
            encoding = next(v[2] for v in FESTIVAL_VOICES if v[0] == voice.name)
            result = _run(["text2wave", "-eval", f"(voice_{voice.name})",
                           "-eval", f"(Parameter.set 'Duration_Stretch {prosody['stretch']})",
                           "-o", str(wav)], input=text.encode(encoding))
            if b"no rule matches" in result.stderr:
                raise RuntimeError(f"festival voice {voice.name} cannot read {text!r}: "
                                   f"{result.stderr.decode(errors='replace')[:200]}")
        audio, rate = sf.read(wav, dtype="float64", always_2d=True)
    return resample_to_16k(audio.mean(axis=1), rate), prosody


def change_vocal_tract(x: np.ndarray, factor: float) -> np.ndarray:
    """Resample by `factor` (>1 raises pitch and formants together, like a smaller speaker)."""
    ratio = Fraction(factor).limit_denominator(200)
    return signal.resample_poly(x, ratio.denominator, ratio.numerator)
