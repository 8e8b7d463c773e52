"""Small fake IDX files and a local HTTP "mirror" for the MNIST tests."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import struct
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from nn_core.storage.mnist import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, FileSpec


def idx_bytes(array: np.ndarray) -> bytes:
    """The uint8 IDX encoding of array: magic, big-endian dimensions, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def fake_mnist_contents(rng: np.random.Generator, n_train: int = 6, n_test: int = 4) -> dict[str, bytes]:
    """Decompressed content of four tiny MNIST-like IDX files, by canonical name."""
    return {
        TRAIN_IMAGES: idx_bytes(rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)),
        TRAIN_LABELS: idx_bytes(rng.integers(0, 10, n_train, dtype=np.uint8)),
        TEST_IMAGES: idx_bytes(rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)),
        TEST_LABELS: idx_bytes(rng.integers(0, 10, n_test, dtype=np.uint8)),
    }


def specs_for(contents: Mapping[str, bytes]) -> dict[str, FileSpec]:
    """The FILES-style mapping (SHA-256 and size of decompressed content) for contents."""
    return {name: FileSpec(hashlib.sha256(data).hexdigest(), len(data)) for name, data in contents.items()}


def write_files(directory: Path, contents: Mapping[str, bytes], compress: bool = True) -> None:
    """Write contents as name.gz (compressed) or as the name without .gz (raw)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        if compress:
            (directory / name).write_bytes(gzip.compress(data))
        else:
            (directory / name.removesuffix(".gz")).write_bytes(data)


class MirrorServer:
    """A real HTTP server on 127.0.0.1 serving `routes` (URL path -> bytes); other paths get 404.

    A route whose value is a (declared_length, body) tuple announces a
    Content-Length larger than the body it sends, i.e. a connection cut short.
    `requests` records every path asked for, in order.
    """

    def __init__(self, routes: dict[str, bytes | tuple[int, bytes]]) -> None:
        self.routes = routes
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "File not found")
                    return
                declared, body = route if isinstance(route, tuple) else (len(route), route)
                self.send_response(200)
                self.send_header("Content-Length", str(declared))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass  # keep pytest output clean

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval so shutdown() returns quickly.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix.strip('/')}/"

    def __enter__(self) -> MirrorServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
