"""The Debian packages data_samples/ is made from, and which of their files are used how.

Each package is pinned to the version in Debian 12 (bookworm). ``catalogue(tree)`` lists every
recording used from the unpacked packages (``tree/<package>/...``) as a ``Recording``: its file,
package, class (speech or background), the group that must stay inside one split (a speaker, or
one background source), and what it is. Nothing here reads audio.

Grouping rules (see data_samples/README.md for why):
- KLettres and KTuberling are recorded by KDE volunteers; the same person may have recorded a
  language for both, so their voices are grouped by language (``kde/<lang>``) across the two.
- The Asterisk core prompts in English and Spanish are the same woman (Allison Smith): one group.
- MegaGlest does not say who voiced which unit: all its unit voices are one group.
- A Fish Fillets dub (Czech, Dutch) is one group (several actors, credited together).
- Backgrounds are grouped by the sound they record: files that differ only by a trailing number
  (``rain1``, ``rain2``), or that share a name across MegaGlest tilesets (``rain.ogg``), are one
  source.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

# package -> (pinned version, licence of the files used, category of background, or "speech")
PACKAGES: dict[str, tuple[str, str]] = {
    "klettres-data": ("4:22.12.3-1", "GPL-2+"),
    "ktuberling-data": ("4:22.12.3-1", "GPL-2+"),
    "asterisk-core-sounds-en-g722": ("1.6.1-1", "CC-BY-SA-3.0"),
    "asterisk-core-sounds-es-g722": ("1.6.1-1", "CC-BY-SA-3.0"),
    "asterisk-core-sounds-fr-g722": ("1.6.1-1", "CC-BY-SA-3.0"),
    "asterisk-core-sounds-it-g722": ("1.6.1-1", "CC-BY-3.0"),
    "asterisk-core-sounds-ru-g722": ("1.6.1-1", "CC-BY-3.0"),
    "asterisk-prompt-it-menardi-wav": ("1:1.4.22+mm20110907-3.1", "CC-BY-SA-3.0-IT"),
    "asterisk-prompt-fr-armelle": ("20070613-2.2", "BSD-style"),
    "asterisk-prompt-es-co": ("0.20070403-2.1", "GPL-2"),
    "megaglest-data": ("3.13.0-3", "CC-BY-SA-3.0"),
    "fillets-ng-data-cs": ("1.0.1-1.1", "GPL-2"),
    "fillets-ng-data-nl": ("1.0.1-1.1", "GPL-2"),
    "gcin-voice": ("0~20170223-3", "GPL-3 or LGPL-3"),
    "warzone2100-data": ("4.3.3-3", "GPL-2+"),
    "pocketsphinx-testdata": ("0.8+5prealpha+1-15", "BSD-2"),
    "asterisk-moh-opsound-g722": ("2.03-1.1", "CC-BY-SA-3.0"),
    "sonic-pi-samples": ("3.2.2~repack-8", "CC0-1.0"),  # per sample, see sonic_pi_credits
    "bucklespring-data": ("1.4.0-2", "GPL-2+"),
    "lincity-ng-data": ("2.9~git20150314-5", "GPL-2+"),
    "fillets-ng-data": ("1.0.1-1.1", "GPL-2"),
    "frozen-bubble-data": ("2.212-11", "GPL-2"),
    "hydrogen-data": ("1.2.0~beta1+dfsg-1", "GPL-2+"),
    "wordwarvi-sound": ("1.0.4-2", "GPL-2+"),
}
# Listed in the issue but not used: gcompris-qt-data (its sounds sit inside compiled Qt resource
# files; not unpacked here).


@dataclass(frozen=True)
class Recording:
    path: Path              # file in the unpacked tree (or inside an archive, see `member`)
    package: str
    label: str              # "speech" or "background"
    group: str              # kept inside one split: a speaker (group) or a background source
    kind: str               # speech: speaker; background: category/what
    language: str = ""      # speech only
    member: str = ""        # a file inside a zip archive (warzone2100's base.wz)
    licence_override: str = ""  # when a file's licence differs from the package's

    @property
    def licence(self) -> str:
        return self.licence_override or PACKAGES[self.package][1]

    @property
    def name(self) -> str:
        inside = str(self.path).split(f"/{self.package}/", 1)[-1]
        return f"{self.package}:{inside}" + (f":{self.member}" if self.member else "")


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.glob(pattern) if p.is_file())


def _stem_group(path: Path) -> str:
    """``Rain3`` -> ``rain``, ``drum_tom_hi_hard`` -> ``drum_tom_hi_hard``, ``24Ride-2`` -> ``24ride``."""
    stem = path.stem.lower()
    stem = re.sub(r"[-_ ]?\d+$", "", stem)
    return stem or path.stem.lower()


# ------------------------------------------------------------------ speech
KDE_BASE = {"en_gb": "en", "pt_br": "pt", "nb": "no", "nn": "no"}
# MegaGlest units that speak (humans); animals and monsters are left out.
MEGAGLEST_VOICES = {
    "archer", "archmage", "axe_thrower", "battleaxe", "battleaxe_berserk", "battlemage",
    "cudgel_lady", "dragon_rider", "fakir", "fire_archer", "flying_valkyrie", "guard", "horseman",
    "initiate", "princess", "shaman", "spearman", "spearman_berserk", "stickfighter", "summoner",
    "swordman", "swordman_berserk", "technician", "valkyrie", "worker"}
ASTERISK_CORE = {"en_US_f_Allison": ("asterisk/allison-smith", "en"),
                 "es_MX_f_Allison": ("asterisk/allison-smith", "es"),
                 "fr_CA_f_June": ("asterisk/june-wallack", "fr"),
                 "it_IT_m_Carlo": ("asterisk/carlo-flora", "it"),
                 "ru_RU_f_IvrvoiceRU": ("asterisk/ivrvoice-ru", "ru")}
WARZONE_VOICE_FOLDERS = ("audio/tutorial/", "audio/memressp/", "audio/countdown/",
                         "audio/vtoltalk/", "audio/trnsppil/")


def speech_recordings(tree: Path) -> list[Recording]:
    out: list[Recording] = []
    root = tree / "klettres-data/usr/share/klettres"
    for path in _files(root, "*/*/*.ogg"):
        lang = path.parts[-3]
        base = KDE_BASE.get(lang.lower(), lang.lower())
        out.append(Recording(path, "klettres-data", "speech", f"kde/{base}", f"klettres/{lang}", lang))
    root = tree / "ktuberling-data/usr/share/ktuberling/sounds"
    for path in _files(root, "*/*"):
        lang = path.parts[-2]
        if "@" in lang or path.suffix not in (".ogg", ".wav", ".opus"):
            continue  # sr@latin etc. are copies of sr
        base = KDE_BASE.get(lang.lower(), lang.lower())
        out.append(Recording(path, "ktuberling-data", "speech", f"kde/{base}", f"ktuberling/{lang}",
                             lang))
    for folder, (group, lang) in ASTERISK_CORE.items():
        package = f"asterisk-core-sounds-{lang}-g722"
        for path in _files(tree / package / "usr/share/asterisk/sounds" / folder, "**/*.g722"):
            out.append(Recording(path, package, "speech", group, group, lang))
    for package, folder, group, lang, pattern in (
            ("asterisk-prompt-it-menardi-wav", "it_IT_f_Menardi", "asterisk/menardi-it", "it", "**/*.wav"),
            ("asterisk-prompt-fr-armelle", "fr", "asterisk/armelle-fr", "fr", "**/*.gsm"),
            ("asterisk-prompt-es-co", "es", "asterisk/es-co", "es", "**/*.gsm")):
        for path in _files(tree / package / "usr/share/asterisk/sounds" / folder, pattern):
            out.append(Recording(path, package, "speech", group, group, lang))
    root = tree / "megaglest-data/usr/share/games/megaglest/techs/megapack"
    for path in _files(root, "**/*.wav") + _files(root, "**/*.ogg"):
        match = re.match(r"(.+?)_(ack|select)\d*$", path.stem)
        if match and match.group(1) in MEGAGLEST_VOICES:
            out.append(Recording(path, "megaglest-data", "speech", "megaglest/units",
                                 f"megaglest/{match.group(1)}", "en"))
    for lang in ("cs", "nl"):
        package = f"fillets-ng-data-{lang}"
        for path in _files(tree / package / "usr/share/games/fillets-ng/sound", f"*/{lang}/*.ogg"):
            out.append(Recording(path, package, "speech", f"fillets/{lang}", f"fillets/{lang}", lang))
    for path in _files(tree / "gcin-voice/usr/share/gcin-voice/ogg", "*/3.ogg"):
        out.append(Recording(path, "gcin-voice", "speech", "gcin/zh", "gcin/zh", "zh"))
    archive = tree / "warzone2100-data/usr/share/games/warzone2100/base.wz"
    if archive.is_file():
        with zipfile.ZipFile(archive) as z:
            for member in sorted(z.namelist()):
                if member.startswith(WARZONE_VOICE_FOLDERS) and member.endswith((".ogg", ".wav")):
                    out.append(Recording(archive, "warzone2100-data", "speech", "warzone2100/voices",
                                         "warzone2100/voices", "en", member))
    root = tree / "pocketsphinx-testdata/usr/share/pocketsphinx/test/data/librivox"
    for path in _files(root, "*.wav"):
        out.append(Recording(path, "pocketsphinx-testdata", "speech", "librivox/austen-reader",
                             "librivox/austen-reader", "en"))
    return out


# ------------------------------------------------------------------ background
MEGAGLEST_DROP = {"night.ogg", "mudchute_cow_1.ogg", "good_morning.wav"}
SONIC_PI_DROP = re.compile(r"^(ambi_choir|misc_burp|bass_voxy.*|mehackit_robot.*|glitch_robot.*|elec_flip)$")
# Voices, cheering and chatter are not background; these files hold some.
LINCITY_DROP = re.compile(r"^(residential|market|school|university|health|sportscroud|commune|shanty)")
WORDWARVI_KEEP = re.compile(r"^(metalbang|stonebang|big_explosion|bombexplosion|clang|flak_|gravity_bomb|"
                            r"gunwheel|jetwash|missile_|new_ground_smack|rocket_exhaust|synthetic_|"
                            r"tesla_tower|timpani_boing|toyota_celica|us_quarter|volcano|zzzt|bodyslam)")
FROZEN_BUBBLE_DROP = {"hurry", "noh", "snore", "chatted", "applause", "lose"}


def sonic_pi_credits(tree: Path) -> dict[str, dict[str, str]]:
    """Per-sample stanzas of sonic-pi-samples' debian/copyright: {sample stem: {Copyright,
    Source, License}}. Samples without a stanza fall under ``Files: *`` (MIT, Samuel Aaron)."""
    path = tree / "sonic-pi-samples/usr/share/doc/sonic-pi-samples/copyright"
    out: dict[str, dict[str, str]] = {}
    if not path.is_file():
        return out
    for stanza in path.read_text(encoding="utf-8").split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(" "):
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        files = fields.get("Files", "")
        if files.startswith("etc/samples/"):
            out[Path(files).stem] = fields
    return out


def _category_sonic_pi(stem: str) -> str:
    if stem.startswith(("ambi_", "loop_drone")):
        return "ambience/drone"
    if stem.startswith(("loop_", "guit_", "bass_")):
        return "music/instrument"
    if stem.startswith(("vinyl_", "elec_", "glitch_", "mehackit_phone", "misc_", "perc_")):
        return "effects/electronic"
    return "percussion/drums"


def background_recordings(tree: Path) -> list[Recording]:
    out: list[Recording] = []
    for path in _files(tree / "asterisk-moh-opsound-g722/usr/share/asterisk/moh", "*.g722"):
        out.append(Recording(path, "asterisk-moh-opsound-g722", "background", f"moh/{path.stem}",
                             "music/hold-music"))
    root = tree / "megaglest-data/usr/share/games/megaglest"
    for path in _files(root, "tilesets/*/sounds/*"):
        if path.name not in MEGAGLEST_DROP and path.suffix in (".ogg", ".wav"):
            out.append(Recording(path, "megaglest-data", "background",
                                 f"megaglest/ambience/{_stem_group(path)}", "ambience/nature"))
    for path in _files(root, "techs/megapack/factions/*/music/*.ogg") + \
            _files(root, "data/core/menu/music/*.ogg"):
        out.append(Recording(path, "megaglest-data", "background", f"megaglest/music/{path.stem}",
                             "music/game"))
    credits = sonic_pi_credits(tree)
    for path in _files(tree / "sonic-pi-samples/usr/share/sonic-pi/samples", "*.flac"):
        if SONIC_PI_DROP.match(path.stem):
            continue
        family = path.stem if path.stem.startswith("loop_") else path.stem.split("_")[0]
        licence = {"CC0": "CC0-1.0"}.get(credits.get(path.stem, {}).get("License", ""), "MIT")
        out.append(Recording(path, "sonic-pi-samples", "background", f"sonic-pi/{family}",
                             _category_sonic_pi(path.stem), licence_override=licence))
    for path in _files(tree / "bucklespring-data/usr/share/buckle/wav", "*.wav"):
        out.append(Recording(path, "bucklespring-data", "background", "bucklespring/keyboard",
                             "machines/keyboard"))
    for path in _files(tree / "lincity-ng-data/usr/share/games/lincity-ng/sounds", "*.wav"):
        if not LINCITY_DROP.match(path.stem.lower()):
            out.append(Recording(path, "lincity-ng-data", "background",
                                 f"lincity/{_stem_group(path)}", "machines/city"))
    root = tree / "fillets-ng-data/usr/share/games/fillets-ng"
    for path in _files(root, "music/*.ogg"):
        out.append(Recording(path, "fillets-ng-data", "background", f"fillets/music/{path.stem}",
                             "music/game"))
    for path in _files(root, "sound/*/en/*-x-*.ogg"):
        out.append(Recording(path, "fillets-ng-data", "background", f"fillets/effects/{path.parts[-3]}",
                             "effects/game"))
    for path in _files(tree / "frozen-bubble-data/usr/share/games/frozen-bubble/snd", "*.ogg"):
        if path.stem in FROZEN_BUBBLE_DROP:
            continue
        music = "zik" in path.stem
        out.append(Recording(path, "frozen-bubble-data", "background",
                             f"frozen-bubble/{path.stem if music else 'effects'}",
                             "music/game" if music else "effects/game"))
    for path in _files(tree / "hydrogen-data/usr/share/hydrogen/data/drumkits", "*/*.wav"):
        instrument = re.sub(r"\d", "", path.stem.split("-")[0]).lower()  # 24Ride-3 -> ride
        out.append(Recording(path, "hydrogen-data", "background", f"hydrogen/{instrument}",
                             "percussion/drums"))
    for path in _files(tree / "wordwarvi-sound/usr/share/wordwarvi/sounds", "*.ogg"):
        if WORDWARVI_KEEP.match(path.stem):
            out.append(Recording(path, "wordwarvi-sound", "background",
                                 f"wordwarvi/{_stem_group(path)}", "effects/game"))
    return out


def catalogue(tree: Path) -> list[Recording]:
    return speech_recordings(Path(tree)) + background_recordings(Path(tree))


# ------------------------------------------------------------------ credits (for SOURCES.md)
# package -> (authors as named in its debian/copyright, what is used)
CREDITS: dict[str, tuple[str, str]] = {
    "klettres-data": (
        "Anne-Marie Mahfouf, Eric Bischoff, Mark Kretschmann, Michael Goettsche, Pino Toscano (KDE "
        "Education); letters and syllables spoken by native speakers credited in the KLettres handbook",
        "letters and syllables, 20 language folders (`alpha/`, `syllab/`)"),
    "ktuberling-data": (
        "Albert Astals Cid, KDE Team, Meni Livne, Éric Bischoff and others (KDE Games); words "
        "recorded by volunteers of each translation team",
        "spoken words, one folder per language (`sr@*` copies of `sr` left out)"),
    "asterisk-core-sounds-en-g722": ("Allison Smith (voice, 2003-2010)", "telephone prompts, en_US"),
    "asterisk-core-sounds-es-g722": ("Allison Smith (voice, 2003-2010)", "telephone prompts, es_MX"),
    "asterisk-core-sounds-fr-g722": ("June Wallack (voice, 2006-2008)", "telephone prompts, fr_CA"),
    "asterisk-core-sounds-it-g722": ("Carlo Flora, http://www.segreterietelefoniche.it (voice, 2012)",
                                     "telephone prompts, it_IT"),
    "asterisk-core-sounds-ru-g722": ("Maxim (IvrvoiceRU, 2010)", "telephone prompts, ru_RU"),
    "asterisk-prompt-it-menardi-wav": (
        "Marco Menardi and Paola Dal Zot (voice), http://www.voip.ammdomus.it",
        "telephone prompts, Italian, 8 kHz"),
    "asterisk-prompt-fr-armelle": ("Armelle Desjardins (voice); copyright Michel Gutierrez (2006)",
                                   "telephone prompts, French, 8 kHz GSM"),
    "asterisk-prompt-es-co": ("Avatar Ltda. / July E. Jiménez", "telephone prompts, Colombian Spanish, 8 kHz GSM"),
    "megaglest-data": (
        "The Glest Team, The MegaGlest Team; factions by Titus Tscharntke, Philipp Tscharntke, "
        "Raphael Schröder, Jacob Vejvoda; unit voices by Titus Tscharntke's family, friends and "
        "neighbours; music by Aminos, Margaras, Manolo Camp, Mattias Westlund; ambience by "
        "Elimnator (soundbible.com), dobroide and the tileset authors",
        "speech: `*_ack*`, `*_select*` of human units; background: tileset ambience (without "
        "`night.ogg`, `mudchute_cow_1.ogg`, `hell/good_morning.wav`) and faction/menu music"),
    "fillets-ng-data-cs": ("Ivo and Pavel Danihelka, ALTAR interactive (Fish Fillets NG); Czech voice actors",
                           "dialogue, Czech dub"),
    "fillets-ng-data-nl": ("Ivo and Pavel Danihelka, ALTAR interactive (Fish Fillets NG); Dutch voice actors",
                           "dialogue, Dutch dub"),
    "fillets-ng-data": ("Ivo and Pavel Danihelka, ALTAR interactive and others (Fish Fillets NG)",
                        "music and the non-voice `*-x-*` effects"),
    "gcin-voice": ("Edward Der-Hua Liu (2014)", "Mandarin syllables, the `*/3.ogg` voice only"),
    "warzone2100-data": ("Eidos Interactive (1999-2004), Warzone 2100 Project (2005-2013)",
                         "voice lines in `base.wz` (`audio/tutorial`, `memressp`, `countdown`, "
                         "`vtoltalk`, `trnsppil`), 11 kHz"),
    "pocketsphinx-testdata": ("Carnegie Mellon University, Alpha Cephei Inc.; a LibriVox reading of "
                              "Jane Austen's *Sense and Sensibility*", "`librivox/*.wav` only (not `tidigits/`)"),
    "asterisk-moh-opsound-g722": ("Paul Shuler (Macroform), Manolo Camp, Reno Project", "hold music, 16 kHz"),
    "sonic-pi-samples": ("Samuel Aaron (package, MIT); each CC0 sample's freesound.org author below",
                         "drums, tabla, guitar, bass, vinyl, drones, loops, effects (without "
                         "`ambi_choir`, `misc_burp`, `bass_voxy*`, `mehackit_robot*`, `glitch_robot*`, `elec_flip`)"),
    "bucklespring-data": ("Ico Doornekamp (2016)", "key press and release recordings of a buckling-spring keyboard"),
    "lincity-ng-data": ("I J Peters, Greg Sharp, Corey Keasling, Ingo Ruhnke, David Kamphausen, "
                        "Jimmy Salmon, Wolfgang Becker, Matthias Braun, Xabier Cancela",
                        "city, industry, traffic, nature effects (without voices, chatter and crowds)"),
    "frozen-bubble-data": ("The Frozen-Bubble Team (2000-2010), Karthik Thakore",
                           "music and effects (without `hurry`, `noh`, `snore`, `chatted`, `applause`, `lose`)"),
    "hydrogen-data": ("Alessandro Cominu, Jonathan Dempsey, the Hydrogen development team and others",
                      "GMRockKit drum samples"),
    "wordwarvi-sound": ("Stephen M. Cameron and the sound credits in its copyright file",
                        "explosions, impacts, machines (no voice clips)"),
}
