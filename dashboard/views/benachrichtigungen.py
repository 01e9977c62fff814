"""Benachrichtigungen: internal alerts and customer notices with per-channel delivery status,
retries, dead letters and the audit trail."""

from __future__ import annotations

import streamlit as st

from dashboard import actions, auth, data, ui

user = auth.require("notifications")

st.title("Benachrichtigungen")
ui.show_flash()
counts = data.delivery_counts()
c = st.columns(4)
c[0].metric("Gesendet", counts.get("sent", 0))
c[1].metric("Wartend", counts.get("pending", 0) + counts.get("sending", 0))
c[2].metric("Mit Fehler, wird wiederholt", counts.get("failed", 0))
c[3].metric("Unzustellbar", counts.get("dead", 0))

notices_tab, alerts_tab, deliveries_tab, audit_tab = st.tabs(
    ["Kundenhinweise", "Interne Alarme", "Zustellungen", "Audit-Protokoll"]
)

with notices_tab:
    ui.table(
        "notices",
        data.notices(),
        hide_index=True,
        column_config={
            "id": "Hinweis",
            "issue_id": "Vorfall",
            "kind": "Art",
            "status": "Status",
            "subject": "Betreff",
            "created_at": "erstellt",
            "approved_by": "freigegeben von",
            "approved_at": "freigegeben am",
            "edited": "bearbeitet",
            "zustellung": st.column_config.TextColumn("Zustellung je Kanal", width="large"),
        },
    )

with alerts_tab:
    ui.table(
        "alerts",
        data.alerts(),
        hide_index=True,
        column_config={
            "id": "Alarm",
            "kind": "Art",
            "status": "Status",
            "title": "Titel",
            "issue_ids": "Vorfälle",
            "created_at": "erstellt",
            "acknowledged_by": "bestätigt von",
            "escalated_at": "eskaliert am",
            "zustellung": st.column_config.TextColumn("Zustellung je Kanal", width="large"),
        },
    )

with deliveries_tab:
    dead = data.deliveries(("dead",))
    st.markdown(f"**Unzustellbar (Dead Letters): {len(dead)}**")
    ui.table("dead", dead, hide_index=True)
    if not dead.empty and user.can("approve"):
        with st.form("retry_dead"):
            chosen = st.selectbox(
                "Zustellung erneut versuchen",
                list(dead["id"]),
                key="retry_id",
                format_func=lambda i: f"Zustellung {i}",
            )
            if st.form_submit_button("Erneut versuchen", key="retry_btn"):
                ui.run_action(actions.retry_dead_delivery, user, int(chosen),
                              ok=f"Zustellung {chosen} wird erneut versucht.")
    st.markdown("**Wiederholte Zustellversuche**")
    ui.table("retries", data.deliveries(retried_only=True), hide_index=True)
    st.markdown("**Alle Zustellungen**")
    statuses = st.multiselect(
        "Status",
        list(data.DELIVERY_DE),
        key="delivery_status",
        format_func=lambda s: data.DELIVERY_DE[s],
        placeholder="alle",
    )
    ui.table("deliveries", data.deliveries(tuple(statuses)), hide_index=True)

with audit_tab:
    kind = st.selectbox("Art des Eintrags", ["alle", *data.audit_entity_types()], key="audit_type")
    ui.table(
        "audit",
        data.audit_trail(None if kind == "alle" else kind),
        hide_index=True,
        column_config={
            "at": "Zeit (UTC)",
            "actor": "wer",
            "action": "Aktion",
            "entity_type": "Art",
            "entity_id": "Nr.",
            "detail": st.column_config.TextColumn("Details", width="large"),
        },
    )
