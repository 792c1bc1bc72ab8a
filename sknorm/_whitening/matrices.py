"""The five whitening matrices of Kessy, Lewin & Strimmer (2018).

Pure functions from a covariance matrix to ``(W, W^+)``, written against the
Array API standard and its ``linalg`` extension: they run in the namespace
and on the device of the covariance (CuPy's cuSOLVER on the GPU, LAPACK on
the CPU, torch's own), always in the dtype of the covariance (the
accumulation dtype, float64 where the device has it).

Notation: ``Σ`` the covariance, ``V = diag(Σ)``, ``P = V^-1/2 Σ V^-1/2`` the
correlation, ``Σ = U Λ Uᵀ`` and ``P = G Θ Gᵀ`` their eigendecompositions.

==========  =======================  ==============================
method      W                        W^+ (the "dewhitening" matrix)
==========  =======================  ==============================
zca         Σ^-1/2 = U Λ^-1/2 Uᵀ     U Λ^1/2 Uᵀ
zca-cor     P^-1/2 V^-1/2            V^1/2 P^1/2
pca         Λ^-1/2 Uᵀ                U Λ^1/2
pca-cor     Θ^-1/2 Gᵀ V^-1/2         V^1/2 G Θ^1/2
cholesky    Lᵀ, L Lᵀ = Σ^-1          W^-1
==========  =======================  ==============================

``W^+`` is built on first use (:func:`dewhitening_matrix`), from the factors
:func:`whitening_matrices` kept (the eigenvectors or the Cholesky factor and
the scales): a whitening that is never inverted never pays its ``p x p``
product, and building it later repeats no decomposition.  The symmetric
products ``U f(Λ) Uᵀ`` are Gram matrices ``(U f(Λ)^1/2)(U f(Λ)^1/2)ᵀ``
(BLAS's ``syrk`` on NumPy: half the flops of a general product, and
exactly symmetric).

Regularisation and rank (the same rules for every method):

* ``eps`` is relative: the eigenvalues become ``λ + eps * λ_max``.
* An eigenvalue ``λ <= n_features * machine_eps * λ_max`` is numerically
  zero: rounding noise, not variance.  With ``eps = 0`` such a direction
  gets weight 0 in ``W`` (the Moore-Penrose convention, ``1/0 := 0``): no
  NaN, no inf, and ``W^+`` is the pseudo-inverse, so ``W^+ W`` projects onto
  the span of the data.  With ``eps > 0`` it gets ``1/sqrt(eps * λ_max)``
  (ridge) and the result is flagged as depending on ``eps``.
"""

from __future__ import annotations

from typing import NamedTuple

from .._array_api import array_device, is_numpy_namespace, namespace_of
from .._naming import state_type

__all__ = [
    "FOLD_LIMIT",
    "METHODS",
    "PCA_METHODS",
    "Whitening",
    "dewhitening_matrix",
    "fold_cancellation",
    "shrink_towards_diagonal",
    "whitening_matrices",
]

METHODS = ("zca", "zca-cor", "pca", "pca-cor", "cholesky")
PCA_METHODS = ("pca", "pca-cor")
# The transform folds the centring into the product when that at most
# doubles the bound of its rounding error (:func:`fold_cancellation`).
FOLD_LIMIT = 1.0


@state_type
class Whitening(NamedTuple):
    """The result of :func:`whitening_matrices`.

    whitening : (k, p) array, ``z = W (x - mean)``
    dewhitening : (p, k) array, the inverse (pseudo-inverse when singular);
        None until :func:`dewhitening_matrix` built it from the factors
    explained_variance : (k,) eigenvalues kept (PCA variants), else None
    n_null : number of numerically null directions of the decomposed matrix
    depends_on_eps : True when null directions were scaled by ``eps`` (ridge)
    basis : what ``dewhitening`` is built from (None once it is built, and
        in files saved before it was built lazily): the eigenvectors ``U``
        or ``G`` (zca, pca, their -cor variants: the kept ones), or the
        reversed Cholesky factor ``J C J`` (cholesky)
    root : (k,) ``λ~^1/2`` of the kept eigenvalues (None for cholesky)
    feature_scale : (p,) standard deviations ``V^1/2`` (-cor and cholesky),
        else None
    """

    whitening: object
    dewhitening: object
    explained_variance: object
    n_null: int
    depends_on_eps: bool
    basis: object = None
    root: object = None
    feature_scale: object = None


