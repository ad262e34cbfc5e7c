#include "report/svg.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

/* Coordinates: hundredths of a pixel are finer than any screen shows. */
#define COORD_DECIMALS 2
/* Beyond this, the integer arithmetic of svg_fixed could overflow; no drawing gets near it. */
#define FIXED_MAX 1e12

static void note_error(struct svg *s)
{
	if (!s->err)
		s->err = errno ? errno : EIO;
}

static void out(struct svg *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Only %s, %c and integers pass through here: nothing the locale formats. */
static void out(struct svg *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	errno = 0;
	if (vfprintf(s->f, fmt, ap) < 0)
		note_error(s);
	va_end(ap);
}

int svg_fixed(char *buf, size_t size, double v, int decimals)
{
	/* Integer arithmetic, not printf's %f, whose decimal point follows LC_NUMERIC. */
	static const long long scale[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
	if (decimals < 0)
		decimals = 0;
	if (decimals > 6)
		decimals = 6;
	if (!isfinite(v))
		v = 0;
	v = fmin(fmax(v, -FIXED_MAX), FIXED_MAX);
	long long n = llround(fabs(v) * (double)scale[decimals]);
	const char *sign = v < 0 && n != 0 ? "-" : "";
	if (decimals == 0)
		return snprintf(buf, size, "%s%lld", sign, n);
	return snprintf(buf, size, "%s%lld.%0*lld", sign, n / scale[decimals], decimals,
			n % scale[decimals]);
}

/* A coordinate or length: svg_fixed's digits without trailing zeros ("12.5", "3"). */
static void number(struct svg *s, double v)
{
	char buf[48];
	svg_fixed(buf, sizeof(buf), v, COORD_DECIMALS);
	char *end = buf + strlen(buf);
	while (end[-1] == '0')
		*--end = '\0';
	if (end[-1] == '.')
		end[-1] = '\0';
	out(s, "%s", buf);
}

/* name="v" with a leading space. */
static void number_attr(struct svg *s, const char *name, double v)
{
	out(s, " %s=\"", name);
	number(s, v);
	out(s, "\"");
}

/* Text and attribute values alike. XML 1.0 cannot hold most control characters nor U+FFFE
 * and U+FFFF, even as references: they become U+FFFD. */
static void escaped(struct svg *s, const char *text)
{
	static const char replacement[] = "\xef\xbf\xbd";
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		const char *rep = NULL;
		switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		case '\t': case '\n': case '\r': break;
		default:
			if (*p < 0x20)
				rep = replacement;
			else if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf)) {
				rep = replacement;
				p += 2;
			}
		}
		if (rep)
			out(s, "%s", rep);
		else
			out(s, "%c", *p);
	}
}

static void string_attr(struct svg *s, const char *name, const char *v)
{
	if (!v)
		return;
	out(s, " %s=\"", name);
	escaped(s, v);
	out(s, "\"");
}

static void title(struct svg *s, const char *text)
{
	out(s, "<title>");
	escaped(s, text);
	out(s, "</title>");
}

/* "<element class=...": the class first, where a reader or a grep looks for it. */
static void shape_begin(struct svg *s, const char *element, const struct svg_paint *p)
{
	out(s, "<%s", element);
	string_attr(s, "class", p->cls);
}

static void paint(struct svg *s, const struct svg_paint *p)
{
	string_attr(s, "fill", p->fill ? p->fill : "none");
	if (p->stroke) {
		string_attr(s, "stroke", p->stroke);
		number_attr(s, "stroke-width", p->stroke_width);
	}
}

/* Ends a shape's start tag: empty, or holding its tooltip. */
static void shape_end(struct svg *s, const char *element, const struct svg_paint *p)
{
	if (!p->title) {
		out(s, "/>\n");
		return;
	}
	out(s, ">");
	title(s, p->title);
	out(s, "</%s>\n", element);
}

void svg_begin(struct svg *s, FILE *f, double width, double height, const char *doc_title)
{
	*s = (struct svg){ .f = f };
	out(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	       "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"");
	number_attr(s, "width", width);
	number_attr(s, "height", height);
	out(s, " viewBox=\"0 0 ");
	number(s, width);
	out(s, " ");
	number(s, height);
	out(s, "\" font-family=\"sans-serif\">\n");
	title(s, doc_title);
	out(s, "\n");
}

int svg_end(struct svg *s)
{
	while (s->depth > 0)
		svg_group_end(s);
	out(s, "</svg>\n");
	errno = 0;
	if (fflush(s->f) != 0 || ferror(s->f))
		note_error(s);
	if (s->err) {
		errno = s->err;
		return -1;
	}
	return 0;
}

void svg_group_begin(struct svg *s, const char *cls, const char *group_title)
{
	out(s, "<g");
	string_attr(s, "class", cls);
	out(s, ">\n");
	if (group_title) {
		title(s, group_title);
		out(s, "\n");
	}
	s->depth++;
}

void svg_group_end(struct svg *s)
{
	out(s, "</g>\n");
	s->depth--;
}

void svg_rect(struct svg *s, double x, double y, double w, double h, const struct svg_paint *p)
{
	shape_begin(s, "rect", p);
	number_attr(s, "x", x);
	number_attr(s, "y", y);
	number_attr(s, "width", fmax(w, 0));
	number_attr(s, "height", fmax(h, 0));
	paint(s, p);
	shape_end(s, "rect", p);
}

void svg_line(struct svg *s, double x1, double y1, double x2, double y2,
	      const struct svg_paint *p)
{
	shape_begin(s, "line", p);
	number_attr(s, "x1", x1);
	number_attr(s, "y1", y1);
	number_attr(s, "x2", x2);
	number_attr(s, "y2", y2);
	paint(s, p);
	shape_end(s, "line", p);
}

void svg_polyline(struct svg *s, const double *x, const double *y, size_t n,
		  const struct svg_paint *p)
{
	shape_begin(s, "polyline", p);
	out(s, " points=\"");
	for (size_t i = 0; i < n; i++) {
		out(s, "%s", i ? " " : "");
		number(s, x[i]);
		out(s, ",");
		number(s, y[i]);
	}
	out(s, "\"");
	paint(s, p);
	shape_end(s, "polyline", p);
}

void svg_circle(struct svg *s, double cx, double cy, double r, const struct svg_paint *p)
{
	shape_begin(s, "circle", p);
	number_attr(s, "cx", cx);
	number_attr(s, "cy", cy);
	number_attr(s, "r", fmax(r, 0));
	paint(s, p);
	shape_end(s, "circle", p);
}

void svg_text(struct svg *s, double x, double y, const struct svg_font *font, const char *text)
{
	static const char *const anchors[] = { "start", "middle", "end" };
	out(s, "<text");
	string_attr(s, "class", font->cls);
	number_attr(s, "x", x);
	number_attr(s, "y", y);
	number_attr(s, "font-size", font->size);
	if (font->anchor != SVG_ANCHOR_START)
		string_attr(s, "text-anchor", anchors[font->anchor]);
	if (font->bold)
		out(s, " font-weight=\"bold\"");
	if (font->fill)
		string_attr(s, "fill", font->fill);
	out(s, ">");
	escaped(s, text);
	out(s, "</text>\n");
}
