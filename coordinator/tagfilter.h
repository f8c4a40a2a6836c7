/* tagfilter — which tags and platforms of a repository to migrate: include and
 * exclude regexes, "os/arch[/variant]" platforms (select.h composes them),
 * and the RFC 3339 timestamps those times come from. */
#ifndef FERRY_TAGFILTER_H
#define FERRY_TAGFILTER_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest os, arch or variant accepted in a platform. */
#define PLATFORM_PART_MAX 64

typedef struct tagfilter tagfilter_t;

/* Compiles a filter from two POSIX extended regexes (REG_EXTENDED|REG_NOSUB),
 * either may be NULL: include NULL keeps every tag, exclude NULL drops none.
 * Patterns are searched, not anchored ("rc" matches "v1-rc2"; write "^v" to
 * anchor). Returns a new filter the caller destroys, or NULL with err set:
 * FERRY_EINVAL naming the pattern and the regerror text, FERRY_ENOMEM. */
tagfilter_t *tagfilter_new(const char *include, const char *exclude, ferry_err_t *err);

/* Frees a filter; accepts NULL and a NULL *self_p, and nulls the pointer. */
void tagfilter_destroy(tagfilter_t **self_p);

/* True when tag matches include (or there is none) and does not match exclude. */
bool tagfilter_match(const tagfilter_t *f, const char *tag);

/* Parses "os/arch[/variant]"; each part is 1-PLATFORM_PART_MAX characters of
 * [A-Za-z0-9._-]. On success *os, *arch and *variant (NULL when absent) are
 * new strings the caller frees; any of the three pointers may be NULL when
 * the caller only validates. FERRY_EINVAL naming the text, FERRY_ENOMEM; on
 * failure the outputs are NULL. */
int platform_parse(const char *text, char **os, char **arch, char **variant, ferry_err_t *err);

/* Does a manifest-list entry's platform (variant NULL or "" when absent)
 * match the wanted "os/arch[/variant]"? A wanted spec without a variant
 * matches every variant; linux/arm64/v8 also matches an arm64 entry without a
 * variant (v8 is arm64's implied variant). An invalid want matches nothing. */
bool platform_match(const char *want, const char *os, const char *arch, const char *variant);

/* Parses an RFC 3339 timestamp such as an image config's "created"
 * ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123456789Z",
 * "2024-05-01T18:00:00+08:00"; 't', 'z' and a space separator also accepted)
 * to Unix seconds, fractions dropped. Returns -1 when invalid, and for times
 * before 1970, which include Go's zero time 0001-01-01T00:00:00Z that
 * reproducible builds put in "created": such times count as unknown. */
int64_t time_parse_iso8601(const char *text);

#endif
