/* A run's page's panels of its training: the loss curve (with the terms plugins report), each
 * task's accuracy after every epoch, and a step's class confusion matrix as a heatmap. */
#ifndef LETHE_REPORT_CURVES_H
#define LETHE_REPORT_CURVES_H

#include <stddef.h>

#include "report/report_chart.h"
#include "results/results.h"

/* Whether r has loss points, and accuracies after epochs, to draw. */
int report_curves_has_loss(const struct results_doc *r);
int report_curves_has_epochs(const struct results_doc *r);

void report_curves_draw_loss(struct svg *s, const struct results_doc *r,
			     const struct report_box *b);
void report_curves_draw_epochs(struct svg *s, const struct results_doc *r,
			       const struct report_box *b);

/* The confusion panel's height for r's classes in a panel w wide, and the panel of step i
 * (0-based), each row coloured by its fractions. */
double report_curves_confusion_height(const struct results_doc *r, double w);
void report_curves_draw_confusion(struct svg *s, const struct results_doc *r, size_t i,
				  const struct report_box *b);

#endif
