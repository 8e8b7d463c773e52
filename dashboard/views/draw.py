"""Draw page: draw (or upload) a digit, see what the network sees and what it predicts.

Everything one stroke changes (the input, the prediction, its bars) is one
fragment: a stroke reruns it alone, not the sidebar, the navigation or the
labelled drawings below it.
"""

from __future__ import annotations

import streamlit as st

from nn_core.errors import ImageError
from nn_core.preprocess import load_image

from dashboard import services, state
from dashboard.canvas import drawing_canvas
from dashboard.charts import probability_bars
from dashboard.services import Classification, LabelledDrawing
from dashboard.widgets import show_digit, show_digit_gallery

CANVAS_PX = 280
SOURCES = ["Draw", "Upload an image"]
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"]
GALLERY_SIZE = 16
# Blocks of a row that wraps: where the window is too narrow for all of them, the
# chart moves below the canvas, then the prediction does, instead of squeezing the canvas.
INPUT_WIDTH = CANVAS_PX + 20
PREDICTION_WIDTH = 180  # the 168 px image of what the network sees
CHART_WIDTH = 360


def drawn_classification() -> Classification | None:
    """The canvas with its controls; the drawing's classification, or None while nothing is drawn.

    The drawing is classified only when its strokes change: a rerun for anything
    else (the brush width, a label) reuses the last result, and so does a canvas
    restored from the session, which sends no pixels until the next stroke.
    """
    brush_key = state.kept_widget("brush_width", 22)
    st.caption("Draw one digit, large and in the middle.")
    with st.container(key="draw_canvas"):
        canvas = drawing_canvas(state.canvas_key(), state.canvas_initial_drawing(),
                                stroke_width=state.widget_value(brush_key), size=CANVAS_PX)
    objects = (canvas.json_data or {}).get("objects", [])
    if objects != state.drawing_objects():
        pixels = canvas.image_data if objects else None
        classification = None if pixels is None else services.classify(state.active_network().network, pixels, "canvas")
        state.keep_drawing(objects, classification)
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
    return services.classify(state.active_network().network, pixels, "auto")


def prediction_panel(classification: Classification | None, source: str) -> None:
    """Prediction, confidence and the 28×28 image the network actually classified."""
    if classification is None or classification.probabilities is None:
        hint = "Draw a digit" if source == SOURCES[0] else "Upload a picture of a digit"
        if classification is not None:
            hint = "No digit found in this image: try a darker, larger digit"
        st.info(hint, icon=":material/draw:")
        return
    st.metric("Prediction", classification.predicted)
    st.metric("Confidence", f"{classification.confidence:.0%}")
    show_digit(classification.preprocessed.image, "What the network sees: 28×28, enlarged")


def keep_with_label(classification: Classification | None, source: str) -> None:
    """Say which digit the drawing really is and keep it (the canvas then clears for the next one)."""
    st.subheader("Wrong? Tell it the right digit")
    if classification is None or classification.probabilities is None:
        return
    digit = st.segmented_control("The right digit is", list(range(10)), key="right_digit")
    if st.button("Keep this drawing with its label", icon=":material/add:", disabled=digit is None):
        state.add_labelled_drawing(LabelledDrawing.from_preprocessed(classification.preprocessed.image, digit))
        if source == SOURCES[0]:
            state.clear_canvas()
        st.rerun()  # the whole page: the list of labelled drawings is outside this fragment


@st.fragment
def input_and_prediction(source: str) -> None:
    """What one stroke (or upload) changes, rerun on its own."""
    with st.container(horizontal=True, gap="medium"):
        with st.container(width=INPUT_WIDTH):
            classification = drawn_classification() if source == SOURCES[0] else uploaded_classification()
        state.set_current_classification(classification)
        with st.container(width=PREDICTION_WIDTH):
            prediction_panel(classification, source)
        if classification is not None and classification.probabilities is not None:
            with st.container(width=CHART_WIDTH):
                st.plotly_chart(probability_bars(classification.probabilities), key="probabilities")
    keep_with_label(classification, source)


def labelled_drawings_section() -> None:
    """The drawings kept with their labels in this session, as a small dataset."""
    drawings = state.labelled_drawings()
    if not drawings:
        st.caption("Labelled drawings are kept for this session; use them to fine-tune the network "
                   "on the Train page, or download them as a small dataset.")
        return
    st.caption(f"{len(drawings)} labelled drawing(s) in this session: fine-tune on them on the Train page.")
    download, forget = st.columns(2)
    download.download_button("Download as .npz", services.drawings_to_npz(drawings),
                             file_name="my_digits.npz", mime="application/octet-stream",
                             icon=":material/download:", on_click="ignore")
    forget.button("Forget them", icon=":material/delete_sweep:", on_click=state.clear_labelled_drawings)
    recent = drawings[-GALLERY_SIZE:]
    show_digit_gallery([d.image for d in recent], [f"label {d.label}" for d in recent])


st.title("Draw a digit")
source = st.segmented_control("Input", SOURCES, key=state.kept_widget("draw_source", SOURCES[0]),
                              label_visibility="collapsed") or SOURCES[0]
input_and_prediction(source)
labelled_drawings_section()
