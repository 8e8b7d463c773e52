"""Debug page: why the network says what it says, for one image and for the whole test set."""

from __future__ import annotations

import numpy as np
import streamlit as st

from nn_core.training.metrics import confusion_matrix, most_confused_pairs, per_class_accuracy
from nn_core.storage.mnist import MnistData
from nn_core.model.network import Network
from nn_core.preprocess import PreprocessResult

from dashboard import introspection, state
from dashboard.charts import (activation_chart, confusion_matrix_chart, conv_filter_chart, feature_map_chart,
                              hidden_map_chart, per_class_accuracy_chart, photo_cleanup_chart, probability_bars,
                              saliency_chart, weight_grid_chart)
from dashboard.learning_watch import MAP_DIGITS, project_map
from dashboard.active_network import ActiveNetwork
from dashboard.widgets import DIGIT_DISPLAY_PX, mnist_or_error, show_digit, show_digit_gallery, wrapping_row_style

SOURCES = ["Current drawing", "MNIST test image"]
STAGE_TITLES = {"grey": "1. ink (grey)", "cropped": "2. cropped", "scaled": "3. scaled to 20 px",
                "centred": "4. centred in 28×28"}
MAX_GALLERY = 24
STAGE_WIDTH = DIGIT_DISPLAY_PX + 12  # an enlarged stage and its frame
# Wide enough for a chart title such as "Hidden layer 1: 128 ReLU units" (plotly cuts a title short).
INSIDE_ROW_STYLE = wrapping_row_style({key: (share, "15rem") for key, share in
                                       (("inside_saliency", 1.1), ("inside_layers", 1.3), ("inside_output", 1.3))})
PATH_NOTES = {
    "canvas": "Preprocessed as a **clean drawing** (canvas path): the background is one exact colour, so the "
              "ink is how far each pixel lies from it; no photo cleanup ran.",
    "photo": "Preprocessed as a **photo** (photo path): lighting evened out, and the desk around the page, "
             "bands along its sides and the printed lines of ruled paper looked for and removed.",
}


def chosen_image() -> tuple[dict[str, np.ndarray], np.ndarray | None, int | None]:
    """(stages to show, the (28, 28) input or None, true label if known) for the chosen source."""
    source = st.segmented_control("Image", SOURCES, key=state.kept_widget("debug_source", SOURCES[0]),
                                  label_visibility="collapsed") or SOURCES[0]
    if source == SOURCES[0]:
        classification = state.current_classification()
        if classification is not None:
            which_path(classification.preprocessed)
        if classification is None or classification.preprocessed.empty:
            st.info("Nothing drawn yet: draw a digit on the Draw page, or pick an MNIST test image.")
            return {}, None, None
        stages = classification.preprocessed.stages
        return {STAGE_TITLES.get(name, name): image for name, image in stages.items()}, \
            classification.preprocessed.image, None
    data = mnist_or_error("Picking a test image")
    if data is None:
        return {}, None, None
    index = int(st.number_input("Test image index", 0, len(data.test_labels) - 1,
                                key=state.kept_widget("debug_index", 0)))
    image = data.test_images[index].reshape(28, 28) / np.float32(255)
    return {"MNIST digits are already 28×28 and centred": image}, image, int(data.test_labels[index])


def which_path(result: PreprocessResult) -> None:
    """Which way the ink was found and, for a photo, what the photo cleanup removed, over the photo."""
    st.caption(PATH_NOTES[result.source])
    cleanup = result.photo
    if cleanup is None:
        return
    chart_column, note_column = st.columns([1.2, 1])
    with chart_column:
        st.plotly_chart(photo_cleanup_chart(cleanup.picture, cleanup.removed, cleanup.names), key="photo_cleanup")
    with note_column:
        removed = [name for label, name in cleanup.names.items() if (cleanup.removed == label).any()]
        st.caption("Coloured over the photo: what the photo cleanup took for paper, desk or printed lines "
                   "and removed before looking for the digit — "
                   + (", ".join(removed) if removed else "nothing here") + ". If part of the digit is "
                   "coloured, the cleanup mistook it; a clean drawing on a plain background avoids it.")


