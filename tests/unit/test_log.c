/* Unit test of log: control characters from outside never reach the
 * terminal raw, and a status line is cleared before a log line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "testlib.h"

static void test_escape(void)
{
    char out[256];
    log_escape(out, sizeof out, "x\x1b]0;PWNED\x07\x1b[2J");
    CHECK_STR(out, "x\\x1b]0;PWNED\\x07\\x1b[2J");
    log_escape(out, sizeof out, "a\nferry: FAKE all good\r");
    CHECK_STR(out, "a\\x0aferry: FAKE all good\\x0d");
    /* C1 controls as UTF-8 (CSI is U+009B), DEL; other UTF-8 stays. */
    log_escape(out, sizeof out, "\xc2\x9b" "2J caf\xc3\xa9\x7f");
    CHECK_STR(out, "\\xc2\\x9b2J caf\xc3\xa9\\x7f");
    /* Bounded: a cut never splits an escape. */
    char small[8];
    log_escape(small, sizeof small, "ab\x1b\x1b\x1b");
    CHECK_STR(small, "ab\\x1b");
    log_escape(small, sizeof small, "");
    CHECK_STR(small, "");
}

static int cleared;
static void clear(void *ud)
{
    (void)ud;
    cleared++;
}

static void test_status_clear_and_escape_in_lines(void)
{
    char path[] = "/tmp/ferry-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    log_set_status(clear, NULL);
    log_info("name %s", "evil\x1b[2J");
    log_set_status(NULL, NULL);
    log_info("plain");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CHECK_INT(cleared, 1);
    char text[256] = "";
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    close(fd);
    unlink(path);
    CHECK(!strchr(text, 0x1b));
    CHECK_CONTAINS(text, "test: name evil\\x1b[2J\n");
    CHECK_CONTAINS(text, "test: plain\n");
}

int main(void)
{
    log_init("test");
    test_escape();
    test_status_clear_and_escape_in_lines();
    return test_report();
}
