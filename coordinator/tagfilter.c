/* tagfilter — tag regexes, platforms and timestamps. */
#include "coordinator/tagfilter.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

/* Longest pattern shown in an error message. */
#define TAGFILTER_SHOW_MAX 200

struct tagfilter {
    regex_t include;  /* compiled include pattern, valid when has_include */
    regex_t exclude;  /* compiled exclude pattern, valid when has_exclude */
    bool has_include; /* an include pattern was given */
    bool has_exclude; /* an exclude pattern was given */
};

static int tagfilter_compile(regex_t *re, const char *pattern, const char *which, ferry_err_t *err)
{
    int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc == 0)
        return 0;
    if (rc == REG_ESPACE)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory compiling %s regex", which);
    char why[128];
    regerror(rc, re, why, sizeof why);
    regfree(re);
    return ferry_err_set(err, FERRY_EINVAL, "invalid %s regex '%.*s': %s", which,
                         TAGFILTER_SHOW_MAX, pattern, why);
}

tagfilter_t *tagfilter_new(const char *include, const char *exclude, ferry_err_t *err)
{
    tagfilter_t *f = calloc(1, sizeof *f);
    if (!f) {
        ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        return NULL;
    }
    if (include) {
        if (tagfilter_compile(&f->include, include, "include", err) != 0)
            goto fail;
        f->has_include = true;
    }
    if (exclude) {
        if (tagfilter_compile(&f->exclude, exclude, "exclude", err) != 0)
            goto fail;
        f->has_exclude = true;
    }
    return f;
fail:
    tagfilter_destroy(&f);
    return NULL;
}

void tagfilter_destroy(tagfilter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tagfilter_t *f = *self_p;
    if (f->has_include)
        regfree(&f->include);
    if (f->has_exclude)
        regfree(&f->exclude);
    free(f);
    *self_p = NULL;
}

bool tagfilter_match(const tagfilter_t *f, const char *tag)
{
    if (f->has_include && regexec(&f->include, tag, 0, NULL, 0) != 0)
        return false;
    if (f->has_exclude && regexec(&f->exclude, tag, 0, NULL, 0) == 0)
        return false;
    return true;
}

static bool platform_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* Splits text into at most three valid parts; lengths in len[], count in *n. */
static bool platform_split(const char *text, const char *part[3], size_t len[3], size_t *n)
{
    size_t count = 0;
    const char *p = text;
    for (;;) {
        if (count == 3)
            return false;
        const char *start = p;
        while (*p && *p != '/') {
            if (!platform_char_ok(*p))
                return false;
            p++;
        }
        size_t part_len = (size_t)(p - start);
        if (part_len == 0 || part_len > PLATFORM_PART_MAX)
            return false;
        part[count] = start;
        len[count] = part_len;
        count++;
        if (!*p)
            break;
        p++;
    }
    *n = count;
    return count >= 2;
}

static char *platform_strndup(const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

int platform_parse(const char *text, char **os, char **arch, char **variant, ferry_err_t *err)
{
    char **outs[3] = {os, arch, variant};
    for (int i = 0; i < 3; i++)
        if (outs[i])
            *outs[i] = NULL;
    const char *part[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0}, n = 0;
    if (!text || !platform_split(text, part, len, &n))
        return ferry_err_set(
            err, FERRY_EINVAL,
            "invalid platform '%.100s': expected os/arch[/variant], each part 1-%d "
            "characters of [A-Za-z0-9._-]",
            text ? text : "(null)", PLATFORM_PART_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!outs[i])
            continue;
        *outs[i] = platform_strndup(part[i], len[i]);
        if (!*outs[i]) {
            for (int j = 0; j < 3; j++)
                if (outs[j]) {
                    free(*outs[j]);
                    *outs[j] = NULL;
                }
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        }
    }
    return 0;
}

static bool platform_part_is(const char *part, size_t len, const char *value)
{
    return value && strlen(value) == len && memcmp(part, value, len) == 0;
}

bool platform_match(const char *want, const char *os, const char *arch, const char *variant)
{
    const char *part[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0}, n = 0;
    if (!want || !platform_split(want, part, len, &n))
        return false;
    if (!platform_part_is(part[0], len[0], os) || !platform_part_is(part[1], len[1], arch))
        return false;
    if (n == 2)
        return true;
    if (platform_part_is(part[2], len[2], variant))
        return true;
    bool no_variant = !variant || !*variant;
    return no_variant && strcmp(arch, "arm64") == 0 && platform_part_is(part[2], len[2], "v8");
}

/* Reads exactly `digits` decimal digits at *p into *value and advances. */
static bool time_digits(const char **p, int digits, int *value)
{
    int v = 0;
    for (int i = 0; i < digits; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += digits;
    *value = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so no dependency on timegm or the TZ environment. */
static int64_t time_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int time_days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int64_t time_parse_iso8601(const char *text)
{
    if (!text)
        return -1;
    const char *p = text;
    int year, month, day, hour, minute, second;
    if (!time_digits(&p, 4, &year) || *p++ != '-' || !time_digits(&p, 2, &month) || *p++ != '-' ||
        !time_digits(&p, 2, &day))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (!time_digits(&p, 2, &hour) || *p++ != ':' || !time_digits(&p, 2, &minute) || *p++ != ':' ||
        !time_digits(&p, 2, &second))
        return -1;
    if (month < 1 || month > 12 || day < 1 || day > time_days_in_month(year, month) || hour > 23 ||
        minute > 59 || second > 60)
        return -1;
    if (*p == '.') {
        p++;
        const char *digits = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == digits)
            return -1;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int off_hour, off_minute;
        if (!time_digits(&p, 2, &off_hour))
            return -1;
        if (*p == ':')
            p++;
        if (!time_digits(&p, 2, &off_minute) || off_hour > 23 || off_minute > 59)
            return -1;
        offset = sign * (off_hour * 3600 + off_minute * 60);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t seconds = time_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                      second - offset;
    return seconds < 0 ? -1 : seconds;
}
