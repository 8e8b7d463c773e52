"""The only module that touches ``st.session_state``: one browser session's own things.

Every accessor creates its key only when missing, so a rerun never resets
anything. What lives here is private to one session: the active network, the
training run, labelled drawings, the current drawing. Shared read-only data is
in the caches of ``dashboard.mnist_cache`` and ``dashboard.introspection`` instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from nn_core.model.network import Network

from dashboard.active_network import ActiveNetwork, load_default_network
from dashboard.image_classification import Classification
from dashboard.labelled_drawings import LabelledDrawing
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
_CANVAS_GENERATION = "canvas_generation"
_DRAWING_OBJECTS = "drawing_objects"
_DRAWING_CLASSIFICATION = "drawing_classification"
_DRAWING_NETWORK = "drawing_network"
_COMPARISON = "comparison_network"
_SAVED_RESULT = "saved_training_result"
_KEPT_PREFIX = "_kept_"
_SETTINGS_SOURCE = "settings_source"


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


def saved_training_result(run: RemoteRun, fingerprint: str) -> ActiveNetwork | None:
    """The file ``run``'s network was saved to, if the network has not changed since (``fingerprint``)."""
    saved = _get(_SAVED_RESULT, None)
    if saved is None or saved[0] is not run or saved[1] != fingerprint:
        return None
    return saved[2]


def remember_saved_training_result(run: RemoteRun, saved: ActiveNetwork) -> None:
    st.session_state[_SAVED_RESULT] = (run, saved.fingerprint, saved)


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
def canvas_key() -> str:
    """The canvas widget's key. Clear moves to a new key: a new canvas starts empty and
    sends nothing, where reloading the old one would send its empty drawing back (a
    second rerun)."""
    return f"draw_canvas_{_get(_CANVAS_GENERATION, 0)}"


def canvas_initial_drawing() -> dict[str, Any]:
    """What the canvas starts from. A canvas Streamlit does not know (first visit, back from
    another page or from the upload, after Clear) starts from the drawing kept in the
    session; a canvas it knows keeps its start unchanged, since any change reloads it."""
    if canvas_key() not in st.session_state or _CANVAS not in st.session_state:
        st.session_state[_CANVAS] = {"objects": drawing_objects()}
    return st.session_state[_CANVAS]


def drawing_objects() -> list[dict[str, Any]]:
    """The strokes on the canvas (the canvas's JSON objects), kept until Clear."""
    return _get(_DRAWING_OBJECTS, [])


def drawing_classification() -> Classification | None:
    """What the drawing in ``drawing_objects`` was classified as."""
    return _get(_DRAWING_CLASSIFICATION, None)


def drawing_network() -> Network | None:
    """The network that classified the kept drawing."""
    return _get(_DRAWING_NETWORK, None)


def keep_drawing(objects: list[dict[str, Any]], classification: Classification | None,
                 network: Network | None) -> None:
    st.session_state[_DRAWING_OBJECTS] = objects
    st.session_state[_DRAWING_CLASSIFICATION] = classification
    st.session_state[_DRAWING_NETWORK] = network


def clear_canvas() -> None:
    keep_drawing([], None, None)
    st.session_state[_CANVAS_GENERATION] = _get(_CANVAS_GENERATION, 0) + 1
    st.session_state.pop(_CANVAS, None)


def undo_stroke(objects: list[dict[str, Any]]) -> None:
    """Redraw the canvas without the last of ``objects``; it then sends the drawing back to
    be classified. The revision makes the start differ from the last one even when the
    strokes are the same, so the canvas reloads."""
    if len(objects) <= 1:
        clear_canvas()
        return
    revision = _get(_CANVAS_REVISION, 0) + 1
    st.session_state[_CANVAS_REVISION] = revision
    st.session_state[_CANVAS] = {"objects": objects[:-1], "dashboardRevision": revision}


# -- a second network to compare on the Draw page ------------------------------------------
def comparison_network(choice: str) -> Network | None:
    """The second network loaded for ``choice`` (a file name or other option), if it is the one kept."""
    kept = _get(_COMPARISON, None)
    return kept[1] if kept is not None and kept[0] == choice else None


def keep_comparison_network(choice: str, network: Network) -> None:
    """Keep one second network per session, so it is loaded once, not on every stroke."""
    st.session_state[_COMPARISON] = (choice, network)


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


def set_widget_value(key: str, value: Any) -> None:
    """Set a keyed widget's value before the widget is created on this run."""
    st.session_state[key] = value
    st.session_state[_KEPT_PREFIX + key] = value


def widget_value(key: str, default: Any = None) -> Any:
    """A keyed widget's current value (for pages reading one widget from a callback)."""
    return st.session_state.get(key, default)


def set_widgets_once(source: str, values: dict[str, Any]) -> None:
    """Set the keyed widgets in ``values`` (and their kept copies) when ``source`` differs from
    the source last set: the settings follow a new starting point, and stay the person's after."""
    if st.session_state.get(_SETTINGS_SOURCE) == source:
        return
    st.session_state[_SETTINGS_SOURCE] = source
    for key, value in values.items():
        st.session_state[key] = st.session_state[_KEPT_PREFIX + key] = value
