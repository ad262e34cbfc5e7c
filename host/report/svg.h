/* Plain SVG 1.1 written to a stdio stream: the few shapes the reports draw. Numbers go out with
 * at most two decimals and a '.' whatever the locale; strings are XML-escaped. A failed write
 * is remembered and reported once, by svg_end. */
#ifndef LETHE_SVG_H
#define LETHE_SVG_H

#include <stddef.h>
#include <stdio.h>

struct svg {
	FILE *f;
	int err;	/* errno of the first failed write; 0 while all went well */
	int depth;	/* groups open */
};

/* How a shape is painted. NULL fill or stroke paints none; a NULL cls or title gives no class
 * attribute or no tooltip (a <title> child). */
struct svg_paint {
	const char *fill;
	const char *stroke;
	double stroke_width;
	const char *cls;
	const char *title;
};

enum svg_anchor { SVG_ANCHOR_START, SVG_ANCHOR_MIDDLE, SVG_ANCHOR_END };

struct svg_font {
	double size;
	enum svg_anchor anchor;
	int bold;
	const char *fill;	/* NULL: black */
	const char *cls;	/* NULL: no class attribute */
};

/* The XML declaration, <svg> with width, height and viewBox "0 0 width height", and the
 * document's <title>. */
void svg_begin(struct svg *s, FILE *f, double width, double height, const char *title);
/* Closes the groups still open and the document, and flushes. 0, or -1 with errno set when
 * any write failed. The stream stays open. */
int svg_end(struct svg *s);

/* <g>, with a class (NULL: none) and a <title> (NULL: none). */
void svg_group_begin(struct svg *s, const char *cls, const char *title);
void svg_group_end(struct svg *s);

void svg_rect(struct svg *s, double x, double y, double w, double h, const struct svg_paint *p);
void svg_line(struct svg *s, double x1, double y1, double x2, double y2,
	      const struct svg_paint *p);
/* n points (x[i], y[i]). */
void svg_polyline(struct svg *s, const double *x, const double *y, size_t n,
		  const struct svg_paint *p);
void svg_circle(struct svg *s, double cx, double cy, double r, const struct svg_paint *p);
/* text's baseline starts, centres or ends at (x, y) as font->anchor says. */
void svg_text(struct svg *s, double x, double y, const struct svg_font *font, const char *text);

/* v with exactly `decimals` decimals (at most 6), rounded half away from zero, '.' as the
 * point in every locale, no "-0". A value that is not finite prints as 0. Returns what
 * snprintf returns. */
int svg_fixed(char *buf, size_t size, double v, int decimals);

#endif
