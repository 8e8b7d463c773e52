"""A convolution and the max pool right after it, fused for training: the pool layout.

In the model, a Conv2D writes its output image by image and the MaxPool2D after it
picks every size-th pixel out of image rows: short strided reads. ``ConvPool`` orders
the conv's patch rows so that its matrix product comes out in the pool's own layout,
(size, size, N, H'/size, W'/size, C), where [i, j] holds pixel (i, j) of every pooling
window. Each window's candidates are then whole contiguous arrays, and the max and
its gradient run over them at full speed: pooling three times faster. The
arithmetic is the conv's and the pool's own, in another order of rows, so the
outputs and gradients are the two layers' (tests/test_pool_layout.py).
"""

from __future__ import annotations

import copy

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..model.blas import gemm_tn
from ..model.conv import (MAX_COLS_BYTES, Conv2D, MaxPool2D, Scratch, add_per_channel, elementwise_max,
                          pad_images, route_to_first_max)
from ..model.layers import Layer, column_sums
from ..model.network import Network


def pool_ordered_patches(scratch: Scratch, padded: np.ndarray, kernel: int, size: int) -> np.ndarray:
    """im2col of a padded (n, Hp, Wp, C) batch, (n·H'·W', k·k·C), its rows in the pool layout.

    Row (i, j, b, y, x) holds the patch of output pixel (b, y·size + i, x·size + j),
    flattened in (kernel row, kernel column, channel) order as Conv2D's patches are.
    The result may be a transposed (Fortran-ordered) view; BLAS reads either order at full speed.
    """
    padded = np.ascontiguousarray(padded)
    n, padded_h, padded_w, channels = padded.shape
    out_h, out_w = padded_h - kernel + 1, padded_w - kernel + 1
    image, row, pixel, value = padded.strides
    windows = (n, out_h // size, out_w // size)
    window_strides = (image, size * row, size * pixel)
    if channels == 1:
        # Offset (i, j) of window pixel (di, dj) reads the same pixels as offset (i + di, j + dj)
        # of pixel (0, 0): gathering those fewer arrays first from every other pixel, then
        # copying them whole, halves the scattered reads.
        span = kernel + size - 1
        shifted = scratch.array("shifted", (span, span, *windows), padded.dtype)
        np.copyto(shifted, as_strided(padded, shifted.shape, (row, pixel, *window_strides)))
        u, v, *rest = shifted.strides
        cols = scratch.array("cols", (kernel, kernel, size, size, *windows), padded.dtype)
        np.copyto(cols, as_strided(shifted, cols.shape, (u, v, u, v, *rest)))
        return cols.reshape(kernel * kernel, -1).T
    # As in Conv2D: each kernel row of a patch is one run of k·C values.
    cols = scratch.array("cols", (size, size, *windows, kernel, kernel * channels), padded.dtype)
    np.copyto(cols, as_strided(padded, cols.shape, (row, pixel, *window_strides, row, value)))
    return cols.reshape(-1, kernel * kernel * channels)


class ConvPool(Layer):
    """A Conv2D and the MaxPool2D that takes its output, as one layer: (N, H, W, C_in) →
    (N, H'/size, W'/size, C_out).

    It holds the conv's own ``params`` and ``grads``, so training it trains the conv.
    Training passes go through the pool layout; inference, and a conv output the pool
    would crop, go through the two layers themselves.
    """

    def __init__(self, conv: Conv2D, pool: MaxPool2D) -> None:
        super().__init__()
        self.conv, self.pool = conv, pool
        self.params, self.grads = conv.params, conv.grads
        self._scratch = Scratch()
        self._input_shape: tuple[int, ...] = ()
        self._cols: np.ndarray | None = None  # None: the last forward ran the two layers themselves
        self._windows: np.ndarray | None = None  # the conv's output in the pool layout
        self._pooled: np.ndarray | None = None

    def _fits_pool_layout(self, n_images: int, out_h: int, out_w: int) -> bool:
        """Whether the pool crops none of the conv's output and its patches fit MAX_COLS_BYTES."""
        weight = self.params["weight"]
        cols_bytes = n_images * out_h * out_w * weight[..., 0].size * weight.itemsize
        size = self.pool.size
        return out_h % size == 0 and out_w % size == 0 and cols_bytes <= MAX_COLS_BYTES

    def _window_candidates(self, windows: np.ndarray) -> list[np.ndarray]:
        """The size² arrays (N, H', W', C) of a pool-layout batch, in the order MaxPool2D
        breaks ties in: down each window column, then across."""
        size = self.pool.size
        return [windows[i, j] for j in range(size) for i in range(size)]

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        out_h, out_w = self.conv.output_size(x)
        if not (training and self._fits_pool_layout(len(x), out_h, out_w)):
            self._cols = None
            return self.pool.forward(self.conv.forward(x, training), training)
        weight = self.params["weight"]
        kernel, out_channels, size = self.conv.kernel, weight.shape[3], self.pool.size
        x = x.astype(weight.dtype, copy=False)
        padded = pad_images(self._scratch, "padded_input", x, self.conv.pads, len(x))
        cols = pool_ordered_patches(self._scratch, padded, kernel, size)
        windows = np.empty((size, size, len(x), out_h // size, out_w // size, out_channels), weight.dtype)
        np.matmul(cols, weight.reshape(-1, out_channels), out=windows.reshape(-1, out_channels))
        add_per_channel(windows, self.params["bias"])
        pooled = elementwise_max(self._window_candidates(windows))
        # A private copy: the next layer (an in-place activation) may overwrite what we return.
        self._input_shape, self._cols, self._windows, self._pooled = x.shape, cols, windows, pooled.copy()
        return pooled

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if self._cols is None:
            self.conv.accumulate_grads = self.accumulate_grads
            try:
                return self.conv.backward(self.pool.backward(grad), need_input_grad)
            finally:
                self.conv.accumulate_grads = False
        grad_windows = np.empty_like(self._windows)
        route_to_first_max(grad.astype(grad_windows.dtype, copy=False), self._window_candidates(self._windows),
                           self._pooled, self._window_candidates(grad_windows))
        out_channels = grad_windows.shape[-1]
        grad_rows = grad_windows.reshape(-1, out_channels)
        gemm_tn(self._cols, grad_rows, float(self.accumulate_grads), self.grads["weight"].reshape(-1, out_channels))
        column_sums(grad_rows, self.grads["bias"], self.accumulate_grads)
        if not need_input_grad:
            return None
        size, _, n, rows, columns, _ = grad_windows.shape
        grad_images = grad_windows.transpose(2, 3, 0, 4, 1, 5).reshape(n, rows * size, columns * size, out_channels)
        return self.conv.input_gradient(grad_images, self._input_shape, self._scratch)

    def replica(self) -> ConvPool:
        return ConvPool(self.conv.replica(), self.pool.replica())

    def describe(self) -> str:
        return f"ConvPool({self.conv.describe()}, {self.pool.describe()})"


def with_pool_layout(network: Network) -> Network:
    """A view of ``network`` (the same layers otherwise) whose convs that hand their output
    straight to a pool are fused with it into a ``ConvPool``.

    The layers before the first conv keep their places, so the first trainable layer,
    where ``Network.backward`` stops, keeps its index.
    """
    layers: list[Layer] = []
    for layer in network.layers:
        if isinstance(layer, MaxPool2D) and layers and isinstance(layers[-1], Conv2D):
            layers[-1] = ConvPool(layers[-1], layer)
        else:
            layers.append(layer)
    view = copy.copy(network)
    view.layers = layers
    return view
