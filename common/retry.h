/* retry — when to try a failed request again: exponential backoff with
 * jitter, a total time budget, and the server's Retry-After. */
#ifndef FERRY_RETRY_H
#define FERRY_RETRY_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Longest delay ever returned, whatever the policy or the server asks. */
#define RETRY_DELAY_CEILING_MS (10 * 60 * 1000)

typedef struct retry_policy {
    int max_attempts;  /* total attempts including the first, >= 1 */
    int64_t base_ms;   /* first delay */
    int64_t max_ms;    /* cap of one delay (before Retry-After); <= 0 means the ceiling */
    int64_t budget_ms; /* total time allowed across retries; 0 = unlimited */
} retry_policy_t;

/* 5 attempts, 200 ms first delay, 30 s cap, 5 minutes budget. */
extern const retry_policy_t retry_policy_default;

/* Delay before attempt number `attempt` (1 = first retry; smaller counts as 1):
 * base_ms * 2^(attempt-1) capped at max_ms, then jittered uniformly in
 * [d/2, d] from *rng_state (xorshift64, seeded by the caller; a zero state is
 * replaced by a fixed seed; NULL means no jitter). When retry_after_ms >= 0
 * the delay is at least retry_after_ms, itself capped at
 * RETRY_DELAY_CEILING_MS. p NULL means retry_policy_default. Never negative. */
int64_t retry_delay_ms(const retry_policy_t *p, int attempt, int64_t retry_after_ms,
                       uint64_t *rng_state);

/* True when another attempt is allowed after attempts_done attempts:
 * attempts_done < max_attempts and, with a budget, elapsed_ms + next_delay_ms
 * <= budget_ms. p NULL means retry_policy_default. */
bool retry_allowed(const retry_policy_t *p, int attempts_done, int64_t elapsed_ms,
                   int64_t next_delay_ms);

/* Longest Retry-After kept by retry_after_parse, in seconds (about 31 years). */
#define RETRY_AFTER_MAX_S 1000000000

/* Parses a Retry-After value: delta-seconds, or an HTTP-date (IMF-fixdate,
 * RFC 850 or asctime form, always GMT) taken relative to now. Sets
 * *delay_ms_out and returns 0: a date in the past gives 0, and values above
 * RETRY_AFTER_MAX_S saturate there (retry_delay_ms applies its own ceiling).
 * Returns FERRY_EINVAL on anything else, leaving *delay_ms_out alone. */
int retry_after_parse(const char *value, time_t now, int64_t *delay_ms_out);

#endif
