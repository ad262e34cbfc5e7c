/* SCAFFOLD: replaced by the report work in progress. */
#include <stdio.h>
#include "cli.h"
#include "report.h"
int report_main(int argc, char **argv) { (void)argc; (void)argv; fputs("lethe: report is not built yet\n", stderr); return CLI_BAD_INPUT; }
