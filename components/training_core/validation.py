"""A deterministic validation subset carved from the train split, chosen by example content.

Early stopping and tuning decide on this subset, never on the eval split that the
evaluation gate judges. Membership depends only on an example's model input and
the seed, so it is the same in every epoch, every re-run, any read order and either
trainer. This is the rule in NumPy (the PyTorch trainer's); the TF trainer runs the
same rule as graph ops (components/hub_trainer/validation.py), and a test holds the two equal.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

BUCKETS = 1_000_003  # a prime: examples hash into this many buckets; the first `fraction` of them validate
_MASK64 = (1 << 64) - 1
_ROWS = 64  # numeric inputs hashed per chunk of rows


def string_key(seed: int) -> tuple[int, int]:
    """The SipHash key of string inputs (TF's `to_hash_bucket_strong` key)."""
    return seed, BUCKETS


def numeric_weights(seed: int, size: int) -> np.ndarray:
    """[size] int64 weights of the seeded integer hash of one numeric input's float32 bit patterns."""
    return np.random.RandomState(seed).randint(1, 2**31 - 1, size=size).astype(np.int64)


def _rotate(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK64


def _sip_rounds(v0: int, v1: int, v2: int, v3: int, rounds: int) -> tuple[int, int, int, int]:
    for _ in range(rounds):
        v0 = (v0 + v1) & _MASK64
        v1 = _rotate(v1, 13) ^ v0
        v0 = _rotate(v0, 32)
        v2 = (v2 + v3) & _MASK64
        v3 = _rotate(v3, 16) ^ v2
        v0 = (v0 + v3) & _MASK64
        v3 = _rotate(v3, 21) ^ v0
        v2 = (v2 + v1) & _MASK64
        v1 = _rotate(v1, 17) ^ v2
        v2 = _rotate(v2, 32)
    return v0, v1, v2, v3


def siphash24(key: tuple[int, int], data: bytes) -> int:
    """SipHash-2-4 of `data` under a 128-bit key of two 64-bit words: TensorFlow's `StrongKeyedHash`.

    tensorflow/core/platform/strong_hash.h (TF 2.16) hashes with highwayhash's SipHash, the
    function that `tf.strings.to_hash_bucket_strong` buckets; reference: Aumasson and Bernstein, 2012.
    """
    k0, k1 = key[0] & _MASK64, key[1] & _MASK64
    v0, v1, v2, v3 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573
    whole = len(data) - len(data) % 8
    words = [int.from_bytes(data[start : start + 8], "little") for start in range(0, whole, 8)]
    words.append(((len(data) & 0xFF) << 56) | int.from_bytes(data[whole:], "little"))
    for word in words:
        v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3 ^ word, 2)
        v0 ^= word
    v0, v1, v2, v3 = _sip_rounds(v0, v1, v2 ^ 0xFF, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


def _buckets(inputs: Any, seed: int) -> np.ndarray:
    strings = isinstance(inputs, (list, tuple)) and bool(inputs) and isinstance(inputs[0], (str, bytes))
    values = inputs if strings else np.asarray(inputs)
    if strings or values.dtype.kind in "OSU":  # a list keeps every character (NumPy strings drop trailing NULs)
        key = string_key(seed)
        texts = values if strings else values.reshape(-1).tolist()
        return np.array([siphash24(key, text.encode() if isinstance(text, str) else bytes(text)) % BUCKETS for text in texts], dtype=np.float64)
    values = values.astype(np.float32)
    bits = np.ascontiguousarray(values.reshape(len(values), int(np.prod(values.shape[1:])))).view(np.int32)
    weights = numeric_weights(seed, bits.shape[1])
    # int64 products and sums wrap, as TensorFlow's do; rows in chunks keep the int64 copy small
    sums = [bits[start : start + _ROWS].astype(np.int64) @ weights for start in range(0, len(bits), _ROWS)]
    return np.mod(np.concatenate(sums) if sums else np.zeros(0, np.int64), BUCKETS).astype(np.float64)


def validation_mask(inputs: Sequence[str] | np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """[N] bool: which of N model inputs (strings, or numeric arrays [N, ...]) belong to the validation subset.

    Strings are hashed with a keyed hash; numeric inputs by a seeded integer hash of
    their float32 bit patterns (exact on every device).
    """
    return _buckets(inputs, seed) < fraction * BUCKETS


def empty_validation_error(fraction: float, total: Optional[int] = None) -> ValueError:
    """The one-line error for a validation subset that holds no example (`total`: the train examples, when counted)."""
    among = f"none of {total} train examples" if total is not None else "no train example"
    return ValueError(f"the validation subset is empty: {among} fell in training.validation_fraction {fraction}; raise it or add training data")


def check_split(train_count: int, validation_count: int, fraction: float) -> None:
    """Refuses a carve that left the validation subset or the training data empty, in one line naming the numbers."""
    total = train_count + validation_count
    if validation_count == 0:
        raise empty_validation_error(fraction, total)
    if train_count == 0:
        raise ValueError(f"no training examples left: all {total} train examples fell in the validation subset; lower training.validation_fraction")
