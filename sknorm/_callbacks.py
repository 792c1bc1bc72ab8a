"""scikit-learn's fit callbacks (``sklearn.callback``, experimental in 1.9).

The only module that knows about that API: if it changes, this is the file
to change.  Estimators get :class:`CallbackSupport` (``set_callbacks``), and
their public fitting methods report their work through :func:`fit_task`:

* every public ``fit`` / ``partial_fit`` (so ``fit_transform``) /
  ``normalize_batch`` call is one root task;
* a fit that walks its data in pieces (``MiniBatchNormalizer.fit`` with
  ``batch_size``; a Dask fit's chunks) reports one sub-task per piece,
  which is what makes :class:`sklearn.callback.ProgressBar` move;
* a callback whose ``on_fit_task_end`` returns True for a sub-task asks the
  fit to stop: the caller leaves its loop and finishes with what it has.

Usage, from a fitting method (after validating X, inside the transaction)::

    with fit_task(self, "fit", X=X, sample_weight=w, max_subtasks=n) as task:
        for piece in pieces:
            sub = task.subtask("batch", X=piece)
            ...                                   # the work on this piece
            if sub.end(reconstruction_attributes=partial(dict, state)):
                break                             # a callback asked to stop
        self.__dict__.update(state)
        task.end()                                # self is fitted: {}

``reconstruction_attributes`` is a dict (or a callable returning one, called
only when some callback wants a fitted estimator) of the attributes that
make a copy of the estimator fitted as of the end of that task.

Rules that keep scikit-learn's bookkeeping sound:

* One root task per public call, and never a public ``fit`` /
  ``partial_fit`` inside another: scikit-learn keeps the root context on the
  estimator, a nested root overwrites it, the outer callbacks are never torn
  down and a ``ProgressBar`` thread then keeps the interpreter from exiting.
  Walk batches with private helpers and sub-tasks.
* :func:`fit_task` tears its callbacks down when the ``with`` block exits,
  raising or not.

Costs nothing without callbacks: an estimator with neither its own
callbacks nor a meta-estimator's context gets a no-op task (no context
object, and ``sklearn.callback``, which imports ``rich``, is not imported).
With scikit-learn older than 1.9 every task is a no-op and
``set_callbacks`` only stores the callbacks: they are never called.
"""

from __future__ import annotations

import functools

__all__ = [
    "CALLBACK_STATE",
    "FIT_TIME_STATE",
    "CallbackSupport",
    "fit_task",
    "has_callbacks",
]

# What scikit-learn's callback machinery keeps on an estimator: the
# callbacks themselves, and, during a fit, its contexts.  A persisted or
# moved copy leaves the fit-time entries out (and persistence the callbacks
# too: they are live objects, often with threads).
CALLBACK_STATE = (
    "_skl_callbacks",
    "_callback_fit_ctx",
    "_skl_callbacks_to_teardown",
    "_parent_callback_ctx",
)
FIT_TIME_STATE = CALLBACK_STATE[1:]


@functools.cache
def _sklearn_callback_api():
    """``(CallbackSupportMixin, with_callbacks)``, or None before 1.9.

    Imported on first use: ``sklearn.callback`` imports ``rich`` when it is
    installed, which ``import sknorm`` must not.
    """
    try:
        from sklearn.callback import CallbackSupportMixin, with_callbacks
    except ImportError:
        return None
    return CallbackSupportMixin, with_callbacks


class CallbackSupport:
    """``set_callbacks`` of scikit-learn's ``CallbackSupportMixin``.

    scikit-learn's own mixin, called by name, so that defining an estimator
    does not import ``sklearn.callback`` (and ``rich``).
    """

    def set_callbacks(self, *callbacks):
        """Set the callbacks called during the fitting methods.

        Experimental, as scikit-learn's callback API (1.9+).  Each public
        ``fit``, ``partial_fit`` and ``fit_transform`` call is one task;
        ``MiniBatchNormalizer.fit`` with ``batch_size`` reports one sub-task
        per batch, and stops early when a callback asks it to; a fit of a
        Dask collection reports one sub-task per chunk as the chunks are
        computed (``task_id``: the chunk's index).  With
        scikit-learn older than 1.9 the callbacks are stored and never
        called.  Callbacks are not saved by :func:`sknorm.io.dump`.

        Parameters
        ----------
        *callbacks : callback instances
            Objects following ``sklearn.callback.FitCallback`` (e.g.
            ``sklearn.callback.ProgressBar()``); none removes them.

        Returns
        -------
        self : estimator instance
            The estimator itself.
        """
        api = _sklearn_callback_api()
        if api is not None:
            return api[0].set_callbacks(self, *callbacks)
        if callbacks:
            self._skl_callbacks = list(callbacks)
        else:
            self.__dict__.pop("_skl_callbacks", None)
        return self


