"""A deterministic validation subset carved from the train split, chosen by example content.

Early stopping and tuning decide on this subset, never on the eval split that the
evaluation gate judges. Membership depends only on an example's model input and
the seed, so it is the same in every epoch, every re-run, any read order and either
trainer. This is the rule in NumPy (the PyTorch trainer's); the TF trainer runs the
same rule as graph ops (components/hub_trainer/validation.py), and a test holds the two equal.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

BUCKETS = 1_000_003  # a prime: examples hash into this many buckets; the first `fraction` of them validate
_MASK64 = (1 << 64) - 1


def string_key(seed: int) -> tuple[int, int]:
    """The SipHash key of string inputs (TF's `to_hash_bucket_strong` key)."""
    return seed, BUCKETS


def numeric_weights(seed: int, size: int) -> np.ndarray:
    """[size] int64 weights of the seeded integer hash of one numeric input's float32 bit patterns."""
    return np.random.RandomState(seed).randint(1, 2**31 - 1, size=size).astype(np.int64)


def _rotate(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK64


def _sip_rounds(v: list[int], rounds: int) -> None:
    for _ in range(rounds):
        v[0] = (v[0] + v[1]) & _MASK64
        v[1] = _rotate(v[1], 13) ^ v[0]
        v[0] = _rotate(v[0], 32)
        v[2] = (v[2] + v[3]) & _MASK64
        v[3] = _rotate(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & _MASK64
        v[3] = _rotate(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & _MASK64
        v[1] = _rotate(v[1], 17) ^ v[2]
        v[2] = _rotate(v[2], 32)


def siphash24(key: tuple[int, int], data: bytes) -> int:
    """SipHash-2-4 of `data` under a 128-bit key of two 64-bit words: TensorFlow's `StrongKeyedHash`.

    tensorflow/core/platform/strong_hash.h (TF 2.16) hashes with highwayhash's SipHash, the
    function that `tf.strings.to_hash_bucket_strong` buckets; reference: Aumasson and Bernstein, 2012.
    """
    k0, k1 = key[0] & _MASK64, key[1] & _MASK64
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    whole = len(data) - len(data) % 8
    for start in range(0, whole, 8):
        word = int.from_bytes(data[start : start + 8], "little")
        v[3] ^= word
        _sip_rounds(v, 2)
        v[0] ^= word
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v[3] ^= last
    _sip_rounds(v, 2)
    v[0] ^= last
    v[2] ^= 0xFF
    _sip_rounds(v, 4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def _buckets(inputs: Any, seed: int) -> np.ndarray:
    if isinstance(inputs, (list, tuple)) or np.asarray(inputs).dtype.kind in "OSU":
        key = string_key(seed)
        texts = [text.encode() if isinstance(text, str) else bytes(text) for text in np.asarray(inputs, dtype=object).reshape(-1)]
        return np.array([siphash24(key, text) % BUCKETS for text in texts], dtype=np.float64)
    values = np.asarray(inputs, dtype=np.float32)
    flat = np.ascontiguousarray(values.reshape(len(values), -1)).view(np.int32).astype(np.int64)
    with np.errstate(over="ignore"):  # int64 sums wrap, as TensorFlow's do
        return np.mod((flat * numeric_weights(seed, flat.shape[1])).sum(axis=1), BUCKETS).astype(np.float64)


def validation_mask(inputs: Sequence[str] | np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """[N] bool: which of N model inputs (strings, or numeric arrays [N, ...]) belong to the validation subset.

    Strings are hashed with a keyed hash; numeric inputs by a seeded integer hash of
    their float32 bit patterns (exact on every device).
    """
    return _buckets(inputs, seed) < fraction * BUCKETS
