"""Small UI pieces used by more than one page (so no page repeats them)."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st

from nn_core.errors import DataError, NetworkFileError
from nn_core.storage.mnist import MnistData
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata

from dashboard import mnist_cache, networks_folder, state
from dashboard.arrays import upscale_nearest

STRIP_STYLE = """<style>
.learning-strip {border-collapse: collapse; font-size: 0.85rem; width: 100%}
.learning-strip th {text-align: left; font-weight: 600; color: #555}
.learning-strip td, .learning-strip th {padding: 2px 6px; border-bottom: 1px solid #eee; white-space: nowrap}
.learning-strip img {image-rendering: pixelated; background: black; display: block}
.learning-strip .digit {font-weight: 700; text-align: center}
.learning-strip .sure {min-width: 7rem}
.learning-strip .bar {display: inline-block; width: 4rem; height: 0.6rem; background: #eee; margin-right: 4px}
.learning-strip .bar div {height: 100%; background: #4c78a8}
.learning-strip .changed {color: #e4572e; white-space: normal}
</style>"""
DIGIT_DISPLAY_PX = 168  # 28 × 6: every input pixel a crisp 6×6 square
GALLERY_FRAME_PX = 4  # beside a gallery digit: its container's edge, so neighbours never touch
FRAME_GREY = 150  # visible against black ink images and the white page alike


def format_accuracy(accuracy: float | None) -> str:
    return "not measured" if accuracy is None else f"{accuracy:.2%}"


def format_loss(loss: float | None) -> str:
    """A loss to three significant figures: late in a run it falls below 0.001, which three
    decimals would show as a loss of nothing."""
    return "–" if loss is None else f"{loss:.3g}"


def mnist_or_error(needed_by: str) -> MnistData | None:
    """MNIST, or None after showing why it cannot be found or downloaded.

    ``needed_by`` names what needs it, e.g. "This page".
    """
    try:
        return mnist_cache.mnist()
    except DataError as error:
        st.error(f"{needed_by} needs the MNIST dataset: {error}")
        return None


def require_mnist() -> None:
    """Stop the page with a readable error when MNIST cannot be found or downloaded."""
    if mnist_or_error("This page") is None:
        st.stop()


def active_network_sidebar() -> None:
    """Name, architecture and test accuracy of this session's active network, on every page."""
    active = state.active_network()
    with st.sidebar:
        st.subheader("Active network")
        st.markdown(f"**{active.label}**")
        st.caption(f"Architecture: `{active.network.describe()}`  \n"
                   f"Parameters: {active.network.n_parameters:,}  \n"
                   f"Test accuracy: {format_accuracy(active.metadata.test_accuracy)}")
        warning = state.active_network_warning()
        if warning:
            st.warning(warning)
        restored = state.restored_notice()
        if restored:
            with st.container(key="restored_notice"):
                st.info(f"Kept across the reload: {', '.join(restored)}.", icon=":material/restore:")
                st.button("OK", key="dismiss_restored", on_click=state.dismiss_restored_notice)


def wrapping_row_style(blocks: dict[str, tuple[float, str]]) -> str:
    """A style for the keyed blocks of horizontal containers: ``{key: (share, minimum width)}``.

    Each block grows by its share of the row and never narrows below its minimum (a CSS
    length), so a row too narrow for all the minimums wraps instead of squeezing labels
    and values short. Streamlit puts each block of a row in a flex item of its own
    (``stLayoutWrapper``): the rule sizes that item.
    """
    rules = [f"[data-testid='stLayoutWrapper']:has(> .st-key-{key}) {{flex: {share} 1 {minimum} !important; "
             f"min-width: min({minimum}, 100%) !important}}" for key, (share, minimum) in blocks.items()]
    return f"<style>{' '.join(rules)}</style>"


def show_digit(image: np.ndarray, caption: str | None = None, size: int = DIGIT_DISPLAY_PX,
               framed: bool = False) -> None:
    """A grey image fitted in a ``size`` box: small ones enlarged without blurring (every
    pixel the network sees stays visible), large ones shrunk. ``framed`` draws a grey
    line round it, for images whose ink reaches their edges (a drawing cropped to its
    ink), where white strokes would otherwise run into the white page."""
    pixels = upscale_nearest(image, size)
    shrink = min(1.0, size / max(pixels.shape))
    if framed:  # thick enough to stay a line when the image is shrunk to fit
        pixels = np.pad(pixels, max(1, round(1 / shrink)), constant_values=FRAME_GREY)
    # PNG: Streamlit's default for images without alpha is JPEG, which blurs the pixels' edges.
    st.image(pixels, caption=caption, width=max(1, round(pixels.shape[1] * shrink)), output_format="PNG")


def show_digit_gallery(images: list[np.ndarray], captions: list[str], size: int = 84) -> None:
    """Small digits with captions (misclassified images, labelled drawings) in a row that wraps:
    each keeps its size where fixed columns would push it over its neighbour."""
    with st.container(horizontal=True, gap="small"):
        for image, caption in zip(images, captions):
            with st.container(width=size + GALLERY_FRAME_PX):
                show_digit(image, caption, size)


def save_network_form(key: str, network: Network, suggested_name: str,
                      build_metadata: Callable[[str], Metadata]) -> tuple[Path, Metadata] | None:
    """Name → sanitised file in saved_networks/, asking before replacing one of this session's
    files; another session's file, the quota or a full library is refused with the reason.

    ``build_metadata(stem)`` is called only when saving (it may measure test accuracy).
    Returns the saved path and metadata on the run that saved.
    """
    library = networks_folder.network_library(state.owner_token())
    name = st.text_input("Name", value=suggested_name, key=f"{key}_name", max_chars=64)
    try:
        path = library.path_for(name)
    except NetworkFileError as error:
        st.error(str(error))
        return None
    if library.protected(path):
        st.error(f"{path.name} is the bundled default network; choose another name.")
        return None
    exists = path.exists()
    replace = False
    if exists and not library.may_change(path):
        st.error(f"{library.why_read_only(path)}; choose another name.")
        return None
    if exists:
        st.warning(f"`{path.name}` already exists (you saved it).")
        replace = st.checkbox(f"Replace the existing {path.name}", key=f"{key}_replace")
    else:
        st.caption(f"Will be saved as `saved_networks/{path.name}` · you have saved {library.owned_count()} of "
                   f"{library.quota} networks")
    if not st.button("Save network", key=f"{key}_save", disabled=exists and not replace, icon=":material/save:"):
        return None
    with st.spinner("Measuring test accuracy…"):
        metadata = build_metadata(path.stem)
    try:
        saved = library.save(network, metadata, path.stem, overwrite=replace)
    except NetworkFileError as error:
        st.error(str(error))
        return None
    st.success(f"Saved `{saved.name}` (test accuracy {format_accuracy(metadata.test_accuracy)}).")
    return saved, metadata


def learning_strip(rows: dict[str, list], key: str) -> None:
    """The watched digits as one compact table: image, what it is, what the network reads,
    how sure it is, and when it last changed its mind (see ``learning_watch.strip_rows``).

    Plain HTML rather than a chart per digit or a data grid: it refreshes with the
    training charts, so it must cost the server next to nothing, and its text stays
    in the page for a test (or a screen reader) to read.
    """
    cells = []
    for image, what, reads_as, probability, changed in zip(*rows.values()):
        sure = "" if probability is None else (
            f'<div class="bar"><div style="width:{probability:.0%}"></div></div>{probability:.0%}')
        cells.append(f'<tr><td><img src="{image}" width="28" height="28" alt=""></td><td>{html.escape(what)}</td>'
                     f'<td class="digit">{"–" if reads_as is None else reads_as}</td><td class="sure">{sure}</td>'
                     f'<td class="changed">{html.escape(changed)}</td></tr>')
    st.html(f'<div class="st-key-{key}">{STRIP_STYLE}<table class="learning-strip"><thead><tr><th></th><th>digit</th>'
            f'<th>reads as</th><th>sure</th><th>changed its mind</th></tr></thead><tbody>{"".join(cells)}</tbody>'
            '</table></div>')
