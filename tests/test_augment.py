"""Tests of nn_core.training.augment: exact geometry on known patterns, randomness, validation."""

import numpy as np
import pytest

from nn_core.training.augment import (
    AugmentConfig,
    affine_batch,
    augment_batch,
    dilate,
    erode,
    inverse_affine_matrices,
)
from nn_core.errors import ConfigError, ImageError, ShapeError

NO_AUGMENTATION = AugmentConfig(shift=0, rotation=0, scale=0, thickness=0, elastic=0)


def blob_digits(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 784) uint8 random blobs kept well away from the border, like MNIST's 20x20 box."""
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 8:20, 8:20] = rng.integers(0, 256, size=(n, 12, 12))
    images[:, 10:18, 12:15] = 255  # a solid stroke so every image has ink
    return images.reshape(n, 784)


def centre_of_mass(images28: np.ndarray) -> np.ndarray:
    """(N, 2) centre of mass as (x, y) of (N, 28, 28) images."""
    coords = np.arange(28, dtype=np.float64)
    mass = images28.sum(axis=(1, 2))
    x = (images28.sum(axis=1) * coords).sum(axis=1) / mass
    y = (images28.sum(axis=2) * coords).sum(axis=1) / mass
    return np.stack([x, y], axis=1)


def as_float28(images: np.ndarray) -> np.ndarray:
    return (images.reshape(-1, 28, 28) / 255).astype(np.float32)


def test_all_zero_config_returns_the_input_scaled_to_unit_range():
    images = blob_digits(20, np.random.default_rng(0))
    out = augment_batch(images, np.random.default_rng(1), NO_AUGMENTATION)
    np.testing.assert_array_equal(out, images.astype(np.float32) / np.float32(255))


def test_float_input_is_accepted_and_passed_through_unchanged():
    images = blob_digits(5, np.random.default_rng(0)).astype(np.float32) / 255
    out = augment_batch(images, np.random.default_rng(1), NO_AUGMENTATION)
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize(
    "config",
    [AugmentConfig(), AugmentConfig(elastic=34.0), AugmentConfig(thickness=1.0, rotation=45)],
)
def test_output_is_float32_in_unit_range_with_input_shape(config):
    images = blob_digits(37, np.random.default_rng(0))
    out = augment_batch(images, np.random.default_rng(1), config)
    assert out.shape == (37, 784)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out, images / 255)  # it did distort


def test_empty_batch_gives_empty_batch():
    out = augment_batch(np.zeros((0, 784), dtype=np.uint8), np.random.default_rng(0))
    assert out.shape == (0, 784) and out.dtype == np.float32


def test_same_seed_gives_same_output_and_other_seed_differs():
    images = blob_digits(16, np.random.default_rng(0))
    config = AugmentConfig(elastic=30.0, thickness=0.5)
    first = augment_batch(images, np.random.default_rng(42), config)
    again = augment_batch(images, np.random.default_rng(42), config)
    other = augment_batch(images, np.random.default_rng(43), config)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_each_image_gets_its_own_distortion():
    images = np.repeat(blob_digits(1, np.random.default_rng(0)), 8, axis=0)
    out = augment_batch(images, np.random.default_rng(0))
    assert len({row.tobytes() for row in out}) == 8


def test_integer_shift_moves_centre_of_mass_by_that_shift():
    images = as_float28(blob_digits(4, np.random.default_rng(0)))
    shifts = np.array([[3, 0], [0, -2], [-4, 5], [1, 1]], dtype=np.float64)
    moved = affine_batch(images, inverse_affine_matrices(np.zeros(4), np.ones(4), shifts))
    np.testing.assert_allclose(centre_of_mass(moved) - centre_of_mass(images), shifts, atol=1e-4)
    # An integer shift only moves pixels: nothing is blurred or lost.
    np.testing.assert_array_equal(moved[0, :, 3:], images[0, :, :-3])


def test_random_shifts_stay_within_the_configured_range_and_keep_the_ink():
    images = blob_digits(64, np.random.default_rng(0))
    config = AugmentConfig(shift=3.0, rotation=0, scale=0, thickness=0, elastic=0)
    out = augment_batch(images, np.random.default_rng(1), config).reshape(-1, 28, 28)
    source = as_float28(images)
    moves = centre_of_mass(out) - centre_of_mass(source)
    assert np.abs(moves).max() <= 3.0 + 1e-3
    assert np.abs(moves).max() > 1.0  # the range is actually used
    np.testing.assert_allclose(out.sum(axis=(1, 2)), source.sum(axis=(1, 2)), rtol=1e-4)


def test_rotation_by_90_degrees_turns_the_image_counter_clockwise():
    pattern = np.zeros((1, 28, 28), dtype=np.float32)
    pattern[0, 5:20, 6:9] = 1.0  # the upright bar of an "L"
    pattern[0, 17:20, 9:18] = 0.5  # its foot, pointing right
    turned = affine_batch(pattern, inverse_affine_matrices([90.0], [1.0], [[0.0, 0.0]]))
    np.testing.assert_allclose(turned[0], np.rot90(pattern[0]), atol=1e-5)


def test_zoom_scales_the_extent_of_a_square_about_the_centre():
    square = np.zeros((1, 28, 28), dtype=np.float32)
    square[0, 10:18, 10:18] = 1.0  # 8x8, centred on (13.5, 13.5)
    zoomed = affine_batch(square, inverse_affine_matrices([0.0], [1.5], [[0.0, 0.0]]))
    assert zoomed[0].sum() == pytest.approx(square.sum() * 1.5**2, rel=0.02)
    np.testing.assert_allclose(centre_of_mass(zoomed), [[13.5, 13.5]], atol=1e-4)


