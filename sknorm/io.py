"""Safe persistence of sknorm estimators, over skops.io.

A skops file is a zip of JSON and ``.npy`` arrays: loading it runs no code
from the file, and every type it names must be trusted first.  skops trusts
Python's, NumPy's, SciPy's and scikit-learn's types by default (so
pipelines load too); :data:`TRUSTED_TYPES` adds exactly sknorm's, under
stable public names (``sknorm.ZScore``, ``sknorm.state.Moments`` ...) that
do not change when sknorm's private modules do.

* :func:`dump` stores every array as a host NumPy array: an estimator
  fitted on a GPU (CuPy, torch CUDA) or on torch/array-api-strict tensors
  is saved as if fitted on NumPy, and :func:`load` gives a NumPy estimator
  (move it back with :func:`sknorm.move_estimator`).  Callbacks set with
  ``set_callbacks`` are not saved: they are live objects (a progress bar
  holds a thread) that skops would refuse to load.
* :func:`load` refuses a file naming any other type, and a file that is
  not a skops archive, with a ``ValueError`` saying which.

skops is an optional dependency (``pip install "sknorm[persist]"``),
imported when :func:`dump` or :func:`load` is first called.  When every
library version is the same at both ends and the file comes from a trusted
source, pickle or joblib also work (and load faster); see
``docs/persistence.md``.

Examples
--------
>>> import io
>>> import numpy as np
>>> import pytest
>>> _ = pytest.importorskip("skops")  # the example needs skops
>>> import sknorm
>>> X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
>>> buffer = io.BytesIO()
>>> sknorm.io.dump(sknorm.ZScore().fit(X), buffer)
>>> loaded = sknorm.io.load(io.BytesIO(buffer.getvalue()))
>>> loaded.transform(X[:1])
array([[-1.22474487, -1.01904933]])
"""

from __future__ import annotations

import io
import json
import os
import zipfile

from ._callbacks import CALLBACK_STATE
from ._move import host_copy

__all__ = ["TRUSTED_TYPES", "UntrustedTypesError", "dump", "load"]

#: The types sknorm adds to skops' trusted defaults, by their stable names.
#: Pass them to ``skops.io.load(file, trusted=list(TRUSTED_TYPES))`` when
#: calling skops directly.
TRUSTED_TYPES = (
    "sknorm.LocalResponseNormalizer",
    "sknorm.MaxAbs",
    "sknorm.MinMax",
    "sknorm.MiniBatchNormalizer",
    "sknorm.Quantile",
    "sknorm.Robust",
    "sknorm.ZCAWhitening",
    "sknorm.ZScore",
    "sknorm.state.CoMoments",
    "sknorm.state.FourthMoments",
    "sknorm.state.LazyQuantiles",
    "sknorm.state.LazyWhitening",
    "sknorm.state.MinMaxState",
    "sknorm.state.Moments",
    "sknorm.state.QuantileSummary",
    "sknorm.state.Whitening",
)


class UntrustedTypesError(ValueError):
    """A file names types that neither skops nor sknorm trusts.

    Attributes
    ----------
    types : list of str
        The untrusted type names found in the file.
    """

    def __init__(self, message, types):
        super().__init__(message)
        self.types = types


def _skops_io(caller):
    try:
        import skops.io
    except ImportError as exc:
        raise ImportError(
            f"sknorm.io.{caller}() needs skops: pip install 'sknorm[persist]' "
            "(or skops)."
        ) from exc
    return skops.io


def dump(estimator, file):
    """Save an estimator (or a pipeline holding sknorm estimators) with skops.

    Parameters
    ----------
    estimator : estimator
        Fitted or not, on any array library or device: its arrays are saved
        as NumPy arrays (the estimator itself is not changed).  Callbacks are
        left out.
    file : str, path or binary file object
        Where to write the skops archive (conventionally ``*.skops``).

    See Also
    --------
    load : the other way.
    """
    sio = _skops_io("dump")
    sio.dump(host_copy(estimator, drop=CALLBACK_STATE), file)


def _read(file):
    if isinstance(file, str | os.PathLike):
        with open(file, "rb") as f:
            return f.read(), os.fspath(file)
    return file.read(), getattr(file, "name", "the file object")


def load(file):
    """Load an estimator saved by :func:`dump` (or by skops itself).

    Parameters
    ----------
    file : str, path or binary file object
        A skops archive.

    Returns
    -------
    estimator : estimator
        With NumPy arrays; :func:`sknorm.move_estimator` moves it to a
        device.

    Raises
    ------
    UntrustedTypesError
        The file names a type outside :data:`TRUSTED_TYPES` and skops'
        defaults; nothing from it was constructed.
    ValueError
        ``file`` is not a skops archive.
    """
    sio = _skops_io("load")
    data, name = _read(file)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ValueError(
            f"sknorm.io.load(): {name} is not a skops archive (not a zip file). "
            "Load files written by sknorm.io.dump or skops.io.dump; pickle and "
            "joblib files load with pickle.load / joblib.load (only from "
            "sources you trust: they run code)."
        )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        has_schema = "schema.json" in archive.namelist()
    if not has_schema:
        raise ValueError(
            f"sknorm.io.load(): {name} is a zip file without schema.json, not "
            "a skops archive. Load files written by sknorm.io.dump or "
            "skops.io.dump."
        )
    trusted = list(TRUSTED_TYPES)
    try:
        untrusted = [
            t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_TYPES
        ]
    except (json.JSONDecodeError, KeyError) as exc:
        raise ValueError(
            f"sknorm.io.load(): {name} has an unreadable schema.json ({exc}); "
            "it is not a valid skops archive."
        ) from exc
    if untrusted:
        raise UntrustedTypesError(
            f"sknorm.io.load(): {name} holds types that neither skops nor "
            f"sknorm trusts: {untrusted}. Nothing was loaded. If you know "
            "where the file comes from and trust those types, load it with "
            "skops.io.load(file, trusted=[...]) yourself.",
            untrusted,
        )
    return sio.loads(data, trusted=trusted)