def fold_cancellation(W, mean, cov):
    """How much folding the centring into the product costs: ``ρ``.

    The transform ``z = W (x - m)`` can be computed centred,
    ``fl(fl(x - m) Wᵀ)``, or folded, ``fl(fl(x Wᵀ) - b)`` with
    ``b = m Wᵀ`` (computed in float64, rounded to X's dtype once): no
    centring pass, but the product then runs on ``x`` instead of ``x - m``.
    With ``u`` the unit roundoff of X's dtype (2^-53 for float64, 2^-24 for
    float32) and ``p`` features, the usual bound of a dot product's
    rounding error gives, for output ``k``,

    - centred: ``|Δz_k| <= (p + 1) u Σ_j |W_kj| |x_j - m_j|``
      (plus ``u Σ_j |W_kj| |m_j|`` in float32, where ``m`` itself is
      rounded to float32: the input's precision policy);
    - folded: ``|Δz_k| <= (p + 2) u (Σ_j |W_kj| |m_j| + Σ_j |W_kj| |x_j - m_j|)``.

    With ``σ_j`` the standard deviations (the diagonal of ``cov``) as the
    typical ``|x_j - m_j|``, folding multiplies the bound by at most
    ``1 + ρ_k`` with

        ``ρ_k = Σ_j |W_kj| |m_j| / Σ_j |W_kj| σ_j``,

    i.e. it loses ``log2(1 + ρ)`` bits of X's dtype (``ρ = |m| / σ`` for one
    feature): none worth keeping when the data is nearly centred, every
    digit at ``1e8 + N(0, 1e-3)`` in float64 (``ρ = 1e11``; ``u ρ ≈ 1e-5``
    of the output's unit spread, against ``1e-16`` centred).  Returns
    ``max_k ρ_k`` (a float; 0 for rows of ``W`` that are 0, inf for a row
    with weight only on constant features off the origin) from the fitted
    state alone: no pass over X.  The transform folds when it is at most
    :data:`FOLD_LIMIT` (the bound at most doubles), for either dtype: both
    bounds scale with ``u``.
    """
    xp = namespace_of(W)
    A = xp.abs(W)
    var = xp.linalg.diagonal(cov)
    sd = xp.sqrt(xp.where(var > 0, var, 0.0))
    far = A @ xp.abs(mean)
    spread = A @ sd
    safe = xp.where(spread > 0, spread, 1.0)
    off = xp.where(far > 0, xp.full_like(far, xp.inf), xp.zeros_like(far))
    ratio = xp.where(spread > 0, far / safe, off)
    return float(xp.max(ratio))


def shrink_towards_diagonal(cov, alpha):
    """``(1 - alpha) Σ + alpha diag(Σ)``: correlations shrunk by ``1 - alpha``."""
    xp = namespace_of(cov)
    # alpha is a float, or a 0-d device array (Ledoit-Wolf): comparing the
    # latter would read it back on the host.
    if isinstance(alpha, float | int) and alpha == 0:
        return cov
    eye = xp.eye(cov.shape[0], dtype=cov.dtype, device=array_device(cov))
    return (1.0 - alpha) * cov + alpha * (cov * eye)


def whitening_matrices(cov, method, *, eps=0.0, n_components=None):
    """``W`` and ``W^+`` of ``method`` for the covariance ``cov``.

    Parameters
    ----------
    cov : (p, p) symmetric positive semi-definite array
    method : one of :data:`METHODS`
    eps : float >= 0, regularisation relative to the largest eigenvalue
    n_components : int or None, rows kept by the PCA variants

    Returns
    -------
    Whitening
    """
    if method not in METHODS:  # pragma: no cover - validated by the estimator
        raise ValueError(f"unknown whitening method {method!r}")
    if method == "cholesky":
        return _cholesky(cov, eps)
    xp = namespace_of(cov)
    correlation = method.endswith("-cor")
    if correlation:
        sd = _safe_sd(xp, cov)
        S = cov / sd[:, None] / sd[None, :]
    else:
        S = cov
    # A covariance from NumPy's kernels and merges is exactly symmetric
    # already (0.5 (S + Sᵀ) would be S, bit for bit: three passes for
    # nothing); a correlation, or another backend's product, is made so.
    exact = is_numpy_namespace(xp) and not correlation
    lam, U = _eigh(xp, S if exact else _symmetric(S))
    inv_sqrt, sqrt, null, depends = _spectrum(xp, lam, eps)
    if method in PCA_METHODS:
        # Descending eigenvalues, deterministic signs: the same output on
        # every backend and every run.
        lam, U = xp.flip(lam), xp.flip(U, axis=1)
        inv_sqrt, sqrt = xp.flip(inv_sqrt), xp.flip(sqrt)
        U = _fix_signs(xp, U)
        k = U.shape[1] if n_components is None else n_components
        U, inv_sqrt, sqrt = U[:, :k], inv_sqrt[:k], sqrt[:k]
        W = (U * inv_sqrt[None, :]).T
        explained = xp.where(xp.flip(null)[:k], 0.0, lam[:k])
        # Only the kept components matter for the warning.
        n_null = int(xp.sum(xp.astype(xp.flip(null)[:k], xp.int32)))
        depends = depends and n_null > 0
    else:
        W = _gram_of_rows(xp, U * xp.sqrt(inv_sqrt)[None, :])
        explained = None
        n_null = int(xp.sum(xp.astype(null, xp.int32)))
    if correlation:
        W = W / sd[None, :]
    return Whitening(
        W, None, explained, n_null, depends, U, sqrt, sd if correlation else None
    )


