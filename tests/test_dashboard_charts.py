"""The dashboard's pure parts: array helpers and chart builders (no Streamlit runtime needed)."""

from __future__ import annotations

import re

import numpy as np
import plotly.graph_objects as go
import pytest

from nn_core.config import PRESETS, NetworkConfig

from dashboard import charts
from dashboard.architecture import cnn_layers, mlp_layers, run_name, shape_summary
from dashboard.arrays import (as_grid, channel_tiles, downsample_indices, ema, filter_tiles, grid_shape, tile_mosaic,
                              to_uint8_image, upscale_nearest, weight_mosaic)


# -- arrays ------------------------------------------------------------------------------------
def running_average(values: np.ndarray, smoothing: float) -> np.ndarray:
    """The moving average step by step, as its definition reads: what ``ema`` must equal."""
    smoothed, running, weight = np.empty(len(values)), 0.0, 0.0
    for index, value in enumerate(values):
        running = smoothing * running + (1 - smoothing) * value
        weight = smoothing * weight + (1 - smoothing)
        smoothed[index] = running / weight
    return smoothed


@pytest.mark.parametrize("smoothing", [0.1, 0.5, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("length", [1, 2, 7, 1000, 20000])
def test_ema_equals_the_step_by_step_average_however_long_the_history(smoothing, length):
    values = np.random.default_rng(length).random(length) * 3
    np.testing.assert_allclose(ema(values, smoothing), running_average(values, smoothing), rtol=1e-10, atol=1e-13)


def test_ema_without_smoothing_is_identity_and_smooths_noise():
    values = np.array([1.0, 3.0, 2.0, 5.0])
    np.testing.assert_allclose(ema(values, 0.0), values)
    noisy = np.random.default_rng(0).normal(1.0, 0.5, 2000)
    smoothed = ema(noisy, 0.95)
    assert smoothed.std() < noisy.std() / 3
    assert smoothed[0] == pytest.approx(noisy[0])  # bias correction: no pull towards zero


def test_downsample_indices_keeps_ends_and_bounds_length():
    assert list(downsample_indices(5, 10)) == [0, 1, 2, 3, 4]
    indices = downsample_indices(10_000, 500)
    assert len(indices) <= 500 and indices[0] == 0 and indices[-1] == 9_999
    assert np.all(np.diff(indices) > 0)


def test_upscale_nearest_repeats_pixels_exactly():
    image = np.zeros((28, 28), np.float32)
    image[3, 5] = 1.0
    big = upscale_nearest(image, 168)
    assert big.shape == (168, 168) and big.dtype == np.uint8
    assert np.all(big[18:24, 30:36] == 255) and big.sum() == 36 * 255
    assert upscale_nearest(np.ones((280, 280)), 168).shape == (280, 280)  # large images stay as they are


def test_to_uint8_image_rounds_and_clips():
    image = np.array([[0.0, 0.5, 1.2], [-0.1, 1 / 255, 1.0]], np.float32)
    np.testing.assert_array_equal(to_uint8_image(image), [[0, 128, 255], [0, 1, 255]])


@pytest.mark.parametrize("n_units, expected", [(256, (16, 16)), (128, (8, 16)), (64, (8, 8)), (10, (2, 5))])
def test_grid_shape_is_near_square(n_units, expected):
    assert grid_shape(n_units) == expected


def test_as_grid_pads_awkward_sizes_with_nan():
    grid = as_grid(np.arange(13.0))
    assert grid.size >= 13 and np.isnan(grid).sum() == grid.size - 13
    assert grid.shape[1] <= 4 * grid.shape[0]


def test_weight_mosaic_tiles_each_unit_scaled_to_unit_range():
    weights = np.random.default_rng(1).normal(size=(784, 40))
    mosaic = weight_mosaic(weights, n_units=32, columns=8)
    assert mosaic.shape == (4 * 29 - 1, 8 * 29 - 1)
    np.testing.assert_allclose(mosaic[:28, :28], weights[:, 0].reshape(28, 28) / np.abs(weights[:, 0]).max())
    assert np.isnan(mosaic[28, :]).all()  # separator row
    with pytest.raises(ValueError, match="784"):
        weight_mosaic(np.zeros((100, 4)))


def test_tile_mosaic_keeps_values_unless_asked_to_scale_each_tile():
    tiles = np.stack([np.full((3, 2), 2.0), np.full((3, 2), -4.0), np.full((3, 2), 1.0)])
    mosaic = tile_mosaic(tiles, columns=2)
    assert mosaic.shape == (2 * 4 - 1, 2 * 3 - 1)
    np.testing.assert_array_equal(mosaic[:3, :2], 2.0)
    np.testing.assert_array_equal(mosaic[:3, 3:], -4.0)
    np.testing.assert_array_equal(mosaic[4:, :2], 1.0)
    assert np.isnan(mosaic[4:, 3:]).all() and np.isnan(mosaic[3]).all()  # empty cell and separator
    np.testing.assert_array_equal(tile_mosaic(tiles, columns=2, scale_each=True)[:3, 3:], -1.0)
    with pytest.raises(ValueError):
        tile_mosaic(np.zeros((4, 4)))


def test_conv_weights_and_feature_maps_become_tiles():
    weight = np.random.default_rng(2).normal(size=(5, 5, 1, 16))
    tiles = filter_tiles(weight)
    assert tiles.shape == (16, 5, 5)
    np.testing.assert_array_equal(tiles[3], weight[:, :, 0, 3])
    maps = np.random.default_rng(3).random((14, 14, 32))
    assert channel_tiles(maps).shape == (32, 14, 14)
    np.testing.assert_array_equal(channel_tiles(maps)[7], maps[:, :, 7])


# -- architectures --------------------------------------------------------------------------------
def test_cnn_builder_defaults_are_the_preset():
    assert cnn_layers([16, 32]) == PRESETS["cnn"]
    assert mlp_layers([256, 128]) == PRESETS["mlp"]


def test_cnn_builder_with_every_option():
    layers = cnn_layers([8, 16, 32], kernel=3, batchnorm=True, dense_width=64)
    config = NetworkConfig(layers=layers)
    assert config.describe() == "c8k3bn-p2-c16k3bn-p2-c32k3bn-p2-d64-d10 relu"
    assert config.shapes()[-3:] == [(3, 3, 32), (64,), (10,)]
    assert run_name(config) == "cnn-c8k3bn-p2-c16k3bn-p2-c32k3bn-p2-d64-d10"
    assert shape_summary(NetworkConfig(layers=cnn_layers([16]))) == "28×28×1 → 28×28×16 → 14×14×16 → 10"
    assert run_name(NetworkConfig(layers=(784, 64, 10))) == "net-64"
    assert shape_summary(NetworkConfig(layers=(784, 64, 10))) == "784 → 64 → 10"


# -- charts ------------------------------------------------------------------------------------
def test_probability_bars_highlight_prediction_and_true_label():
    probabilities = np.full(10, 0.02)
    probabilities[7] = 0.82
    figure = charts.probability_bars(probabilities, true_label=1)
    assert isinstance(figure, go.Figure)
    (bars,) = figure.data
    assert list(bars.x) == list(range(10))
    np.testing.assert_allclose(bars.y, probabilities)
    assert bars.marker.color[7] == charts.PREDICTED_COLOUR
    assert bars.marker.color[1] == charts.TRUE_COLOUR
    with pytest.raises(ValueError):
        charts.probability_bars(np.ones(9) / 9)


def test_html_probability_bars_are_as_tall_as_each_probability_with_the_prediction_in_orange():
    probabilities = np.full(10, 0.005)
    probabilities[3] = 0.955
    page = charts.probability_bars_html(probabilities, title="Sure <of> it")
    columns = re.findall(r'<div class="column" title="digit (\d): ([\d.]+)%"><span class="value">([^<]*)</span>'
                         r'<div class="bar" style="height:([\d.]+)px;background:([^"]+)"', page)
    assert [int(digit) for digit, *_ in columns] == list(range(10))
    heights = np.array([float(height) for *_, height, _ in columns])
    np.testing.assert_allclose(heights, probabilities * charts.HTML_BARS_PX, atol=0.05)
    assert [colour for *_, colour in columns] == [charts.PREDICTED_COLOUR if digit == 3 else charts.BAR_COLOUR
                                                 for digit in range(10)]
    assert columns[3][2] == "96%" and columns[0][2] == ""  # under 1%: no label over a bar too low to see
    assert float(columns[0][1]) == 0.5  # the tooltip tells it
    assert "Sure &lt;of&gt; it: 3 at 96%" in page and "<of>" not in page
    with pytest.raises(ValueError):
        charts.probability_bars_html(np.ones(9) / 9)


def test_loss_chart_has_raw_and_smoothed_lines():
    steps = list(range(1, 101))
    losses = list(np.linspace(2.3, 0.2, 100))
    figure = charts.loss_chart(steps, losses)
    raw, smooth = figure.data
    np.testing.assert_allclose(raw.y, losses)
    assert smooth.name == "smoothed" and smooth.y[-1] > losses[-1]  # the average lags behind a falling loss
    assert charts.loss_chart([], []).data == ()


def test_loss_chart_on_a_log_scale():
    assert charts.loss_chart([1, 2], [2.3, 0.1]).layout.yaxis.type != "log"
    figure = charts.loss_chart([1, 2], [2.3, 0.1], log_scale=True)
    assert figure.layout.yaxis.type == "log" and "log" in figure.layout.yaxis.title.text


def test_a_single_step_is_drawn_as_a_point():
    for figure in (charts.loss_chart([1], [2.3]), charts.accuracy_chart([1], [0.1], [], []),
                   charts.learning_rate_chart([1], [0.05])):
        assert all(trace.mode == "markers" for trace in figure.data)
    assert charts.loss_chart([1, 2], [2.3, 2.1]).data[0].mode == "lines"


def test_long_histories_are_downsampled_for_display():
    steps = list(range(10_000))
    figure = charts.loss_chart(steps, list(np.ones(10_000)))
    assert all(len(trace.x) <= charts.MAX_LINE_POINTS for trace in figure.data)
    assert figure.data[0].x[-1] == 9_999


def test_accuracy_chart_shows_train_and_validation():
    figure = charts.accuracy_chart([1, 2, 3], [0.5, 0.6, 0.7], [3], [0.65])
    names = [trace.name for trace in figure.data]
    assert names == ["train (smoothed)", "validation"]
    assert list(figure.data[1].x) == [3] and list(figure.data[1].y) == [0.65]
    limits = figure.layout.yaxis.autorangeoptions
    assert limits.minallowed == 0 and limits.maxallowed > 1  # no axis below 0% or far above 100%
    only_validation = charts.accuracy_chart([], [], [10, 20], [0.9, 0.95])
    assert [trace.name for trace in only_validation.data] == ["validation"]


def test_learning_rate_chart_plots_each_batch():
    figure = charts.learning_rate_chart([1, 2, 3], [0.1, 0.1, 0.01])
    np.testing.assert_allclose(figure.data[0].y, [0.1, 0.1, 0.01])


def test_saliency_chart_is_symmetric_diverging_28_by_28():
    saliency = np.linspace(-1, 3, 784)
    (heatmap,) = charts.saliency_chart(saliency).data
    z = np.asarray(heatmap.z)
    assert z.shape == (28, 28)
    assert heatmap.zmin == -3 and heatmap.zmax == 3 and heatmap.zmid == 0


def test_saliency_chart_outlines_the_input_ink():
    image = np.zeros((28, 28))
    image[5:20, 12:15] = 1.0
    heatmap, outline = charts.saliency_chart(np.zeros(784), image).data
    assert outline.type == "contour" and outline.contours.start == 0.5
    np.testing.assert_array_equal(np.asarray(outline.z), image)


def test_activation_chart_puts_every_unit_in_a_grid():
    values = np.arange(128.0)
    (heatmap,) = charts.activation_chart(values, "layer").data
    z = np.asarray(heatmap.z, dtype=float)
    assert z.shape == (8, 16)
    np.testing.assert_allclose(np.sort(z.ravel()), values)


def test_weight_grid_chart_titles_the_number_of_units():
    figure = charts.weight_grid_chart(np.random.default_rng(0).normal(size=(784, 10)))
    assert "10 units" in figure.layout.title.text
    assert np.asarray(figure.data[0].z).shape == (2 * 29 - 1, 8 * 29 - 1)


def test_confusion_matrix_chart_shows_counts():
    confusion = np.diag(np.full(10, 100))
    confusion[4, 9] = 7
    (heatmap,) = charts.confusion_matrix_chart(confusion).data
    assert np.asarray(heatmap.text)[4, 9] == 7 and np.asarray(heatmap.customdata)[4, 9] == 7
    assert heatmap.texttemplate == "%{text}"
    with pytest.raises(ValueError):
        charts.confusion_matrix_chart(np.zeros((3, 3)))
    figure = charts.confusion_matrix_chart(confusion)
    assert figure.layout.xaxis.side == "top" and figure.layout.margin.t >= 80  # the axis title clears the title


def test_per_class_accuracy_chart():
    accuracies = np.linspace(0.9, 0.99, 10)
    figure = charts.per_class_accuracy_chart(accuracies)
    np.testing.assert_allclose(figure.data[0].y, accuracies)
    assert figure.layout.yaxis.range[0] == pytest.approx(0.85)
    # Room above 100% for the labels, but the ticks stop at 100%.
    assert figure.layout.yaxis.range[1] > 1 and max(figure.layout.yaxis.tickvals) == 1.0


@pytest.mark.parametrize("low, expected", [(0.94, [0.94, 0.96, 0.98, 1.0]), (0.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
                                           (0.5, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]), (0.9471, [0.96, 0.98, 1.0])])
def test_percent_ticks_are_round_and_end_at_the_top(low, expected):
    assert charts.percent_ticks(low, 1.0) == pytest.approx(expected)


def test_conv_filter_chart_tiles_each_filter_on_a_diverging_scale():
    weight = np.random.default_rng(4).normal(size=(5, 5, 1, 16))
    figure = charts.conv_filter_chart(weight, columns=8)
    (heatmap,) = figure.data
    z = np.asarray(heatmap.z, dtype=float)
    assert z.shape == (2 * 6 - 1, 8 * 6 - 1)
    np.testing.assert_allclose(z[:5, 6:11], weight[:, :, 0, 1] / np.abs(weight[:, :, 0, 1]).max())
    assert heatmap.zmid == 0 and heatmap.colorscale[0][1] != heatmap.colorscale[-1][1]
    customdata = np.asarray(heatmap.customdata, dtype=float)
    assert customdata[0, 6] == 1 and customdata[6, 0] == 8 and heatmap.hoverongaps is False
    assert "16 filters, 5×5" in figure.layout.title.text


def test_feature_map_chart_shows_every_channel_on_one_scale():
    maps = np.random.default_rng(5).random((7, 7, 12)) * np.arange(12)  # channel 11 is the strongest
    figure = charts.feature_map_chart(maps, "Pool 2", columns=8)
    (heatmap,) = figure.data
    z = np.asarray(heatmap.z, dtype=float)
    assert z.shape == (2 * 8 - 1, 8 * 8 - 1)
    np.testing.assert_allclose(z[8:15, 24:31], maps[:, :, 11])  # values kept, not rescaled per channel
    assert np.nanmax(z) == pytest.approx(maps.max())
    assert np.asarray(heatmap.customdata, dtype=float)[8, 24] == 11
    assert figure.layout.title.text == "Pool 2" and figure.layout.height > 100
    with pytest.raises(ValueError):
        charts.feature_map_chart(np.zeros((7, 7)), "flat")


def test_photo_cleanup_chart_colours_each_removed_region_over_the_photo():
    picture = np.full((800, 600), 200, np.uint8)
    removed = np.zeros((800, 600), np.uint8)
    removed[:100] = 1  # outside the page
    removed[400, :] = 3  # a printed line one pixel thin
    names = {1: "outside the page", 2: "band of desk", 3: "printed line"}
    figure = charts.photo_cleanup_chart(picture, removed, names, max_side=200)
    *legend, image = figure.data
    assert [trace.name for trace in legend] == ["outside the page", "printed line"]  # only what was removed
    z = np.asarray(image.z)
    assert z.shape == (200, 150, 3)
    assert (z[-1, -1] == 200).all()  # kept: the photo's own grey
    assert not (z[0, 0] == 200).all() and not (z[100, 0] == 200).all()  # the thin line survives shrinking
    assert (z[0, 0] != z[100, 0]).any()  # each region its own colour
