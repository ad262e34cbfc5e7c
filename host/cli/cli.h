/* The lethe program: lethe COMMAND [OPTIONS] (cmd.h has the commands), --help, --version. */
#ifndef LETHE_CLI_H
#define LETHE_CLI_H

/* Runs the command line; returns the exit status (util/status.h). */
int cli_main(int argc, char **argv);

#endif
