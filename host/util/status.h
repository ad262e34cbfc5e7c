/* The exit statuses lethe(1) documents: what every command returns. */
#ifndef LETHE_STATUS_H
#define LETHE_STATUS_H

enum status {
	STATUS_OK = 0,
	STATUS_RUN_FAILED = 1, /* the run started and stopped on an error */
	STATUS_BAD_INPUT = 2   /* usage, scenario, data or plugin errors: nothing ran */
};

#endif
