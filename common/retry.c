/* retry — backoff arithmetic and the Retry-After header. */
#include "common/retry.h"

#include "common/err.h"

#include <string.h>

const retry_policy_t retry_policy_default = {
    .max_attempts = 5,
    .base_ms = 200,
    .max_ms = 30 * 1000,
    .budget_ms = 5 * 60 * 1000,
};

/* Longest Retry-After value looked at; the longest valid date is 29 bytes. */
#define RETRY_AFTER_TEXT_MAX 64

static uint64_t retry_xorshift64(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

int64_t retry_delay_ms(const retry_policy_t *p, int attempt, int64_t retry_after_ms,
                       uint64_t *rng_state)
{
    const retry_policy_t *policy = p ? p : &retry_policy_default;
    int64_t cap = policy->max_ms > 0 && policy->max_ms < RETRY_DELAY_CEILING_MS
                      ? policy->max_ms
                      : RETRY_DELAY_CEILING_MS;
    int64_t delay = policy->base_ms > 0 ? policy->base_ms : 0;
    if (delay > cap)
        delay = cap;
    for (int i = 1; i < attempt && delay > 0 && delay < cap; i++)
        delay = delay > cap / 2 ? cap : delay * 2;
    if (rng_state && delay > 0) {
        int64_t low = delay / 2;
        delay = low + (int64_t)(retry_xorshift64(rng_state) % (uint64_t)(delay - low + 1));
    }
    if (retry_after_ms >= 0) {
        int64_t asked =
            retry_after_ms < RETRY_DELAY_CEILING_MS ? retry_after_ms : RETRY_DELAY_CEILING_MS;
        if (delay < asked)
            delay = asked;
    }
    return delay;
}

bool retry_allowed(const retry_policy_t *p, int attempts_done, int64_t elapsed_ms,
                   int64_t next_delay_ms)
{
    const retry_policy_t *policy = p ? p : &retry_policy_default;
    int max_attempts = policy->max_attempts >= 1 ? policy->max_attempts : 1;
    if (attempts_done >= max_attempts)
        return false;
    if (policy->budget_ms <= 0)
        return true;
    int64_t elapsed = elapsed_ms > 0 ? elapsed_ms : 0;
    int64_t delay = next_delay_ms > 0 ? next_delay_ms : 0;
    if (elapsed > policy->budget_ms)
        return false;
    return delay <= policy->budget_ms - elapsed;
}

/* A cursor over a Retry-After date. */
typedef struct retry_cursor {
    const char *p;   /* next byte */
    const char *end; /* one past the last byte */
} retry_cursor_t;

static bool retry_take_char(retry_cursor_t *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* Reads exactly n digits. */
static bool retry_take_digits(retry_cursor_t *c, int n, int *value)
{
    int v = 0;
    if (c->end - c->p < n)
        return false;
    for (int i = 0; i < n; i++) {
        char ch = c->p[i];
        if (ch < '0' || ch > '9')
            return false;
        v = v * 10 + (ch - '0');
    }
    c->p += n;
    *value = v;
    return true;
}

/* Reads a run of letters, returning its length (at most max). */
static size_t retry_take_word(retry_cursor_t *c, size_t max)
{
    size_t n = 0;
    while (c->p + n < c->end && n <= max &&
           ((c->p[n] >= 'a' && c->p[n] <= 'z') || (c->p[n] >= 'A' && c->p[n] <= 'Z')))
        n++;
    if (n > max)
        return 0;
    c->p += n;
    return n;
}

/* Index 1-12 of a three-letter month name at the cursor, or 0. */
static int retry_take_month(retry_cursor_t *c)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *word = c->p;
    if (retry_take_word(c, 3) != 3)
        return 0;
    for (int m = 0; m < 12; m++)
        if (memcmp(word, months + 3 * m, 3) == 0)
            return m + 1;
    return 0;
}

/* True when [word, word+len) is a day name: short ("Sun") or long ("Sunday"). */
static bool retry_is_day_name(const char *word, size_t len, bool long_form)
{
    static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    for (int i = 0; i < 7; i++) {
        size_t day_len = long_form ? strlen(days[i]) : 3;
        if (len == day_len && memcmp(word, days[i], len) == 0)
            return true;
    }
    return false;
}

/* Reads "HH:MM:SS". */
static bool retry_take_time(retry_cursor_t *c, int *hour, int *min, int *sec)
{
    return retry_take_digits(c, 2, hour) && retry_take_char(c, ':') &&
           retry_take_digits(c, 2, min) && retry_take_char(c, ':') &&
           retry_take_digits(c, 2, sec) && *hour <= 23 && *min <= 59 && *sec <= 60;
}

/* Days from 1970-01-01 to a proleptic Gregorian date. */
static int64_t retry_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int retry_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Parses an HTTP-date in any of its three forms into seconds since the epoch. */
static bool retry_parse_http_date(const char *text, size_t len, time_t now, int64_t *epoch_out)
{
    retry_cursor_t c = {.p = text, .end = text + len};
    int year = 0, month = 0, day = 0, hour = 0, min = 0, sec = 0;
    const char *day_name = c.p;
    size_t day_name_len = retry_take_word(&c, 9);
    if (retry_take_char(&c, ',')) {
        if (!retry_take_char(&c, ' '))
            return false;
        if (retry_is_day_name(day_name, day_name_len, false)) {
            /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
            if (!retry_take_digits(&c, 2, &day) || !retry_take_char(&c, ' ') ||
                !(month = retry_take_month(&c)) || !retry_take_char(&c, ' ') ||
                !retry_take_digits(&c, 4, &year))
                return false;
        } else if (retry_is_day_name(day_name, day_name_len, true)) {
            /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
            int two_digit_year = 0;
            if (!retry_take_digits(&c, 2, &day) || !retry_take_char(&c, '-') ||
                !(month = retry_take_month(&c)) || !retry_take_char(&c, '-') ||
                !retry_take_digits(&c, 2, &two_digit_year))
                return false;
            struct tm now_tm;
            if (!gmtime_r(&now, &now_tm))
                return false;
            int now_year = now_tm.tm_year + 1900;
            /* RFC 9110: a year more than 50 years ahead is in the past century. */
            year = now_year / 100 * 100 + two_digit_year;
            if (year > now_year + 50)
                year -= 100;
            else if (year <= now_year - 50)
                year += 100;
        } else {
            return false;
        }
        if (!retry_take_char(&c, ' ') || !retry_take_time(&c, &hour, &min, &sec) ||
            !retry_take_char(&c, ' ') || retry_take_word(&c, 3) != 3 ||
            memcmp(c.p - 3, "GMT", 3) != 0)
            return false;
    } else {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (!retry_is_day_name(day_name, day_name_len, false) || !retry_take_char(&c, ' ') ||
            !(month = retry_take_month(&c)) || !retry_take_char(&c, ' '))
            return false;
        if (retry_take_char(&c, ' ')) {
            if (!retry_take_digits(&c, 1, &day))
                return false;
        } else if (!retry_take_digits(&c, 2, &day)) {
            return false;
        }
        if (!retry_take_char(&c, ' ') || !retry_take_time(&c, &hour, &min, &sec) ||
            !retry_take_char(&c, ' ') || !retry_take_digits(&c, 4, &year))
            return false;
    }
    if (c.p != c.end || day < 1 || day > retry_days_in_month(year, month))
        return false;
    *epoch_out = retry_days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
    return true;
}

int retry_after_parse(const char *value, time_t now, int64_t *delay_ms_out)
{
    if (!value)
        return FERRY_EINVAL;
    size_t len = strnlen(value, RETRY_AFTER_TEXT_MAX + 1);
    while (len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        len--;
    }
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len == 0 || len > RETRY_AFTER_TEXT_MAX)
        return FERRY_EINVAL;
    int64_t seconds = 0;
    if (value[0] >= '0' && value[0] <= '9') {
        for (size_t i = 0; i < len; i++) {
            if (value[i] < '0' || value[i] > '9')
                return FERRY_EINVAL;
            if (seconds < RETRY_AFTER_MAX_S)
                seconds = seconds * 10 + (value[i] - '0');
        }
    } else {
        int64_t when = 0;
        if (!retry_parse_http_date(value, len, now, &when))
            return FERRY_EINVAL;
        seconds = when - (int64_t)now;
    }
    if (seconds < 0)
        seconds = 0;
    if (seconds > RETRY_AFTER_MAX_S)
        seconds = RETRY_AFTER_MAX_S;
    *delay_ms_out = seconds * 1000;
    return 0;
}
