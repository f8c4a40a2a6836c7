/* ccr2tcr — `ferry ccr2tcr`: TCR Personal Edition to Enterprise Edition. */
#ifndef FERRY_CCR2TCR_H
#define FERRY_CCR2TCR_H

/* Runs the command (argv[0] is "ccr2tcr"); returns the exit code. */
int ccr2tcr_main(int argc, char **argv);

#endif
