"""TEST DOUBLE for the few torch functions the Dia2 adapter and the fake dia2 use (seeding only).

torch is not installed on the machines that run dramac's tests; tests/test_dia2_backend.py puts this
module in sys.modules["torch"] only when no real torch can be imported.
"""

from __future__ import annotations

_seed = 67280421310721  # torch's documented default initial seed
seed_calls: list[int] = []


def manual_seed(seed: int) -> None:
    global _seed
    _seed = int(seed)
    seed_calls.append(_seed)


def initial_seed() -> int:
    return _seed


class cuda:  # noqa: N801 - mirrors torch.cuda
    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def manual_seed_all(seed: int) -> None:
        manual_seed(seed)


class Tensor:  # noqa: D101 - only so that libraries probing `torch.Tensor` (scipy's array API) find a class
    pass
