"""Helpers shared by the Dask tests (imported after their
``pytest.importorskip("dask")``), and those worker processes must import
by name.

Distributed's workers are spawned processes: a function a task runs is
pickled by reference, so it must live in a module on the workers' path
(pytest's ``pythonpath = ["tests"]`` is inherited by spawned children), not
in the test module itself.
"""

import os
from pathlib import Path

from dask.callbacks import Callback


class CountExecutions(Callback):
    """Counts graph executions on the local schedulers."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _start(self, dsk):
        self.n += 1


def kill_once(block, marker, block_id=None):
    """The block itself, except that the task computing block 0 kills its
    worker process the first time it runs (``marker`` records that it did).

    The Nanny restarts the worker and the scheduler reruns the task on a
    worker: a fit that survives this gives the undisturbed result.
    """
    if block_id is not None and block_id[0] == 0:
        path = Path(marker)
        if not path.exists():
            path.write_text("killed")
            os._exit(1)
    return block
