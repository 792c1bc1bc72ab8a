"""The Dask layer: distributed fits and lazy transforms of Dask collections.

``sknorm._dask`` itself imports nothing but the detection below, so that the
estimators can ask "is this a Dask collection?" at no cost and
``import sknorm`` still imports no Dask; the work is in :mod:`.layer` (and
the modules it uses), imported on the first Dask input.

* :mod:`.inputs`   -- Dask arrays and dataframes checked without computing:
  dimensions, dtypes, columns, chunk namespace, feature bookkeeping;
* :mod:`.channels` -- the same for N-D arrays with a ``channel_axis``, and
  the channel path's conversion and checks of each chunk;
* :mod:`.packing`  -- an estimator's mergeable states as one
  ``(k, n_features)`` array per chunk, the form Dask's tree reduction moves;
* :mod:`.reduce`   -- per-chunk states (sknorm's own kernels on each chunk)
  merged by ``dask.array.reduction`` with a fixed ``split_every``;
* :mod:`.progress` -- the one graph execution of a fit, each chunk reported
  to scikit-learn's callbacks as it completes;
* :mod:`.layer`    -- ``fit``/``partial_fit`` (one graph execution) and the
  lazy transforms (``map_blocks``/``map_partitions``, no execution).
"""

from __future__ import annotations

__all__ = ["is_dask_collection"]


def is_dask_collection(obj) -> bool:
    """True for a Dask array, dataframe or series, without importing Dask.

    A Dask collection's class lives in a ``dask`` module (``dask.array``,
    ``dask.dataframe``, the older ``dask_expr``); only then is Dask (already
    imported by whoever made ``obj``) asked to confirm.
    """
    module = type(obj).__module__
    if not module.startswith("dask"):
        return False
    import dask

    return dask.is_dask_collection(obj)
