"""The fruehwarn dashboard (Streamlit): ``streamlit run dashboard/app.py``.

Settings come from FRUEHWARN_CONFIG / FRUEHWARN_DATABASE_URL / FRUEHWARN_DATA_DIR.
Before login only the login page exists; afterwards the navigation offers the pages
the user's role allows (see ``dashboard.auth.PERMISSIONS``).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on the path
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

from config import ConfigError  # noqa: E402
from dashboard import auth, data, ui  # noqa: E402

st.set_page_config(page_title="Frühwarn", page_icon="🛎️", layout="wide")

PAGES = [  # (file, title, icon, url path, permission)
    ("views/lage.py", "Lage", ":material/crisis_alert:", "lage", "triage"),
    ("views/themen.py", "Themen", ":material/trending_up:", "themen", "topics"),
    (
        "views/benachrichtigungen.py",
        "Benachrichtigungen",
        ":material/mail:",
        "benachrichtigungen",
        "notifications",
    ),
    ("views/quellen.py", "Quellen", ":material/rss_feed:", "quellen", "sources"),
    ("views/benutzer.py", "Benutzer", ":material/group:", "benutzer", "users"),
]


def _placeholder(url_path: str):  # type: ignore[no-untyped-def]
    def page() -> None:  # never run: before login only the login form runs
        auth.login_page()

    page.__name__ = f"login_{url_path}"
    return page


try:
    data.settings()
    data.engine()  # connects and checks the schema once per process (cached)
    user = auth.current_user()
except ConfigError as exc:
    st.error(f"Konfigurationsfehler: {exc}")
    st.stop()
except Exception as exc:  # noqa: BLE001 - the database is down or unreachable: say so, do not crash
    st.error(
        f"Datenbank nicht erreichbar: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    )
    st.stop()

if user is None:
    # Whatever page the browser asks for, only the login form runs (no page script, no data).
    # Every page's URL is known here too (no "page not found"), so after login the user lands where they aimed.
    st.navigation(
        [
            st.Page(
                auth.login_page, title="Anmelden", icon=":material/login:", url_path="anmelden", default=True
            )
        ]
        + [st.Page(_placeholder(u), title="Anmelden", url_path=u) for _f, _t, _i, u, _p in PAGES],
        position="hidden",
    )
    auth.login_page()
    st.stop()
else:
    pages = [st.Page(f, title=t, icon=i, url_path=u) for f, t, i, u, perm in PAGES if user.can(perm)]
    nav = st.navigation(pages)
    with st.sidebar:
        st.caption(
            f"Angemeldet als **{ui.md_escape(user.username)}** ({auth.ROLE_DE.get(user.role, user.role)})"
        )
        if st.button("Abmelden", key="logout"):
            auth.logout()
            st.rerun()
    nav.run()
