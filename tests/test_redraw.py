"""nn_core.synthetic.redraw (behind scripts/redraw_mnist.py): training digits re-drawn with a uniform brush, as the app would see them."""

from __future__ import annotations

import numpy as np

from nn_core.preprocess import preprocess
from nn_core.synthetic.drawn_digits import PenStyle
from nn_core.synthetic.redraw import random_hand, redraw, redraw_training_digits


def test_redrawn_digits_are_preprocessed_uniform_strokes(mnist):
    originals = mnist.train_images[:12]
    redrawn = redraw(originals, seed=3)
    assert redrawn.shape == originals.shape and redrawn.dtype == np.uint8
    assert (redrawn.max(axis=1) > 200).all()  # solid strokes, none came out empty
    np.testing.assert_array_equal(redraw(originals, seed=3), redrawn)  # reproducible
    for image in redrawn[:4].reshape(-1, 28, 28) / 255:
        again = preprocess(image).image  # already normalised: preprocessing leaves it in place
        assert np.abs(again - image).mean() < 0.05
    # Same digit, different pen: close to the original shape but not a copy of it.
    difference = np.abs(redrawn.astype(int) - originals.astype(int)).mean(axis=1) / 255
    assert ((difference > 0.01) & (difference < 0.3)).all()


def test_each_copy_is_a_fresh_drawing_with_the_same_label(mnist):
    images, labels = redraw_training_digits(mnist.train_images, mnist.train_labels, n=6, copies=2,
                                            seed=1, workers=1)
    assert images.shape == (12, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels[:6], labels[6:])  # the same six digits, twice
    assert set(labels) <= set(range(10))
    # A second brush and size: each copy differs from the first drawing of its digit.
    assert (np.abs(images[:6].astype(int) - images[6:].astype(int)).mean(axis=(1, 2)) > 1).all()


def test_a_mix_of_tracers_is_reproducible_and_one_tracer_draws_as_before(mnist):
    originals = mnist.train_images[:12]
    fine, mixed = redraw(originals, seed=5, upsamples=(4,)), redraw(originals, seed=5, upsamples=(1, 4))
    np.testing.assert_array_equal(redraw(originals, seed=5), fine)  # the default is the 4× tracer alone
    np.testing.assert_array_equal(redraw(originals, seed=5, upsamples=(1, 4)), mixed)  # reproducible
    assert (mixed.max(axis=1) > 200).all()
    assert (np.abs(mixed.astype(int) - fine.astype(int)).mean(axis=1) > 1).any()
    # A tracer at 28×28 alone still draws the same digits, with its jagged paths.
    jagged = redraw(originals, seed=5, upsamples=(1,))
    difference = np.abs(jagged.astype(int) - originals.astype(int)).mean(axis=1) / 255
    assert (difference < 0.3).all()


def test_a_varied_pen_changes_the_drawings_and_a_uniform_one_draws_as_before(mnist):
    originals = mnist.train_images[:12]
    plain = redraw(originals, seed=5)
    np.testing.assert_array_equal(redraw(originals, seed=5, pen=PenStyle()), plain)
    varied = redraw(originals, seed=5, pen=PenStyle(pressure=0.6, end_reach=2.0), brushes=(6, 30))
    np.testing.assert_array_equal(redraw(originals, seed=5, pen=PenStyle(0.6, 2.0), brushes=(6, 30)),
                                  varied)  # reproducible
    assert (varied.max(axis=1) > 200).all()
    assert (np.abs(varied.astype(int) - plain.astype(int)).mean(axis=1) > 1).all()
    difference = np.abs(varied.astype(int) - originals.astype(int)).mean(axis=1) / 255
    assert (difference < 0.3).all()  # still the same digits
    shaky = redraw(originals, seed=5, pen=PenStyle(0.6, 2.0, lifts=2, taper=0.5, tremor=2.0), brushes=(6, 30))
    assert (shaky.max(axis=1) > 200).all()
    assert (np.abs(shaky.astype(int) - varied.astype(int)).mean(axis=1) > 1).any()
    assert (np.abs(shaky.astype(int) - originals.astype(int)).mean(axis=1) / 255 < 0.3).all()


def test_each_drawing_gets_its_own_share_of_the_hand():
    pen = PenStyle(pressure=0.5, end_reach=1.5, lifts=3, taper=0.5, tremor=2.0)
    rng = np.random.default_rng(0)
    hands = [random_hand(pen, rng) for _ in range(200)]
    assert {hand.lifts for hand in hands} == {0, 1, 2, 3}
    for name, top in (("pressure", 0.5), ("taper", 0.5), ("tremor", 2.0)):
        values = np.array([getattr(hand, name) for hand in hands])
        assert values.min() >= 0 and values.max() <= top and values.std() > top / 5
    assert all(hand.end_reach == 1.5 for hand in hands)
    assert random_hand(PenStyle(), rng) == PenStyle()
