/* fuzz_wwwauth — libFuzzer target for common/wwwauth: arbitrary header values. */
#include "common/wwwauth.h"

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
    wwwauth_challenge_t c;
    ferry_err_t err;
    int rc = wwwauth_parse(value, &c, &err);
    if (rc == 0) {
        /* A success always names a known scheme; Bearer always has a realm. */
        if (!c.scheme || (strcmp(c.scheme, "basic") != 0 && strcmp(c.scheme, "bearer") != 0))
            abort();
        if (strcmp(c.scheme, "bearer") == 0 && (!c.realm || !*c.realm))
            abort();
    } else if (c.scheme || c.realm || c.service || c.scope || c.error) {
        abort();
    }
    wwwauth_challenge_clear(&c);
    free(value);
    return 0;
}