def test_content_moved_out_of_the_image_is_replaced_by_zeros():
    ones = np.ones((1, 28, 28), dtype=np.float32)
    moved = affine_batch(ones, inverse_affine_matrices([0.0], [1.0], [[0.0, 30.0]]))
    assert moved.max() == 0.0


def test_warping_a_large_batch_equals_warping_each_image_alone():
    rng = np.random.default_rng(3)
    images = as_float28(blob_digits(41, rng))  # not a multiple of any internal chunk size
    matrices = inverse_affine_matrices(
        rng.uniform(-30, 30, 41), rng.uniform(0.8, 1.2, 41), rng.uniform(-3, 3, (41, 2))
    )
    together = affine_batch(images, matrices)
    alone = [affine_batch(images[i : i + 1], matrices[i : i + 1]) for i in range(41)]
    np.testing.assert_array_equal(together, np.concatenate(alone))


def test_dilation_adds_ink_and_erosion_removes_it():
    images = as_float28(blob_digits(10, np.random.default_rng(0)))
    mass = images.sum(axis=(1, 2))
    assert np.all(dilate(images).sum(axis=(1, 2)) > mass)
    assert np.all(erode(images).sum(axis=(1, 2)) < mass)
    assert np.all(dilate(images) >= images) and np.all(erode(images) <= images)


def test_dilation_of_a_single_pixel_is_a_cross():
    dot = np.zeros((1, 28, 28), dtype=np.float32)
    dot[0, 5, 7] = 1.0
    expected = np.zeros((28, 28), dtype=np.float32)
    expected[4:7, 7] = expected[5, 6:9] = 1.0
    np.testing.assert_array_equal(dilate(dot)[0], expected)
    np.testing.assert_array_equal(erode(dilate(dot))[0], dot[0])


def test_thickness_probability_one_changes_the_ink_of_every_image():
    images = blob_digits(50, np.random.default_rng(0))
    config = AugmentConfig(shift=0, rotation=0, scale=0, thickness=1.0, elastic=0)
    out = augment_batch(images, np.random.default_rng(1), config)
    ratio = out.sum(axis=1) / (images.sum(axis=1) / 255)
    assert np.all(np.abs(ratio - 1) > 0.01)
    assert (ratio > 1).any() and (ratio < 1).any()  # both thickening and thinning happen


def test_elastic_distortion_is_a_gentle_wobble_that_keeps_the_digit_in_place():
    images = blob_digits(30, np.random.default_rng(0))
    config = AugmentConfig(shift=0, rotation=0, scale=0, thickness=0, elastic=34.0)
    out = augment_batch(images, np.random.default_rng(1), config).reshape(-1, 28, 28)
    source = as_float28(images)
    assert np.abs(out - source).max() > 0.1
    # alpha = 34 with sigma = 4 displaces pixels by about 1.3 px (Simard et al.'s setting).
    moves = np.linalg.norm(centre_of_mass(out) - centre_of_mass(source), axis=1)
    assert 0.3 < moves.mean() < 2.5


def test_elastic_strength_scales_the_distortion():
    images = blob_digits(30, np.random.default_rng(0))
    source = as_float28(images).reshape(-1, 784)

    def change(alpha: float) -> float:
        config = AugmentConfig(shift=0, rotation=0, scale=0, thickness=0, elastic=alpha)
        out = augment_batch(images, np.random.default_rng(1), config)
        return float(np.abs(out - source).mean())

    assert change(5.0) < change(20.0) < change(60.0)


@pytest.mark.parametrize(
    "images",
    [np.zeros((4, 28, 28), np.uint8), np.zeros((4, 785), np.uint8), np.zeros(784, np.uint8)],
)
def test_wrong_shapes_raise_shape_error(images):
    with pytest.raises(ShapeError, match="784"):
        augment_batch(images, np.random.default_rng(0))


def test_integer_pixels_other_than_uint8_raise_shape_error():
    with pytest.raises(ShapeError, match="uint8"):
        augment_batch(np.zeros((2, 784), dtype=np.int64), np.random.default_rng(0))


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
def test_float_pixels_outside_unit_range_raise_image_error(bad):
    images = np.zeros((2, 784), dtype=np.float32)
    images[1, 100] = bad
    with pytest.raises(ImageError, match="255"):
        augment_batch(images, np.random.default_rng(0))


def test_affine_batch_checks_matrix_shape():
    with pytest.raises(ShapeError, match="matrix"):
        affine_batch(np.zeros((3, 28, 28), dtype=np.float32), np.zeros((2, 2, 3)))
    with pytest.raises(ShapeError, match="28, 28"):
        affine_batch(np.zeros((3, 784), dtype=np.float32), np.zeros((3, 2, 3)))


def test_inverse_affine_matrices_checks_its_inputs():
    with pytest.raises(ShapeError, match="shifts"):
        inverse_affine_matrices(np.zeros(3), np.ones(3), np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="zoom"):
        inverse_affine_matrices(np.zeros(2), np.array([1.0, 0.0]), np.zeros((2, 2)))


@pytest.mark.parametrize(
    "fields",
    [
        {"shift": -1.0},
        {"rotation": float("inf")},
        {"scale": 1.0},
        {"thickness": 1.5},
        {"elastic": "strong"},
        {"shift": True},
    ],
)
def test_impossible_configs_raise_config_error(fields):
    with pytest.raises(ConfigError):
        AugmentConfig(**fields)
