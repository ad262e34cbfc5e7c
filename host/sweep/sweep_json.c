#include "sweep/sweep_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/files.h"

static int dump(FILE *f, const void *root, struct error *e)
{
	(void)e;
	return json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
}

int sweep_json_write(const json_t *root, const char *dir, const char *name, struct error *e)
{
	return files_replace(dir, name, 0666, dump, root, e);
}

json_t *sweep_json_read(const char *path, struct error *e)
{
	FILE *f = files_fopen_regular(path, e);
	if (!f)
		return NULL;
	json_error_t je;
	json_t *root = json_loadf(f, 0, &je);
	fclose(f);
	if (!root) {
		if (je.line <= 0)
			error_set(e, "%s: cannot read: %s", path, je.text);
		else
			error_set(e, "%s:%d: %s", path, je.line, je.text);
	}
	return root;
}

double sweep_json_number(const json_t *obj, const char *key)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;
	return json_is_number(v) ? json_number_value(v) : NAN;
}

json_t *sweep_json_real(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}
