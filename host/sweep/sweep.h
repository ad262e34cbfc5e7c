/* `lethe sweep SWEEP.ini`: a grid of settings over seeds, each its own run. */
#ifndef LETHE_SWEEP_H
#define LETHE_SWEEP_H

/* argv[0] is "sweep". Returns a CLI_* status. */
int sweep_main(int argc, char **argv);

#endif
