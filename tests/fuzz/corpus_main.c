/* corpus_main — runs a fuzz target once over each file named on the command
 * line (its seed corpus), so the seeds are exercised in every test build,
 * with the sanitizers where the build has them. A target aborts on a broken
 * promise; this driver fails when a file cannot be read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int ran = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        uint8_t *copy = malloc(n ? n : 1); /* exactly n bytes: ASan sees overreads */
        if (!copy)
            return 1;
        for (size_t k = 0; k < n; k++)
            copy[k] = buf[k];
        LLVMFuzzerTestOneInput(copy, n);
        free(copy);
        ran++;
    }
    fprintf(stderr, "%d seed(s) ran\n", ran);
    return ran > 0 ? 0 : 1;
}
