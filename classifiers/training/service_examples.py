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

A second set, ``service_faults_de.tsv`` (session 9; 110 rows), is **not** in the shipped model's
recipe; it was written because the shipped models read a customer's own fault report as neutral
when it ends in a question or states the fault flatly ("Seit heute Morgen kein Internet hier. Ist
das bekannt?"), and emergence counts negative posts, so such an incident rises late:

- negative: a customer reports a fault that hits them -- flatly, with a consequence, or ending
  in a question ("Bei mir lädt die App seit 8 Uhr nicht. Geht das noch jemandem so?");
- neutral, as counterweight: third-party status notes about a fault and how-to questions that
  report no fault of the writer's own ("Wo kann ich eine Störung melden?");
- positive, the contrast pair of a fault report: the fault is gone, said with a negation
  ("Das WLAN bricht seit der Reparatur nicht mehr ab. Danke!") -- without these, the fault
  reports taught a model to read "stürzt nicht mehr ab" as a complaint.

A third set, ``service_sarcasm_de.tsv``, holds 20 sarcastic thanks for a failure as negative
("Danke, dass sich seit einer Woche niemand meldet.", "Respekt, ... Das muss man erst mal
schaffen."; drawn in session 9 as part of the second, split off in session 10 without changing a
sentence) and, since session 11, 20 sincere thanks of the same form as positive ("Toll, dass ich
nach drei Tagen endlich wieder Internet habe.", "Respekt, die Buchung geht wieder. Das ging
schneller als gedacht."). Alone, the sarcastic ones taught a model to read plain enthusiasm as
sarcasm ("Die Aktion zum Jubiläum ist spitze, weiter so!" negative 0.94) and the replay's happy
campaign raised two false alarms; the sincere ones are their contrast pairs, so that the form
("Toll, dass ...") stops being the cue and what the thanks are for decides. In no shipped recipe
(see classifiers/weights/README.md, session 11).

Trained with the first two sets and the own examples held to the original e5 embedding
(``--gold ... --gold-embed-distill 5``), a model read the replay's incident posts more often as
negative and kept them apart from the standing themes (replay 5 / 5 with at most one false
alarm, four models); without ``--gold-embed-distill`` the fault reports pulled every complaint
together in the topic embedding and the replay's double debit joined a standing complaint topic.
Not shipped: none of those models read the corpora better than the shipped one. See
classifiers/weights/README.md, "Session 9" and "Session 10".

The sentences are generated from hand-written parts with a fixed seed, so the file is
reproducible: ``python -m classifiers.training.service_examples`` rewrites the three files
(``id \\t label \\t text``, readable by ``fruehwarn model train --data`` or ``--gold``).
The evaluation probes in ``classifiers/evaluation/service_probes.tsv`` were written separately
and are never generated here (checked by a test).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

SEED = 20261123
OUT = Path(__file__).with_name("service_de.tsv")
FAULTS_OUT = Path(__file__).with_name("service_faults_de.tsv")
SARCASM_OUT = Path(__file__).with_name("service_sarcasm_de.tsv")
FILES = {"service": OUT, "faults": FAULTS_OUT, "sarcasm": SARCASM_OUT}

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


# (service, nominative) that a customer reports as not working -- with FAILS
MINE = ["das Internet", "das WLAN", "der Festnetzanschluss", "das Telefon", "die App", "das Onlinebanking",
        "die Kartenzahlung", "das Kundenportal", "der Router", "das Streaming", "das Handy", "die Website",
        "die Überweisung", "der Login", "das Glasfaser-Internet", "die Kabelbox", "das Mailpostfach"]
FAILS = ["geht nicht", "funktioniert nicht", "ist ausgefallen", "lädt nicht", "bricht ständig ab",
         "hat keine Verbindung", "zeigt nur eine Fehlermeldung", "reagiert nicht mehr", "ist extrem langsam",
         "ist komplett weg", "startet nicht", "hängt sich dauernd auf"]
MISSING = ["kein Internet", "kein Empfang", "keine Verbindung", "kein Telefon", "kein WLAN", "kein Fernsehen",
           "keine mobilen Daten", "kein Zugriff aufs Konto", "keine Mails"]
ASK = ["", "", " Ist das bekannt?", " Geht das noch jemandem so?", " Was ist da los?", " Wisst ihr schon was?",
       " Wann geht das wieder?", " Bitte um Hilfe.", " Kann mal jemand schauen?", " Ist da was kaputt?",
       " Liegt das an euch?"]
CONSEQUENCES = ["ich kann nicht arbeiten", "ich komme nicht an meine Mails", "das Homeoffice fällt flach",
                "ich kann nichts bezahlen", "ich erreiche niemanden", "die Kinder können keine Hausaufgaben machen",
                "ich verpasse meinen Termin", "der Laden kann keine Karten annehmen"]
CHARGES = ["Der Betrag wurde zweimal belastet", "Mir wurden 80 Euro zu viel berechnet",
           "Die Rechnung ist viel zu hoch", "Ich soll einen Tarif bezahlen, den ich nie gebucht habe",
           "Die Gutschrift fehlt immer noch auf der Rechnung", "Es wurde eine Mahngebühr berechnet, obwohl ich bezahlt habe"]
# what the sarcastic thanks are for (a subordinate clause after "dass")
FAILURES = ["ich seit drei Tagen ohne Internet dasitze", "ihr meinen Techniker-Termin schon wieder verschoben habt",
            "sich seit einer Woche niemand meldet", "ich für einen Anschluss bezahle, der nie funktioniert",
            "mein Anschluss schon wieder tot ist", "ich heute wegen euch nicht arbeiten kann",
            "ich die Rechnung zum dritten Mal reklamieren darf", "mir die Hotline einfach auflegt",
            "ihr meine Kündigung verschlampt habt", "das Paket schon wieder an der falschen Adresse liegt",
            "die App nach jedem Update weniger kann", "mein Geld seit einem Monat nicht zurückkommt"]

# what sincere thanks of the same form are for: the contrast pair of FAILURES (session 11)
FAVOURS = ["ich nach drei Tagen endlich wieder Internet habe", "ihr mir so schnell einen Techniker-Termin gegeben habt",
           "sich sofort jemand gemeldet hat", "mein Anschluss nach der Reparatur wieder einwandfrei läuft",
           "ich heute dank euch wieder arbeiten kann", "die Rechnung beim ersten Anruf korrigiert wurde",
           "die Hotline mir so geduldig geholfen hat", "ihr meine Kündigung so schnell bestätigt habt",
           "das Paket trotz Streik pünktlich da war", "die App nach dem Update wieder flüssig läuft",
           "mein Geld schon nach zwei Tagen zurück war", "der Techniker auch am Samstag gekommen ist"]

GONE = ["stürzt nicht mehr ab", "bricht nicht mehr ab", "hängt sich nicht mehr auf", "zeigt keine Fehlermeldung mehr",
        "ist nicht mehr so langsam", "fällt nicht mehr aus", "macht keine Probleme mehr", "hat keine Aussetzer mehr"]
SINCE = ["seit der Reparatur", "seit dem Technikerbesuch", "seit gestern", "seit dem Routertausch",
         "seit eurem Fix", "seit der Umstellung"]
PRAISE = ["Danke!", "Gute Arbeit!", "Sehr gut!", "Bin zufrieden.", "Top!", "Endlich!", "Vielen Dank an das Team!",
          "So soll es sein."]


def _fault_gone(r: random.Random) -> str:
    """A fault is gone, said with a negation: positive (the contrast pair of a fault report)."""
    s, g, since, praise = r.choice([m for m in MINE if m != "die App"]), r.choice(GONE), r.choice(SINCE), r.choice(PRAISE)
    verb, rest = g.split(" ", 1)
    if rest.startswith("sich "):  # "hängt sich seit gestern nicht mehr auf"
        verb, rest = verb + " sich", rest[5:]
    th = r.choice(THANKS)
    return r.choice([
        f"{cap(s)} {verb} {since} {rest}. {praise}",
        f"{cap(since)} {verb} {s} {rest}. {praise}",
        f"Gute Nachricht: {s} {g}. {praise}",
        f"Kurzes Update von mir: {s} {g}, {th[:1].lower() + th[1:]}!",
    ])


def _fault_report(r: random.Random) -> str:
    """A customer's own fault report: negative, also when it is phrased flatly or ends in a question."""
    s, f, m, t, ask = r.choice(MINE), r.choice(FAILS), r.choice(MISSING), r.choice(TIMES), r.choice(ASK)
    city = r.choice(CITIES)
    verb, rest = f.split(" ", 1)  # the time goes between them: "geht seit 8 Uhr nicht"
    return r.choice([
        f"Bei mir {verb} {s} {t} {rest}.{ask}",
        f"{cap(t)} {m} hier in {city}.{ask}",
        f"{cap(s)} {f}, {r.choice(CONSEQUENCES)}.{ask}",
        f"{cap(m)} {t}, {r.choice(CONSEQUENCES)}.",
        f"{cap(s)} {verb} {t} {rest}.{ask}",
        f"Hallo, {s} {verb} {t} {rest}.{ask}",
        f"{city}: bei uns {t} {m}.{ask}",
        f"{r.choice(CHARGES)}.{ask}",
        f"Neustart gemacht, Kabel geprüft, {s} {f}.{ask}",
        f"Schon wieder {m}. {cap(s)} {verb} {t} {rest}.",
    ])


def _sarcastic(r: random.Random) -> str:
    """Thanks or praise that mean the opposite: negative."""
    th, fail, s, b = r.choice(THANKS), r.choice(FAILURES), r.choice(SERVICES), r.choice(BROKEN)
    t, m = r.choice(TIMES), r.choice(MISSING)
    return r.choice([
        f"{th}, dass {fail}.",
        f"{th}, dass {fail}. Ganz toller Service.",
        f"Toll, dass {fail}.",
        f"Super, dass {fail}. Echt klasse.",
        f"Großartig, wie schnell ihr seid: {s} {b}.",
        f"Ein Hoch auf euren Service: {s} {b}, und niemand entschuldigt sich.",
        f"Respekt, {s} {b}. Das muss man erst mal schaffen.",
        f"Wunderbar, {t} {m} und keiner fühlt sich zuständig.",
    ])


def _sincere(r: random.Random) -> str:
    """Thanks and praise of the sarcastic sentences' form that mean what they say: positive."""
    th, fav, s, w = r.choice(THANKS), r.choice(FAVOURS), r.choice(SERVICES), r.choice(WORKS)
    t = r.choice(["heute Morgen", "nach drei Tagen", "nach einer Stunde", "am Wochenende", "noch am selben Tag"])
    return r.choice([
        f"{th}, dass {fav}.",
        f"{th}, dass {fav}. Ganz toller Service.",
        f"Toll, dass {fav}.",
        f"Super, dass {fav}. Echt klasse.",
        f"Großartig, wie schnell ihr seid: {s} {w}.",
        f"Ein Hoch auf euren Service: {s} {w}, und jemand hat sich sogar entschuldigt.",
        f"Respekt, {s} {w}. Das ging schneller als gedacht.",
        f"Wunderbar, {t} war alles repariert und die Technikerin war supernett.",
    ])


def _neutral_about_faults(r: random.Random) -> str:
    """Status notes by others and how-to questions that report no fault of the writer's own: neutral."""
    s, city, hour = r.choice(MINE), r.choice(CITIES), r.choice(["9:15", "11:40", "14:30", "17:05", "22:50"])
    return r.choice([
        f"Wo kann ich eine Störung melden, falls {s} mal nicht geht?",
        f"Gibt es eine Seite, auf der Störungen in {city} angezeigt werden?",
        "Wie melde ich einen Fehler in der App?",
        f"Laut Anbieter ist {s} in {city} seit {hour} Uhr wieder verfügbar.",
        f"Störungsmeldung für {city}: {s} ist eingeschränkt, Techniker sind informiert.",
        "Welche Hotline ist für Störungen beim Festnetz zuständig?",
        "Muss ich bei einer Störung den Router selbst neu starten oder macht ihr das?",
        f"Wird man informiert, wenn eine Störung in {city} behoben ist?",
        f"Der Störungsmelder zeigt für {city} seit {hour} Uhr eine Meldung: {cap(s)} ist gestört.",
        "Bekommt man bei einem längeren Ausfall eine Gutschrift?",
    ])


def generate(n_positive: int = 220, n_negative: int = 120, n_neutral: int = 220, n_fault: int = 50,
             n_sarcastic: int = 20, n_neutral_faults: int = 30,
             n_fault_gone: int = 30, n_sincere: int = 20) -> dict[str, list[tuple[str, str, str]]]:
    """Unique ``(id, label, text)`` rows of the sets (``"service"``, ``"faults"``, ``"sarcasm"``), the same
    for the same counts (fixed seed; the later sets are drawn after the first, so they never change it)."""
    r = random.Random(SEED)
    seen: set[str] = set()
    sets: dict[str, list[tuple[str, str, str]]] = {"service": [], "faults": [], "sarcasm": []}
    made: dict[str, int] = {}
    for name, label, make, n in (
            ("service", "positive", _positive, n_positive), ("service", "negative", _negative, n_negative),
            ("service", "neutral", _neutral, n_neutral), ("faults", "negative", _fault_report, n_fault),
            ("sarcasm", "negative", _sarcastic, n_sarcastic), ("faults", "neutral", _neutral_about_faults, n_neutral_faults),
            ("faults", "positive", _fault_gone, n_fault_gone), ("sarcasm", "positive", _sincere, n_sincere)):
        target = made.get(label, 0) + n
        while made.get(label, 0) < target:
            text = make(r).replace("  ", " ").strip()
            if text in seen:
                continue
            seen.add(text)
            made[label] = made.get(label, 0) + 1
            sets[name].append((f"own-{label[:3]}-{made[label]:03d}", label, text))
    return sets


def write(folder: Path = OUT.parent) -> dict[Path, int]:
    """Write the sets into ``folder``; return the rows written per file."""
    written = {}
    for name, rows in generate().items():
        path = folder / FILES[name].name
        path.write_text("".join(f"{i}\t{lab}\t{text}\n" for i, lab, text in rows), encoding="utf-8")
        written[path] = len(rows)
    return written


if __name__ == "__main__":
    for path, n in write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT.parent).items():
        print(f"{n} examples written to {path}")
