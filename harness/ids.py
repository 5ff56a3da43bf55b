"""Valid identities for tests and benchmarks."""

from __future__ import annotations


def resident_id_number(area: str = "330106", born: str = "19900307", seq: str = "121") -> str:
    """A valid 18-character resident ID number (GB 11643 check character), for tests and benchmarks."""
    body = f"{area}{born}{seq}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
