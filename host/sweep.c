/* SCAFFOLD: replaced by the sweep work in progress. */
#include <stdio.h>
#include "cli.h"
#include "sweep.h"
int sweep_main(int argc, char **argv) { (void)argc; (void)argv; fputs("lethe: sweep is not built yet\n", stderr); return CLI_BAD_INPUT; }
