/* CSV fields as RFC 4180 has them, for every table lethe writes (summary.csv, lethe compare). */
#ifndef LETHE_UTIL_CSV_H
#define LETHE_UTIL_CSV_H

#include <stdio.h>

/* s as one field: quoted, its quotes doubled, when it holds a comma, quote or line break or
 * starts or ends with a space (which readers may trim); as it is otherwise. */
void csv_field(FILE *f, const char *s);

#endif
