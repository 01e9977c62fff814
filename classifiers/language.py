"""German or not: posts in other languages are kept and flagged, not scored as German.

py3langid (offline, bundled model) restricted to the languages that plausibly show up in
German customer-service channels, with two rules for what it cannot judge:
- no letters at all (empty, emoji-only, a bare link or number): ``("und", False)``;
- short texts (fewer than ``SHORT_LETTERS`` letters once links, @handles and # marks are
  removed) are ambiguous by nature ("Danke!", "Super Service"); they count as German unless
  another language is clearly ahead, because the channels watched are German ones.
"""

from __future__ import annotations

import re
import threading
from typing import Any

CANDIDATES = ("de", "en", "fr", "it", "es", "nl", "pl", "tr", "ru", "ar", "pt", "da", "sv", "cs", "uk", "ro",
              "hr", "el", "hu", "fa", "bg", "sr")  # languages the detector may answer
SHORT_LETTERS = 25  # below this many letters a text is "short"
SHORT_OTHER_MIN = 0.6  # a short text is non-German only if another language has at least this probability
SHORT_DE_MIN = 0.05  # ...and German has less than this... or that language beats German by far

_NOISE = re.compile(r"https?://\S+|www\.\S+|@\w+|[#$]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


_LOCK = threading.Lock()
_IDENT: list[Any] = []  # the loaded identifier, once


def _identifier() -> Any:
    if not _IDENT:
        with _LOCK:  # loaded once even when warm_up's thread and a caller race (~0.7-0.9 s)
            if not _IDENT:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                ident.set_languages(list(CANDIDATES))
                _IDENT.append(ident)
    return _IDENT[0]


def warm_up() -> threading.Thread:
    """Load the identifier in a background thread (while the caller loads the model); returns the thread."""
    thread = threading.Thread(target=_identifier, name="langid-load", daemon=True)
    thread.start()
    return thread


def detect_language(text: str) -> tuple[str, bool]:
    """(ISO 639-1 code or ``"und"``, is_german) for one text; never raises on odd input."""
    if not isinstance(text, str):
        return "und", False
    clean = _NOISE.sub(" ", text)
    letters = len(_LETTER.findall(clean))
    if letters == 0:
        return "und", False
    ranked = _identifier().rank(clean)
    top, p_top = ranked[0]
    if top == "de":
        return "de", True
    if letters < SHORT_LETTERS:
        p_de = dict(ranked).get("de", 0.0)
        if p_top < SHORT_OTHER_MIN or p_de >= SHORT_DE_MIN:
            return "de", True
    return str(top), False
