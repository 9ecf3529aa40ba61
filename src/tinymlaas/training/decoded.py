"""Decoded images a worker process keeps between jobs (worker side; no TensorFlow).

Reading and decoding a dataset's images is the largest cost of a job before TensorFlow starts
(0.3 s for 600 96×96 JPEGs on 2 cores), and the same bytes are decoded to the same pixels again
and again: every candidate of a search at one input size and colour mode, the compile that
calibrates on its training's images, a test on a device that reads the held-out ones. The
pixels are kept here, keyed by the images' content (their sha256s, in order), the size and the
colour mode, so a changed image, label split or order is a different key. Arrays are read-only:
a caller that wants to change pixels copies them. The least recently used go first once the
budget (`TINYMLAAS_DECODED_IMAGES_CACHE_MB`) is exceeded.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from tinymlaas.config import Settings


class DecodedImages:
    """A byte-bounded, least-recently-used map from image content and size to pixels."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._arrays: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(shas: Iterable[str], width: int, height: int, color_mode: str) -> str:
        digest = hashlib.sha256(f"{width}x{height} {color_mode}\n".encode())
        for sha in shas:
            digest.update(sha.encode())
        return digest.hexdigest()

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            pixels = self._arrays.get(key)
            if pixels is not None:
                self._arrays.move_to_end(key)
            return pixels

    def put(self, key: str, pixels: np.ndarray) -> np.ndarray:
        """Keep `pixels` (made read-only) unless they alone exceed the budget; returns them."""
        pixels.setflags(write=False)
        if pixels.nbytes > self.budget_bytes:
            return pixels
        with self._lock:
            previous = self._arrays.pop(key, None)
            if previous is not None:
                self._bytes -= previous.nbytes
            self._arrays[key] = pixels
            self._bytes += pixels.nbytes
            while self._bytes > self.budget_bytes:
                _, evicted = self._arrays.popitem(last=False)
                self._bytes -= evicted.nbytes
        return pixels


_shared: DecodedImages | None = None
_shared_lock = threading.Lock()


def shared() -> DecodedImages:
    """This process's cache, sized by the settings when first used."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = DecodedImages(Settings().decoded_images_cache_mb * 2**20)
        return _shared
