"""Themen: topic trends over days and weeks, sentiment per topic, rising and falling topics, CSV export."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import auth, data, trends, ui

auth.require("topics")

PERIODS = {"7 Tage": 7, "30 Tage": 30, "90 Tage": 90}

st.title("Themen")
names = data.source_names()
f1, f2, f3, f4 = st.columns([1, 1, 2, 1])
period = f1.selectbox("Zeitraum", list(PERIODS), index=1, key="period")
granularity = f2.radio("Auflösung", ["Tag", "Woche"], horizontal=True, key="granularity")
chosen = f3.multiselect("Quellen", list(names.values()), key="sources", placeholder="alle Quellen")
langs = f4.multiselect("Sprache", data.languages(), key="langs", placeholder="alle Sprachen")
days = PERIODS[period]
source_ids = tuple(sorted(i for i, n in names.items() if n in chosen))
daily = data.topic_daily(days, source_ids, tuple(sorted(langs)))
labels = data.topics()

if daily.empty:
    st.info("Keine Beiträge mit Thema in diesem Zeitraum und dieser Auswahl.")
    st.stop()

st.markdown(f"**Beiträge pro {granularity} – die größten Themen**")
ui.trend_lines(trends.series(daily, labels, granularity), height=280)

table = trends.summary(daily, labels, days, pd.Timestamp(data.db_time()))
percent = st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0)
change = st.column_config.NumberColumn("Veränderung", format="percent")
config = {"negativ": percent, "neutral": percent, "positiv": percent, "Veränderung": change}
up, down = st.columns(2)
with up:
    st.markdown(f"**Steigende Themen** (letzte {max(days // 2, 1)} Tage gegen die davor)")
    ui.table(
        "rising",
        trends.rising(table),
        column_config=config,
        hide_index=True,
        column_order=["Thema", "Veränderung", "zuletzt", "vorher", "Schlüsselwörter"],
    )
with down:
    st.markdown("**Fallende Themen**")
    ui.table(
        "falling",
        trends.falling(table),
        column_config=config,
        hide_index=True,
        column_order=["Thema", "Veränderung", "zuletzt", "vorher", "Schlüsselwörter"],
    )

st.markdown("**Alle Themen: Volumen und Stimmungsanteile**")
ui.table("topics_table", table, column_config=config, hide_index=True)
st.download_button(
    "CSV exportieren", trends.to_csv(table), file_name=f"themen_{days}tage.csv", mime="text/csv", key="csv"
)
