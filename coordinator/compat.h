/* compat — the image-transfer binary's command line in front of ferry:
 * `ferry image-transfer FLAGS` (or ferry installed as `image-transfer`). */
#ifndef FERRY_COMPAT_H
#define FERRY_COMPAT_H

/* Runs image-transfer's command line (argv[0] is the program or subcommand
 * name): every flag is mapped to ferry's own, or refused with exit 2 and a
 * message; run is ferry's dispatcher, called with the translated command
 * line (its argv[0] the subcommand). Returns the exit status. */
int compat_main(int argc, char **argv, int (*run)(int argc, char **argv));

#endif
