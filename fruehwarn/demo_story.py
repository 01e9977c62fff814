"""The demo world's storyline: German posts about a fictional carrier, "NordNetz".

A week of ordinary chatter (questions, praise, the odd complaint) gives the detector
its baseline; then, a few seconds into the live demo, a network outage in Hamburg
("Störung", "kein Netz", "App stürzt ab") rises across the RSS community feed, Mastodon
and the Discourse forum, written by many different people; later the posts say it is
fixed. Everything is generated from a fixed seed, so each demo run tells the same story.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PLATFORMS = ("rss", "mastodon", "discourse")
INCIDENT = "netzstoerung-hamburg"


@dataclass(frozen=True)
class StoryPost:
    """One post of the story; ``offset`` is seconds after the demo's start (negative: history)."""

    key: int  # unique, increasing with offset
    platform: str  # rss | mastodon | discourse
    offset: float
    author: str
    text: str
    title: str | None = None  # RSS items and Discourse topics have titles
    topic: int | None = None  # Discourse topic number (posts of one thread share it)
    label: str | None = None  # incident label (for replay scoring)


_CHATTER = [
    ("Wie kann ich meinen Tarif bei NordNetz wechseln? Finde die Option in der App nicht.", "Tarifwechsel in der App"),
    ("Danke an den NordNetz Support, mein Router war in zwei Tagen da. Top!", "Lob für den Support"),
    ("Gibt es bei NordNetz eigentlich schon eSIM für die Apple Watch?", "eSIM für die Watch?"),
    ("Die neue Rechnung ist übersichtlicher als früher, gefällt mir.", "Neue Rechnung"),
    ("Weiß jemand, ob das Roaming in der Schweiz im Tarif M enthalten ist?", "Roaming Schweiz"),
    ("Super Empfang im ICE zwischen Berlin und Leipzig, hätte ich nicht gedacht.", "Empfang im ICE"),
    ("Kann man die Rufnummer von einem anderen Anbieter zu NordNetz mitnehmen?", "Rufnummernmitnahme"),
    ("Das Datenvolumen-Upgrade hat sofort geklappt, danke!", "Datenvolumen nachbuchen"),
    ("Wann kommt 5G nach Lüneburg? Hat jemand Infos?", "5G in Lüneburg"),
    ("Hotline war freundlich, aber die Wartezeit war lang.", "Wartezeit Hotline"),
    ("Ich suche einen günstigen Tarif für meine Oma, Empfehlungen?", "Tarif für Senioren"),
    ("Die Rechnung kam diesen Monat doppelt per Mail, ist das normal?", "Rechnung doppelt"),
    ("Glasfaser-Anschluss endlich freigeschaltet, 500 Mbit laufen stabil.", "Glasfaser läuft"),
    ("Wie aktiviere ich WLAN-Call auf meinem Android-Handy?", "WLAN-Call aktivieren"),
    ("NordNetz Gewinnspiel: habe tatsächlich Kopfhörer gewonnen, freue mich riesig!", "Gewinnspiel gewonnen"),
]

_OUTAGE = [
    "Seit einer halben Stunde kein Netz in Hamburg, NordNetz Störung?",
    "Bei mir in Altona auch kein Netz, nur Notruf möglich. Störung bei NordNetz?",
    "Störung? Kein Netz in Hamburg-Eimsbüttel, Internet zuhause auch weg.",
    "NordNetz Störung in Hamburg: kein Netz, keine mobilen Daten, gar nichts.",
    "Die NordNetz App stürzt ab, sobald ich die Störungsmeldung öffnen will. Kein Netz seit 10 Uhr.",
    "Kein Netz in Hamburg Mitte, die App stürzt ab. Was ist da los, NordNetz?",
    "Komplett kein Netz in Wandsbek. Störung gemeldet, Hotline nicht erreichbar.",
    "Netzausfall bei NordNetz in Hamburg? Kein Netz seit heute Vormittag, Homeoffice unmöglich.",
    "Kein Netz und die NordNetz App stürzt beim Login ab. Großartig, danke für nichts.",
    "Hamburg Harburg: Störung, kein Netz, keine Daten. Wann geht es wieder?",
    "Ist das eine größere Störung? Kein Netz in ganz Hamburg bei NordNetz.",
    "Seit Stunden kein Netz, Störung bei NordNetz in Hamburg. Kunden werden nicht informiert!",
]

_FIXED = [
    "Netz ist wieder da in Hamburg, danke NordNetz. Störung behoben.",
    "Bei mir läuft wieder alles, kein Problem mehr mit dem Netz.",
    "Störung scheint behoben, Internet in Altona geht wieder.",
]

_FIRST = ["anna", "ben", "clara", "deniz", "elif", "finn", "greta", "hannes", "ida", "jonas", "kira", "lars",
          "mila", "noah", "oskar", "paula", "quentin", "rosa", "sven", "tina", "umut", "vera", "willi", "yara"]
_CITIES = ["hh", "hamburg", "altona", "kiel", "bremen", "berlin", "luebeck", "hh2", "nord", "elbe"]


def _author(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)}_{rng.choice(_CITIES)}{rng.randint(1, 99)}"


def build_story(*, seed: int = 7, history_days: float = 7.0, history_posts: int = 420,
                outage_start: float = 20.0, outage_posts: int = 48, outage_span: float = 70.0,
                fixed_at: float = 240.0, chatter_every: float = 6.0, live_span: float = 600.0) -> list[StoryPost]:
    """The whole story, sorted by offset."""
    rng = random.Random(seed)
    raw: list[tuple[float, str, str, str, str | None, str | None]] = []
    # a week of history: chatter spread over the days, more by day than by night
    for _ in range(history_posts):
        day = rng.uniform(0, history_days)
        hour = rng.choice([7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 1, 3])
        off = -(day * 86400) - hour * 60 - rng.uniform(0, 3600)
        text, title = rng.choice(_CHATTER)
        raw.append((off, rng.choice(PLATFORMS), _author(rng), text, title, None))
    # live chatter all through the demo
    t = 2.0
    while t < live_span:
        text, title = rng.choice(_CHATTER)
        raw.append((t, rng.choice(PLATFORMS), _author(rng), text, title, None))
        t += rng.uniform(chatter_every * 0.5, chatter_every * 1.5)
    # the outage: many people, three platforms, rising fast
    for i in range(outage_posts):
        off = outage_start + outage_span * (i / outage_posts) ** 0.8 + rng.uniform(0, 1.5)
        text = _OUTAGE[i % len(_OUTAGE)]
        raw.append((off, PLATFORMS[i % 3], _author(rng), text, "Störung: kein Netz in Hamburg", INCIDENT))
    for i, text in enumerate(_FIXED):
        raw.append((fixed_at + 10 * i, PLATFORMS[i % 3], _author(rng), text, "Störung behoben", None))
    raw.sort(key=lambda r: r[0])
    out: list[StoryPost] = []
    titles: dict[str, int] = {}  # title -> index
    counts: dict[str, int] = {}  # title -> forum posts so far
    for key, (off, platform, author, text, title, label) in enumerate(raw, start=1):
        topic = None
        if platform == "discourse":
            # forum: posts with one title form threads of at most 15 posts
            base = title or "Allgemein"
            idx = titles.setdefault(base, len(titles))
            n = counts[base] = counts.get(base, 0) + 1
            topic = 1000 + idx * 100 + (n - 1) // 15
        out.append(StoryPost(key=key, platform=platform, offset=off, author=author, text=text,
                             title=title, topic=topic, label=label))
    return out
