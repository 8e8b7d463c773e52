"""What a student watches while a network learns: its predictions for a few chosen
digits, and a 2-D map of how its last hidden layer sorts test digits.

Pure numpy (no Streamlit, no Plotly), so a training worker process can compute
these beside its batches and the pages only draw them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nn_core.model.network import Network

MAP_DIGITS = 2000  # test digits on the hidden-space map: every cluster well filled, still light to draw
NEAREST = 5  # test digits listed as the drawing's nearest neighbours in the hidden space
# A hard case beside easy ones, so a student sees a digit the network is still unsure of
# late in training: a cramped 2 that even the bundled network is unsure of.
HARD_TEST_DIGIT = 646
# Indices into the MNIST test set: the first 0, 1, 2, 3, 4, 5 and 7, then the hard 2.
WATCHED_TEST_DIGITS = (3, 2, 1, 18, 4, 8, 0, HARD_TEST_DIGIT)
ACTIVATION_CHUNK = 500  # images per forward pass when mapping, so memory stays bounded
MAP_CHUNK = 16  # map digits a training worker puts through the network at a time, between ticks
# While training, the watched digits are classified and the map redrawn at most this often, and
# less often when they cost more than their share of the training time: together at most 10%.
STRIP_EVERY_SECONDS = 1.0
MAP_EVERY_SECONDS = 3.0
STRIP_SHARE = 0.03
MAP_SHARE = 0.05


# -- the hidden-space map ------------------------------------------------------------------
def last_hidden_activations(network: Network, images: np.ndarray) -> np.ndarray:
    """(N, units) float32: what the final dense layer reads, for (N, 784) images in [0, 1]
    or uint8. That layer only draws straight lines between these points, so digits the
    network tells apart must lie in separable groups here."""
    chunks = [network.activations(images[start:start + ACTIVATION_CHUNK])[-2]
              for start in range(0, len(images), ACTIVATION_CHUNK)]
    features = np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
    return features.reshape(len(images), -1).astype(np.float32, copy=False)


@dataclass(frozen=True)
class Projection:
    """A 2-D view of hidden activations: ``mean`` (units,), ``axes`` (units, 2), ``scale``.

    Points are ``(activations - mean) @ axes / scale``, so the map keeps a similar size
    while activations grow during training.
    """

    mean: np.ndarray
    axes: np.ndarray
    scale: float

    def apply(self, activations: np.ndarray) -> np.ndarray:
        """(N, units) → (N, 2) points in this projection's frame."""
        return ((np.asarray(activations, np.float64) - self.mean) @ self.axes / self.scale).astype(np.float32)


def fit_projection(activations: np.ndarray, previous_points: np.ndarray | None = None) -> Projection:
    """The two principal axes of (N, units) activations, turned to match
    ``previous_points`` (N, 2) of the same digits, when given.

    Principal axes come out with arbitrary signs and order, so consecutive maps could
    flip or swap while training barely changed anything. The rotation (or reflection)
    that best lays the new points on the old ones (orthogonal Procrustes) keeps the
    picture moving smoothly instead.
    """
    values = np.asarray(activations, np.float64)
    mean = values.mean(axis=0)
    centred = values - mean
    # The principal axes are the covariance's leading eigenvectors (the SVD's right singular
    # vectors): a units × units eigenproblem costs far less than an SVD of every point.
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axes = np.zeros((values.shape[1], 2))
    kept = vectors[:, ::-1][:, :2]
    axes[:, :kept.shape[1]] = kept
    points = centred @ axes
    scale = float(np.sqrt((points ** 2).sum(axis=1).mean())) or 1.0
    points /= scale
    if previous_points is not None and len(previous_points) == len(points):
        left, _, right_turn = np.linalg.svd(points.T @ np.asarray(previous_points, np.float64))
        axes = axes @ (left @ right_turn)
    return Projection(mean=mean, axes=axes, scale=scale)


def nearest_digits(activations: np.ndarray, query: np.ndarray, count: int = NEAREST) -> np.ndarray:
    """Indices of the ``count`` rows of (N, units) ``activations`` closest to (units,) ``query``,
    nearest first: the test digits this network thinks a drawing is most like."""
    distances = ((np.asarray(activations, np.float64) - np.asarray(query, np.float64)) ** 2).sum(axis=1)
    count = min(count, len(distances))
    nearest = np.argpartition(distances, count - 1)[:count] if count else np.zeros(0, np.int64)
    return nearest[np.argsort(distances[nearest])]


@dataclass(frozen=True)
class HiddenMap:
    """The map of one moment: (N, 2) ``points`` of the map digits, and the drawing's
    ``star`` (2,) with its ``nearest`` test-digit indices (into the map digits), if any."""

    points: np.ndarray
    star: np.ndarray | None
    nearest: np.ndarray


def hidden_map(network: Network, map_images: np.ndarray, drawing: np.ndarray | None = None,
               previous: HiddenMap | None = None) -> HiddenMap:
    """The map for ``network`` of (N, 784) ``map_images`` and an optional (28, 28) drawing,
    oriented like ``previous`` so an update moves the picture rather than flipping it."""
    return map_of_features(network, last_hidden_activations(network, map_images), drawing, previous)


