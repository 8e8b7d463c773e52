"""Draw page: draw (or upload) a digit, see what the network sees and what it predicts.

Everything one stroke changes (the input, the prediction, its bars) is one
fragment: a stroke reruns it alone, not the sidebar, the navigation or the
labelled drawings below it.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from nn_core.config import NetworkConfig
from nn_core.errors import ImageError, NetworkFileError
from nn_core.model.network import Network
from nn_core.preprocess import load_image

from dashboard import image_classification, labelled_drawings, networks_folder, state
from dashboard.canvas import drawing_canvas
from dashboard.charts import probability_bars_html
from dashboard.image_classification import Classification
from dashboard.labelled_drawings import LabelledDrawing
from dashboard.tab_memory import FORGET_AFTER_SECONDS
from dashboard.widgets import show_digit, show_digit_gallery

CANVAS_PX = 280
SOURCES = ["Draw", "Upload an image"]
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"]
GALLERY_SIZE = 16
# Blocks of a row that wraps: where the window is too narrow for all of them, the
# chart moves below the canvas, then the prediction does, instead of squeezing the canvas.
INPUT_WIDTH = CANVAS_PX + 20
SEEN_WIDTH = 180  # the 168 px image of what the network sees
CHART_WIDTH = 360
NO_SECOND = "No second network"
KEPT_WHERE = f"a reload keeps them for {FORGET_AFTER_SECONDS / 60:.0f} minutes, on this server only"
UNTRAINED = "An untrained MLP (random weights)"


def drawn_classification() -> Classification | None:
    """The canvas with its controls; the drawing's classification, or None while nothing is drawn.

    The drawing is classified only when its strokes (or the active network) change:
    a rerun for anything else (the brush width, a label) reuses the last result, and
    so does a canvas restored from the session, which sends no pixels until the next stroke.
    """
    brush_key = state.kept_widget("brush_width", 22)
    st.caption("Draw one digit, large and in the middle.")
    with st.container(key="draw_canvas"):
        canvas = drawing_canvas(state.canvas_key(), state.canvas_initial_drawing(),
                                stroke_width=state.widget_value(brush_key), size=CANVAS_PX)
    objects = (canvas.json_data or {}).get("objects", [])
    network = state.active_network().network
    if objects != state.drawing_objects():
        try:
            pixels = canvas.image_data if objects else None
        except ImageError as error:  # only a damaged or forged message from the browser
            st.error(f"The canvas sent a picture that cannot be read ({error}); draw again or press Clear.")
            pixels = None
        state.keep_drawing(objects,
                           None if pixels is None else image_classification.classify(network, pixels, "canvas"),
                           network)
    elif state.drawing_network() is not network and has_digit(state.drawing_classification()):
        # Another network became active since: the kept 28×28 image needs no pixels to be classified again.
        kept = state.drawing_classification()
        state.keep_drawing(objects, Classification(kept.preprocessed, probabilities(network, kept)), network)
    undo, clear = st.columns(2)
    undo.button("Undo stroke", on_click=state.undo_stroke, args=(objects,), disabled=not objects, width="stretch")
    clear.button("Clear", on_click=state.clear_canvas, disabled=not objects, width="stretch")
    st.slider("Brush width", 8, 40, key=brush_key)
    return state.drawing_classification()


def uploaded_classification() -> Classification | None:
    """An uploaded picture's classification, or None (with an error shown) if there is none or it is unreadable."""
    upload = st.file_uploader("A picture of one digit", type=IMAGE_TYPES, key="digit_upload")
    if upload is None:
        return None
    try:
        pixels = load_image(upload.getvalue())
    except ImageError as error:
        st.error(f"Could not read {upload.name}: {error}")
        return None
    st.image(upload.getvalue(), caption=f"{upload.name}, {pixels.shape[1]}×{pixels.shape[0]} px", width=200)
    return image_classification.classify(state.active_network().network, pixels, "auto")


def seen_panel(classification: Classification | None, source: str) -> None:
    """The 28×28 image the network actually classified, or what to do while there is none."""
    if not has_digit(classification):
        hint = "Draw a digit" if source == SOURCES[0] else "Upload a picture of a digit"
        if classification is not None:
            hint = "No digit found in this image: try a darker, larger digit"
        st.info(hint, icon=":material/draw:")
        return
    show_digit(classification.preprocessed.image, "What the network sees: 28×28, enlarged")