def preprocessing_stages(stages: dict[str, np.ndarray]) -> None:
    st.subheader("Preprocessing, stage by stage")
    # A row that wraps: each stage keeps its full size where columns would squeeze them over each other.
    row = st.container(horizontal=True, gap="medium", key="preprocessing_stages")
    for title, image in stages.items():
        with row.container(width=STAGE_WIDTH):
            size = f"{image.shape[1]}×{image.shape[0]}"  # width × height, as image sizes are given everywhere
            show_digit(image, title if size in title else f"{title} ({size} px)", framed=True)


def inside_the_network(active: ActiveNetwork, image: np.ndarray, true_label: int | None) -> None:
    """Saliency, every hidden layer's activations (feature maps for a CNN), and the output probabilities."""
    st.subheader("Inside the network")
    st.html(INSIDE_ROW_STYLE)
    network = active.network
    probabilities = network.predict_proba(image)[0]
    predicted = int(probabilities.argmax())
    verdict = f"Predicted **{predicted}** with {probabilities[predicted]:.0%} confidence"
    if true_label is not None:
        verdict += f"; the true digit is **{true_label}**" + (" ✓" if predicted == true_label else " ✗")
    st.markdown(verdict)
    layers = introspection.hidden_activations(network, image)
    # Input → hidden layers → output, left to right; a narrow page wraps them rather than cut their titles.
    row = st.container(horizontal=True, key="inside_row")
    saliency_column = row.container(key="inside_saliency")
    if layers:
        with row.container(key="inside_layers"):
            for number, (title, values) in enumerate(layers):
                st.plotly_chart(activation_chart(values, title), key=f"activations_{number}")
    output_column = row.container(key="inside_output")
    with saliency_column:
        st.plotly_chart(saliency_chart(network.saliency(image)[0], image, f"Saliency for {predicted}"),
                        key="saliency")
        st.caption(f"How much each input pixel changes the score of {predicted}: ink on red pixels "
                   "raises it, ink on blue pixels lowers it. The black line outlines the input's ink.")
    with output_column:
        st.plotly_chart(probability_bars(probabilities, true_label, title="Output probabilities"),
                        key="debug_probabilities")
        if not layers:
            st.caption("This network has no hidden dense layers: "
                       + ("the last feature maps connect straight to the outputs."
                          if network.config.is_convolutional else "inputs connect straight to the outputs."))
    if network.config.is_convolutional:
        feature_map_section(network, image)


def feature_map_section(network: Network, image: np.ndarray) -> None:
    """Every conv and pooling layer's output for this image, two layers to a row (a conv block and its pooling)."""
    st.markdown("**Feature maps**")
    st.caption("What each channel of a layer sees in this image, one small heatmap per channel on a shared "
               "colour scale (bright: strong response). Each convolution slides its filters over the layer "
               "below; pooling keeps the strongest response in each small square, shrinking the maps.")
    maps = introspection.feature_maps(network, image)
    for start in range(0, len(maps), 2):
        for column, (number, (title, values)) in zip(st.columns(2), enumerate(maps[start:start + 2], start)):
            with column:
                st.plotly_chart(feature_map_chart(values, title), key=f"feature_maps_{number}")


def first_layer(active: ActiveNetwork) -> None:
    st.subheader("What the first layer looks for")
    weights = introspection.first_layer_weights(active.network)
    if active.network.config.is_convolutional:
        kernel = weights.shape[0]
        st.caption(f"Each tile is one filter of the first convolution: {kernel}×{kernel} weights slid over "
                   "the whole image. Where the ink covers red and avoids blue, that channel's feature map "
                   "lights up; trained filters often look like edges or strokes at one angle.")
        filters_column, _ = st.columns([1, 1])
        with filters_column:
            st.plotly_chart(conv_filter_chart(weights), key="filters")
        return
    st.caption("Each tile is one hidden unit's 784 incoming weights drawn as a 28×28 image: "
               "ink on red pixels excites the unit, ink on blue pixels inhibits it.")
    st.plotly_chart(weight_grid_chart(weights), key="weights")


