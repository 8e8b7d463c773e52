"""The only module that touches ``st.session_state``: one browser session's own things.

Every accessor creates its key only when missing, so a rerun never resets
anything. What lives here is private to one session: the active network, the
training run, labelled drawings, the current drawing. Shared read-only data is
in the caches of ``dashboard.mnist_cache`` and ``dashboard.introspection`` instead.

A reload of the tab starts a new session; every change to what a person would
miss is also kept in ``dashboard.tab_memory`` under the tab's token, and the
session after the reload takes it back (``restore_after_reload``). A training
run cannot follow: its worker stops with its session, so the new session gets
what the run had reached instead (``previous_run``).
"""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from nn_core.model.network import Network

from dashboard.active_network import ActiveNetwork, load_default_network
from dashboard.image_classification import Classification
from dashboard.labelled_drawings import LabelledDrawing
from dashboard.tab_memory import server_memory
from dashboard.training_server import session_is_open
from dashboard.trainer_pool import RemoteRun
from dashboard.training_worker import RunStatus

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
_ACTIVE_CHOSEN = "active_network_chosen"
_TAB_TOKEN = "tab_token_own"
_TAB_CHECKED = "tab_token_checked"
_RESTORED = "restored_after_reload"
_PREVIOUS_RUN = "previous_training_run"


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
    st.session_state[_ACTIVE_CHOSEN] = True
    remember_for_reload()


# -- training --------------------------------------------------------------------------
def training_run() -> RemoteRun | None:
    return _get(_RUN, None)


def set_training_run(run: RemoteRun | None) -> None:
    """Replace this session's run; the one replaced stops its worker."""
    previous = st.session_state.get(_RUN)
    if previous is not None and previous is not run:
        previous.close()
    st.session_state[_RUN] = run
    if run is not None:
        st.session_state[_PREVIOUS_RUN] = None  # a new run: the one a reload stopped is no longer news
    remember_for_reload()


def saved_training_result(run: RemoteRun, fingerprint: str) -> ActiveNetwork | None:
    """The file ``run``'s network was saved to, if the network has not changed since (``fingerprint``)."""
    saved = _get(_SAVED_RESULT, None)
    if saved is None or saved[0] is not run or saved[1] != fingerprint:
        return None
    return saved[2]


def remember_saved_training_result(run: RemoteRun, saved: ActiveNetwork) -> None:
    st.session_state[_SAVED_RESULT] = (run, saved.fingerprint, saved)
    remember_for_reload()


def session_id() -> str | None:
    """This browser session's id (None outside a running script), so a run can stop when it ends."""
    context = get_script_run_ctx(suppress_warning=True)
    return None if context is None else context.session_id


# -- drawings --------------------------------------------------------------------------
def labelled_drawings() -> list[LabelledDrawing]:
    return _get(_DRAWINGS, [])


def add_labelled_drawing(drawing: LabelledDrawing) -> None:
    labelled_drawings().append(drawing)
    remember_for_reload()


def clear_labelled_drawings() -> None:
    st.session_state[_DRAWINGS] = []
    remember_for_reload()


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
    remember_for_reload()


def clear_canvas() -> None:
    keep_drawing([], None, None)
    _start_new_canvas()


def _start_new_canvas() -> None:
    """Move the canvas to a new key: it starts from the kept drawing (see ``canvas_initial_drawing``)."""
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


# -- across a reload of the tab -------------------------------------------------------------------
@dataclass(frozen=True)
class PreviousRun:
    """The training run a reload stopped: what it had reached, and what is left of it."""

    network: str  # its architecture, e.g. "784-256-128-10 relu"
    mode: str
    status: RunStatus
    saved: ActiveNetwork | None  # the file its result was saved to (it stays in the library)
    stopped_run: RemoteRun | None  # the run itself when it was idle (paused or finished): its weights are current


@dataclass(frozen=True)
class _KeptForReload:
    """References to what one session would lose on a reload (nothing is copied)."""

    session: str | None  # the session that kept it
    owner_token: str
    active: ActiveNetwork | None  # None: the bundled default, which every new session loads anyway
    labelled: tuple[LabelledDrawing, ...]
    drawing_objects: list[dict[str, Any]]
    drawing_classification: Classification | None
    widgets: dict[str, Any] = field(default_factory=dict)  # the kept widget values, under their kept keys
    settings_source: str | None = None
    # Weak: a stored run must not keep its worker alive. The summary is as of the last change.
    run: weakref.ref | None = None
    run_summary: PreviousRun | None = None


