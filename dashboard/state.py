"""The only module that touches ``st.session_state``: one browser session's own things.

Every accessor creates its key only when missing, so a rerun never resets
anything. What lives here is private to one session: the active network, the
training run, labelled drawings, the current drawing. Shared read-only data is
in ``dashboard.services`` caches instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard.services import ActiveNetwork, Classification, LabelledDrawing, load_default_network
from dashboard.trainer_pool import RemoteRun

T = TypeVar("T")

_ACTIVE = "active_network"
_ACTIVE_WARNING = "active_network_warning"
_RUN = "training_run"
_DRAWINGS = "labelled_drawings"
_CURRENT = "current_classification"
_CANVAS = "canvas_initial_drawing"
_CANVAS_REVISION = "canvas_revision"
_OWNER_TOKEN = "library_owner_token"
_BUILT = "built_for_version"
_KEPT_PREFIX = "_kept_"


def _get(key: str, default: T) -> T:
    if key not in st.session_state:
        st.session_state[key] = default
    return st.session_state[key]


# -- the active network ------------------------------------------------------------
def active_network() -> ActiveNetwork:
    """This session's active network; the bundled default on first use."""
    if _ACTIVE not in st.session_state:
        active, warning = load_default_network()
        st.session_state[_ACTIVE] = active
        st.session_state[_ACTIVE_WARNING] = warning
    return st.session_state[_ACTIVE]


def active_network_warning() -> str | None:
    """Why the bundled network could not be used, if it could not."""
    active_network()
    return _get(_ACTIVE_WARNING, None)  # None when a network was set without loading the default


def set_active_network(active: ActiveNetwork) -> None:
    st.session_state[_ACTIVE] = active
    st.session_state[_ACTIVE_WARNING] = None


# -- training --------------------------------------------------------------------------
def training_run() -> RemoteRun | None:
    return _get(_RUN, None)


def set_training_run(run: RemoteRun | None) -> None:
    """Replace this session's run; the one replaced stops its worker."""
    previous = st.session_state.get(_RUN)
    if previous is not None and previous is not run:
        previous.close()
    st.session_state[_RUN] = run


def session_id() -> str | None:
    """This browser session's id (None outside a running script), so a run can stop when it ends."""
    context = get_script_run_ctx(suppress_warning=True)
    return None if context is None else context.session_id


# -- drawings --------------------------------------------------------------------------
def labelled_drawings() -> list[LabelledDrawing]:
    return _get(_DRAWINGS, [])


def add_labelled_drawing(drawing: LabelledDrawing) -> None:
    labelled_drawings().append(drawing)


def clear_labelled_drawings() -> None:
    st.session_state[_DRAWINGS] = []


def current_classification() -> Classification | None:
    """The last drawing or uploaded image the Draw page classified (for the Debug page)."""
    return _get(_CURRENT, None)


def set_current_classification(classification: Classification | None) -> None:
    st.session_state[_CURRENT] = classification


# -- the canvas ------------------------------------------------------------------------
def canvas_initial_drawing() -> dict[str, Any]:
    """What the canvas starts from; replaced only by Clear / Undo."""
    return _get(_CANVAS, {"objects": []})


def reset_canvas(objects: list[dict[str, Any]]) -> None:
    """Redraw the canvas with ``objects``. The revision number makes the new drawing
    differ from the old one even when the objects are the same, so the canvas reloads."""
    revision = _get(_CANVAS_REVISION, 0) + 1
    st.session_state[_CANVAS_REVISION] = revision
    st.session_state[_CANVAS] = {"objects": objects, "dashboardRevision": revision}


# -- the shared network library ------------------------------------------------------------
def owner_token() -> str:
    """This session's secret in the network library: it may change the networks saved with it."""
    return _get(_OWNER_TOKEN, secrets.token_hex(16))


# -- things rebuilt only when what they show changes ---------------------------------------------
def built_for(name: str, version: Hashable, build: Callable[[], T]) -> T:
    """``build()``'s result, kept in the session and rebuilt only when ``version`` changes
    (e.g. a chart refreshed every second whose data changes every few seconds)."""
    kept = _get(_BUILT, {})
    if name not in kept or kept[name][0] != version:
        kept[name] = (version, build())
    return kept[name][1]


# -- widgets that keep their value across pages -------------------------------------------------
def kept_widget(key: str, default: Any) -> str:
    """Return ``key`` for a widget whose value survives visits to other pages.

    Streamlit forgets a widget's value when its page is not shown; a shadow
    copy refills it. Call this right before creating the widget with ``key=``.
    """
    kept = _KEPT_PREFIX + key
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(kept, default)
    st.session_state[kept] = st.session_state[key]
    return key


def widget_value(key: str, default: Any = None) -> Any:
    """A keyed widget's current value (for pages reading one widget from a callback)."""
    return st.session_state.get(key, default)
