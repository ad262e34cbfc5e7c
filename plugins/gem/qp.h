/* GEM's dual quadratic programme, solved exactly without a QP library:
 *
 *	min_u 1/2 u^T Q u + c^T u   subject to u >= 0
 *
 * for a symmetric positive semi-definite t x t Q (t: the earlier tasks), by Lawson and Hanson's
 * active-set algorithm (Solving Least Squares Problems, 1974, ch. 23) on Q and c alone: a free
 * set grows by the bound variable whose negative gradient is largest, the free variables solve
 * their equality system, and a step back to the orthant's boundary drops those that turn
 * non-positive. Finitely many steps in exact arithmetic. */
#ifndef PLUGINS_GEM_QP_H
#define PLUGINS_GEM_QP_H

#include <stddef.h>

/* Doubles of working memory qp_solve needs for t variables. */
size_t qp_work_size(size_t t);

/* u (t) receives the minimiser; work has qp_work_size(t) doubles. 0, or -1 when the iteration
 * limit (30 t + 30 outer steps) is hit: u then holds the last feasible iterate. */
int qp_solve(const double *Q, const double *c, size_t t, double *u, double *work);

#endif
