"""Quellen: health of every source; a source that went silent or keeps failing stands out."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import auth, data, ui

auth.require("sources")
cfg = data.settings()

st.title("Quellen")
health = data.source_health(24)
flagged = health[health["flagged"]]
if health.empty:
    st.info("Noch keine Quellen. Tragen Sie Quellen in der Konfiguration unter `sources:` ein.")
    st.stop()
if flagged.empty:
    st.success(f"Alle {len(health)} Quellen in Ordnung.")
for _, row in flagged.iterrows():
    icon = ":material/error:" if row["status"].startswith("fehlerhaft") else ":material/volume_off:"
    st.error(
        f"{row['status']}: **{ui.md_escape(row['name'])}** – letzter erfolgreicher Abruf "
        f"{ui.fmt_time(row['last_success_at'])}, letzter neuer Beitrag {ui.fmt_time(row['last_new_post_at'])}",
        icon=icon,
    )


def _highlight(row: pd.Series) -> list[str]:
    colour = "background-color: #fde2e2" if row["status"].startswith(("fehlerhaft", "verstummt")) else ""
    return [colour] * len(row)


ui.table(
    "health",
    health.drop(columns=["id", "flagged"]).style.apply(_highlight, axis=1),
    hide_index=True,
    column_config={
        "status": "Zustand",
        "name": "Quelle",
        "type": "Art",
        "url": st.column_config.LinkColumn("Adresse"),
        "last_success_at": "letzter Erfolg",
        "last_attempt_at": "letzter Versuch",
        "last_new_post_at": "letzter neuer Beitrag",
        "posts_per_hour": st.column_config.NumberColumn("Beiträge/Stunde (24 h)", format="%.2f"),
        "errors_24h": "Fehler (24 h)",
        "consecutive_failures": "Fehlschläge in Folge",
    },
)
st.caption(
    f"Verstummt: kein neuer Beitrag seit {cfg.crawl.silent_after / 3600:.0f} h; "
    f"fehlerhaft: {cfg.crawl.failure_flag_after} oder mehr Fehlschläge in Folge."
)

st.markdown("**Letzte Fehler**")
errors = data.crawl_errors(50)
if errors.empty:
    st.caption("Keine fehlgeschlagenen Abrufe.")
else:
    ui.table(
        "errors",
        errors,
        hide_index=True,
        column_config={
            "started_at": "Zeit (UTC)",
            "source": "Quelle",
            "status": "Ergebnis",
            "error_count": "Fehler",
            "error": st.column_config.TextColumn("Meldung", width="large"),
        },
    )
