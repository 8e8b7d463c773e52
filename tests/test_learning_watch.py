"""Watching a network learn: the hidden-space map, predictions of watched digits, their charts."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from nn_core.config import NetworkConfig
from nn_core.model.network import Network

from dashboard import charts
from dashboard.arrays import png_data_url
from dashboard.learning_watch import (MAP_CHUNK, MAP_EVERY_SECONDS, STRIP_EVERY_SECONDS, WATCHED_TEST_DIGITS, LiveWatch,
                                      PredictionWatch, WatchSpec, LookSchedule, fit_projection, got_it_batch, hidden_map,
                                      last_hidden_activations, nearest_digits, strip_rows, watched_images)


def _small_network(seed: int = 0) -> Network:
    return Network(NetworkConfig(layers=(784, 32, 16, 10), seed=seed))


def _images(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.random((count, 784), dtype=np.float32)


def test_last_hidden_activations_are_what_the_output_layer_reads(rng):
    network = _small_network()
    images = _images(rng, 700)  # more than one chunk
    features = last_hidden_activations(network, images)
    assert features.shape == (700, 16)
    output_layer = network.layers[-1]
    np.testing.assert_allclose(output_layer.forward(features), network.forward(images), rtol=1e-5, atol=1e-5)


def test_projection_finds_the_direction_of_greatest_spread(rng):
    spread = np.zeros((500, 6))
    spread[:, 3] = rng.normal(0, 10, 500)  # the one direction that matters
    spread += rng.normal(0, 0.1, spread.shape)
    points = fit_projection(spread).apply(spread)
    assert points.shape == (500, 2)
    assert abs(np.corrcoef(points[:, 0], spread[:, 3])[0, 1]) > 0.99
    assert np.sqrt((points ** 2).sum(axis=1).mean()) == pytest.approx(1.0, rel=1e-3)


def test_projection_keeps_its_orientation_from_one_update_to_the_next(rng):
    clusters = np.repeat(rng.normal(0, 5, (10, 12)), 50, axis=0) + rng.normal(0, 0.5, (500, 12))
    first = fit_projection(clusters).apply(clusters)
    # The same activations with their axes flipped, as an SVD may return them, still map the same way.
    flipped = clusters * np.where(np.arange(12) % 2, -1.0, 1.0)
    again = fit_projection(flipped, previous_points=first).apply(flipped)
    np.testing.assert_allclose(again, first, atol=1e-4)
    # Whatever the last picture's orientation, the new one is turned to match it.
    mirrored = first * np.array([-1.0, 1.0], np.float32)
    np.testing.assert_allclose(fit_projection(clusters, previous_points=mirrored).apply(clusters), mirrored, atol=1e-4)


def test_nearest_digits_are_sorted_by_distance():
    activations = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 0.0], [0.0, 3.0]])
    assert list(nearest_digits(activations, np.array([0.1, 0.0]), count=3)) == [0, 2, 3]


def test_hidden_map_places_the_drawing_among_the_map_digits(rng):
    network = _small_network()
    images = _images(rng, 300)
    drawing = images[17].reshape(28, 28)
    result = hidden_map(network, images, drawing)
    assert result.points.shape == (300, 2)
    np.testing.assert_allclose(result.star, result.points[17], atol=1e-5)
    assert result.nearest[0] == 17
    plain = hidden_map(network, images)
    assert plain.star is None and plain.nearest.size == 0


def test_watch_reports_the_last_flip_with_when_it_happened():
    watch = PredictionWatch(images=np.zeros((2, 784), np.float32), names=["a", "b"], labels=np.array([3, -1]))
    steady = np.eye(10, dtype=np.float32)[[3, 5]]
    changed = np.eye(10, dtype=np.float32)[[8, 5]]
    watch.probabilities = [steady, steady, changed]
    watch.batches = [100, 200, 300]
    flips = watch.last_flips()
    assert flips[1] is None
    assert flips[0].describe() == "was 3 at batch 100, now 8"
    assert (flips[0].was, flips[0].now, flips[0].batch) == (3, 8, 300)
    batches, probabilities = watch.true_class_history(0)
    assert list(batches) == [100, 200, 300] and list(probabilities) == [1, 1, 0]
    assert watch.true_class_history(1)[0].size == 0  # no label, no history


def test_strip_rows_say_what_each_digit_reads_as_and_when_it_changed():
    watch = PredictionWatch(images=np.zeros((2, 784), np.float32), names=["your drawing", "test digit 7"],
                            labels=np.array([-1, 7]))
    assert strip_rows(watch, ["a", "b"])["reads as"] == [None, None]  # nothing recorded yet
    first = np.full((2, 10), 0.05, np.float32)
    first[0, 3], first[1, 7] = 0.55, 0.55
    later = first.copy()
    later[0, 3], later[0, 8] = 0.05, 0.55
    watch.probabilities, watch.batches = [first, later], [50, 100]
    rows = strip_rows(watch, ["a", "b"])
    assert rows["image"] == ["a", "b"] and rows["what"] == ["your drawing", "test digit 7"]
    assert rows["reads as"] == [8, 7] and rows["probability"] == pytest.approx([0.55, 0.55])
    assert rows["changed its mind"] == ["was 3 at batch 50, now 8", ""]


def test_png_data_url_round_trips_a_digit():
    image = np.zeros((28, 28), np.float32)
    image[5:20, 12:15] = 1.0
    url = png_data_url(image.reshape(784))
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(decoded, (image * 255).astype(np.uint8))
    assert png_data_url((image * 255).astype(np.uint8)) == url


def test_watch_records_predictions_of_a_real_network(rng):
    network = _small_network()
    images = _images(rng, 4)
    watch = PredictionWatch(images=images, names=list("abcd"), labels=np.arange(4))
    first = watch.record(network, 0)
    np.testing.assert_allclose(first, network.predict_proba(images), rtol=1e-6)
    assert watch.latest is first and watch.batches == [0]


def test_watched_images_put_the_drawing_first_then_labelled_then_test_digits(rng):
    test_images = rng.integers(0, 256, (1000, 784), dtype=np.uint8)
    test_labels = rng.integers(0, 10, 1000)
    drawing = np.full((28, 28), 0.5, np.float32)
    images, names, labels = watched_images(test_images, test_labels, drawing, [(np.zeros((28, 28), np.uint8), 4)])
    assert images.shape == (2 + len(WATCHED_TEST_DIGITS), 784) and images.dtype == np.float32
    assert names[:2] == ["your drawing", "labelled 4"] and list(labels[:2]) == [-1, 4]
    assert "hard test digit" in names
    np.testing.assert_allclose(images[2 + 1], test_images[WATCHED_TEST_DIGITS[1]] / 255, rtol=1e-6)


def test_watched_test_digits_are_mostly_different_digits(mnist):
    labels = mnist.test_labels[list(WATCHED_TEST_DIGITS)]
    assert len(set(labels.tolist())) >= 7


@pytest.mark.parametrize("probabilities, expected", [
    ([0.1, 0.6, 0.4, 0.7, 0.9], 300), ([0.9, 0.95, 0.99], 0), ([0.9, 0.2], None), ([], None)])
def test_got_it_is_the_first_batch_from_which_it_stays_right(probabilities, expected):
    batches = np.arange(len(probabilities)) * 100
    assert got_it_batch(batches, np.array(probabilities)) == expected


def test_hidden_map_chart_colours_each_digit_and_shows_the_star(rng):
    points = rng.normal(size=(2000, 2))
    labels = np.arange(2000) % 10
    figure = charts.hidden_map_chart(points, labels, star=np.array([0.5, -0.5]))
    assert isinstance(figure, go.Figure)
    dots, star = figure.data
    assert len(dots.x) == 2000 and list(dots.marker.color) == list(labels) and list(dots.customdata) == list(range(2000))
    # The stepped colour scale gives each digit its own colour, the middle of its step.
    scale = dots.marker.colorscale
    for digit in range(10):
        position = (digit + 0.5 - dots.marker.cmin) / (dots.marker.cmax - dots.marker.cmin)
        step = next(colour for (low, colour), (high, _) in zip(scale[::2], scale[1::2]) if low <= position <= high)
        assert step == charts.DIGIT_COLOURS[digit]
    assert star.marker.symbol == "star" and (star.x[0], star.y[0]) == (0.5, -0.5)
    assert len(charts.hidden_map_chart(points, labels).data) == 1
    with pytest.raises(ValueError):
        charts.hidden_map_chart(points[:, :1], labels)


def test_true_digit_history_chart_marks_the_moment_it_got_it():
    figure = charts.true_digit_history_chart([0, 100, 200, 300], [0.1, 0.3, 0.8, 0.9], "labelled 4")
    assert list(figure.data[0].y) == pytest.approx([0.1, 0.3, 0.8, 0.9])
    assert figure.layout.shapes[0].x0 == 200
    assert "got it at batch 200" in figure.layout.annotations[0].text
    assert not charts.true_digit_history_chart([0, 100], [0.1, 0.2], "x").layout.shapes


class FakeClock:
    """A millisecond passes at each reading; more when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def test_live_watch_looks_on_a_clock_and_maps_a_piece_at_a_time(rng):
    network = _small_network()
    watch = PredictionWatch(_images(rng, 3), ["a", "b", "c"], np.array([1, 2, 3]))
    clock = FakeClock()
    map_images = (_images(rng, 3 * MAP_CHUNK) * 255).astype(np.uint8)
    live = LiveWatch(WatchSpec(watch, map_images, np.arange(len(map_images)) % 10), clock)
    first = live.look(network, batch=0)
    # A look may spend a twentieth of the time since the last one: one chunk, so the map comes with the third.
    assert [batch for batch, _ in first.records] == [0] and first.hidden_map is None
    assert live.look(network, batch=1) is None  # one more piece of the map: nothing to report yet
    third = live.look(network, batch=2)
    assert third.records == [] and third.hidden_map.points.shape == (3 * MAP_CHUNK, 2)
    np.testing.assert_allclose(third.hidden_map.points, hidden_map(network, map_images).points, atol=1e-4)
    assert live.look(network, batch=3) is None  # neither is due yet
    clock.now += STRIP_EVERY_SECONDS
    update = live.look(network, batch=5)
    assert [batch for batch, _ in update.records] == [5] and update.hidden_map is None
    everything = live.look(network, batch=10, now=True)  # a command looks at everything at once
    assert everything.records[0][0] == 10 and everything.hidden_map.points.shape == (3 * MAP_CHUNK, 2)
    assert watch.batches == [0, 5, 10]


def test_schedule_waits_longer_after_a_costly_look():
    schedule = LookSchedule(every=1.0, share=0.05)
    assert schedule.due(0.0)
    schedule.done(started=0.0, cost=0.2)  # 0.2 s is 5% of 4 s
    assert not schedule.due(3.9) and schedule.due(4.0)
    schedule.done(started=4.0, cost=0.01)
    assert schedule.due(5.0)
