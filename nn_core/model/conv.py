"""Convolutional layers on channels-last batches (N, H, W, C).

A convolution is one matrix product: im2col lays every k×k×C input patch out
as a row of a ``cols`` matrix (N·H'·W', k·k·C), and the output is
``cols @ weight.reshape(k·k·C, F)``. Its input gradient is the same kind of
product: a convolution of the padded output gradient with the kernel flipped
and its channel axes swapped. Turning the scatter-add of col2im into a second
im2col gather keeps every large array access sequential, which is what numpy
does fast.

Training passes keep their large temporaries (padded inputs, ``cols``) in
per-layer scratch arrays reused from batch to batch; inference passes use
their own, so they may run while the network trains. As with every layer
here, ``backward`` uses the last ``forward``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import ConfigError, ShapeError
from .blas import gemm_tn
from ..config import PADDINGS
from .layers import Layer, column_sums, initial_weights, store_gradient

MAX_COLS_BYTES = 64 * 2**20
"""Largest ``cols`` matrix built at once. A bigger batch (e.g. evaluating
thousands of images) is convolved in slices of images, so memory stays
bounded; a training batch of 128 MNIST images fits in one slice."""

INPUT_GRAD_ROWS_BYTES = 16 * 2**20
"""Slice size for the input gradient's row patches: cache-sized slices run
faster than one big product."""


class Scratch:
    """Named arrays kept between calls.

    Reallocating a large temporary every batch costs page faults each time
    (glibc hands blocks over 32 MiB straight from the OS), so each name keeps
    one flat array that is reshaped to whatever size fits inside it.
    """

    def __init__(self) -> None:
        self._flat: dict[str, np.ndarray] = {}
        self._zeroed_shape: dict[str, tuple[tuple[int, ...], np.dtype]] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape``, sharing memory with the last one of this name."""
        size = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.dtype != dtype or flat.size < size:
            flat = self._flat[name] = np.empty(size, dtype)
            self._zeroed_shape.pop(name, None)
        return flat[:size].reshape(shape)

    def zero_bordered(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An array that is zero wherever callers of this name never write.

        Callers always write the same interior for a given shape (a padded
        image), so the border is zeroed only when the shape changes.
        """
        buffer = self.array(name, shape, dtype)
        if self._zeroed_shape.get(name) != (shape, buffer.dtype):
            buffer.fill(0)
            self._zeroed_shape[name] = (shape, buffer.dtype)
        return buffer


def pad_images(scratch: Scratch, name: str, x: np.ndarray, pads: tuple[int, int, int, int],
               slice_images: int) -> np.ndarray:
    """x (n, H, W, C) with (top, bottom, left, right) zero rows/columns added.

    The scratch array is sized for ``slice_images`` images so the shorter last
    slice of a batch reuses it without re-zeroing.
    """
    top, bottom, left, right = pads
    if not any(pads):
        return x
    n, height, width, channels = x.shape
    shape = (slice_images, top + height + bottom, left + width + right, channels)
    padded = scratch.zero_bordered(name, shape, x.dtype)[:n]
    padded[:, top:top + height, left:left + width] = x
    return padded


def _patch_matrix(scratch: Scratch, padded: np.ndarray, kernel: int) -> np.ndarray:
    """im2col: (n·H'·W', k·k·C) rows of k×k×C patches of a padded (n, Hp, Wp, C) batch.

    Row (b, y, x) holds ``padded[b, y:y+k, x:x+k, :]`` flattened in (i, j, c)
    order, matching ``weight.reshape(k·k·C, F)``. The result may be a transposed
    (Fortran-ordered) view; BLAS reads either order at full speed.
    """
    padded = np.ascontiguousarray(padded)
    n, padded_h, padded_w, channels = padded.shape
    out_h, out_w = padded_h - kernel + 1, padded_w - kernel + 1
    image, row, pixel, value = padded.strides
    if channels == 1:
        # A grayscale input has no channel run to copy; laying the offsets out
        # first lets the copy move whole image rows instead.
        cols = scratch.array("cols", (kernel, kernel, n, out_h, out_w), padded.dtype)
        np.copyto(cols, as_strided(padded, cols.shape, (row, pixel, image, row, pixel)))
        return cols.reshape(kernel * kernel, -1).T
    # For each kernel row i, a patch's k pixels of C channels are one run of k·C values
    # in memory; copying k such runs per row moves far fewer, longer pieces than
    # k·k runs of C. The reads stay inside the much smaller padded batch, mostly in cache.
    cols = scratch.array("cols", (n, out_h, out_w, kernel, kernel * channels), padded.dtype)
    np.copyto(cols, as_strided(padded, cols.shape, (image, row, pixel, row, value)))
    return cols.reshape(n * out_h * out_w, -1)


def _row_patches(scratch: Scratch, padded: np.ndarray, kernel: int) -> np.ndarray:
    """(n·Hp·W', k·C) rows of k horizontally adjacent pixels of a padded (n, Hp, Wp, C) batch.

    Row (b, y, x) holds ``padded[b, y, x:x+k, :]`` flattened in (j, c) order: a k-times
    smaller matrix than im2col's, for convolutions that sum the k row offsets afterwards.
    """
    padded = np.ascontiguousarray(padded)
    n, padded_h, padded_w, channels = padded.shape
    out_w = padded_w - kernel + 1
    image, row, pixel, value = padded.strides
    rows = scratch.array("rows", (n, padded_h, out_w, kernel * channels), padded.dtype)
    np.copyto(rows, as_strided(padded, rows.shape, (image, row, pixel, value)))
    return rows.reshape(n * padded_h * out_w, kernel * channels)


def add_per_channel(images: np.ndarray, values: np.ndarray) -> None:
    """images (..., H, W, C) += values (C,), in place.

    Tiled over a whole image, the values broadcast along image-long rows: numpy's
    loop over a C-long last axis runs three times slower for C = 16.
    """
    image_size = math.prod(images.shape[-3:])
    images.reshape(-1, image_size)[...] += np.tile(values, image_size // len(values))


def _images_per_slice(out_h: int, out_w: int, patch_size: int, itemsize: int,
                      budget: int | None = None) -> int:
    """How many images' patch rows (im2col or row patches) fit in ``budget`` bytes (MAX_COLS_BYTES
    by default; at least one)."""
    budget = MAX_COLS_BYTES if budget is None else budget
    return max(1, budget // (out_h * out_w * patch_size * itemsize))


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")


def _check_images(layer: str, x: np.ndarray, channels: int | None = None) -> None:
    if x.ndim != 4:
        raise ShapeError(f"{layer} expects a batch shaped (N, height, width, channels); got shape "
                         f"{x.shape}. Reshape flat (N, 784) images with x.reshape(-1, 28, 28, 1).")
    if channels is not None and x.shape[3] != channels:
        raise ShapeError(f"{layer} expects {channels} channel(s) in the last axis; got shape {x.shape}")


class Conv2D(Layer):
    """2-D convolution, stride 1, on (N, H, W, C_in) → (N, H', W', C_out).

    ``padding="same"`` keeps H and W (an even kernel gets its extra padding
    row/column at the bottom/right, as in TensorFlow); ``"valid"`` gives
    H' = H - k + 1. Params: "weight" (k, k, C_in, C_out) and "bias" (C_out,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, rng: np.random.Generator,
                 padding: str = "same", init: str = "he") -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel", kernel)):
            _check_positive_int(name, value)
        if padding not in PADDINGS:
            raise ConfigError(f"padding must be one of {', '.join(PADDINGS)}; got {padding!r}")
        self.kernel = int(kernel)
        self.padding = padding
        shape = (self.kernel, self.kernel, in_channels, out_channels)
        self.params = {"weight": initial_weights(shape, self.kernel ** 2 * in_channels,
                                                 self.kernel ** 2 * out_channels, rng, init),
                       "bias": np.zeros(out_channels, dtype=np.float32)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        before = (self.kernel - 1) // 2 if padding == "same" else 0
        after = self.kernel - 1 - before if padding == "same" else 0
        self.pads = (before, after, before, after)
        """Zero rows/columns added (top, bottom, left, right) before the patches are taken."""
        # The input gradient convolves the output gradient padded so that every
        # output position a pixel fed is in reach: k-1 minus the forward padding.
        self._grad_pads = (self.kernel - 1 - before, self.kernel - 1 - after,
                           self.kernel - 1 - before, self.kernel - 1 - after)
        self._training_scratch = Scratch()
        self._scratch = self._training_scratch  # what the last forward (and its backward) use
        self._x: np.ndarray | None = None
        self._cols: np.ndarray | None = None

    def output_size(self, x: np.ndarray) -> tuple[int, int]:
        """(H', W') of the output for a batch x (N, H, W, C_in); ShapeError if x does not fit."""
        kernel, _, in_channels, _ = self.params["weight"].shape
        _check_images(self.describe(), x, in_channels)
        height, width = x.shape[1:3]
        top, bottom, left, right = self.pads
        out_h, out_w = height + top + bottom - kernel + 1, width + left + right - kernel + 1
        if out_h < 1 or out_w < 1:
            raise ShapeError(f"{self.describe()} needs images of at least {kernel}×{kernel}; "
                             f"got {height}×{width}")
        return out_h, out_w

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """(N, H, W, C_in) → (N, H', W', C_out) in the params' dtype."""
        weight = self.params["weight"]
        out_channels = weight.shape[3]
        out_h, out_w = self.output_size(x)
        x = x.astype(weight.dtype, copy=False)
        n = len(x)
        # Inference gets its own scratch so that predictions made while another
        # thread trains (or predicts) with this network stay correct.
        scratch = self._training_scratch if training else Scratch()
        weight_2d = weight.reshape(-1, out_channels)
        step = _images_per_slice(out_h, out_w, weight_2d.shape[0], weight.itemsize)
        out = np.empty((n, out_h, out_w, out_channels), weight.dtype)
        for start in range(0, n, step):
            cols = self._input_cols(scratch, x[start:start + step], step)
            np.matmul(cols, weight_2d, out=out[start:start + step].reshape(-1, out_channels))
        add_per_channel(out, self.params["bias"])
        self._x, self._scratch = x, scratch
        self._cols = cols if step >= n else None
        return out

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """grad (N, H', W', C_out) → fills grads, returns dLoss/dx (N, H, W, C_in)."""
        weight = self.params["weight"]
        out_channels = weight.shape[3]
        grad = np.ascontiguousarray(grad, dtype=weight.dtype)
        grad_weight = self.grads["weight"].reshape(-1, out_channels)
        if self._cols is not None:  # the forward's own patches
            gemm_tn(self._cols, grad.reshape(-1, out_channels), float(self.accumulate_grads), grad_weight)
        else:
            n, out_h, out_w, _ = grad.shape
            step = _images_per_slice(out_h, out_w, grad_weight.shape[0], weight.itemsize)
            for start in range(0, n, step):
                cols = self._input_cols(self._scratch, self._x[start:start + step], step)
                grad_slice = grad[start:start + step].reshape(-1, out_channels)
                # Later slices add to the first slice's sum.
                gemm_tn(cols, grad_slice, float(self.accumulate_grads or start > 0), grad_weight)
        column_sums(grad.reshape(-1, out_channels), self.grads["bias"], self.accumulate_grads)
        if not need_input_grad:
            return None
        return self.input_gradient(grad, self._x.shape, self._scratch)

    def replica(self) -> Conv2D:
        twin = super().replica()
        twin._training_scratch = twin._scratch = Scratch()
        return twin

    def _input_cols(self, scratch: Scratch, x: np.ndarray, slice_images: int) -> np.ndarray:
        padded = pad_images(scratch, "padded_input", x, self.pads, slice_images)
        return _patch_matrix(scratch, padded, self.kernel)

    def input_gradient(self, grad: np.ndarray, input_shape: tuple[int, ...], scratch: Scratch) -> np.ndarray:
        """dLoss/dx (N, H, W, C_in) of an input shaped ``input_shape`` from grad (N, H', W', C_out);
        its temporaries go in ``scratch``.

        dx[y, x, c] = Σ grad[y+top-i, x+left-j, f] · weight[i, j, c, f]: a convolution.
        It is the output gradient, padded, convolved with the weights flipped in both
        spatial axes. Patches span one row of k pixels; a single product gives, for
        every patch, its contribution through each of the k kernel rows, and dx sums
        those k results at their row offsets. Full k×k patches of a many-channel
        gradient would be k times bigger and slower to copy than the sums are.
        """
        weight = self.params["weight"]
        kernel, _, in_channels, out_channels = weight.shape
        n, height, width, _ = input_shape
        # row_weights[(j, f), (i, c)] = weight[k-1-i, k-1-j, c, f]
        row_weights = np.ascontiguousarray(weight[::-1, ::-1].transpose(1, 3, 0, 2)).reshape(
            kernel * out_channels, kernel * in_channels)
        padded_h = height + kernel - 1
        dx = np.empty((n, height, width, in_channels), weight.dtype)
        step = _images_per_slice(padded_h, width, kernel * out_channels, weight.itemsize,
                                 INPUT_GRAD_ROWS_BYTES)
        for start in range(0, n, step):
            padded = pad_images(scratch, "padded_grad", grad[start:start + step], self._grad_pads, step)
            rows = _row_patches(scratch, padded, kernel)
            by_kernel_row = scratch.array("by_kernel_row", (len(rows), kernel * in_channels), weight.dtype)
            np.matmul(rows, row_weights, out=by_kernel_row)
            by_kernel_row = by_kernel_row.reshape(-1, padded_h, width, kernel, in_channels)
            part = dx[start:start + step]
            np.copyto(part, by_kernel_row[:, :height, :, 0])
            for i in range(1, kernel):
                part += by_kernel_row[:, i:i + height, :, i]
        return dx

    def describe(self) -> str:
        kernel, _, in_channels, out_channels = self.params["weight"].shape
        return f"Conv2D({in_channels}→{out_channels}, {kernel}×{kernel}, {self.padding})"


class MaxPool2D(Layer):
    """Max over non-overlapping size×size windows (stride = size).

    (N, H, W, C) → (N, H // size, W // size, C); rows/columns that do not fill a
    window are dropped, as in PyTorch. The gradient goes to exactly one maximum
    per window, so tied maxima do not receive it twice: the first found going
    down a window's first column, then down its next, and so on.
    """

    def __init__(self, size: int = 2) -> None:
        super().__init__()
        _check_positive_int("pool size", size)
        self.size = int(size)
        self._x: np.ndarray | None = None
        self._row_max: np.ndarray | None = None
        self._pooled: np.ndarray | None = None

    # The window max is taken in two passes, first over each window's rows
    # (whole image rows at a time), then over its columns: far fewer and
    # longer-running numpy operations than reducing the 2-long axes of
    # reshape(N, H/2, 2, W/2, 2, C).
    def _row_candidates(self, x: np.ndarray) -> list[np.ndarray]:
        """size views (N, H', W'·size, C): the i-th row of every window."""
        s = self.size
        out_h, out_w = x.shape[1] // s, x.shape[2] // s
        return [x[:, i:out_h * s:s, :out_w * s] for i in range(s)]

    def _column_candidates(self, row_max: np.ndarray) -> list[np.ndarray]:
        """size views (N, H', W', C): the j-th column of every window's row maxima."""
        return [row_max[:, :, j::self.size] for j in range(self.size)]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        _check_images(self.describe(), x)
        height, width = x.shape[1:3]
        if height < self.size or width < self.size:
            raise ShapeError(f"{self.describe()} needs images of at least {self.size}×{self.size}; "
                             f"got {height}×{width}")
        row_max = elementwise_max(self._row_candidates(x))
        pooled = elementwise_max(self._column_candidates(row_max))
        # A private copy: the next layer (an in-place ReLU) may overwrite what we return.
        self._x, self._row_max, self._pooled = x, row_max, pooled.copy()
        return pooled

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        x, row_max = self._x, self._row_max
        grad_row_max = np.empty_like(row_max, dtype=grad.dtype)
        route_to_first_max(grad, self._column_candidates(row_max), self._pooled,
                           self._column_candidates(grad_row_max))
        dx = np.empty_like(x, dtype=grad.dtype)
        out_h, out_w = self._pooled.shape[1:3]
        dx[:, out_h * self.size:] = 0  # the dropped remainder rows and columns
        dx[:, :, out_w * self.size:] = 0
        route_to_first_max(grad_row_max, self._row_candidates(x), row_max, self._row_candidates(dx))
        return dx

    def describe(self) -> str:
        return f"MaxPool2D({self.size})"


def elementwise_max(arrays: list[np.ndarray]) -> np.ndarray:
    """A new array holding the element-wise maximum of equally shaped arrays."""
    result = np.maximum(arrays[0], arrays[1]) if len(arrays) > 1 else arrays[0].copy()
    for array in arrays[2:]:
        np.maximum(result, array, out=result)
    return result


def route_to_first_max(grad: np.ndarray, candidates: list[np.ndarray], maxima: np.ndarray,
                       grad_outs: list[np.ndarray]) -> None:
    """grad_outs[k] = grad where candidates[k] is the first to equal maxima, else 0.

    May overwrite ``grad``. What one candidate took is subtracted from what the
    later ones may take, so a tie never duplicates the gradient, and the last
    candidate gets whatever is left without a comparison.
    """
    remaining = grad
    is_max = np.empty(maxima.shape, dtype=bool)
    last = len(candidates) - 1
    for index in range(last):
        np.equal(candidates[index], maxima, out=is_max)
        np.multiply(remaining, is_max, out=grad_outs[index])
        np.subtract(remaining, grad_outs[index], out=grad_outs[last] if index == last - 1 else remaining)
    if last == 0:
        grad_outs[0][...] = remaining


class Flatten(Layer):
    """(N, H, W, C) → (N, H·W·C) in row-major order, so a Dense layer can follow."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if x.ndim < 2:
            raise ShapeError(f"Flatten expects a batch with at least 2 axes (N, ...); got shape {x.shape}")
        self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad.reshape(self._shape)


class BatchNorm(Layer):
    """Per-channel normalisation over every axis but the last: (N, ..., C) → same shape.

    Training normalises with the batch's mean and variance and updates the
    running estimates in ``buffers`` ("running_mean", "running_var"; saved with
    the network but not trained); inference uses those estimates. Params:
    "gamma" and "beta" (C,), the learned scale and shift.
    """

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        _check_positive_int("channels", channels)
        if not 0.0 <= momentum <= 1.0:
            raise ConfigError(f"BatchNorm momentum must be between 0 and 1; got {momentum!r}")
        if not eps > 0:
            raise ConfigError(f"BatchNorm eps must be positive; got {eps!r}")
        self.momentum = momentum
        self.eps = eps
        self.params = {"gamma": np.ones(channels, np.float32), "beta": np.zeros(channels, np.float32)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.buffers = {"running_mean": np.zeros(channels, np.float32),
                        "running_var": np.ones(channels, np.float32)}
        self._normalized: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None
        self._used_batch_stats = False

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        channels = self.params["gamma"].shape[0]
        if x.ndim < 2 or x.shape[-1] != channels:
            raise ShapeError(f"{self.describe()} expects a batch (N, ..., {channels}); got shape {x.shape}")
        axes = tuple(range(x.ndim - 1))
        if training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            self._update_running_stats(mean, var, x.size // channels)
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        dtype = self.params["gamma"].dtype
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(dtype)
        normalized = (x - mean.astype(dtype)) * inv_std
        self._normalized, self._inv_std, self._used_batch_stats = normalized, inv_std, training
        return normalized * self.params["gamma"] + self.params["beta"]

    def _update_running_stats(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        # The running variance estimates the population's, hence the unbiased
        # n/(n-1) factor (as PyTorch does); the batch itself is normalised with the biased one.
        unbiased = var * (count / (count - 1)) if count > 1 else var
        for name, value in (("running_mean", mean), ("running_var", unbiased)):
            buffer = self.buffers[name]
            buffer *= 1.0 - self.momentum
            buffer += self.momentum * value

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        axes = tuple(range(grad.ndim - 1))
        normalized, gamma = self._normalized, self.params["gamma"]
        grad_gamma, grad_beta = np.sum(grad * normalized, axis=axes), np.sum(grad, axis=axes)
        store_gradient(self.grads["gamma"], grad_gamma, self.accumulate_grads)
        store_gradient(self.grads["beta"], grad_beta, self.accumulate_grads)
        if not need_input_grad:
            return None
        scale = gamma * self._inv_std
        if not self._used_batch_stats:
            return np.multiply(grad, scale, out=grad)
        # The batch mean and variance depend on every input too, which removes
        # the gradient's mean and its component along the normalised values.
        count = grad.size // gamma.shape[0]
        grad -= grad_beta / count
        grad -= normalized * (grad_gamma / count)
        return np.multiply(grad, scale, out=grad)

    def describe(self) -> str:
        return f"BatchNorm({self.params['gamma'].shape[0]})"
