"""German tokenising and stop words for topic keywords (c-TF-IDF) and keyword overlap.

Kept dependency-free on purpose: keywords only need word tokens without the filler
words of German social-media German (articles, pronouns, particles, auxiliaries,
greetings). Tokens keep their case in :func:`surface_tokens` (German nouns are
capitalised, labels read better that way) and are lower-cased in :func:`tokens`;
:func:`terms` pairs each with its Snowball stem, so that "Lastschrift" and "Lastschriften"
count as one word.
"""

from __future__ import annotations

import re
from functools import lru_cache

try:  # Snowball's German stemmer (pure Python, the one Sphinx uses); plain lower-casing without it
    import snowballstemmer

    _STEMMER = snowballstemmer.stemmer("german")
except ImportError:  # pragma: no cover - a declared dependency
    _STEMMER = None

_WORD = re.compile(r"[A-Za-zÄÖÜäöüß][A-Za-zÄÖÜäöüß0-9\-]*[A-Za-zÄÖÜäöüß0-9]|[A-Za-zÄÖÜäöüß]{3,}")

GERMAN_STOP_WORDS: frozenset[str] = frozenset(
    """
    aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
    anderm andern anderr anders auch auf aus bei beim bin bis bist bitte da dabei dadurch dafür
    dagegen daher dahin damals damit danach daneben dann daran darauf daraus darf darfst darin
    darum darunter das dass daß dasselbe dazu dein deine deinem deinen deiner deines dem demselben
    den denen denn dennoch denselben der deren derer derselbe derselben des deshalb desselben dessen
    dich die dies diese dieselbe dieselben diesem diesen dieser dieses dir doch dort du durch eben
    ebenso ein eine einem einen einer eines einfach einig einige einigem einigen einiger einiges
    einmal er es etwa etwas euch euer eure eurem euren eurer eures für gar gegen gewesen gibt ging
    gleich habe haben habt hab hast hat hatte hatten hattest hier hin hinter ich ihm ihn ihnen ihr
    ihre ihrem ihren ihrer ihres im immer in indem ins ist ja jede jedem jeden jeder jedes jemand
    jene jenem jenen jener jenes jetzt kann kannst können könnt könnte machen mal man manche manchem
    manchen mancher manches mehr mein meine meinem meinen meiner meines mich mir mit muss musste
    müssen nach nachdem nein nicht nichts noch nun nur ob oder ohne per schon sehr sein seine seinem
    seinen seiner seines seit seitdem selbst sich sie sind so solche solchem solchen solcher solches
    soll sollen sollte sondern sonst sowie über um und uns unse unser unsere unserem unseren unserer
    unseres unter viel vom von vor während war waren warst was weg weil weiter welche welchem
    welchen welcher welches wenn wer werde werden werdet wie wieder will wir wird wirst wo wohl
    wollen wollte würde würden zu zum zur zwar zwischen heute gestern morgen grade gerade echt
    eigentlich irgendwie halt eh ne nee naja ok okay hallo hi hey moin servus danke leute
    bitte mfg lg gruß grüße schon wirklich total ganz genau immer nie oft seid sei wäre wären
    geht gehts gehen ging macht mache kommt komme kommen sagen sagt ab dies dran drauf drin
    kein keine keinen keinem keiner keines hätte hätten mag mich mir uns euch denen dessen deren selber selbst sowas was's gibts
    """.split()
)


def surface_tokens(text: str) -> list[str]:
    """Word tokens of ``text`` in their original case, without stop words, numbers or short bits."""
    out = []
    for word in _WORD.findall(text):
        low = word.lower()
        if len(low) < 3 or low in GERMAN_STOP_WORDS:
            continue
        out.append(word)
    return out


def tokens(text: str) -> list[str]:
    """Lower-cased keyword tokens of ``text`` (see :func:`surface_tokens`)."""
    return [w.lower() for w in surface_tokens(text)]


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """German stem of a lower-cased word (``doppelte`` and ``doppelt`` -> ``doppelt``)."""
    return _STEMMER.stemWord(word) if _STEMMER is not None else word


def terms(text: str) -> list[tuple[str, str]]:
    """``(stem, spelling)`` per keyword token: stems are compared, spellings are shown."""
    return [(stem(w.lower()), w) for w in surface_tokens(text)]
