"""The one-pass vector updates agree with numpy's, on every path they take."""

import numpy as np
import pytest

from nn_core.model import blas


def _numpy_blas_name() -> str:
    return np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]


def test_numpy_wheels_blas_is_found():
    if _numpy_blas_name() != "scipy-openblas":
        pytest.skip(f"numpy is linked to {_numpy_blas_name()}, whose symbols are not looked up")
    assert blas.AVAILABLE, "numpy's OpenBLAS exports cblas_saxpy/saxpby/sgemm under a name blas.py misses"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("contiguous", [True, False])
def test_updates_match_numpy(rng, dtype, contiguous):
    x = rng.standard_normal((300, 41)).astype(dtype)
    y = rng.standard_normal((300, 41)).astype(dtype)
    if not contiguous:  # a strided view must take numpy's path and still be updated in place
        x, y = x[:, ::2], y[:, ::2]
    expected_axpy = y + np.asarray(-0.3, dtype) * x
    expected_axpby = np.asarray(0.25, dtype) * x + np.asarray(0.9, dtype) * expected_axpy
    blas.axpy(-0.3, x, y)
    # atol: BLAS may fuse the multiply-add, rounding once where numpy rounds twice.
    np.testing.assert_allclose(y, expected_axpy, rtol=1e-6, atol=1e-6)
    blas.axpby(0.25, x, 0.9, y)
    np.testing.assert_allclose(y, expected_axpby, rtol=1e-6, atol=1e-6)
    assert y.dtype == dtype


def test_empty_arrays_are_left_alone():
    x, y = np.zeros(0, np.float32), np.zeros(0, np.float32)
    blas.axpy(2.0, x, y)
    blas.axpby(2.0, x, 3.0, y)
    assert y.shape == (0,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["rows", "transposed", "strided"])
@pytest.mark.parametrize("beta", [0.0, 0.9])
def test_transposed_product_matches_numpy(rng, dtype, layout, beta):
    a = rng.standard_normal((200, 60)).astype(dtype)
    b = rng.standard_normal((200, 24)).astype(dtype)
    c = rng.standard_normal((60, 24)).astype(dtype)
    if layout == "transposed":  # a.T row-major, as im2col's grayscale patch matrix
        a = np.ascontiguousarray(a.T).T
    if layout == "strided":  # numpy's path, still updated in place
        a, b, c = a[:, ::2], b[:, ::2], np.asfortranarray(c[::2, ::2])
    expected = a.T @ b + np.asarray(beta, dtype) * c
    blas.gemm_tn(a, b, beta, c)
    np.testing.assert_allclose(c, expected, rtol=1e-4, atol=1e-4)


def test_transposed_product_overwrites_non_finite_values_when_beta_is_zero(rng):
    a, b = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)
    c = np.full((3, 2), np.nan, np.float32)
    blas.gemm_tn(a, b, 0.0, c)
    np.testing.assert_allclose(c, a.T @ b, rtol=1e-5)


def test_transposed_product_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"a \(m, k\), b \(m, n\)"):
        blas.gemm_tn(np.zeros((5, 3), np.float32), np.zeros((4, 2), np.float32), 0.0,
                     np.zeros((3, 2), np.float32))


def test_blas_runs_single_threaded_inside_the_block_and_as_before_after():
    before = blas.blas_threads()
    assert before >= 1
    with blas.single_threaded_blas():
        assert blas.blas_threads() == 1
    assert blas.blas_threads() == before
    with pytest.raises(RuntimeError), blas.single_threaded_blas():
        raise RuntimeError("an error inside still restores the thread count")
    assert blas.blas_threads() == before
