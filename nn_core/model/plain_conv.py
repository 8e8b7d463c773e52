"""The convolution as a textbook writes it: every k×k window copied into a row (im2col),
then one matrix product; backward is the same product turned around.

``conv.Conv2D`` computes exactly this, faster: buffers reused between batches, big
batches in cache-sized slices, patches copied a kernel row at a time, and an input
gradient taken as a second convolution instead of col2im's scatter-add. Read this
one first; the tests check the fast one against it.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..config import PADDINGS
from ..errors import ConfigError
from .layers import Layer, initial_weights, store_gradient


class PlainConv2D(Layer):
    """2-D convolution, stride 1, on (N, H, W, C_in) → (N, H', W', C_out).

    ``padding="same"`` keeps H and W (an even kernel's extra row and column of
    zeros go at the bottom and right); ``"valid"`` gives H' = H - k + 1.
    Params: "weight" (k, k, C_in, C_out) and "bias" (C_out,), as in Conv2D.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, rng: np.random.Generator,
                 padding: str = "same", init: str = "he") -> None:
        super().__init__()
        if padding not in PADDINGS:
            raise ConfigError(f"padding must be one of {', '.join(PADDINGS)}; got {padding!r}")
        self.kernel, self.padding = kernel, padding
        shape = (kernel, kernel, in_channels, out_channels)
        self.params = {"weight": initial_weights(shape, kernel * kernel * in_channels,
                                                 kernel * kernel * out_channels, rng, init),
                       "bias": np.zeros(out_channels, dtype=np.float32)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self._patches: np.ndarray | None = None  # forward's rows of windows, for backward
        self._padded_shape: tuple[int, ...] = ()

    def _padding(self) -> tuple[int, int]:
        """Zeros before and after each spatial axis."""
        if self.padding == "valid":
            return 0, 0
        before = (self.kernel - 1) // 2
        return before, self.kernel - 1 - before

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        before, after = self._padding()
        padded = np.pad(x, ((0, 0), (before, after), (before, after), (0, 0)))
        # (N, H', W', C_in, k, k): every window, as a view of the padded images.
        windows = sliding_window_view(padded, (self.kernel, self.kernel), axis=(1, 2))
        n, height, width = windows.shape[:3]
        # One row per output pixel, its window in the weight's (row, column, channel) order.
        patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * height * width, -1)
        self._patches, self._padded_shape = patches, padded.shape
        weight = self.params["weight"]
        out = patches @ weight.reshape(-1, weight.shape[3]) + self.params["bias"]
        return out.reshape(n, height, width, weight.shape[3])

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        n, height, width, out_channels = grad.shape
        rows = grad.reshape(-1, out_channels)  # dLoss/d(out) for every output pixel
        weight = self.params["weight"]
        store_gradient(self.grads["weight"], (self._patches.T @ rows).reshape(weight.shape), self.accumulate_grads)
        store_gradient(self.grads["bias"], rows.sum(axis=0), self.accumulate_grads)
        if not need_input_grad:
            return None
        # Each window's gradient goes back to the pixels it was copied from (col2im).
        k = self.kernel
        window_grads = (rows @ weight.reshape(-1, out_channels).T).reshape(n, height, width, k, k, -1)
        padded_grad = np.zeros(self._padded_shape, grad.dtype)
        for row in range(k):
            for column in range(k):
                padded_grad[:, row:row + height, column:column + width] += window_grads[:, :, :, row, column]
        before, after = self._padding()
        return padded_grad[:, before:padded_grad.shape[1] - after, before:padded_grad.shape[2] - after]

    def describe(self) -> str:
        kernel, _, in_channels, out_channels = self.params["weight"].shape
        return f"PlainConv2D({in_channels}→{out_channels}, {kernel}×{kernel}, {self.padding})"