class _NoTask:
    """What :func:`fit_task` gives when nobody listens: every call is free."""

    # Whether a callback hears the task's sub-tasks: a caller that would do
    # work only to report it (the Dask layer's per-chunk progress) asks.
    listening = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def subtask(
        self, task_name="", *, X=None, sample_weight=None, max_subtasks=0, task_id=None
    ):
        return self

    def end(self, *, reconstruction_attributes=None):
        return False


_NO_TASK = _NoTask()


def _metadata(sample_weight):
    return {} if sample_weight is None else {"sample_weight": sample_weight}


class _Task:
    """One task of scikit-learn's task tree, begun when created."""

    listening = True

    def __init__(self, estimator, context, X, sample_weight):
        self._estimator = estimator
        self._context = context
        self._X = X
        self._sample_weight = sample_weight
        context.call_on_fit_task_begin(
            estimator=estimator, X=X, metadata=_metadata(sample_weight)
        )

    def subtask(
        self, task_name="", *, X=None, sample_weight=None, max_subtasks=0, task_id=None
    ):
        """Begin a child task (one batch, one chunk); ``max_subtasks``: its
        own children (0: a leaf, None: not known in advance); ``task_id``:
        its id among its siblings, given when the parent was opened with
        ``sequential_subtasks=False`` (else None: the next integer)."""
        context = self._context.subcontext(
            task_name=task_name, task_id=task_id, max_subtasks=max_subtasks
        )
        return _Task(self._estimator, context, X, sample_weight)

    def end(self, *, reconstruction_attributes=None):
        """End the task; True when a callback asks to stop the loop it is in.

        ``reconstruction_attributes`` (a dict, or a callable returning one):
        see the module docstring; None for the root task means the estimator
        itself is fitted (``{}``).
        """
        if reconstruction_attributes is None and self._context.parent is None:
            reconstruction_attributes = {}
        return self._context.call_on_fit_task_end(
            estimator=self._estimator,
            X=self._X,
            metadata=_metadata(self._sample_weight),
            reconstruction_attributes=reconstruction_attributes,
        )


class _RootTask:
    """The context manager :func:`fit_task` returns when someone listens."""

    def __init__(
        self,
        estimator,
        api,
        task_name,
        X,
        sample_weight,
        max_subtasks,
        sequential_subtasks=True,
    ):
        self._estimator = estimator
        self._api = api
        self._args = (task_name, X, sample_weight, max_subtasks, sequential_subtasks)

    def __enter__(self):
        mixin = self._api[0]
        task_name, X, sample_weight, max_subtasks, sequential = self._args
        try:
            context = mixin._init_callback_context(
                self._estimator,
                task_name=task_name,
                max_subtasks=max_subtasks,
                sequential_subtasks=sequential,
            )
            return _Task(self._estimator, context, X, sample_weight)
        except BaseException:
            self._teardown()
            raise

    def __exit__(self, *exc_info):
        self._teardown()
        return False

    def _teardown(self):
        # scikit-learn's public way to tear down what _init_callback_context
        # set up is its with_callbacks decorator, which does so when the
        # decorated method returns: here, a method that does nothing.
        self._api[1](_nothing)(self._estimator)


def _nothing(estimator):
    return None


def has_callbacks(estimator):
    """Whether ``estimator`` has callbacks of its own or runs inside a
    meta-estimator's callback context (scikit-learn's attribute names are
    known in this module only)."""
    state = estimator.__dict__
    return "_skl_callbacks" in state or "_parent_callback_ctx" in state


def fit_task(
    estimator,
    task_name,
    *,
    X=None,
    sample_weight=None,
    max_subtasks=0,
    sequential_subtasks=True,
):
    """The root task of one public fitting call, as a context manager.

    Parameters
    ----------
    estimator : sknorm estimator
        The estimator being fitted.
    task_name : str
        The public method (``"fit"``, ``"partial_fit"`` ...).
    X : array, default=None
        The validated data of the call, handed to the callbacks.
    sample_weight : array, default=None
        Handed to the callbacks as ``metadata={"sample_weight": ...}``.
    max_subtasks : int or None, default=0
        Number of sub-tasks the call will report (0: none, a leaf; None: not
        known in advance).
    sequential_subtasks : bool, default=True
        False: every sub-task is given its ``task_id`` (a Dask fit's chunks,
        reported in completion order, are numbered by their place in X).

    Returns
    -------
    task : context manager
        Entering it begins the task and gives an object with
        ``subtask(task_name, *, X=None, sample_weight=None, max_subtasks=0,
        task_id=None)`` (a begun child task), ``end(*,
        reconstruction_attributes=None)`` (returns True when a callback asks
        to stop) and ``listening`` (False for the no-op task); leaving it
        tears the callbacks down.
    """
    if not has_callbacks(estimator):
        return _NO_TASK
    api = _sklearn_callback_api()
    if api is None:
        return _NO_TASK
    return _RootTask(
        estimator, api, task_name, X, sample_weight, max_subtasks, sequential_subtasks
    )
