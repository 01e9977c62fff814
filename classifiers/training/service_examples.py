"""The project's own German training examples: thanks for a fix, and the sentences that look like it but are not.

Why: the corpora (tweets about politics and daily life, Deutsche Bahn posts) hardly contain a
customer thanking a service for a fixed problem, and "Problem", "Störung", "Ausfall" are strong
negative cues in them, so models trained on them read "Danke, das Problem ist behoben." as a
complaint -- exactly the follow-up a social-care team wants to see as good news. These examples
teach the distinction with contrast pairs built from the same words:

- positive: a customer thanks for / is glad about a fix ("Danke, die Störung ist behoben!");
- negative: the problem is still there, came back, or the thanks are sarcastic
  ("Danke für nichts, die App geht immer noch nicht.");
- neutral: questions about the fix and factual reports that name a problem without an opinion
  ("Ist die Störung schon behoben?", "Update: Die Störung ist seit 14:30 Uhr behoben.",
  "Köln: Wegen einer Signalstörung kommt es zu Verspätungen auf der Linie S1.").

Fewer negatives than the others: the corpora have plenty; a first set with 200 negatives
(of 560) trained a model that called more neutral GermEval posts negative.

The sentences are generated from hand-written parts with a fixed seed, so the file is
reproducible: ``python -m classifiers.training.service_examples`` rewrites
``service_de.tsv`` (``id \\t label \\t text``, readable by ``fruehwarn model train --data``).
The evaluation probes in ``classifiers/evaluation/service_probes.tsv`` were written separately
and are never generated here (checked by a test).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

SEED = 20261123
OUT = Path(__file__).with_name("service_de.tsv")

THANKS = ["Danke", "Vielen Dank", "Herzlichen Dank", "Danke schön", "Tausend Dank", "Besten Dank",
          "Vielen lieben Dank", "Merci", "Danke euch", "Großes Dankeschön"]
TO = ["an den Support", "an das Serviceteam", "an euch", "an die Technik", "an den Kundenservice",
      "an die Hotline", "an das Team", "für die schnelle Hilfe", "für die schnelle Lösung",
      "für eure Geduld", "für die Rückmeldung", "für den tollen Service"]
# (noun phrase, nominative) of a problem -- combined with RESOLVED / UNRESOLVED
PROBLEMS = ["das Problem", "die Störung", "der Fehler", "der Ausfall", "das Login-Problem", "der Bug",
            "die Netzstörung", "das Verbindungsproblem", "der Fehler in der App", "die Störung im Netz",
            "die Signalstörung", "das Problem mit der Rechnung", "der Fehler bei der Abbuchung",
            "die Weichenstörung", "das Problem mit dem Update"]
RESOLVED = ["ist behoben", "wurde behoben", "wurde gelöst", "ist gelöst", "ist weg", "ist erledigt",
            "wurde schnell behoben", "wurde innerhalb einer Stunde gelöst", "ist endlich behoben",
            "wurde repariert", "hat sich erledigt", "ist seit heute Morgen behoben",
            "wurde super schnell gelöst"]
UNRESOLVED = ["ist immer noch nicht behoben", "ist noch immer da", "besteht weiterhin",
              "wurde natürlich nicht gelöst", "ist schon wieder da", "ist seit drei Tagen nicht behoben",
              "ist nach dem Update wieder da", "wurde angeblich behoben, ist aber noch da"]
# (service, nominative) -- combined with WORKS / BROKEN
SERVICES = ["die App", "das Internet", "das WLAN", "mein Anschluss", "das Onlinebanking", "der Login",
            "die Verbindung", "das Netz", "die Überweisung", "das Streaming", "die Hotline",
            "das Telefon", "die Kartenzahlung", "der Router", "das Kundenkonto", "die Buchung", "die Website"]
WORKS = ["funktioniert wieder", "läuft wieder", "geht wieder", "klappt wieder", "ist wieder da",
         "läuft wieder stabil", "funktioniert wieder einwandfrei", "geht endlich wieder",
         "läuft wieder wie gewohnt", "funktioniert seit heute wieder"]
BROKEN = ["funktioniert immer noch nicht", "geht schon wieder nicht", "ist wieder ausgefallen",
          "läuft immer noch nicht", "stürzt ständig ab", "ist seit Stunden tot", "geht seit gestern nicht",
          "ist schon wieder down", "hängt immer noch", "funktioniert nach dem Update gar nicht mehr"]
CHEERS = ["", "", "", " 👍", " :)", " 🙏", " Weiter so!", " So muss Service sein.", " Top!",
          " Ihr seid klasse.", " Ich bin begeistert.", " Das ging schnell!"]
GRUMBLES = ["", "", " 😡", " Unfassbar.", " Was für ein Saftladen.", " Ich bin echt sauer.",
            " Das nervt.", " So eine Frechheit.", " Ich kündige bald.", " Peinlich."]
CITIES = ["Köln", "Hamburg", "München", "Leipzig", "Frankfurt", "Hannover", "Dortmund", "Stuttgart", "Berlin",
          "Nürnberg", "Bremen", "Dresden"]
CAUSES = ["einer Signalstörung", "einer Weichenstörung", "eines Notarzteinsatzes", "einer Reparatur am Zug",
          "eines Stromausfalls", "einer Streckensperrung", "eines Unwetters", "eines Polizeieinsatzes"]
LINES = ["S1", "S3", "RE1", "RE7", "RB48", "U4", "ICE-Strecke nach Berlin", "S-Bahn-Stammstrecke"]
DAYS = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"]
TIMES = ["heute Morgen", "seit gestern Abend", "seit 8 Uhr", "seit Stunden", "seit drei Tagen", "am Wochenende"]


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _positive(r: random.Random) -> str:
    th, to, p, res, s, w, ch = (r.choice(THANKS), r.choice(TO), r.choice(PROBLEMS), r.choice(RESOLVED),
                                r.choice(SERVICES), r.choice(WORKS), r.choice(CHEERS))
    return r.choice([
        f"{th}, {p} {res}!{ch}",
        f"{cap(p)} {res}. {th} {to}!{ch}",
        f"{cap(s)} {w}. {th} {to}!{ch}",
        f"{th} {to}, {s} {w}.{ch}",
        f"Endlich! {cap(s)} {w}. {th}!{ch}",
        f"Problem gelöst, {th[:1].lower() + th[1:] if th != 'Merci' else th} {to}!{ch}",
        f"{cap(p)} {res} und {s} {w}. {th}!",
        f"Kurzes Feedback: {p} {res}, {s} {w}. {th} {to}.{ch}",
        f"Wollte nur sagen: {s} {w}. {th}!{ch}",
        f"Super, {s} {w}! {th} {to}.",
        f"Freut mich sehr, {p} {res}. {th}!",
        f"Alles wieder gut, {s} {w}. {th} {to}!{ch}",
    ])


def _negative(r: random.Random) -> str:
    th, p, un, s, b, gr, t = (r.choice(THANKS), r.choice(PROBLEMS), r.choice(UNRESOLVED), r.choice(SERVICES),
                              r.choice(BROKEN), r.choice(GRUMBLES), r.choice(TIMES))
    return r.choice([
        f"Danke für nichts, {s} {b}.{gr}",
        f"{cap(p)} {un}.{gr}",
        f"{th} auch, {s} {b}.{gr}",
        f"Angeblich behoben, aber {s} {b}.{gr}",
        f"Von wegen gelöst: {s} {b}.{gr}",
        f"Ihr habt geschrieben, {p} sei behoben. {cap(s)} {b}!{gr}",
        f"{cap(s)} {b}, {p} {un}.{gr}",
        f"Schon wieder: {s} {b}. Danke für gar nichts.{gr}",
        f"Toll gelöst, {s} {b}.{gr}",
        f"Super, {s} {b}. Genau mein Humor.{gr}",
        f"{cap(t)} {s} kaputt und keiner hilft. {cap(p)} {un}.{gr}",
        f"Problem gelöst? Nein! {cap(s)} {b}.{gr}",
        f"{th} für die tolle Lösung... {s} {b}.{gr}",
    ])


def _neutral(r: random.Random) -> str:
    p, s, t = r.choice(PROBLEMS), r.choice(SERVICES), r.choice(TIMES)
    hour = r.choice(["9:15", "11:40", "14:30", "17:05", "22:50"])
    city, other = r.sample(CITIES, 2)
    return r.choice([
        # factual reports that name a problem without an opinion (news, status pages, announcements)
        f"{city}: Wegen {r.choice(CAUSES)} kommt es {t} zu Verspätungen auf der Linie {r.choice(LINES)}.",
        f"Bauarbeiten: Zwischen {city} und {other} fahren am Wochenende Ersatzbusse.",
        f"Der Anbieter meldet eine Störung im Raum {city}, Techniker sind unterwegs.",
        f"Wartung: {cap(s)} ist am Sonntag zwischen 1 und 5 Uhr nicht erreichbar.",
        f"Nach Ende {r.choice(CAUSES)} in {city} fahren die Züge seit {hour} Uhr wieder nach Plan.",
        f"Die Ursache für {p} in {city} wird noch untersucht.",
        f"Am {r.choice(DAYS)} ist {s} wegen eines Updates zeitweise eingeschränkt.",
        f"Ist {p} schon behoben?",
        f"Wann funktioniert {s} wieder?",
        f"Weiß jemand, ob {p} inzwischen gelöst ist?",
        f"Update: {cap(p)} ist seit {hour} Uhr behoben.",
        f"Laut Statusseite ist {p} behoben.",
        f"Hinweis: {cap(p)} wurde um {hour} Uhr gemeldet, die Technik prüft.",
        f"Gibt es Neuigkeiten, ob {s} wieder geht?",
        f"Ist {p} bei euch auch schon gelöst oder nur bei mir?",
        f"Muss ich nach der Störung neu starten, damit {s} wieder geht?",
        f"Frage an den Support: Wird {p} heute noch behoben?",
        f"Meldung {t}: {cap(s)} wird gewartet, {p} ist bekannt.",
        f"Wie lange dauert es normalerweise, bis {p} behoben ist?",
        f"Kann mir jemand sagen, ob {s} {t} wieder läuft?",
    ])


def generate(n_positive: int = 220, n_negative: int = 120, n_neutral: int = 220) -> list[tuple[str, str, str]]:
    """Unique ``(id, label, text)`` rows, the same for the same counts (fixed seed)."""
    r = random.Random(SEED)
    seen: set[str] = set()
    rows = []
    for label, make, n in (("positive", _positive, n_positive), ("negative", _negative, n_negative),
                           ("neutral", _neutral, n_neutral)):
        made = 0
        while made < n:
            text = make(r).replace("  ", " ").strip()
            if text in seen:
                continue
            seen.add(text)
            made += 1
            rows.append((f"own-{label[:3]}-{made:03d}", label, text))
    return rows


def write(path: Path = OUT) -> int:
    rows = generate()
    path.write_text("".join(f"{i}\t{lab}\t{text}\n" for i, lab, text in rows), encoding="utf-8")
    return len(rows)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    print(f"{write(target)} examples written to {target}")
