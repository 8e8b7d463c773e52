"""Draw page: draw (or upload) a digit, see what the network sees and what it predicts."""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from nn_core.errors import ImageError
from nn_core.preprocess import load_image

from dashboard import services, state
from dashboard.charts import probability_bars
from dashboard.services import Classification, LabelledDrawing
from dashboard.widgets import show_digit, show_digit_gallery

CANVAS_PX = 280
SOURCES = ["Draw", "Upload an image"]
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"]
GALLERY_SIZE = 16


def canvas_pixels() -> np.ndarray | None:
    """The canvas as RGBA pixels (white ink on black), or None while nothing is drawn."""
    brush_key = state.kept_widget("brush_width", 22)
    st.caption("Draw one digit, large and in the middle.")
    # The canvas's toolbar (undo, redo, reset) pops up 2.65rem above the canvas on hover:
    # this gap keeps it off the caption.
    st.space("small")
    canvas = st_canvas(
        stroke_width=state.widget_value(brush_key), stroke_color="#FFFFFF",
        background_color="#000000", width=CANVAS_PX, height=CANVAS_PX, drawing_mode="freedraw",
        update_streamlit=True, initial_drawing=state.canvas_initial_drawing(),
        return_image_data=True, key="draw_canvas")
    objects = (canvas.json_data or {}).get("objects", [])
    undo, clear = st.columns(2)
    undo.button("Undo stroke", on_click=state.reset_canvas, args=(objects[:-1],), disabled=not objects,
                width="stretch")
    clear.button("Clear", on_click=state.reset_canvas, args=([],), disabled=not objects, width="stretch")
    st.slider("Brush width", 8, 40, key=brush_key)
    return canvas.image_data if objects else None


def uploaded_pixels() -> np.ndarray | None:
    """An uploaded picture's pixels, or None (with an error shown) if there is none or it is unreadable."""
    upload = st.file_uploader("A picture of one digit", type=IMAGE_TYPES, key="digit_upload")
    if upload is None:
        return None
    try:
        pixels = load_image(upload.getvalue())
    except ImageError as error:
        st.error(f"Could not read {upload.name}: {error}")
        return None
    st.image(upload.getvalue(), caption=f"{upload.name}, {pixels.shape[1]}×{pixels.shape[0]} px", width=200)
    return pixels


def prediction_panel(classification: Classification | None, source: str) -> None:
    """Prediction, confidence and the 28×28 image the network actually classified."""
    if classification is None or classification.probabilities is None:
        hint = "Draw a digit" if source == SOURCES[0] else "Upload a picture of a digit"
        if classification is not None:
            hint = "No digit found in this image: try a darker, larger digit"
        st.info(hint, icon=":material/draw:")
        return
    prediction, confidence = st.columns(2)
    prediction.metric("Prediction", classification.predicted)
    confidence.metric("Confidence", f"{classification.confidence:.0%}")
    show_digit(classification.preprocessed.image, "What the network sees: 28×28, enlarged")


def add_labelled(image: np.ndarray, label: int) -> None:
    state.add_labelled_drawing(LabelledDrawing.from_preprocessed(image, label))
    state.reset_canvas([])


def labelling_section(classification: Classification | None) -> None:
    """Let the user say which digit a drawing really is, and keep those drawings as a dataset."""
    st.subheader("Wrong? Tell it the right digit")
    if classification is not None and classification.probabilities is not None:
        digit = st.segmented_control("The right digit is", list(range(10)), key="right_digit")
        st.button("Keep this drawing with its label", icon=":material/add:", on_click=add_labelled,
                  args=(classification.preprocessed.image, digit), disabled=digit is None)
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
input_column, seen_column, chart_column = st.columns([1.15, 1, 1.6], gap="large")
with input_column:
    pixels = canvas_pixels() if source == SOURCES[0] else uploaded_pixels()
classification = None if pixels is None else services.classify(
    state.active_network().network, pixels, "canvas" if source == SOURCES[0] else "auto")
state.set_current_classification(classification)
with seen_column:
    prediction_panel(classification, source)
with chart_column:
    if classification is not None and classification.probabilities is not None:
        st.plotly_chart(probability_bars(classification.probabilities), key="probabilities")
labelling_section(classification)
