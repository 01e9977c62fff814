"""Benutzer (admin only): list users, add one, change a role, lock or unlock an account."""

from __future__ import annotations

import streamlit as st

from dashboard import actions, auth, data, ui
from storage.users import ROLES

user = auth.require("users")

st.title("Benutzer")
ui.show_flash()
table = data.users()
ui.table(
    "users",
    table.assign(role=[auth.ROLE_DE.get(r, r) for r in table["role"]]),
    hide_index=True,
    column_config={
        "username": "Benutzername",
        "role": "Rolle",
        "disabled": "gesperrt",
        "created_at": "angelegt",
        "last_login_at": "letzte Anmeldung",
    },
)


left, right = st.columns(2)
with left, st.form("add_user", clear_on_submit=True):
    st.markdown("**Benutzer anlegen**")
    name = st.text_input("Benutzername", key="new_username")
    password = st.text_input("Passwort (mindestens 8 Zeichen)", type="password", key="new_password")
    role = st.selectbox("Rolle", ROLES, key="new_role", format_func=lambda r: auth.ROLE_DE.get(r, r))
    if st.form_submit_button("Anlegen", key="add_user_btn"):
        ui.run_action(actions.add_user, user, name, password, role, ok=f"Benutzer {name} angelegt.")
with right, st.form("change_user"):
    st.markdown("**Benutzer ändern**")
    target = st.selectbox("Benutzer", list(table["username"]), key="target_user")
    new_role = st.selectbox(
        "Neue Rolle", ROLES, key="target_role", format_func=lambda r: auth.ROLE_DE.get(r, r)
    )
    c1, c2, c3 = st.columns(3)
    if c1.form_submit_button("Rolle setzen", key="set_role_btn"):
        ui.run_action(actions.set_user_role, user, target, new_role, ok=f"Rolle von {target} geändert.")
    if c2.form_submit_button("Sperren", key="lock_btn"):
        ui.run_action(actions.set_user_disabled, user, target, True, ok=f"{target} gesperrt.")
    if c3.form_submit_button("Entsperren", key="unlock_btn"):
        ui.run_action(actions.set_user_disabled, user, target, False, ok=f"{target} entsperrt.")
