from pathlib import Path

import pytest

from config import ConfigError, load_settings, parse_duration


def test_defaults_put_sqlite_under_data_dir(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path / "d")
    assert s.db_url == f"sqlite:///{(tmp_path / 'd' / 'fruehwarn.db').resolve()}"
    assert s.sources == []
    assert s.emergence.min_volume >= 1


def test_yaml_with_only_sources_is_valid_and_env_sets_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "sources:\n"
        "  - name: bahn-forum\n    type: discourse\n    url: http://127.0.0.1:9/forum\n    interval: 2m\n"
        "    keywords: [Störung]\n    category: 5\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("FRUEHWARN_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    monkeypatch.setenv("FRUEHWARN_DATA_DIR", str(tmp_path / "dd"))
    s = load_settings(cfg)
    assert s.db_url == f"sqlite:///{tmp_path}/x.db"
    assert s.data_dir == tmp_path / "dd"
    src = s.sources[0]
    assert (src.name, src.type, src.interval, src.keywords, src.language) == (
        "bahn-forum", "discourse", 120.0, ["Störung"], "de")
    assert src.options == {"category": 5}


def test_env_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("emergence:\n  min_volume: 5\n", encoding="utf-8")
    monkeypatch.setenv("FRUEHWARN_EMERGENCE__MIN_VOLUME", "12")
    assert load_settings(cfg).emergence.min_volume == 12


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("emergence:\n  min_volume: viele\n", "emergence.min_volume = 'viele'"),
        ("sources:\n  - {name: a, type: twitter, url: 'http://x'}\n", "sources.0.type = 'twitter'"),
        ("sources:\n  - {name: a, type: rss, url: 'ftp://x'}\n", "expected an http:// or https:// URL"),
        ("sources:\n  - {name: a, type: rss, url: 'http://x', interval: soon}\n", "expected a duration"),
        ("database_url: mysql://x\n", "expected sqlite:///PATH or postgresql"),
        ("emergnce:\n  min_volume: 3\n", "emergnce: unknown key"),
        ("sources:\n  - {name: a, type: rss, url: 'http://x'}\n  - {name: a, type: rss, url: 'http://y'}\n",
         "duplicate source name 'a'"),
    ],
)
def test_wrong_values_name_key_value_and_form(tmp_path: Path, yaml_text: str, expected: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    msg = str(info.value)
    assert expected in msg
    assert "\n" not in msg


def test_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources: [\n  - oops: {\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="cannot read it"):
        load_settings(tmp_path / "missing.yaml")
    cfg.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_settings(cfg)


@pytest.mark.parametrize(("value", "seconds"), [(90, 90.0), ("90s", 90.0), ("5m", 300.0), ("2h", 7200.0),
                                                 ("1d", 86400.0), ("250ms", 0.25)])
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "5 minutes", "-3s", 0, True])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_secret_from_env_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRUEHWARN_SECRET_KEY", "s3cr3t-value")
    s = load_settings()
    assert s.secret_key.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(s)
