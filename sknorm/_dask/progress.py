"""Per-chunk progress of a Dask fit, for scikit-learn's callbacks.

A Dask fit is one graph execution.  When someone listens (the root task of
the fit, from :mod:`sknorm._callbacks`, is not the no-op one), the fit's
root task gets one sub-task per chunk, named ``"chunk"``, whose
``task_id`` is the chunk's index in C order of X's block grid (the blocks
of the samples outermost; 2-D input: the row chunk's index).  Each chunk's
``on_fit_task_begin`` and ``on_fit_task_end`` are called together, once
its state is computed, in **completion order** (which is what makes
:class:`sklearn.callback.ProgressBar` advance as chunks complete); they
carry no ``X`` (the chunk lives where it was computed) and no fitted
estimator (the states are merged in the graph, not on the caller's side),
and a request to stop at a chunk's end is not honoured (the graph runs to
its end).  The hooks are called on the caller's thread, never on a worker:
no callback object is part of the graph.

How the completions are seen, within the one execution:

* **local schedulers** (synchronous, threads, processes: everything run by
  ``dask.local.get_async``) -- a :class:`dask.callbacks.Callback` whose
  ``posttask`` runs on the calling thread after every task; the tasks of
  the chunk-state layer (or the reduction's first, per-chunk stage, into
  which Dask's blockwise optimization fuses it) are mapped back to chunk
  indices by their keys;
* **distributed** -- the graph is optimized and submitted once with
  ``Client.get``, asking futures for the per-chunk keys as well as for the
  result; :func:`distributed.as_completed` yields them as they finish and
  each is released at once (no extra task, no data sent to the client;
  a chunk's small packed state stays on its worker until the caller has
  reported it);
* any other scheduler -- the graph is computed as usual and no chunk is
  reported (the root task still begins and ends).
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

__all__ = ["ChunkKeys", "chunk_keys", "computed"]


class ChunkKeys(NamedTuple):
    """The per-chunk tasks of a graph.

    names : key names (``key[0]``) of the per-chunk layers
    grid : the block grid; a key ``(name, *index, ...)`` is chunk
        ``ravel_multi_index(index, grid)``
    output : the name whose keys are asked as futures on distributed
    """

    names: frozenset
    grid: tuple
    output: str

    def index(self, key):
        """The chunk a task key belongs to, or None."""
        if not (isinstance(key, tuple) and key and key[0] in self.names):
            return None
        return int(np.ravel_multi_index(key[1 : 1 + len(self.grid)], self.grid))

    def keys(self):
        """The keys of the output layer, chunk by chunk (the trailing
        indices are those of a packed state's two axes)."""
        return [(self.output, *i, 0, 0) for i in np.ndindex(*self.grid)]


def chunk_keys(states, result=None):
    """:class:`ChunkKeys` of the chunk states ``states`` (a Dask array of
    packed states, one block per chunk) and, when it merges them, of the
    reduction ``result``: its first stage maps ``states`` block by block,
    and Dask's optimization fuses the two under that stage's name."""
    grid = tuple(states.numblocks[:-2])
    names = {states.name}
    output = states.name
    if result is not None:
        graph = result.__dask_graph__()
        dependencies = getattr(graph, "dependencies", {})  # a HighLevelGraph
        stages = [n for n, deps in dependencies.items() if states.name in deps]
        if len(stages) == 1:
            names.add(stages[0])
            output = stages[0]
    return ChunkKeys(frozenset(names), grid, output)


def _reporter(task):
    """Report chunk ``i`` once, as a begun and ended sub-task of ``task``."""
    done = set()

    def report(i):
        if i is None or i in done:
            return
        done.add(i)
        task.subtask("chunk", task_id=i).end()

    return report


def _distributed_client(collection):
    """The ``distributed.Client`` that would run ``collection``, or None."""
    import dask

    schedule = dask.base.get_scheduler(collections=[collection])
    client = getattr(schedule, "__self__", None)
    if client is not None and type(client).__module__.startswith("distributed"):
        return client
    return None


def computed(collection, states, task):
    """``collection.compute()``, one graph execution, reporting each chunk
    of ``states`` (the chunk states ``collection`` merges, or is) as a
    sub-task of ``task`` when it is computed (nothing when nobody listens:
    then nothing here looks at the graph)."""
    if not task.listening:
        return collection.compute()
    keys = chunk_keys(states, None if collection is states else collection)
    report = _reporter(task)
    client = _distributed_client(collection)
    if client is not None:
        return _on_client(client, collection, keys, report)
    return _on_local_scheduler(collection, keys, report)


def _on_local_scheduler(collection, keys, report):
    from dask.callbacks import Callback

    # Dask's local callbacks are global: a compute on another thread would
    # call this one too (from that thread).  The one execution of this fit
    # runs its scheduler loop, hence ``posttask``, on this thread.
    owner = threading.get_ident()

    def posttask(key, result, dsk, state, worker_id):
        if threading.get_ident() == owner:
            report(keys.index(key))

    with Callback(posttask=posttask):
        return collection.compute()


def _repacked(structure, values):
    """``values`` (by key) in the nested-list ``structure`` of a
    collection's keys."""
    if isinstance(structure, list):
        return [_repacked(s, values) for s in structure]
    return values[structure]


def _flat(structure):
    if isinstance(structure, list):
        for s in structure:
            yield from _flat(s)
    else:
        yield structure


def _on_client(client, collection, keys, report):
    """The distributed path of :func:`computed`: one submission whose
    futures are the result's keys and the per-chunk keys."""
    from distributed import as_completed

    out_keys = collection.__dask_keys__()
    outputs = list(_flat(out_keys))
    is_output = set(outputs)
    wanted = outputs + [k for k in keys.keys() if k not in is_output]
    # The optimization compute would run, keeping the per-chunk keys (a
    # wanted key is never fused away).
    graph = collection.__dask_optimize__(collection.__dask_graph__(), wanted)
    futures = dict(zip(wanted, client.get(graph, wanted, sync=False), strict=True))
    try:
        for future in as_completed(list(futures.values()), loop=client.loop):
            if future.status != "finished":
                break  # an error: gather raises it below
            report(keys.index(future.key))
            if future.key not in is_output:
                future.release()  # its state is the merge's, not ours
        values = dict(
            zip(outputs, client.gather([futures[k] for k in outputs]), strict=True)
        )
    finally:
        for future in futures.values():
            future.release()
    finalize, extra = collection.__dask_postcompute__()
    return finalize(_repacked(out_keys, values), *extra)
