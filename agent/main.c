/* ferry-agent — connects to a ferry coordinator and streams blobs between registries. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: ferry-agent --connect ENDPOINT [options]\n"
                 "\n"
                 "Runs transfer tasks for a ferry coordinator.\n"
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
            printf("ferry-agent %s\n", FERRY_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    fprintf(stderr, "ferry-agent: --connect ENDPOINT is required (see --help)\n");
    return 2;
}
