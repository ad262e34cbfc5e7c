/* Exits 0 when every file named holds one well-formed JSON text, else 1 naming the first bad
 * one: the bad-input catalogue's check that a stopped run left no half-written metrics.json. */
#include <stdio.h>

#include <jansson.h>

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		json_error_t err;
		json_t *root = json_load_file(argv[i], 0, &err);
		if (!root) {
			fprintf(stderr, "%s:%d: %s\n", argv[i], err.line, err.text);
			return 1;
		}
		json_decref(root);
	}
	return 0;
}
