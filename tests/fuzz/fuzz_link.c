/* fuzz_link — libFuzzer target for common/link: the input is a Link header
 * value, and its first line also serves as a base URL for url_resolve. */
#include "common/link.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = malloc(size + 1);
    if (!value)
        return 0;
    memcpy(value, data, size);
    value[size] = '\0';
    ferry_err_t err;
    char *next = NULL, *resolved = NULL;
    int rc = link_next(value, &next, &err);
    if (rc != 0 && next)
        abort();
    if (next) {
        if (url_resolve("https://registry.example.com/v2/ns/app/tags/list?n=10", next, &resolved,
                        &err) == 0) {
            if (strncmp(resolved, "http://", 7) != 0 && strncmp(resolved, "https://", 8) != 0)
                abort();
        } else if (resolved) {
            abort();
        }
        free(resolved);
        resolved = NULL;
    }
    /* Split at the first newline: base URL, then a reference. */
    char *newline = strchr(value, '\n');
    if (newline) {
        *newline = '\0';
        if (url_resolve(value, newline + 1, &resolved, &err) == 0 && !resolved)
            abort();
        free(resolved);
    }
    free(next);
    free(value);
    return 0;
}