def dewhitening_matrix(result, method):
    """``W^+`` of ``result`` (a :class:`Whitening` of ``method``), built
    from the factors :func:`whitening_matrices` kept (see the table above):
    ``U Λ~^1/2 Uᵀ`` (zca), ``U Λ~^1/2`` (pca), times ``V^1/2`` on the left
    for the -cor variants, ``V^1/2 J C J`` (cholesky).  A result that
    already holds it (built, or loaded from a file saved before it was
    built lazily) returns it."""
    if result.dewhitening is not None:
        return result.dewhitening
    B, root, sd = result.basis, result.root, result.feature_scale
    if method == "cholesky":
        return sd[:, None] * B
    xp = namespace_of(B)
    if method in PCA_METHODS:
        D = B * root[None, :]
    else:
        D = _gram_of_rows(xp, B * xp.sqrt(root)[None, :])
    return D if sd is None else D * sd[:, None]


# ------------------------------------------------------------- helpers ----
def _tolerance(xp, p, dtype):
    """Relative size below which an eigenvalue or pivot is rounding noise."""
    return p * xp.finfo(dtype).eps


def _safe_sd(xp, cov):
    """Per-feature standard deviation, 1 for constant features (as ZScore).

    A constant feature has a zero row in ``Σ``; it becomes a null direction
    of ``P`` and is handled by the rank rules, never divided by zero.
    """
    var = xp.linalg.diagonal(cov)
    return xp.sqrt(xp.where(var > 0, var, 1.0))


def _spectrum(xp, lam, eps):
    """``(λ~^-1/2, λ~^1/2, null, depends_on_eps)`` for eigenvalues ``lam``.

    ``λ~ = λ + eps λ_max``; null eigenvalues (below the rank tolerance,
    negative ones included) count as 0.  Where ``λ~`` is 0 (null with
    ``eps = 0``, or all-constant data) both factors are 0.
    """
    lam_max = xp.max(lam)
    lam_max = xp.where(lam_max > 0, lam_max, 0.0)
    null = lam <= _tolerance(xp, lam.shape[0], lam.dtype) * lam_max
    reg = xp.where(null, 0.0, lam) + eps * lam_max
    keep = reg > 0
    safe = xp.where(keep, reg, 1.0)
    root = xp.sqrt(safe)
    inv_sqrt = xp.where(keep, 1.0 / root, 0.0)
    sqrt = xp.where(keep, root, 0.0)
    depends = eps > 0 and bool(xp.any(null)) and bool(lam_max > 0)
    return inv_sqrt, sqrt, null, depends


def _fix_signs(xp, U):
    """Make the largest-magnitude entry of every column positive."""
    p = U.shape[0]
    idx = xp.argmax(xp.abs(U), axis=0)
    rows = xp.arange(p, device=array_device(U))
    picked = xp.sum(xp.where(rows[:, None] == idx[None, :], U, 0.0), axis=0)
    return xp.where(picked[None, :] < 0, -U, U)


def _symmetric(A):
    return 0.5 * (A + A.T)


def _eigh(xp, S):
    """``xp.linalg.eigh`` of the symmetric ``S``; on NumPy SciPy's
    ``dsyevd`` on a copy it may overwrite (the same LAPACK routine as
    NumPy's, without NumPy's copies in and out: measured 0.8x
    ``numpy.linalg.eigh`` at 1,024 features on the development machine)."""
    if not is_numpy_namespace(xp):
        return xp.linalg.eigh(S)
    import numpy as np
    from scipy.linalg import eigh

    # S is symmetric: its C-ordered copy, transposed, is itself in the
    # Fortran order LAPACK works in.
    return eigh(np.copy(S).T, driver="evd", overwrite_a=True, check_finite=False)


def _gram_of_rows(xp, A):
    """``A Aᵀ``, exactly symmetric: NumPy computes it by BLAS's ``syrk``
    (one triangle, mirrored); other namespaces by a general product, made
    symmetric."""
    G = A @ A.T
    return G if is_numpy_namespace(xp) else _symmetric(G)


def _reverse(xp, A):
    """``J A J``, J the exchange matrix: reverses rows and columns."""
    return xp.flip(xp.flip(A, axis=0), axis=1)