def result_card(name: str, probabilities: np.ndarray, key: str) -> None:
    """One network's prediction, confidence and probability bars, under its name."""
    with st.container(width=CHART_WIDTH, key=f"{key}_card"):
        st.text(name)
        with st.container(horizontal=True):
            st.metric("Prediction", int(probabilities.argmax()))
            st.metric("Confidence", f"{probabilities.max():.0%}")
        st.html(probability_bars_html(probabilities))


def has_digit(classification: Classification | None) -> bool:
    return classification is not None and classification.probabilities is not None


def probabilities(network: Network, classification: Classification) -> np.ndarray:
    """(10,) probabilities another network gives the same preprocessed 28×28 image."""
    return network.predict_proba(classification.preprocessed.image)[0]


def keep_with_label(classification: Classification | None, source: str) -> None:
    """Say which digit the drawing really is and keep it (the canvas then clears for the next one)."""
    st.subheader("Wrong? Tell it the right digit")
    if not has_digit(classification):
        return
    digit = st.segmented_control("The right digit is", list(range(10)), key="right_digit")
    if st.button("Keep this drawing with its label", icon=":material/add:", disabled=digit is None):
        state.add_labelled_drawing(LabelledDrawing.from_preprocessed(classification.preprocessed.image, digit))
        if source == SOURCES[0]:
            state.clear_canvas()
        st.rerun()  # the whole page: the list of labelled drawings is outside this fragment


@st.fragment
def input_and_prediction(source: str, second: tuple[str, Network] | None) -> None:
    """What one stroke (or upload) changes, rerun on its own: the input, what the network
    sees, and the prediction of the active network (and of ``second``, as (name, network))."""
    with st.container(horizontal=True, gap="medium"):
        with st.container(width=INPUT_WIDTH):
            classification = drawn_classification() if source == SOURCES[0] else uploaded_classification()
        state.set_current_classification(classification)
        with st.container(width=SEEN_WIDTH):
            seen_panel(classification, source)
        if has_digit(classification) and second is None:
            result_card(state.active_network().label, classification.probabilities, "probabilities")
    if has_digit(classification) and second is not None:
        with st.container(horizontal=True, gap="medium"):  # a row of their own, so the two stay side by side
            result_card(state.active_network().label, classification.probabilities, "probabilities")
            name, network = second
            result_card(name, probabilities(network, classification), "second_probabilities")
    keep_with_label(classification, source)


def second_network_choice() -> tuple[str, Network] | None:
    """An optional second network to classify the same drawing: a saved one or an untrained MLP."""
    options = [NO_SECOND, UNTRAINED, *networks_folder.library_file_names()]
    key = state.kept_widget("second_network", NO_SECOND)
    if state.widget_value(key) not in options:  # its file was deleted or renamed meanwhile
        state.set_widget_value(key, NO_SECOND)
    choice = st.selectbox("Compare with a second network", options, key=key, width=320)
    if choice == NO_SECOND:
        return None
    network = state.comparison_network(choice)
    if network is None:
        try:
            network = Network(NetworkConfig()) if choice == UNTRAINED else networks_folder.load_library_network(choice)
        except NetworkFileError as error:
            st.error(f"Cannot compare with {choice}: {error}")
            return None
        state.keep_comparison_network(choice, network)
    return choice, network


def labelled_drawings_section() -> None:
    """The drawings kept with their labels in this session, as a small dataset."""
    drawings = state.labelled_drawings()
    if not drawings:
        st.caption(f"Labelled drawings are kept in this browser tab ({KEPT_WHERE}); use them to "
                   "fine-tune the network on the Train page, or download them as a small dataset.")
        return
    st.caption(f"{len(drawings)} labelled drawing(s) in this session: fine-tune on them on the Train page.")
    st.info(f"They are kept in this browser tab ({KEPT_WHERE}); closing the tab loses them. "
            "Download them to keep them.", icon=":material/info:")
    download, forget = st.columns(2)
    download.download_button("Download as .npz", labelled_drawings.drawings_to_npz(drawings),
                             file_name="my_digits.npz", mime="application/octet-stream",
                             icon=":material/download:", on_click="ignore")
    forget.button("Forget them", icon=":material/delete_sweep:", on_click=state.clear_labelled_drawings)
    recent = drawings[-GALLERY_SIZE:]
    show_digit_gallery([d.image for d in recent], [f"label {d.label}" for d in recent])


st.title("Draw a digit")
source = st.segmented_control("Input", SOURCES, key=state.kept_widget("draw_source", SOURCES[0]),
                              label_visibility="collapsed") or SOURCES[0]
second = second_network_choice()
input_and_prediction(source, second)
labelled_drawings_section()
