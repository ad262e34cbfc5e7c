/* `lethe report DIR`: DIR/report.svg from a run's metrics.json or a sweep's summary.json. */
#ifndef LETHE_REPORT_H
#define LETHE_REPORT_H

/* argv[0] is "report". Returns a CLI_* status. */
int report_main(int argc, char **argv);

#endif
