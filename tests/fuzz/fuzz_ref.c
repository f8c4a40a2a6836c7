/* fuzz_ref — libFuzzer target for common/ref: arbitrary text as references and
 * locations; whatever parses must format back to text that parses the same. */
#include "common/ref.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const ref_t *ref, int (*parse)(ref_t **, const char *, ferry_err_t *))
{
    char *text = ref_format(ref);
    if (!text)
        abort();
    ref_t *again = NULL;
    if (parse(&again, text, NULL) != 0)
        abort();
    char *text_again = ref_format(again);
    if (!text_again || strcmp(text, text_again) != 0)
        abort();
    free(text_again);
    free(text);
    ref_destroy(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    ferry_err_t err;
    ref_t *ref = NULL;
    if (ref_parse(&ref, text, &err) == 0) {
        if (!ref->registry || !ref->repository || !*ref->repository)
            abort();
        check_round_trip(ref, ref_parse);
        ref_destroy(&ref);
    } else if (ref != NULL || strlen(err.message) == 0) {
        abort();
    }
    if (ref_parse_location(&ref, text, &err) == 0) {
        if (ref->tag || ref->digest)
            abort();
        check_round_trip(ref, ref_parse_location);
        ref_destroy(&ref);
    }
    ref_validate_host(text, NULL);
    ref_validate_tag(text, NULL);
    ref_validate_repository(text, NULL);
    free(text);
    return 0;
}
