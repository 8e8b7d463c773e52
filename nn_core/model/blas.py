"""Updates numpy has no single call for, done by numpy's own BLAS.

An optimizer step is a few passes over every weight. numpy needs one pass per
ufunc plus a temporary for ``y -= a * x``; BLAS's axpy and axpby do each update
in one pass. On the 784-256-128-10 MLP that is a tenth of the training step.
gemm_tn adds a product to a scaled matrix, which lets heavy-ball momentum
update its velocity inside the weight-gradient product instead of after it.
blas_threads and single_threaded_blas read and set the size of BLAS's thread
pool, for code that spreads products over threads of its own.

The functions are looked up in the BLAS numpy itself is linked against (never a
second copy: two BLAS thread pools on the same cores stall each other), by the
names the OpenBLAS builds in numpy's wheels export. Anywhere else (another
BLAS, other dtypes, non-contiguous arrays) the same update runs in numpy.
"""

from __future__ import annotations

import ctypes
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

# (symbol pattern, integer type): the suffix fixes the width of BLAS integers.
_SYMBOLS = (("scipy_cblas_{}64_", ctypes.c_int64), ("cblas_{}64_", ctypes.c_int64),
            ("scipy_cblas_{}", ctypes.c_int32))
# OpenBLAS's own functions (thread control) take a C int in every build.
_OPENBLAS_SYMBOLS = (("scipy_openblas_{}64_", ctypes.c_int), ("scipy_openblas_{}", ctypes.c_int),
                     ("openblas_{}", ctypes.c_int))


def _numpy_extension_library() -> ctypes.CDLL | None:
    try:
        from numpy._core import _multiarray_umath as numpy_extension
        # dlsym on the extension also searches the libraries it was linked with.
        return ctypes.CDLL(numpy_extension.__file__)
    except (ImportError, OSError, AttributeError):
        return None


_LIBRARY = _numpy_extension_library()


def _numpy_blas(name: str, *arguments: type, symbols: tuple = _SYMBOLS,
                restype: type | None = None) -> Callable | None:
    """The BLAS function `name` (CBLAS by default) that numpy's extension module links to, or None."""
    if _LIBRARY is None:
        return None
    for pattern, integer in symbols:
        function = getattr(_LIBRARY, pattern.format(name), None)
        if function is not None:
            function.argtypes = [arg if arg is not int else integer for arg in arguments]
            function.restype = restype
            return function
    return None


_get_threads = _numpy_blas("get_num_threads", symbols=_OPENBLAS_SYMBOLS, restype=ctypes.c_int)
_set_threads = _numpy_blas("set_num_threads", int, symbols=_OPENBLAS_SYMBOLS)


def blas_threads() -> int:
    """How many threads numpy's BLAS runs a product on; 1 when that cannot be told."""
    return max(1, int(_get_threads())) if _get_threads and _set_threads else 1


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread inside the block, for code that runs products on several
    threads of its own; the setting is process-wide, as BLAS's pool is."""
    before = blas_threads()
    if before == 1:
        yield
        return
    _set_threads(1)
    try:
        yield
    finally:
        _set_threads(before)


_Pointer, _Float, _Enum = ctypes.c_void_p, ctypes.c_float, ctypes.c_int
# cblas_saxpy(n, alpha, x, incx, y, incy); cblas_saxpby(n, alpha, x, incx, beta, y, incy)
_saxpy = _numpy_blas("saxpy", int, _Float, _Pointer, int, _Pointer, int)
_saxpby = _numpy_blas("saxpby", int, _Float, _Pointer, int, _Float, _Pointer, int)
# cblas_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
_sgemm = _numpy_blas("sgemm", _Enum, _Enum, _Enum, int, int, int, _Float, _Pointer, int,
                     _Pointer, int, _Float, _Pointer, int)
_ROW_MAJOR, _NO_TRANSPOSE, _TRANSPOSE = 101, 111, 112
AVAILABLE = _saxpy is not None and _saxpby is not None and _sgemm is not None


def _float32_rows(*arrays: np.ndarray) -> bool:
    """Whether BLAS can take the arrays as they are: contiguous float32."""
    return AVAILABLE and all(x.dtype == np.float32 and x.flags.c_contiguous for x in arrays)


def _blas_ready(x: np.ndarray, y: np.ndarray) -> bool:
    return _float32_rows(x, y) and x.shape == y.shape and y.flags.writeable


def axpy(alpha: float, x: np.ndarray, y: np.ndarray) -> None:
    """y += alpha * x, in place, in one pass."""
    if _blas_ready(x, y):
        _saxpy(y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
    else:
        y += np.asarray(alpha, y.dtype) * x


def axpby(alpha: float, x: np.ndarray, beta: float, y: np.ndarray) -> None:
    """y = alpha * x + beta * y, in place, in one pass."""
    if _blas_ready(x, y):
        _saxpby(y.size, alpha, x.ctypes.data, 1, beta, y.ctypes.data, 1)
    else:
        y *= np.asarray(beta, y.dtype)
        y += np.asarray(alpha, y.dtype) * x


def gemm_tn(a: np.ndarray, b: np.ndarray, beta: float, c: np.ndarray) -> None:
    """c = a.T @ b + beta * c, in place, for a (m, k), b (m, n) and c (k, n).

    ``a`` may be row-major or the transpose of a row-major array (as im2col's
    patch matrix can be); BLAS reads either without a copy.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0] or c.shape != (a.shape[1], b.shape[1]):
        raise ValueError(f"gemm_tn needs a (m, k), b (m, n) and c (k, n); got {a.shape}, {b.shape}, {c.shape}")
    if not beta:  # a plain product: numpy's own call costs less than the ctypes one
        np.matmul(a.T, b, out=c)
        return
    rows, k = a.shape
    n = b.shape[1]
    if _float32_rows(a.T if a.flags.f_contiguous else a, b, c) and a.size and c.size and c.flags.writeable:
        # A row-major a is read transposed; a transposed one is a.T read as it is.
        transpose, lda = (_TRANSPOSE, k) if a.flags.c_contiguous else (_NO_TRANSPOSE, rows)
        _sgemm(_ROW_MAJOR, transpose, _NO_TRANSPOSE, k, n, rows, 1.0, a.ctypes.data, lda,
               b.ctypes.data, n, beta, c.ctypes.data, n)
    else:
        axpby(1.0, a.T @ b, beta, c)