def tab_token() -> str:
    """This session's token for its tab's storage (``dashboard.tab_token``); never in a URL."""
    return _get(_TAB_TOKEN, secrets.token_urlsafe(16))


def remember_for_reload() -> None:
    """Keep, under this session's tab token, what a reload of the tab would lose."""
    run = st.session_state.get(_RUN)
    saved = st.session_state.get(_SAVED_RESULT)
    server_memory().keep(tab_token(), _KeptForReload(
        session=session_id(), owner_token=owner_token(),
        active=st.session_state.get(_ACTIVE) if st.session_state.get(_ACTIVE_CHOSEN) else None,
        labelled=tuple(labelled_drawings()), drawing_objects=drawing_objects(),
        drawing_classification=drawing_classification(),
        widgets={key: value for key, value in st.session_state.items() if key.startswith(_KEPT_PREFIX)},
        settings_source=st.session_state.get(_SETTINGS_SOURCE),
        run=None if run is None else weakref.ref(run),
        run_summary=None if run is None else PreviousRun(
            run.network_config.describe(), run.mode, run.status,
            saved=saved[2] if saved is not None and saved[0] is run else None, stopped_run=None)))


def restore_after_reload(previous_token: str | None) -> None:
    """Once per session, as soon as the tab has reported the token it held before (``None``: not
    yet): take back what the session it replaced kept, and say what came back (``restored_notice``)."""
    if previous_token is None or _get(_TAB_CHECKED, False):
        return
    st.session_state[_TAB_CHECKED] = True
    # What the browser reports is only ever looked up, and only as a string.
    kept = server_memory().recall(previous_token) if previous_token and isinstance(previous_token, str) else None
    if kept is None:
        return
    # A duplicated tab starts with its original's token while the original stays open: it gets a
    # copy of the things, and the original keeps its run.
    replaced = kept.session is None or not session_is_open(kept.session)
    if replaced:
        server_memory().forget(previous_token)
    st.session_state[_OWNER_TOKEN] = kept.owner_token  # the networks it saved stay its own to change
    restored = []
    if kept.active is not None:
        set_active_network(kept.active)
        restored.append(f"the active network {kept.active.label}")
    if kept.labelled:
        st.session_state[_DRAWINGS] = list(kept.labelled)
        restored.append(f"{len(kept.labelled)} labelled drawing{'s' if len(kept.labelled) > 1 else ''}")
    if kept.drawing_objects:
        keep_drawing(kept.drawing_objects, kept.drawing_classification, active_network().network)
        set_current_classification(kept.drawing_classification)
        _start_new_canvas()
        restored.append("your drawing")
    for kept_key, value in kept.widgets.items():
        set_widget_value(kept_key.removeprefix(_KEPT_PREFIX), value)
    if kept.settings_source is not None:
        st.session_state[_SETTINGS_SOURCE] = kept.settings_source
    previous_run = _stopped_run(kept) if replaced else None
    st.session_state[_PREVIOUS_RUN] = previous_run
    if previous_run is not None:
        restored.append("what the training run had reached (it stopped: see the Train page)")
    st.session_state[_RESTORED] = restored
    remember_for_reload()


def _stopped_run(kept: _KeptForReload) -> PreviousRun | None:
    """Stop the replaced session's run now (its worker would stop within seconds anyway) and say
    what it had reached; None if it had not trained."""
    run = None if kept.run is None else kept.run()
    summary = kept.run_summary
    if run is not None:
        idle = not run.busy and run.error is None
        run.close()
        summary = replace(summary, status=run.status, stopped_run=run if idle else None)
    return summary if summary is not None and summary.status.step_count else None


def restored_notice() -> list[str]:
    """What came back after a reload, until dismissed (empty if nothing did)."""
    return _get(_RESTORED, [])


def dismiss_restored_notice() -> None:
    st.session_state[_RESTORED] = []


def previous_run() -> PreviousRun | None:
    """The training run the last reload stopped, until a new run starts or it is dismissed."""
    return _get(_PREVIOUS_RUN, None)


def dismiss_previous_run() -> None:
    st.session_state[_PREVIOUS_RUN] = None
