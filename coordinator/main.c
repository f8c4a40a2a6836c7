/* ferry — the coordinator: discovers, plans, dispatches and reports migrations. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: ferry COMMAND [options]\n"
                 "\n"
                 "Moves container images between registries.\n"
                 "\n"
                 "Options:\n"
                 "  -h, --help       show this help and exit\n"
                 "  -V, --version    print the version and exit\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "hV", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ferry %s\n", FERRY_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    fprintf(stderr, "ferry: a command is required (see --help)\n");
    return 2;
}
