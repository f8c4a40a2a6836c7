/* e2e — helpers the end-to-end tests share: registries and images with a
 * check on each, report and JSON readers, files. Header-only because they
 * count into the including test's testlib counters. */
#ifndef FERRY_TESTS_E2E_H
#define FERRY_TESTS_E2E_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "testlib.h"

/* The last line of every run, the one image-transfer users grep for. */
#define FINISHED_FMT                                                                               \
    "################# Finished, %d transfer jobs failed, %d normal urlPair generate failed, "     \
    "%d jobs generate failed #################"

/* The last non-empty line of text (NULL: ""), without its newline; a static
 * buffer. */
static inline const char *last_line(const char *text)
{
    static char line[1024];
    size_t len = text ? strlen(text) : 0;
    while (len && text[len - 1] == '\n')
        len--;
    size_t start = len;
    while (start && text[start - 1] != '\n')
        start--;
    size_t n = len - start < sizeof line - 1 ? len - start : sizeof line - 1;
    if (n)
        memcpy(line, text + start, n);
    line[n] = '\0';
    return line;
}

/* Checks that out ends with the finished line of these counts. */
static inline void check_finished_out(const char *out, int x, int y, int z)
{
    char want[512];
    snprintf(want, sizeof want, FINISHED_FMT, x, y, z);
    CHECK_STR(last_line(out), want);
}

static inline int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* "--insecure A --insecure B --progress none" for plain-HTTP test registries
 * (a static buffer). */
static inline const char *insecure(const char *host_a, const char *host_b)
{
    static char flags[256];
    snprintf(flags, sizeof flags, "--insecure %s --insecure %s --progress none", host_a, host_b);
    return flags;
}

static inline fx_registry_t *registry(void)
{
    fx_registry_t *r = fx_registry_start("anon", 0);
    CHECK(r != NULL);
    return r;
}

/* Pushes an image and keeps its output; NULL on failure (a failed check). */
static inline json_t *push(fx_registry_t *r, const char *repo, const char *tag, const char *args)
{
    json_t *img = fx_push_image(r, repo, tag, args);
    CHECK(img != NULL);
    return img;
}

static inline const char *json_str(json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));
    return s ? s : "";
}

static inline json_t *load_json(const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc)
        fprintf(stderr, "%s:%d:%d: %s\n", path, jerr.line, jerr.column, jerr.text);
    return doc;
}

/* The report item whose source is `source`, or NULL. */
static inline json_t *report_item(json_t *report, const char *source)
{
    json_t *items = json_object_get(report, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        const char *s = json_string_value(json_object_get(it, "source"));
        if (s && strcmp(s, source) == 0)
            return it;
    }
    return NULL;
}

static inline long long report_count(json_t *report, const char *name)
{
    return (long long)json_integer_value(json_object_get(json_object_get(report, "counts"), name));
}

#endif
