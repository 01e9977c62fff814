"""Topic trend tables for the Themen page, computed from ``data.topic_daily`` (pure pandas, no I/O)."""

from __future__ import annotations

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def series(daily: pd.DataFrame, labels: pd.DataFrame, granularity: str, top: int = 8) -> pd.DataFrame:
    """Posts per period (rows) for the ``top`` busiest topics (columns named by label)."""
    if daily.empty:
        return pd.DataFrame()
    busiest = daily.groupby("topic_id")["posts"].sum().nlargest(top).index
    sub = daily[daily["topic_id"].isin(busiest)]
    freq = "W-MON" if granularity == "Woche" else "D"
    wide = sub.pivot_table(index="day", columns="topic_id", values="posts", aggfunc="sum", fill_value=0)
    wide = wide.resample(freq, label="left", closed="left").sum()
    wide.columns = [_label(labels, t) for t in wide.columns]
    wide.index.name = "Woche" if granularity == "Woche" else "Tag"
    return wide


def summary(daily: pd.DataFrame, labels: pd.DataFrame, days: int, today: pd.Timestamp) -> pd.DataFrame:
    """One row per topic: volume, sentiment shares and the change between the two halves of the period.

    "zuletzt" counts the newest ``days // 2`` days up to ``today`` (UTC), "vorher" the days before.
    """
    cols = [
        "Thema",
        "Schlüsselwörter",
        "Beiträge",
        "negativ",
        "neutral",
        "positiv",
        "vorher",
        "zuletzt",
        "Veränderung",
    ]
    if daily.empty:
        return pd.DataFrame(columns=cols)
    cut = today.normalize() - pd.Timedelta(days=max(days // 2, 1) - 1)
    g = daily.groupby("topic_id")
    out = pd.DataFrame(
        {
            "Beiträge": g["posts"].sum(),
            "neg": g["negativ"].sum(),
            "neu": g["neutral"].sum(),
            "pos": g["positiv"].sum(),
            "vorher": daily[daily["day"] < cut].groupby("topic_id")["posts"].sum(),
            "zuletzt": daily[daily["day"] >= cut].groupby("topic_id")["posts"].sum(),
        }
    ).fillna(0)
    out["negativ"] = (out["neg"] / out["Beiträge"]).round(3)
    out["neutral"] = (out["neu"] / out["Beiträge"]).round(3)
    out["positiv"] = (out["pos"] / out["Beiträge"]).round(3)
    out["vorher"] = out["vorher"].astype("int64")
    out["zuletzt"] = out["zuletzt"].astype("int64")
    out["Veränderung"] = ((out["zuletzt"] - out["vorher"]) / out["vorher"].clip(lower=1)).round(3)
    out["Thema"] = [_label(labels, t) for t in out.index]
    out["Schlüsselwörter"] = [", ".join(_keywords(labels, t)) for t in out.index]
    out.index.name = "topic_id"
    return out[cols].sort_values("Beiträge", ascending=False)


def rising(table: pd.DataFrame, n: int = 10, min_recent: int = 3) -> pd.DataFrame:
    t = table[(table["zuletzt"] > table["vorher"]) & (table["zuletzt"] >= min_recent)]
    return t.sort_values("Veränderung", ascending=False).head(n)


def falling(table: pd.DataFrame, n: int = 10, min_before: int = 3) -> pd.DataFrame:
    t = table[(table["zuletzt"] < table["vorher"]) & (table["vorher"] >= min_before)]
    return t.sort_values("Veränderung").head(n)


def to_csv(table: pd.DataFrame) -> bytes:
    """CSV (UTF-8 with BOM for Excel, ';' separated) with spreadsheet formulas neutralised."""
    safe = table.copy()
    for col in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[col]):
            safe[col] = [
                ("'" + v) if isinstance(v, str) and v.startswith(_FORMULA_START) else v for v in safe[col]
            ]
    return safe.to_csv(sep=";", encoding="utf-8").encode("utf-8-sig")


def _label(labels: pd.DataFrame, topic_id: int) -> str:
    if topic_id in labels.index and labels.at[topic_id, "label"]:
        return str(labels.at[topic_id, "label"])
    return f"Thema {topic_id}"


def _keywords(labels: pd.DataFrame, topic_id: int) -> list[str]:
    if topic_id in labels.index:
        return list(labels.at[topic_id, "keywords"] or [])[:8]
    return []