def hidden_space_section(active: ActiveNetwork, drawing: np.ndarray | None) -> None:
    """The map of the last hidden layer for 2,000 test digits, the drawing as a star with its
    nearest test digits, and the test digit a person clicks on."""
    st.subheader("How the network sorts digits")
    data = mnist_or_error("The map of the hidden layer")
    if data is None:
        return
    features, projection = introspection.hidden_space(active.network, active.fingerprint)
    labels = data.test_labels[:MAP_DIGITS]
    st.caption(f"Each dot is one of {MAP_DIGITS:,} test digits, placed by what the network's last hidden "
               "layer makes of it (its two main directions of variation, by PCA), coloured by its true "
               "digit. Digits the network tells apart form separate groups. Click a dot to see that digit.")
    hidden = project_map(active.network, features, projection, drawing)
    nearest = hidden.nearest
    map_column, detail_column = st.columns([2, 1], gap="large")
    with map_column:
        event = st.plotly_chart(hidden_map_chart(hidden.points, labels, hidden.star), key="hidden_map",
                                on_select="rerun", selection_mode="points")
    with detail_column:
        if nearest.size:
            st.markdown("**Nearest test digits to the star** (as this layer sees them)")
            st.caption("Under each: its true digit → what the network reads.")
            predictions = active.network.predict(data.test_images[nearest])
            show_digit_gallery(list(data.test_images[nearest].reshape(-1, 28, 28) / np.float32(255)),
                               [f"{labels[i]} → {p}" for i, p in zip(nearest, predictions)], size=56)
        clicked = _clicked_digit(event)
        if clicked is not None:
            image = data.test_images[clicked].reshape(28, 28) / np.float32(255)
            predicted = int(active.network.predict(image)[0])
            show_digit(image, f"Test digit #{clicked}: a {labels[clicked]}, read as {predicted}")


def _clicked_digit(event: object) -> int | None:
    """The test-digit index of the first clicked point on the map (its customdata), if any."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    for point in points:
        if isinstance(point.get("customdata"), (int, float)):
            return int(point["customdata"])
    return None


def misclassified_browser(data: MnistData, probabilities: np.ndarray, confusion: np.ndarray) -> None:
    """Pick a (true, predicted) pair and look at those test images with their probabilities."""
    pairs = most_confused_pairs(confusion, top=confusion.size)
    if not pairs:
        st.success("No test image is misclassified.")
        return
    true_digit, predicted_digit, _ = st.selectbox(
        "Browse the mistakes", pairs, format_func=lambda p: f"true {p[0]} → predicted {p[1]} ({p[2]} images)",
        key="debug_pair")
    predictions = probabilities.argmax(axis=1)
    indices = np.flatnonzero((data.test_labels == true_digit) & (predictions == predicted_digit))[:MAX_GALLERY]
    images = data.test_images[indices].reshape(-1, 28, 28) / np.float32(255)
    # No-break spaces keep each item whole; a narrow column wraps only between items.
    captions = [f"#{i}\u00a0· {predicted_digit}:\u00a0{probabilities[i, predicted_digit]:.0%}\u00a0· "
                f"{true_digit}:\u00a0{probabilities[i, true_digit]:.0%}" for i in indices]
    st.caption(f"Each caption: test image index, then the probability the network gave to {predicted_digit} "
               f"and to the right digit {true_digit}. Pick *MNIST test image* at the top and type the index "
               "to look inside.")
    show_digit_gallery(list(images), captions)


def test_set_analysis(active: ActiveNetwork) -> None:
    st.subheader("On the 10,000 test images")
    data = mnist_or_error("The test-set analysis")
    if data is None:
        return
    labels = data.test_labels
    probabilities = introspection.test_set_probabilities(active.network, active.fingerprint)
    confusion = confusion_matrix(labels, probabilities.argmax(axis=1))
    accuracies = per_class_accuracy(confusion)
    accuracy = np.trace(confusion) / confusion.sum()
    st.metric("Test accuracy", f"{accuracy:.2%}", help=f"{confusion.sum() - np.trace(confusion)} mistakes")
    matrix_column, detail_column = st.columns([1.1, 1], gap="large")
    with matrix_column:
        st.plotly_chart(confusion_matrix_chart(confusion), key="confusion")
    with detail_column:
        st.plotly_chart(per_class_accuracy_chart(accuracies), key="per_class")
        pairs = most_confused_pairs(confusion, top=5)
        st.markdown("**Most confused pairs**  \n" + "  \n".join(
            f"{true} mistaken for {predicted}: {count} times" for true, predicted, count in pairs))
    misclassified_browser(data, probabilities, confusion)


st.title("Look inside the network")
active_network = state.active_network()
stages, network_input, label = chosen_image()
if network_input is not None:
    preprocessing_stages(stages)
    inside_the_network(active_network, network_input, label)
first_layer(active_network)
hidden_space_section(active_network, network_input)
test_set_analysis(active_network)
