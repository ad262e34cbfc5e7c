"""GEM's dual quadratic programme, solved exactly without a QP library.

    min_v  1/2 v^T Q v + p^T v   subject to v >= margin,   Q = G G^T, p = G g

(G: the earlier tasks' memory gradients as rows, g: the batch's gradient). With u = v - margin
it is a QP over the non-negative orthant, min 1/2 u^T Q u + c^T u, c = p + margin Q 1, which is
a non-negative least-squares problem in its normal equations; Lawson and Hanson's active-set
algorithm (Solving Least Squares Problems, 1974, chapter 23) solves it in finitely many steps,
working on Q and c alone (t x t, t = the number of earlier tasks)."""
import numpy as np


def nonneg_qp(Q, c, max_iter=None):
    """argmin_{u >= 0} 1/2 u^T Q u + c^T u for symmetric positive semi-definite Q."""
    Q = np.asarray(Q, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    n = len(c)
    scale = max(np.abs(Q).max(initial=0.0), np.abs(c).max(initial=0.0), 1e-300)
    tol = 1e-12 * scale * max(n, 1)
    u = np.zeros(n)
    free = np.zeros(n, dtype=bool)  # Lawson and Hanson's set P
    max_iter = max_iter or 30 * max(n, 1)
    for _ in range(max_iter):
        w = -(Q @ u + c)  # the negative gradient: a bound variable with w > 0 should move up
        if free.all() or w[~free].max(initial=-np.inf) <= tol:
            return u
        j = np.flatnonzero(~free)[np.argmax(w[~free])]
        free[j] = True
        while True:
            s = np.zeros(n)
            idx = np.flatnonzero(free)
            s[idx] = np.linalg.lstsq(Q[np.ix_(idx, idx)], -c[idx], rcond=None)[0]
            if (s[idx] > 0).all():
                u = s
                break
            neg = idx[s[idx] <= 0]
            alpha = np.min(u[neg] / (u[neg] - s[neg]))
            u = u + alpha * (s - u)
            free &= u > tol
            u[~free] = 0.0
            if not free.any():
                break
    raise RuntimeError("nonneg_qp: no convergence")


def gem_dual(G, g, margin=0.0):
    """v solving GEM's dual (rows of G: the memories' gradients, g: the batch's); the projected
    gradient is g + G^T v."""
    G = np.asarray(G, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    Q = G @ G.T
    c = G @ g + margin * Q.sum(1)
    return nonneg_qp(Q, c) + margin
