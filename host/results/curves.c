#define _GNU_SOURCE
#include "results/curves.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "util/files.h"

#define HEADER "step,epoch,batch,name,value"

static int valid_name(const char *name)
{
	size_t n = 0;
	for (; name[n]; n++)
		if ((unsigned char)name[n] < 0x20 || name[n] == 0x7f || name[n] == ',' ||
		    name[n] == '"')
			return 0;
	return n > 0 && n < CURVES_NAME_MAX;
}

long curves_find(const struct curves *c, const char *name)
{
	for (size_t i = 0; i < c->num_names; i++)
		if (!strcmp(c->names[i], name))
			return (long)i;
	return -1;
}

int curves_name(struct curves *c, const char *name, uint32_t *index, struct error *err)
{
	long found = curves_find(c, name);
	if (found >= 0) {
		*index = (uint32_t)found;
		return 0;
	}
	if (!valid_name(name))
		return error_set(err, "'%s' cannot name a curve", name);
	if (c->num_names == c->names_cap) {
		size_t cap = c->names_cap ? 2 * c->names_cap : 8;
		char **names = realloc(c->names, cap * sizeof(*names));
		if (!names)
			return error_set(err, "out of memory for the curves");
		c->names = names;
		c->names_cap = cap;
	}
	if (!(c->names[c->num_names] = strdup(name)))
		return error_set(err, "out of memory for the curves");
	*index = (uint32_t)c->num_names++;
	return 0;
}

int curves_reserve(struct curves *c, size_t n, struct error *err)
{
	if (n <= c->cap - c->count)
		return 0;
	size_t cap = c->cap ? 2 * c->cap : 256;
	if (n > SIZE_MAX / sizeof(struct curves_point) - c->count)
		return error_set(err, "out of memory for the curves");
	cap = cap > c->count + n ? cap : c->count + n;
	struct curves_point *p = realloc(c->points, cap * sizeof(*p));
	if (!p)
		return error_set(err, "out of memory for the curves");
	c->points = p;
	c->cap = cap;
	return 0;
}

int curves_add(struct curves *c, uint32_t step, uint32_t epoch, uint32_t batch, uint32_t name,
	       double value, struct error *err)
{
	if (curves_reserve(c, 1, err) != 0)
		return -1;
	c->points[c->count++] = (struct curves_point){ step, epoch, batch, name, value };
	return 0;
}

void curves_clear(struct curves *c)
{
	for (size_t i = 0; i < c->num_names; i++)
		free(c->names[i]);
	c->num_names = 0;
	c->count = 0;
}

void curves_free(struct curves *c)
{
	curves_clear(c);
	free(c->names);
	free(c->points);
	memset(c, 0, sizeof(*c));
}

int curves_dump(FILE *f, const void *data, struct error *err)
{
	(void)err;
	const struct curves *c = data;
	/* Under the dashboard's locale the decimal point may be a comma. */
	locale_t C = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!C)
		return -1;
	locale_t old = uselocale(C);
	fputs(HEADER "\n", f);
	for (size_t i = 0; i < c->count; i++) {
		const struct curves_point *p = &c->points[i];
		fprintf(f, "%u,%u,%u,%s,%.17g\n", p->step, p->epoch, p->batch, c->names[p->name],
			p->value);
	}
	uselocale(old);
	freelocale(C);
	return ferror(f) ? -1 : 0;
}

/* A field of a row: a whole number from 1 to UINT32_MAX. */
static int positive(const char *s, uint32_t *out)
{
	if (*s < '1' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_row(struct curves *c, char *line, struct error *err)
{
	char *field[5];
	size_t n = 0;
	for (char *s = line; n < 5; n++) {
		field[n] = s;
		char *comma = strchr(s, ',');
		if (!comma)
			break;
		*comma = '\0';
		s = comma + 1;
	}
	if (n != 4)
		return error_set(err, "not five comma-separated fields");
	uint32_t step, epoch, batch, name;
	if (positive(field[0], &step) || positive(field[1], &epoch) || positive(field[2], &batch))
		return error_set(err, "step, epoch and batch must be whole numbers from 1");
	char *end;
	errno = 0;
	double value = strtod(field[4], &end);
	if (!*field[4] || *end || errno == ERANGE)
		return error_set(err, "'%s' is not a number", field[4]);
	if (curves_name(c, field[3], &name, err) != 0)
		return -1;
	return curves_add(c, step, epoch, batch, name, value, err);
}

int curves_read(const char *path, struct curves *c, struct error *err)
{
	memset(c, 0, sizeof(*c));
	FILE *f = files_fopen_regular(path, err);
	if (!f)
		return -1;
	locale_t C = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	locale_t old = C ? uselocale(C) : (locale_t)0;
	char *line = NULL;
	size_t size = 0, no = 0;
	ssize_t len;
	int rc = C ? 0 : error_set(err, "%s: out of memory", path);
	while (rc == 0 && (len = getline(&line, &size, f)) >= 0) {
		no++;
		if (len == 0 || line[len - 1] != '\n') {
			rc = error_set(err, "%s:%zu: the line does not end", path, no);
			break;
		}
		line[len - 1] = '\0';
		if (no == 1) {
			if (strcmp(line, HEADER) != 0)
				rc = error_set(err, "%s:1: the header is not '" HEADER "'", path);
		} else if (parse_row(c, line, err) != 0) {
			rc = error_prefix(err, "%s:%zu", path, no);
		}
	}
	if (rc == 0 && ferror(f))
		rc = error_set(err, "%s: cannot read it: %s", path, strerror(errno));
	if (rc == 0 && no == 0)
		rc = error_set(err, "%s: empty, not even its header", path);
	if (C) {
		uselocale(old);
		freelocale(C);
	}
	free(line);
	fclose(f);
	if (rc != 0) {
		curves_free(c);
		errno = EINVAL; /* not ENOENT: there is a file, and it is wrong */
	}
	return rc;
}
