"""Seeded shuffles and train/validation splits, bit-for-bit equal to rlhfc's local runtime.

rlhfc shuffles with the `seedrandom` npm package (ARC4, version 3.0.5). This is a port of its
`seedrandom(seed)()` generator and of rlhfc's `shuffle` and `splitDataset`
(runtime/data/split.ts), so an exported project holds out exactly the records `rlhfc run` does.
"""

from __future__ import annotations

from typing import Sequence, TypeVar

T = TypeVar("T")

_WIDTH = 256
_MASK = _WIDTH - 1
_CHUNKS = 6
_SIGNIFICANCE = 2**52
_OVERFLOW = 2**53


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-le")
    return [data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2)]


def _mixkey(seed: str) -> list[int]:
    key: list[int] = []
    smear = 0
    for j, unit in enumerate(_utf16_units(seed)):
        i = j & _MASK
        current = key[i] if i < len(key) else 0
        smear ^= current * 19
        value = (smear + unit) & _MASK
        if i < len(key):
            key[i] = value
        else:
            key.append(value)
    return key


class _Arc4:
    def __init__(self, key: list[int]) -> None:
        if not key:
            key = [0]
        s = list(range(_WIDTH))
        j = 0
        for i in range(_WIDTH):
            t = s[i]
            j = (j + key[i % len(key)] + t) & _MASK
            s[i] = s[j]
            s[j] = t
        self.s = s
        self.i = 0
        self.j = 0
        self.next(_WIDTH)  # RC4-drop[256], as seedrandom does

    def next(self, count: int) -> int:
        s, i, j, r = self.s, self.i, self.j, 0
        for _ in range(count):
            i = (i + 1) & _MASK
            t = s[i]
            j = (j + t) & _MASK
            s[i] = s[j]
            s[j] = t
            r = r * _WIDTH + s[(s[i] + t) & _MASK]
        self.i, self.j = i, j
        return r


class SeedRandom:
    """`seedrandom(seed)`: uniform doubles in [0, 1) from a string seed."""

    def __init__(self, seed: str) -> None:
        self._arc4 = _Arc4(_mixkey(seed))

    def __call__(self) -> float:
        n = self._arc4.next(_CHUNKS)
        d = _WIDTH**_CHUNKS
        x = 0
        while n < _SIGNIFICANCE:
            n = (n + x) * _WIDTH
            d *= _WIDTH
            x = self._arc4.next(1)
        while n >= _OVERFLOW:
            n //= 2
            d //= 2
            x >>= 1
        return (n + x) / d


def shuffle(items: Sequence[T], seed: object) -> list[T]:
    """A new list in a seeded random order (Fisher–Yates), as rlhfc's `shuffle`."""
    rng = SeedRandom(str(seed))
    out = list(items)
    for i in range(len(out) - 1, 0, -1):
        j = int(rng() * (i + 1))
        out[i], out[j] = out[j], out[i]
    return out


def split_dataset(records: Sequence[T], validation: float, seed: object) -> tuple[list[T], list[T]]:
    """Hold out round(validation × n) records (at least 1 when validation > 0 and n ≥ 2); both parts keep their order."""
    if not 0 <= validation < 1:
        raise ValueError(f"validation fraction must be in [0, 1), got {validation}")
    n = len(records)
    n_val = _js_round(validation * n)
    if validation > 0 and n_val == 0 and n >= 2:
        n_val = 1
    if n_val >= n:
        n_val = max(0, n - 1)
    held = set(shuffle(range(n), seed)[:n_val])
    train = [r for i, r in enumerate(records) if i not in held]
    val = [r for i, r in enumerate(records) if i in held]
    return train, val


def _js_round(x: float) -> int:
    """JavaScript's Math.round: halves round up (Python's round() rounds halves to even)."""
    import math

    return int(math.floor(x + 0.5))
