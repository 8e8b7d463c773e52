"""A browser tab's token, kept across a reload of that tab: an invisible Streamlit component.

Every session has a fresh random token (``dashboard.state.tab_token``). The
component writes it to the tab's sessionStorage, which a reload keeps but
another tab (or another person) never sees, and reports the token that was
there before, i.e. the token of the session the reload replaced ("" in a new
tab). A duplicated tab starts with a copy of the storage, then writes its own
token: it gets a copy of the things, and the two tabs go their own ways after.

The token never goes into the URL: a shared link would share the things.
"""

from __future__ import annotations

import streamlit as st

STORAGE_KEY = "digits-dashboard-tab"
_JS = f"""
export default function({{ data, setStateValue }}) {{
    const previous = window.sessionStorage.getItem("{STORAGE_KEY}") || "";
    if (previous !== data.token) {{
        window.sessionStorage.setItem("{STORAGE_KEY}", data.token);
        setStateValue("previous", previous);
    }}
}}
"""
_component = st.components.v2.component("digits_tab_token", js=_JS)


def previous_tab_token(token: str) -> str | None:
    """Store ``token`` as this tab's and return the token the tab held before ("" if none);
    None until the browser has answered (the run after the page first loads)."""
    result = _component(key="tab_token", data={"token": token}, on_previous_change=lambda: None, height=0)
    return result.get("previous")
