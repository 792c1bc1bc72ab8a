"""``python -m sknorm``: the demo (see :mod:`sknorm._demo`)."""

from ._demo import main

if __name__ == "__main__":  # pragma: no cover - exercised via subprocess
    raise SystemExit(main())