# ------------------------------------------------------------ cholesky ----
def _cholesky(cov, eps):
    """``W = Lᵀ`` with ``L Lᵀ = Σ~^-1``: upper triangular, positive diagonal.

    ``Σ~ = Σ + eps λ_max I`` (the same ``Σ~`` as ``"zca"``: with equal
    ``eps`` the two differ by a rotation).  Computed as ``W = J C^-1 J
    V^-1/2`` with ``C`` the lower Cholesky factor of ``J P J`` (``P`` the
    correlation of ``Σ~``, ``J`` the exchange matrix): then ``W Σ~ Wᵀ = I``
    and ``W`` is upper triangular, so ``Wᵀ`` is the (unique) Cholesky factor
    of ``Σ~^-1``.  ``W^+ = V^1/2 J C J``.
    """
    xp = namespace_of(cov)
    p = cov.shape[0]
    lam = xp.linalg.eigvalsh(_symmetric(cov))
    _, _, null, depends = _spectrum(xp, lam, eps)
    n_null = int(xp.sum(xp.astype(null, xp.int32)))
    lam_max = xp.where(xp.max(lam) > 0, xp.max(lam), 0.0)
    eye = xp.eye(p, dtype=cov.dtype, device=array_device(cov))
    S = cov + (eps * lam_max) * eye
    sd = _safe_sd(xp, S)
    P = _reverse(xp, _symmetric(S / sd[:, None] / sd[None, :]))
    definite = n_null == 0 or eps > _tolerance(xp, p, cov.dtype)
    C = None
    if definite:
        # All pivots are at least the smallest eigenvalue of P: the
        # backend's Cholesky is exact here.  It can still fail on the edge
        # (NumPy and torch raise, CuPy returns NaN): then the careful path.
        try:
            C = xp.linalg.cholesky(P)
        except Exception:  # the backend's LinAlgError, whatever its class
            C = None
        if C is not None and not bool(xp.all(xp.isfinite(C))):
            C = None
    if C is None:
        C = _rank_revealing_cholesky(xp, P)
    independent = xp.linalg.diagonal(C) > 0
    # A dependent feature has a zero column in C; a unit diagonal there
    # makes C invertible without changing the rows of C^-1 that belong to
    # the independent features (that column feeds no later row).
    C_unit = C + xp.astype(~independent, C.dtype)[:, None] * eye
    C_inv = xp.where(independent[:, None], xp.tril(xp.linalg.inv(C_unit)), 0.0)
    W = _reverse(xp, C_inv) / sd[None, :]
    return Whitening(W, None, None, n_null, depends, _reverse(xp, C), None, sd)


def _rank_revealing_cholesky(xp, P):
    """Lower ``C`` with ``C Cᵀ = P`` for a singular correlation matrix ``P``.

    A feature that is a linear combination of the earlier ones gets a zero
    diagonal and column (its output is 0: there is nothing left to
    whiten); its row holds its coefficients on the earlier directions.  Cholesky
    pivots cannot tell such a feature from a nearly dependent one (a pivot
    is a squared residual computed by subtraction: its rounding error is of
    the order of machine epsilon, i.e. the residual itself is only known to
    ~1e-8), so the residuals are computed by orthogonalization instead:
    ``P = Fᵀ F`` with ``F = Θ^1/2 Gᵀ`` restricted to the numerical range of
    ``P``, and the columns of ``F`` are orthogonalized in order (classical
    Gram-Schmidt, twice), skipping those whose residual is below the rank
    tolerance.  ``C[k, j]`` is the coefficient of feature ``k`` on the
    direction that feature ``j`` contributed.  ``p`` steps of array
    operations, only for singular input.
    """
    p = P.shape[0]
    device = array_device(P)
    theta, G = xp.linalg.eigh(P)
    theta_max = xp.where(xp.max(theta) > 0, xp.max(theta), 0.0)
    tol = _tolerance(xp, p, P.dtype) * theta_max
    in_range = theta > tol
    F = (G * xp.sqrt(xp.where(in_range, theta, 0.0))[None, :]).T
    Q = xp.zeros((p, p), dtype=P.dtype, device=device)
    rows = []
    positions = xp.arange(p, device=device)
    for k in range(p):
        b = F[:, k]
        c = Q.T @ b
        v = b - Q @ c
        c2 = Q.T @ v
        v, c = v - Q @ c2, c + c2
        rho2 = xp.sum(v * v)
        if bool(rho2 > tol):
            rho = xp.sqrt(rho2)
            here = xp.astype(positions == k, P.dtype)
            Q = Q + (v / rho)[:, None] * here[None, :]
            c = c + rho * here
        # else: only noise remains; the feature adds no direction and keeps
        # its coefficients on the earlier ones (what W^+ rebuilds it from).
        rows.append(c)
    return xp.tril(xp.stack(rows, axis=0))
