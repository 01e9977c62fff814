"""Lage: open issues by severity with reasons, volume and sentiment, sample posts and the notice draft."""

from __future__ import annotations

import streamlit as st

from dashboard import actions, auth, data, ui

user = auth.require("triage")
cfg = data.settings()

SILENCE_CHOICES = {"1 Stunde": 1, "4 Stunden": 4, "12 Stunden": 12, "24 Stunden": 24, "7 Tage": 168}


def _notice(issue_id: int) -> None:
    notices = data.notices_for_issue(issue_id)
    if not notices:
        st.caption("Kein Kundenhinweis entworfen.")
        return
    drafts = [n for n in notices if n["status"] == "draft"]
    n = drafts[0] if drafts else notices[0]  # a waiting draft first, else the newest notice
    if n["status"] != "draft":
        by = f" von {ui.md_escape(n['approved_by'])}" if n["approved_by"] else ""
        status = data.NOTICE_DE.get(n["status"], n["status"])
        st.info(f"Kundenhinweis {n['id']}: **{status}**{by} – {ui.md_escape(n['subject'])}")
        return
    st.markdown(f"**Kundenhinweis (Entwurf {n['id']}){' – bearbeitet' if n['edited'] else ''}**")
    with st.form(f"notice_{n['id']}"):
        subject = st.text_input("Betreff", value=n["subject"], key=f"subject_{n['id']}", max_chars=300)
        body = st.text_area("Text", value=n["body"], key=f"body_{n['id']}", height=180)
        c1, c2, c3 = st.columns(3)
        approve = c1.form_submit_button("Freigeben", type="primary", key=f"approve_{n['id']}")
        save = c2.form_submit_button("Speichern", key=f"save_{n['id']}")
        reject = c3.form_submit_button("Ablehnen", key=f"reject_{n['id']}")
    changed = subject.strip() != n["subject"].strip() or body.strip() != n["body"].strip()
    if save or (approve and changed):
        try:
            actions.edit_notice(user, n["id"], subject, body)
        except actions.ActionError as exc:
            ui.flash(str(exc), "error")
            st.rerun()
        if save:
            ui.flash(f"Hinweis {n['id']} gespeichert.")
            st.rerun()
    if approve:
        ui.run_action(actions.approve_notice, user, n["id"], ok=f"Hinweis {n['id']} freigegeben; er wird jetzt versendet.")
    if reject:
        ui.run_action(actions.reject_notice, user, n["id"], ok=f"Hinweis {n['id']} abgelehnt.")


def _issue(issue: dict) -> None:  # type: ignore[type-arg]
    iid = issue["id"]
    sev = issue["severity"]
    badge = (
        ":red[:material/error:]"
        if sev >= 70
        else ":orange[:material/warning:]"
        if sev >= 40
        else ":gray[:material/info:]"
    )
    state = "bestätigt" if issue["status"] == "acknowledged" else "offen"
    with st.container(border=True, key=f"issue_{iid}"):
        st.subheader(f"{badge} {ui.md_escape(issue['title'] or 'Vorfall')} ({state})", anchor=False)
        st.caption(
            f"Vorfall {iid} · Schwere {issue['severity']:.0f}/100 · erkannt {ui.fmt_time(issue['first_detected_at'])}"
            + (
                f" · bestätigt von {ui.md_escape(issue['acknowledged_by'])}"
                if issue["acknowledged_by"]
                else ""
            )
            + (f" · stumm bis {ui.fmt_time(issue['silenced_until'])}" if issue["silenced_until"] else "")
        )
        m = st.columns(4)
        m[0].metric("Beiträge", issue["post_count"])
        m[1].metric("Anteil negativ", f"{issue['negative_share']:.0%}")
        m[2].metric("Quellen", issue["source_count"])
        m[3].metric("Autor:innen", issue["author_count"])
        st.markdown("**Gründe**")
        st.text(issue["reasons"] or "–")
        st.markdown("**Schlüsselwörter**")
        st.text(", ".join(issue["keywords"] or []) or "–")
        left, right = st.columns([3, 2])
        with left:
            st.markdown("**Verlauf (24 h)**")
            ui.sentiment_bars(data.issue_volume(iid, 24), height=200)
            st.markdown("**Beispielbeiträge**")
            for p in data.sample_posts(iid, 5):
                with st.container(border=True):
                    st.caption(
                        f"{ui.md_escape(p['source'])} · {ui.fmt_time(p['published_at'])} · "
                        f"{data.SENTIMENTS_DE.get(p['sentiment'], 'ohne')}"
                    )
                    st.text(p["text"])
                    url = ui.safe_url(p["url"])
                    if url:
                        st.link_button("Zum Beitrag ↗", url)
        with right:
            _notice(iid)
            st.markdown("**Aktionen**")
            b1, b2 = st.columns(2)
            if issue["status"] == "open" and b1.button("Bestätigen", key=f"ack_{iid}"):
                ui.run_action(actions.acknowledge_issue, user, iid, ok=f"Vorfall {iid} bestätigt.")
            if b2.button("Erledigt", key=f"resolve_{iid}"):
                ui.run_action(actions.resolve_issue, user, iid, ok=f"Vorfall {iid} als erledigt markiert.")
            with st.form(f"silence_{iid}"):
                choice = st.selectbox("Stummschalten für", list(SILENCE_CHOICES), key=f"silence_len_{iid}")
                reason = st.text_input("Grund", key=f"silence_reason_{iid}")
                if st.form_submit_button("Stummschalten", key=f"silence_btn_{iid}"):
                    ui.run_action(
                        actions.silence_issue,
                        user,
                        iid,
                        SILENCE_CHOICES[choice],
                        reason,
                        ok=f"Vorfall {iid} stummgeschaltet.",
                    )


@st.fragment(run_every=cfg.dashboard.refresh_seconds)
def lage() -> None:
    issues = data.open_issues()
    volume = data.volume_by_hour(24)
    day = volume.sum()
    total = int(day.sum())
    c = st.columns(4)
    c[0].metric("Offene Vorfälle", sum(1 for i in issues if i["status"] == "open"))
    c[1].metric("Bestätigt", sum(1 for i in issues if i["status"] == "acknowledged"))
    c[2].metric("Beiträge letzte Stunde", data.posts_in_window(1))
    c[3].metric("Negativ (24 h)", f"{(day['negativ'] / total if total else 0):.0%}")
    st.markdown("**Beiträge pro Stunde nach Stimmung (24 h, UTC)**")
    ui.sentiment_bars(volume, height=240)
    if not issues:
        st.success("Keine offenen Vorfälle.")
    for issue in issues:
        _issue(issue)
    st.caption(
        f"Stand {ui.fmt_time(data.db_time())} · aktualisiert sich alle {cfg.dashboard.refresh_seconds} s"
    )


st.title("Lage")
ui.show_flash()
lage()
