/* lethe SDK: typed plugin parameters.
 *
 * A plugin declares its parameters as a static array of lethe_param_decl. The host fills the
 * values from the plugin's INI section (and --set overrides), rejects unknown keys and values out
 * of range with the file and line, and passes the values to create() in declaration order. */
#ifndef LETHE_PARAM_H
#define LETHE_PARAM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lethe_param_type {
	LETHE_PARAM_BOOL = 0,	/* true/false, yes/no, on/off, 1/0 */
	LETHE_PARAM_INT = 1,	/* a decimal integer within [min, max] */
	LETHE_PARAM_FLOAT = 2,	/* a finite real within [min, max] */
	LETHE_PARAM_CHOICE = 3, /* one of the NULL-terminated choices */
	LETHE_PARAM_STRING = 4	/* free text */
} lethe_param_type;

typedef struct lethe_param_decl {
	uint32_t struct_size;	   /* sizeof(lethe_param_decl) */
	const char *key;	   /* INI key, [a-z0-9_]+ */
	lethe_param_type type;
	const char *default_value; /* in INI syntax; must itself be valid */
	double min;		   /* INT and FLOAT: inclusive bounds */
	double max;
	const char *const *choices; /* CHOICE: NULL-terminated list, else NULL */
	const char *help;	    /* one line, shown by `lethe plugins` */
} lethe_param_decl;

/* One value per declaration. BOOL and INT use i; FLOAT uses f; CHOICE sets both i (the index into
 * choices) and s (the choice's text); STRING uses s. Strings are owned by the host and stay valid
 * until the plugin is destroyed. */
typedef struct lethe_param_value {
	int64_t i;
	double f;
	const char *s;
} lethe_param_value;

#ifdef __cplusplus
}
#endif

#endif