def map_of_features(network: Network, features: np.ndarray, drawing: np.ndarray | None = None,
                    previous: HiddenMap | None = None) -> HiddenMap:
    """``hidden_map`` from the map digits' last-hidden-layer ``features``, already computed."""
    projection = fit_projection(features, None if previous is None else previous.points)
    return project_map(network, features, projection, drawing)


def project_map(network: Network, features: np.ndarray, projection: Projection,
                drawing: np.ndarray | None = None) -> HiddenMap:
    """The map of ``features`` in a given ``projection``, with the (28, 28) drawing's star and
    nearest test digits when there is a drawing."""
    if drawing is None:
        return HiddenMap(points=projection.apply(features), star=None, nearest=np.zeros(0, np.int64))
    drawn = last_hidden_activations(network, np.asarray(drawing, np.float32).reshape(1, 784))
    return HiddenMap(points=projection.apply(features), star=projection.apply(drawn)[0],
                     nearest=nearest_digits(features, drawn[0]))


# -- predictions for watched digits ---------------------------------------------------------
@dataclass(frozen=True)
class Flip:
    """A watched image whose predicted digit changed: from ``was`` (held since ``since_batch``)
    to ``now`` at ``batch``."""

    was: int
    since_batch: int
    now: int
    batch: int

    def describe(self) -> str:
        return f"was {self.was} at batch {self.since_batch:,}, now {self.now}"


@dataclass
class PredictionWatch:
    """Predictions of a training network for fixed images, recorded every so often.

    ``images`` (K, 784) in [0, 1]; ``names`` says what each is ("your drawing",
    "labelled 3", "test digit 7"); ``labels`` the true (or labelled) digit, -1 when
    unknown. ``record`` keeps the (K, 10) probabilities at each batch count.
    """

    images: np.ndarray
    names: list[str]
    labels: np.ndarray
    batches: list[int] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)

    def record(self, network: Network, batch: int) -> np.ndarray:
        """Classify the watched images now; returns and keeps their (K, 10) probabilities."""
        probabilities = network.predict_proba(self.images).astype(np.float32)
        self.batches.append(int(batch))
        self.probabilities.append(probabilities)
        return probabilities

    @property
    def latest(self) -> np.ndarray | None:
        return self.probabilities[-1] if self.probabilities else None

    def last_flips(self) -> list[Flip | None]:
        """Per image, its latest change of mind (None if its prediction never changed)."""
        if not self.probabilities:
            return [None] * len(self.images)
        predicted = np.stack([p.argmax(axis=1) for p in self.probabilities])  # (records, K)
        flips: list[Flip | None] = []
        for image in range(predicted.shape[1]):
            changes = np.flatnonzero(predicted[1:, image] != predicted[:-1, image]) + 1
            if changes.size == 0:
                flips.append(None)
                continue
            at = int(changes[-1])
            held_since = int(changes[-2]) if changes.size > 1 else 0
            flips.append(Flip(was=int(predicted[at - 1, image]), since_batch=self.batches[held_since],
                              now=int(predicted[at, image]), batch=self.batches[at]))
        return flips

    def true_class_history(self, image: int) -> tuple[np.ndarray, np.ndarray]:
        """(batches, probability of the image's true digit) over the records; empty when
        the image has no known label."""
        label = int(self.labels[image])
        if label < 0 or not self.probabilities:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return (np.asarray(self.batches, np.int64),
                np.array([p[image, label] for p in self.probabilities], np.float32))


def strip_rows(watch: PredictionWatch, image_urls: list[str]) -> dict[str, list]:
    """The strip as table columns: each watched image (as ``image_urls``), what it is, the
    digit the network reads now, its probability, and its latest change of mind."""
    latest = watch.latest
    predicted = [None] * len(watch.names) if latest is None else [int(d) for d in latest.argmax(axis=1)]
    confidence = [None] * len(watch.names) if latest is None else [float(p) for p in latest.max(axis=1)]
    return {"image": image_urls, "what": list(watch.names), "reads as": predicted, "probability": confidence,
            "changed its mind": [flip.describe() if flip else "" for flip in watch.last_flips()]}


def got_it_batch(batches: np.ndarray, probabilities: np.ndarray) -> int | None:
    """The first of ``batches`` from which ``probabilities`` (of the true digit) stay above
    one half — the moment the network "got it" — or None if they end at or below it."""
    below = np.flatnonzero(np.asarray(probabilities) <= 0.5)
    first_above = 0 if below.size == 0 else int(below[-1]) + 1
    return int(batches[first_above]) if first_above < len(batches) else None


