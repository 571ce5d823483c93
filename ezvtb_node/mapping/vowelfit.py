"""Exact bounded fit of a measured mouth onto vowel shapes.

Problem (THA3 demo's mouth converter, REFERENCE.md §6): given shape rows ``M`` (N shapes × D
features) and a measurement ``v`` (D), find ``w`` in [0, 1]^N minimising

    f(w) = ‖Mᵀw − v‖₂ + λ·Σ w

The reference runs a general optimiser each frame (milliseconds, approximate). This problem is
convex and tiny, so we solve it exactly: at the optimum every weight is either at 0, at 1 or free.
For one such pattern, with the bound weights moved into the target and ``A`` the free columns,
stationarity of the smooth part gives a closed form:

    Aᵀr = −λ‖r‖·1  ⇒  w_F = z − λ‖r‖·G⁻¹1,   ‖r‖ = ‖v⊥‖ / √(1 − λ²·1ᵀG⁻¹1)

where ``z`` is the least-squares fit, ``G = AᵀA`` and ``v⊥`` the part of the target that ``A``
cannot reach (‖r‖ = 0 when it reaches all of it, the non-smooth optimum). Every pattern's candidate
is a feasible point or rejected, and the optimal pattern's candidate is the optimum, so the best
feasible candidate is the exact answer. All 3^N patterns are precomputed into one stacked affine map,
which makes a frame a handful of small vector operations.
"""

from __future__ import annotations

import itertools

import numpy as np

MAX_SHAPES = 6  # 3^6 = 729 patterns; more would make the per-frame work grow past its purpose
_FEASIBLE_SLACK = 1e-9


class VowelFitError(ValueError):
    """The shapes cannot be fitted exactly (too many, too similar, or the wrong size)."""


class VowelFit:
    """Solves ``min ‖Mᵀw − v‖ + λ·Σw`` over ``w ∈ [0, 1]^N`` exactly."""

    def __init__(self, shapes: np.ndarray, l1_weight: float) -> None:
        shapes = np.asarray(shapes, dtype=np.float64)
        if shapes.ndim != 2:
            raise VowelFitError(f"shapes must be a list of equal-length rows, got shape {shapes.shape}")
        n_shapes, n_features = shapes.shape
        if not 1 <= n_shapes <= MAX_SHAPES:
            raise VowelFitError(f"expected 1 to {MAX_SHAPES} shapes, got {n_shapes}")
        if n_shapes > n_features:
            raise VowelFitError(f"{n_shapes} shapes over {n_features} inputs cannot be told apart")
        if np.linalg.matrix_rank(shapes) < n_shapes:
            raise VowelFitError("the shapes are linearly dependent: one of them is a mix of others")
        if l1_weight < 0:
            raise VowelFitError(f"l1 weight must be >= 0, got {l1_weight}")
        self.shapes = shapes
        self.l1_weight = float(l1_weight)
        self._build(shapes.T, float(l1_weight))

    def _build(self, a: np.ndarray, lam: float) -> None:
        # One matrix maps [target, 1] to every pattern's least-squares weights, its unreached part
        # (pre-scaled so its norm is the residual) and λ·Σ(least-squares weights): a frame is then
        # one matrix-vector product plus a few element-wise operations.
        n_features, n_shapes = a.shape
        rows, lam_directions = [], []
        for pattern in itertools.product((0.0, 1.0, None), repeat=n_shapes):
            free = [i for i, p in enumerate(pattern) if p is None]
            bound = np.array([0.0 if p is None else p for p in pattern])
            reach = a @ bound  # what the weights held at a bound already contribute
            a_free = a[:, free]
            gram_inv = np.linalg.inv(a_free.T @ a_free) if free else np.zeros((0, 0))
            pinv = gram_inv @ a_free.T
            to_weights = np.zeros((n_shapes, n_features))
            to_weights[free] = pinv
            unreached = np.eye(n_features) - a_free @ pinv
            direction = np.zeros(n_shapes)
            direction[free] = gram_inv @ np.ones(len(free))
            shrink = 1.0 - lam * lam * direction.sum()
            if shrink <= 1e-12:
                raise VowelFitError(
                    f"l1 weight {lam} is too large for shapes this similar; lower it below "
                    f"{1.0 / np.sqrt(direction.sum()):.4g}"
                )
            weights_rows = np.hstack([to_weights, (bound - to_weights @ reach)[:, None]])
            unreached_rows = np.hstack([unreached, (-unreached @ reach)[:, None]]) / np.sqrt(shrink)
            l1_row = lam * weights_rows.sum(axis=0, keepdims=True)
            rows.append(np.vstack([weights_rows, unreached_rows, l1_row]))
            lam_directions.append(lam * direction)
        # Quantity-major order, (N + D + 1) blocks of P patterns, so per-pattern reductions run
        # across a short leading axis, the fast direction for numpy on arrays this small.
        self._affine = np.ascontiguousarray(np.stack(rows, axis=1).reshape(-1, n_features + 1))
        self._n_patterns = len(rows)
        self._lam_directions = np.ascontiguousarray(np.stack(lam_directions, axis=1))  # (N, P)
        self._residual_cost = 1.0 - lam * self._lam_directions.sum(axis=0)  # (P,)
        self._n = n_shapes
        self._target = np.ones(n_features + 1)  # reused: [target, 1]
        self._ones = np.ones(n_features)

    def solve(self, target: np.ndarray | list[float]) -> list[float]:
        """The optimal weights (N floats) for one measurement ``target`` (D,)."""
        n = self._n
        self._target[:-1] = target
        y = (self._affine @ self._target).reshape(-1, self._n_patterns)
        unreached = y[n:-1]
        residual = np.sqrt(self._ones @ (unreached * unreached))
        weights = y[:n] - self._lam_directions * residual
        cost = residual * self._residual_cost + y[-1]
        cost[np.abs(weights - 0.5).max(axis=0) > 0.5 + _FEASIBLE_SLACK] = np.inf
        best = int(cost.argmin())
        return [min(max(w, 0.0), 1.0) for w in weights[:, best].tolist()]

    def objective(self, weights: np.ndarray, target: np.ndarray) -> float:
        """f(w) for checking answers against other solvers."""
        weights = np.asarray(weights, dtype=np.float64)
        return float(np.linalg.norm(weights @ self.shapes - target) + self.l1_weight * np.abs(weights).sum())
