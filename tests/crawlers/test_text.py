"""Normalisation: HTML stripped, entities decoded after stripping, whitespace folded, UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from crawlers.text import content_hash, fold_ws, html_to_text, join_title_body, plain_text, to_utc_naive


def test_html_to_text_strips_tags_scripts_and_keeps_words_apart() -> None:
    html = "<p>Kein <b>Netz</b></p><p>seit&nbsp;heute</p><script>track()</script><style>p{}</style><br>Gruß"
    assert html_to_text(html) == "Kein Netz seit heute Gruß"


def test_entities_that_survive_one_round_are_decoded_after_stripping() -> None:
    # a feed's summary HTML carrying &amp;uuml; comes out of the XML parser as &uuml; text
    assert html_to_text("<p>Tarife &amp;uuml;ber alle Laufzeiten</p>") == "Tarife über alle Laufzeiten"
    assert html_to_text("f&uuml;r Gro&szlig;kunden &ndash; jetzt") == "für Großkunden – jetzt"


def test_plain_text_does_not_treat_comparisons_as_tags() -> None:
    assert plain_text("Ping a<b und c>d  \n\n ok") == "Ping a<b und c>d ok"
    assert plain_text("Q&amp;A") == "Q&A"
    assert plain_text(None) == ""


def test_fold_ws_folds_every_kind_of_space() -> None:
    assert fold_ws("  a\t\n b\u00a0c\u200b ") == "a b c"


def test_join_title_body() -> None:
    assert join_title_body("Störung", "Kein Netz") == "Störung\n\nKein Netz"
    assert join_title_body("", "Kein Netz") == "Kein Netz"
    assert join_title_body("Störung", "") == "Störung"
    assert join_title_body("Störung Hamburg", "Störung Hamburg: kein Netz") == "Störung Hamburg: kein Netz"


def test_content_hash_ignores_case_and_spacing_only() -> None:
    assert content_hash("Kein  Netz\nin Hamburg") == content_hash("kein netz in HAMBURG")
    assert content_hash("Kein Netz in Hamburg") != content_hash("Kein Netz in Bremen")


def test_to_utc_naive_from_every_form() -> None:
    expected = datetime(2025, 5, 12, 7, 42, 11)
    assert to_utc_naive("2025-05-12T07:42:11.000Z") == expected
    assert to_utc_naive("2025-05-12T09:42:11+02:00") == expected
    assert to_utc_naive("Mon, 12 May 2025 09:42:11 +0200") == expected
    assert to_utc_naive(1747035731) == expected
    assert to_utc_naive("1747035731.0") == expected
    assert to_utc_naive(datetime(2025, 5, 12, 0, 42, 11, tzinfo=timezone(timedelta(hours=-7)))) == expected
    assert to_utc_naive(datetime(2025, 5, 12, 7, 42, 11, tzinfo=UTC)) == expected
    assert to_utc_naive(expected) == expected  # naive input is UTC already
    assert to_utc_naive("gestern") is None
    assert to_utc_naive(None) is None
