/* sfd's loss, row by row: the KL divergence from a teacher's tempered distribution, remapped so
 * that forgotten classes hand their probability to a safe class, to the student's. */
#ifndef SFD_DISTILL_H
#define SFD_DISTILL_H

#include <stddef.h>
#include <stdint.h>

/* q = softmax(teacher / T) over `classes` logits; then, if forgotten is not NULL, the mass of
 * every class c with forgotten[c] set moves (Pi_{f->s}) onto class safe, or, for a negative
 * safe, onto the other classes in proportion to their own. */
void distill_target(const float *teacher, size_t classes, double T, const uint8_t *forgotten,
		    int32_t safe, float *q);

/* T^2 KL(q || softmax(student / T)) of one row (the T^2, as in Hinton et al., keeps the
 * gradient's size about the same for any T); adds scale times its gradient with respect to the
 * student's logits, T (p - q), to grad. */
double distill_kl(const float *q, const float *student, size_t classes, double T, double scale,
		  float *grad);

#endif
