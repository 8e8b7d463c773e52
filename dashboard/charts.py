"""Chart builders: arrays in, ``plotly.graph_objects.Figure`` out (or plain HTML, for
the chart redrawn on every stroke).

Pure functions (no Streamlit, no session state) so each is tested with plain
pytest and reused by any page. Shapes follow nn_core: probabilities (10,),
images (28, 28) or (784,), first-layer weights (784, n_units), conv weights
(k, k, C_in, C_out), feature maps channels-last (H, W, C).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.arrays import (as_grid, channel_tiles, downsample_indices, ema, filter_tiles, tile_mosaic,
                              weight_mosaic)
from dashboard.learning_watch import got_it_batch

DIGITS = list(range(10))
MAX_LINE_POINTS = 1000  # more points than the chart has pixels only slow the browser down
PREDICTED_COLOUR = "#e4572e"
BAR_COLOUR = "#4c78a8"
TRUE_COLOUR = "#2ca02c"
RAW_COLOUR = "rgba(76, 120, 168, 0.25)"
CLEANUP_COLOURS = ((31, 119, 180), (255, 127, 14), (214, 39, 40), (44, 160, 44))  # by label, from 1
CLEANUP_OPACITY = 0.55  # the photo stays readable under the colour
HTML_BARS_PX = 150  # the height of an HTML bar at probability 1
HTML_BARS_STYLE = """<style>
.probability-bars .title {font-size: 0.95rem; margin-bottom: 0.4rem}
.probability-bars .plot {display: flex; align-items: flex-end; gap: 6px; border-bottom: 1px solid #bbb}
.probability-bars .column {flex: 1; display: flex; flex-direction: column; align-items: center}
.probability-bars .value {font-size: 0.75rem; min-height: 1.1em; white-space: nowrap}
.probability-bars .bar {width: 100%; min-height: 1px}
.probability-bars .digits {display: flex; gap: 6px; font-size: 0.85rem; opacity: 0.7}
.probability-bars .digits span {flex: 1; text-align: center}
</style>"""


def _layout(title: str, height: int, **layout: object) -> dict[str, object]:
    """The layout every chart shares (title at the left, tight margins) plus its own settings."""
    return {"title": {"text": title, "x": 0, "xanchor": "left"}, "height": height,
            "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, **layout}


def _finish(figure: go.Figure, title: str, height: int, **layout: object) -> go.Figure:
    figure.update_layout(_layout(title, height, **layout))
    return figure


def _figure(traces: list, title: str, height: int, **layout: object) -> go.Figure:
    """A figure of ``traces`` with the shared layout, given whole to the constructor: for the
    charts rebuilt on every stroke or every live refresh, where ``update_layout``'s path-by-path
    merging costs several times the rest of the chart."""
    return go.Figure(traces, layout=_layout(title, height, **layout))


def _ten_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """(10,) float64 probabilities; ValueError for any other number of them."""
    probabilities = np.asarray(probabilities, dtype=np.float64).ravel()
    if probabilities.shape != (10,):
        raise ValueError(f"expected 10 probabilities; got shape {probabilities.shape}")
    return probabilities


def _bar_label(probability: float) -> str:
    """A bar's percentage; none under 1%, where the bar is too low to carry one."""
    return f"{probability:.0%}" if probability >= 0.01 else ""


def probability_bars(probabilities: np.ndarray, true_label: int | None = None,
                     title: str = "Probability of each digit", height: int = 260) -> go.Figure:
    """Ten bars, one per digit; the predicted digit in orange, the true one (if known) in green."""
    probabilities = _ten_probabilities(probabilities)
    predicted = int(probabilities.argmax())
    colours = [BAR_COLOUR] * 10
    if true_label is not None:
        colours[true_label] = TRUE_COLOUR
    colours[predicted] = PREDICTED_COLOUR
    bars = go.Bar(x=DIGITS, y=probabilities, marker={"color": colours},
                  text=[_bar_label(p) for p in probabilities], textposition="outside",
                  hovertemplate="digit %{x}: %{y:.2%}<extra></extra>")
    return _figure([bars], title, height, showlegend=False,
                   xaxis={"tickmode": "array", "tickvals": DIGITS, "title": {"text": "digit"}},
                   yaxis={"range": [0, 1.12], "tickformat": ".0%", "title": {"text": "probability"}})


def probability_bars_html(probabilities: np.ndarray, title: str = "Probability of each digit") -> str:
    """``probability_bars`` as plain HTML: ten bars, the predicted digit's in orange, each
    labelled with its percentage (its tooltip gives two decimals).

    For the Draw page, which draws them on every stroke: the browser lays out ten boxes in a
    millisecond, where plotly.js spends a few hundred drawing a new chart, on every student's
    machine each time (the Debug page keeps the plotly chart, with the true digit marked).
    """
    probabilities = _ten_probabilities(probabilities)
    predicted = int(probabilities.argmax())
    columns = "".join(
        f'<div class="column" title="digit {digit}: {p:.2%}"><span class="value">{_bar_label(p)}'
        f'</span><div class="bar" style="height:{p * HTML_BARS_PX:.1f}px;background:'
        f'{PREDICTED_COLOUR if digit == predicted else BAR_COLOUR}"></div></div>'
        for digit, p in enumerate(probabilities))
    digits = "".join(f"<span>{digit}</span>" for digit in DIGITS)
    return (f'{HTML_BARS_STYLE}<div class="probability-bars" role="img" aria-label="{html.escape(title)}: '
            f'{predicted} at {probabilities[predicted]:.0%}"><div class="title">{html.escape(title)}</div>'
            f'<div class="plot">{columns}</div><div class="digits">{digits}</div></div>')


def _line(x: Sequence[float], y: Sequence[float], name: str, **style: object) -> go.Scatter:
    keep = downsample_indices(len(x), MAX_LINE_POINTS)
    # A line through one point draws nothing: after a single step, show the point.
    mode = "lines" if len(keep) > 1 else "markers"
    return go.Scatter(x=np.asarray(x)[keep], y=np.asarray(y)[keep], name=name, mode=mode, **style)


def loss_chart(steps: Sequence[int], losses: Sequence[float], smoothing: float = 0.9,
               height: int = 280, log_scale: bool = False) -> go.Figure:
    """Loss per batch: raw values faint, their moving average bold. On a log scale the
    slow late fall, flat on a linear scale after the first steep drop, stays visible."""
    traces = []
    if len(steps):
        traces = [_line(steps, losses, "loss per batch", line={"color": RAW_COLOUR, "width": 1}),
                  _line(steps, ema(losses, smoothing), "smoothed", line={"color": BAR_COLOUR, "width": 2})]
    yaxis = {"title": {"text": "loss (log scale)" if log_scale else "loss"}}
    yaxis.update({"type": "log", "dtick": 1} if log_scale else {"rangemode": "tozero"})  # labels at 1, 0.1, …
    return _figure(traces, "Training loss", height, xaxis={"title": {"text": "batch"}}, yaxis=yaxis,
                   legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"})


def accuracy_chart(steps: Sequence[int], train_accuracy: Sequence[float], eval_steps: Sequence[int],
                   eval_accuracy: Sequence[float], smoothing: float = 0.9, height: int = 280) -> go.Figure:
    """Training accuracy per batch (smoothed) and validation accuracy at each evaluation."""
    traces = []
    if len(steps):
        traces.append(_line(steps, ema(train_accuracy, smoothing), "train (smoothed)",
                            line={"color": BAR_COLOUR, "width": 2}))
    if len(eval_steps):
        traces.append(go.Scatter(x=list(eval_steps), y=list(eval_accuracy), name="validation",
                                 mode="lines+markers", line={"color": PREDICTED_COLOUR, "width": 2}))
    return _figure(traces, "Accuracy", height, xaxis={"title": {"text": "batch"}},
                   yaxis={"title": {"text": "accuracy"}, "tickformat": ".0%",
                          # Zoomed to the data, but never past 0% or 100%.
                          "autorangeoptions": {"minallowed": 0, "maxallowed": 1.02}},
                   legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"})


def learning_rate_chart(steps: Sequence[int], learning_rates: Sequence[float],
                        height: int = 220) -> go.Figure:
    """The learning rate each batch used (changes when the schedule or a slider moves it)."""
    traces = []
    if len(steps):
        traces = [_line(steps, learning_rates, "learning rate", line={"color": BAR_COLOUR, "shape": "hv"})]
    return _figure(traces, "Learning rate", height, xaxis={"title": {"text": "batch"}},
                   yaxis={"title": {"text": "rate"}, "rangemode": "tozero"})


def image_heatmap(image: np.ndarray, title: str, colorscale: str = "gray", symmetric: bool = False,
                  height: int = 260, show_scale: bool = False) -> go.Figure:
    """A 2-D array (or 784 vector) drawn pixel by pixel, row 0 at the top, square pixels."""
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 1 and array.size == 784:
        array = array.reshape(28, 28)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D image or 784 values; got shape {array.shape}")
    limit = float(np.nanmax(np.abs(array))) if symmetric and np.isfinite(array).any() else None
    figure = go.Figure(go.Heatmap(
        z=array, colorscale=colorscale, showscale=show_scale,
        zmid=0 if symmetric else None, zmin=-limit if limit else None, zmax=limit if limit else None,
        hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>"))
    return _finish(figure, title, height,
                   xaxis={"visible": False, "constrain": "domain"},
                   yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x", "constrain": "domain"})


def saliency_chart(saliency: np.ndarray, image: np.ndarray | None = None,
                   title: str = "Saliency: which pixels push the prediction", height: int = 300) -> go.Figure:
    """d logit / d pixel over the 28×28 input: red raises the predicted digit's score, blue lowers it.

    With the input ``image`` (28×28 or 784, values in [0, 1]) the outline of its ink is drawn on top.
    """
    figure = image_heatmap(np.asarray(saliency).reshape(28, 28), title, colorscale="RdBu_r",
                           symmetric=True, height=height, show_scale=True)
    if image is not None:
        figure.add_trace(go.Contour(z=np.asarray(image, dtype=np.float64).reshape(28, 28), showscale=False,
                                    contours={"start": 0.5, "end": 0.5, "coloring": "none"},
                                    line={"color": "black", "width": 1}, hoverinfo="skip", name="ink outline"))
    return figure


def activation_chart(values: np.ndarray, title: str, height: int = 240) -> go.Figure:
    """One layer's activations (n_units,) as a near-square heatmap, one cell per unit."""
    grid = as_grid(values)
    figure = image_heatmap(grid, title, colorscale="Viridis", height=height, show_scale=True)
    figure.update_traces(customdata=np.arange(grid.size).reshape(grid.shape),
                         hovertemplate="unit %{customdata}: %{z:.3f}<extra></extra>")
    return figure


def weight_grid_chart(weights: np.ndarray, n_units: int = 32, columns: int = 8,
                      height: int = 360) -> go.Figure:
    """First-layer weights (784, n) as 28×28 tiles: what each hidden unit looks for."""
    shown = min(n_units, np.asarray(weights).shape[1])
    return image_heatmap(weight_mosaic(weights, n_units, columns),
                         f"First-layer weights of {shown} units (red +, blue −)",
                         colorscale="RdBu_r", symmetric=True, height=height)


def _mosaic_height(mosaic: np.ndarray, width_px: int, title_px: int = 50) -> int:
    """Figure height that shows a mosaic at ``width_px`` wide with square pixels."""
    return title_px + round(width_px * mosaic.shape[0] / mosaic.shape[1])


def _label_tiles(figure: go.Figure, tiles: np.ndarray, columns: int, name: str) -> go.Figure:
    """Hover says which tile (filter or channel) a pixel belongs to; the gaps say nothing."""
    n_tiles = len(tiles)
    numbers = tile_mosaic(np.broadcast_to(np.arange(n_tiles)[:, None, None], tiles.shape), columns)
    figure.update_traces(customdata=numbers, hoverongaps=False,
                         hovertemplate=f"{name} %{{customdata}}: %{{z:.3f}}<extra></extra>")
    return figure


def conv_filter_chart(weight: np.ndarray, columns: int = 8, width_px: int = 540) -> go.Figure:
    """A conv layer's filters (k, k, C_in, C_out) as C_out k×k tiles (red +, blue −), each scaled
    to its own range. For the first layer (C_in = 1) a tile is the pattern the filter looks for."""
    tiles = filter_tiles(weight)
    mosaic = tile_mosaic(tiles, columns, scale_each=True)
    n_filters, kernel = tiles.shape[0], tiles.shape[1]
    figure = image_heatmap(mosaic, f"{n_filters} filters, {kernel}×{kernel} (red +, blue −)",
                           colorscale="RdBu_r", symmetric=True, height=_mosaic_height(mosaic, width_px))
    return _label_tiles(figure, tiles, columns, "filter")


def feature_map_chart(maps: np.ndarray, title: str, columns: int = 8, width_px: int = 520) -> go.Figure:
    """One layer's output for one image, (H, W, C), as C heatmaps on one shared colour scale,
    so strongly and weakly responding channels can be told apart."""
    tiles = channel_tiles(maps)
    mosaic = tile_mosaic(tiles, columns)
    figure = image_heatmap(mosaic, title, colorscale="Viridis", height=_mosaic_height(mosaic, width_px),
                           show_scale=True)
    return _label_tiles(figure, tiles, columns, "channel")


def confusion_matrix_chart(confusion: np.ndarray, height: int = 460) -> go.Figure:
    """(10, 10) counts, row = true digit, column = predicted; mistakes stand out on a log-like scale."""
    confusion = np.asarray(confusion)
    if confusion.shape != (10, 10):
        raise ValueError(f"expected a (10, 10) confusion matrix; got {confusion.shape}")
    # sqrt keeps the large diagonal from washing out the few-count mistakes.
    figure = go.Figure(go.Heatmap(
        z=np.sqrt(confusion), x=DIGITS, y=DIGITS, text=confusion, texttemplate="%{text}",
        colorscale="Blues", showscale=False,
        customdata=confusion, hovertemplate="true %{y} → predicted %{x}: %{customdata}<extra></extra>"))
    figure = _finish(figure, "Confusion matrix (test set)", height,
                     xaxis={"title": {"text": "predicted digit"}, "tickvals": DIGITS, "side": "top",
                            "constrain": "domain"},
                     # Square cells: in a column narrower than the figure is tall, the matrix shrinks
                     # toward the top axis, where its labels are, not away from it.
                     yaxis={"title": {"text": "true digit"}, "tickvals": DIGITS, "autorange": "reversed",
                            "scaleanchor": "x", "constrain": "domain", "constraintoward": "top"})
    # The predicted-digit axis sits on top: the title goes above it, at the figure's top edge.
    return figure.update_layout(margin={"t": 90}, title={"y": 1, "yref": "container", "yanchor": "top",
                                                          "pad": {"t": 10}})


def per_class_accuracy_chart(accuracies: np.ndarray, height: int = 260) -> go.Figure:
    """Accuracy of each true digit; the axis starts near the worst class so differences show."""
    accuracies = np.asarray(accuracies, dtype=np.float64)
    worst = float(np.nanmin(accuracies)) if np.isfinite(accuracies).any() else 0.0
    figure = go.Figure(go.Bar(x=DIGITS, y=accuracies, marker_color=BAR_COLOUR,
                              text=[f"{a:.1%}" for a in accuracies], textposition="outside",
                              hovertemplate="digit %{x}: %{y:.2%}<extra></extra>"))
    low = max(0.0, worst - 0.05)
    # Room above 100% for the bars' labels, but no tick there: no digit is more than 100% right.
    return _finish(figure, "Accuracy per digit (test set)", height,
                   xaxis={"tickvals": DIGITS, "title": {"text": "true digit"}},
                   yaxis={"tickformat": ".0%", "range": [low, 1.0 + (1.0 - low) * 0.15],
                          "tickvals": percent_ticks(low, 1.0)})


def percent_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """At most ``most`` round fractions (multiples of 1, 2 or 5 hundredths or tenths) from
    ``low`` up to and including ``high``."""
    step = next(step for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0) if (high - low) / step <= most - 1)
    first = math.ceil(round(low / step, 9)) * step
    return [round(first + step * index, 10) for index in range(int(round((high - first) / step)) + 1)]


# Ten colours a colour-blind reader can still tell apart in groups (Plotly's "D3" set).
DIGIT_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
# A colour scale in ten flat steps, one per digit, for colouring points by their digit (0-9).
DIGIT_COLOUR_STEPS = [[edge, colour] for digit, colour in enumerate(DIGIT_COLOURS)
                      for edge in (digit / 10, (digit + 1) / 10)]


def hidden_map_chart(points: np.ndarray, labels: np.ndarray, star: np.ndarray | None = None,
                     title: str = "How the last hidden layer sorts test digits", height: int = 460) -> go.Figure:
    """(N, 2) map points coloured by their (N,) true digit (the colour bar names the digits),
    and the drawing as a black star. Each point's ``customdata`` is its row in ``points``,
    so a click can show that test digit.

    One trace for all the points, coloured through a stepped colour scale: a trace per
    digit costs the server several times more to build, and the Train page redraws this
    map every few seconds while training runs.
    """
    points, labels = np.asarray(points), np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"expected (N, 2) points and N labels; got {points.shape} and {labels.shape}")
    # WebGL scatter: thousands of points redraw smoothly.
    figure = go.Figure(go.Scattergl(
        x=points[:, 0], y=points[:, 1], mode="markers", name="test digits", customdata=np.arange(len(points)),
        marker={"size": 5, "opacity": 0.7, "color": labels, "colorscale": DIGIT_COLOUR_STEPS,
                "cmin": -0.5, "cmax": 9.5,
                "colorbar": {"title": {"text": "digit"}, "tickvals": DIGITS, "thickness": 12, "len": 0.9}},
        text=labels, hovertemplate="test digit #%{customdata}: a %{text}<extra></extra>"))
    if star is not None:  # WebGL too: WebGL traces are drawn above every SVG trace
        figure.add_trace(go.Scattergl(
            x=[float(star[0])], y=[float(star[1])], mode="markers", name="your drawing",
            marker={"symbol": "star", "size": 24, "color": "black", "line": {"color": "white", "width": 2}},
            hovertemplate="your drawing<extra></extra>"))
    return _finish(figure, title, height, showlegend=False, xaxis={"visible": False},
                   yaxis={"visible": False, "scaleanchor": "x"}, clickmode="event+select")


def true_digit_history_chart(batches: Sequence[int], probabilities: Sequence[float], title: str,
                             height: int = 180) -> go.Figure:
    """The probability a network gave one drawing's true digit, batch by batch, with the
    moment it "got it" (the first batch from which it stayed above 50%) marked."""
    batches, probabilities = np.asarray(batches), np.asarray(probabilities, np.float64)
    figure = go.Figure(_line(batches, probabilities, "probability", line={"color": BAR_COLOUR, "width": 2}))
    got_it = got_it_batch(batches, probabilities)
    if got_it is not None:
        figure.add_vline(x=got_it, line={"color": TRUE_COLOUR, "dash": "dot"},
                         annotation_text=f"got it at batch {got_it:,}", annotation_position="bottom right")
    figure = _finish(figure, title, height, showlegend=False, xaxis={"title": {"text": "batch"}},
                     yaxis={"range": [0, 1.05], "tickvals": [0, 0.5, 1], "tickformat": ".0%"})
    return figure.update_layout(margin={"t": 30})


def photo_cleanup_chart(picture: np.ndarray, removed: np.ndarray, names: dict[int, str],
                        max_side: int = 360, height: int = 380) -> go.Figure:
    """A photo (H, W) uint8 grey with what the photo cleanup removed laid over it in colour:
    ``removed`` (H, W) labels 0 (kept) or a key of ``names``, each label its own colour
    and legend entry. Shrunk to at most ``max_side`` pixels; a thin removed line stays
    visible, as each shrunk pixel takes any label in its block."""
    step = max(1, -(-max(picture.shape) // max_side))
    shown = picture[::step, ::step]
    labels = _block_labels(removed, step)[:shown.shape[0], :shown.shape[1]]
    rgb = np.repeat(shown[:, :, None].astype(np.float32), 3, axis=2)
    figure = go.Figure()
    for label, name in names.items():
        where = labels == label
        colour = np.array(CLEANUP_COLOURS[(label - 1) % len(CLEANUP_COLOURS)], np.float32)
        rgb[where] = (1 - CLEANUP_OPACITY) * rgb[where] + CLEANUP_OPACITY * colour
        if where.any():  # a legend entry for each kind of region that was removed
            figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                        marker={"color": f"rgb{tuple(int(c) for c in colour)}",
                                                "size": 12, "symbol": "square"}))
    figure.add_trace(go.Image(z=np.round(rgb).astype(np.uint8), hoverinfo="skip"))
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, scaleanchor="x")
    return _finish(figure, "What the photo cleanup removed", height,
                   legend={"orientation": "h", "y": -0.02, "yanchor": "top"})


def _block_labels(removed: np.ndarray, step: int) -> np.ndarray:
    """The largest label in each step×step block (edge blocks may be smaller)."""
    height, width = removed.shape
    padded = np.zeros((-(-height // step) * step, -(-width // step) * step), removed.dtype)
    padded[:height, :width] = removed
    return padded.reshape(padded.shape[0] // step, step, padded.shape[1] // step, step).max(axis=(1, 3))
