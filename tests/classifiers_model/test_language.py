from __future__ import annotations

import pytest

from classifiers.language import detect_language


@pytest.mark.parametrize("text", [
    "Die App stürzt seit dem Update ständig ab, danke für nichts",
    "Wo bleibt mein Paket? Seit einer Woche keine Sendungsverfolgung.",
    "@DB_Bahn wieso fällt der RE1 schon wieder aus?",
    "Danke!", "Super Service", "Störung",
])
def test_german_is_german(text: str) -> None:
    assert detect_language(text) == ("de", True)


@pytest.mark.parametrize("text, lang", [
    ("The train is late again, this is unbelievable", "en"),
    ("Le train est encore en retard, c'est incroyable", "fr"),
    ("Il treno è di nuovo in ritardo, è incredibile", "it"),
    ("Thank you so much!", "en"),
    ("Merci beaucoup", "fr"),
])
def test_other_languages_are_flagged(text: str, lang: str) -> None:
    assert detect_language(text) == (lang, False)


@pytest.mark.parametrize("text", ["", "   ", "😡😡😡", "https://t.co/abc123", "12345 !!!", "@DB_Bahn #"])
def test_nothing_to_judge_is_undetermined(text: str) -> None:
    assert detect_language(text) == ("und", False)


def test_non_string_does_not_raise() -> None:
    assert detect_language(None) == ("und", False)  # type: ignore[arg-type]


def test_warm_up_loads_the_identifier_once_beside_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    import py3langid.langid as pl

    from classifiers import language

    loads = []
    real = pl.LanguageIdentifier.from_model_file

    def counting(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        loads.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(pl.LanguageIdentifier, "from_model_file", staticmethod(counting))
    monkeypatch.setattr(language, "_IDENT", [])
    thread = language.warm_up()
    assert language.detect_language("Die App stürzt seit dem Update ständig ab.") == ("de", True)
    thread.join(timeout=60)
    assert not thread.is_alive() and len(loads) == 1