def watched_images(test_images: np.ndarray, test_labels: np.ndarray, drawing: np.ndarray | None,
                   labelled: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The strip's images: the current drawing (if any), the labelled drawings, then the
    fixed MNIST test digits. Returns (K, 784) float32 in [0, 1], names and labels (-1: unknown)."""
    images, names, labels = [], [], []
    if drawing is not None:
        images.append(np.asarray(drawing, np.float32).reshape(784))
        names.append("your drawing")
        labels.append(-1)
    for image, label in labelled:
        images.append(_unit(image))
        names.append(f"labelled {label}")
        labels.append(int(label))
    for index in WATCHED_TEST_DIGITS:
        images.append(_unit(test_images[index]))
        names.append("hard test digit" if index == HARD_TEST_DIGIT else f"test digit {int(test_labels[index])}")
        labels.append(int(test_labels[index]))
    return np.stack(images), names, np.asarray(labels, np.int64)


def _unit(image: np.ndarray) -> np.ndarray:
    """A (28, 28) or (784,) image, uint8 or float, as (784,) float32 in [0, 1]."""
    values = np.asarray(image).reshape(784)
    return values.astype(np.float32) / 255 if values.dtype == np.uint8 else values.astype(np.float32)


# -- watching from inside a training worker ---------------------------------------------------
@dataclass
class WatchSpec:
    """What a training run watches: ``watch`` (its images, names and labels, no records yet),
    the (N, 784) uint8 ``map_images`` (or the path of a read-only .npy file holding them)
    with their (N,) ``map_labels``, and the (28, 28) ``drawing`` to place on the map (None
    when nothing is drawn)."""

    watch: PredictionWatch
    map_images: np.ndarray | str
    map_labels: np.ndarray
    drawing: np.ndarray | None = None


@dataclass(frozen=True)
class WatchUpdate:
    """What a worker found since its last report: new (batch, (K, 10) probabilities) records,
    and a new map (or None)."""

    records: list[tuple[int, np.ndarray]]
    hidden_map: HiddenMap | None


class LiveWatch:
    """The watched digits and the map of a network in training, refreshed on a clock and
    kept to a small share of the training time.

    The map's test digits go through the network a piece at a time, as much after each
    training tick as its share of the time since the last look allows, so no tick waits
    long for it (a CNN takes seconds over 2,000 digits); the map is made once all are
    through. A command (Step one batch) looks at everything at once.
    """

    def __init__(self, spec: WatchSpec, clock: Callable[[], float] = time.perf_counter) -> None:
        self.spec = spec
        self._clock = clock
        self._last_map: HiddenMap | None = None
        self._strip = LookSchedule(STRIP_EVERY_SECONDS, STRIP_SHARE)
        self._map = LookSchedule(MAP_EVERY_SECONDS, MAP_SHARE)
        self._parts: list[np.ndarray] = []  # features of the map digits done so far
        self._map_started = 0.0
        self._map_cost = 0.0
        self._last_look = clock()

    def look(self, network: Network, batch: int, now: bool = False) -> WatchUpdate | None:
        """Classify the watched digits if due, and take the map a piece further if due or
        under way (everything at once if ``now``). None when nothing was due."""
        looked_at = self._clock()
        since_last, self._last_look = looked_at - self._last_look, looked_at
        records: list[tuple[int, np.ndarray]] = []
        if now or self._strip.due(looked_at):
            records.append((batch, self.spec.watch.record(network, batch)))
            self._strip.done(looked_at, self._clock() - looked_at)
        new_map = None
        if now:
            self._parts = []
            new_map = self._finish_map(network, last_hidden_activations(network, self.spec.map_images))
            self._map.done(looked_at, self._clock() - looked_at)
        elif self._parts or self._map.due(looked_at):
            new_map = self._map_piece(network, budget=MAP_SHARE * since_last)
        return WatchUpdate(records, new_map) if records or new_map is not None else None

    def _map_piece(self, network: Network, budget: float) -> HiddenMap | None:
        """Features for the next map digits, a chunk at a time until ``budget`` seconds are spent
        (at least one chunk); the map once every digit is through."""
        if not self._parts:
            self._map_started, self._map_cost = self._clock(), 0.0
        started = self._clock()
        done = sum(len(part) for part in self._parts)
        chunk_cost = None  # the last chunk's, to stop before one would overrun the budget
        while done < len(self.spec.map_images) and (
                chunk_cost is None or self._clock() - started + chunk_cost <= budget):
            chunk_started = self._clock()
            self._parts.append(last_hidden_activations(network, self.spec.map_images[done:done + MAP_CHUNK]))
            done += len(self._parts[-1])
            chunk_cost = self._clock() - chunk_started
        new_map = None
        if done >= len(self.spec.map_images):
            new_map = self._finish_map(network, np.concatenate(self._parts))
            self._parts = []
        self._map_cost += self._clock() - started
        if new_map is not None:
            self._map.done(self._map_started, self._map_cost)
        return new_map

    def _finish_map(self, network: Network, features: np.ndarray) -> HiddenMap:
        self._last_map = map_of_features(network, features, self.spec.drawing, self._last_map)
        return self._last_map


@dataclass
class LookSchedule:
    """When something that costs time may run again: ``every`` seconds after it started at
    the soonest, and only as often as keeps its ``cost`` below ``share`` of the time."""

    every: float
    share: float
    next_time: float = float("-inf")

    def due(self, now: float) -> bool:
        return now >= self.next_time

    def done(self, started: float, cost: float) -> None:
        self.next_time = started + max(self.every, cost / self.share)
