/* test_journal — replay, torn and corrupt records, run keys, locking, and a
 * writer killed with SIGKILL mid-loop. */
#include "coordinator/journal.h"
#include "testlib.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_KEY "3f2a9c0d1e"

static char dir[] = "/tmp/ferry-test-journal-XXXXXX";
static char path[sizeof dir + 64];

static void key_of(char *out, size_t size, int i)
{
    snprintf(out, size, "blob 127.0.0.1:5001/ns/repo%d@sha256:%064x", i % 7, i);
}

static void set_path(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static char *read_text(size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = calloc(1, 1 << 20);
    *len = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    return text;
}

static void write_text(const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
}

static journal_t *write_records(int n)
{
    ferry_err_t err = {0};
    journal_t *j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j != NULL);
    if (!j)
        return NULL;
    char key[128];
    for (int i = 0; i < n; i++) {
        key_of(key, sizeof key, i);
        CHECK_INT(journal_record(j, key, &err), 0);
    }
    return j;
}

static int count_present(const journal_t *j, int n)
{
    char key[128];
    int present = 0;
    for (int i = 0; i < n; i++) {
        key_of(key, sizeof key, i);
        present += journal_has(j, key);
    }
    return present;
}

static void test_roundtrip(void)
{
    ferry_err_t err = {0};
    set_path("roundtrip.journal");
    journal_t *j = write_records(1000);
    CHECK_INT(journal_count(j), 1000);
    CHECK_INT(journal_torn(j), 0);
    /* Recording again does nothing. */
    char key[128];
    key_of(key, sizeof key, 5);
    CHECK_INT(journal_record(j, key, &err), 0);
    CHECK_INT(journal_count(j), 1000);
    CHECK(!journal_has(j, "blob other"));
    CHECK_INT(journal_sync(j, &err), 0);
    journal_close(&j);
    CHECK(j == NULL);
    journal_close(&j);
    journal_close(NULL);

    size_t len = 0;
    char *text = read_text(&len);
    CHECK(text != NULL);
    if (text) {
        CHECK_INT(strncmp(text + 9, "ferry-journal v1 " RUN_KEY "\n", 28), 0);
        size_t lines = 0;
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        CHECK_INT(lines, 1001);
    }
    free(text);

    j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j != NULL);
    if (j) {
        CHECK_INT(journal_count(j), 1000);
        CHECK_INT(journal_torn(j), 0);
        CHECK_INT(count_present(j, 1000), 1000);
        CHECK_INT(journal_record(j, "manifest 127.0.0.1:5002/ns/app@sha256:abc", &err), 0);
        journal_close(&j);
    }
    j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j && journal_count(j) == 1001 &&
          journal_has(j, "manifest 127.0.0.1:5002/ns/app@sha256:abc"));
    journal_close(&j);
    unlink(path);
}

static void test_bad_keys(void)
{
    ferry_err_t err = {0};
    set_path("keys.journal");
    journal_t *j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j != NULL);
    if (!j)
        return;
    CHECK_INT(journal_record(j, "", &err), FERRY_EINVAL);
    CHECK_INT(journal_record(j, "two\nlines", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "newline");
    CHECK_INT(journal_record(j, "ferry-journal v1 forged", &err), FERRY_EINVAL);
    char *big = malloc(JOURNAL_KEY_MAX + 2);
    memset(big, 'k', JOURNAL_KEY_MAX + 1);
    big[JOURNAL_KEY_MAX + 1] = '\0';
    CHECK_INT(journal_record(j, big, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "1 to 4096 bytes");
    big[JOURNAL_KEY_MAX] = '\0';
    CHECK_INT(journal_record(j, big, &err), 0);
    CHECK_INT(journal_count(j), 1);
    journal_close(&j);
    j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j && journal_has(j, big) && journal_count(j) == 1);
    journal_close(&j);
    free(big);

    /* Bad run keys. */
    CHECK(journal_open(path, "", false, &err) == NULL);
    CHECK_INT(err.code, FERRY_EINVAL);
    CHECK(journal_open(path, "has space", false, &err) == NULL);
    CHECK_CONTAINS(err.message, "run key");
    unlink(path);
}

/* Cuts the file inside its last line: reopening drops it, keeps the rest,
 * and a new record lands on a line of its own. */
static void test_torn_tail(void)
{
    ferry_err_t err = {0};
    set_path("torn.journal");
    journal_t *j = write_records(50);
    journal_close(&j);
    size_t len = 0;
    char *text = read_text(&len);
    CHECK(truncate(path, (off_t)(len - 20)) == 0);
    free(text);

    j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j != NULL);
    if (!j)
        return;
    CHECK_INT(journal_torn(j), 1);
    CHECK_INT(journal_count(j), 49);
    CHECK_INT(count_present(j, 49), 49);
    char key[128];
    key_of(key, sizeof key, 49);
    CHECK(!journal_has(j, key));
    CHECK_INT(journal_record(j, "blob after-the-tear", &err), 0);
    journal_close(&j);

    j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j != NULL);
    if (j) {
        CHECK_INT(journal_torn(j), 0);
        CHECK_INT(journal_count(j), 50);
        CHECK(journal_has(j, "blob after-the-tear"));
        journal_close(&j);
    }

    /* A complete last line with a bad checksum, and a tail of zeros as a
     * power loss leaves, are torn too. */
    text = read_text(&len);
    text[len - 3] ^= 0x01;
    write_text(text, len);
    j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j && journal_torn(j) == 1 && journal_count(j) == 49);
    journal_close(&j);
    free(text);
    text = read_text(&len);
    memset(text + len, 0, 3000);
    memcpy(text + len, "1234", 4);
    write_text(text, len + 3000);
    j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j && journal_torn(j) == 1 && journal_count(j) == 49);
    journal_close(&j);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (size_t)st.st_size == len);
    free(text);

    /* Killed while writing the header of a new journal. */
    write_text("0a1b2c3d ferry-jour", 19);
    j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j && journal_torn(j) == 1 && journal_count(j) == 0);
    journal_close(&j);
    j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j && journal_torn(j) == 0);
    journal_close(&j);
    unlink(path);
}

static void test_corrupt_middle(void)
{
    ferry_err_t err = {0};
    set_path("corrupt.journal");
    journal_t *j = write_records(20);
    journal_close(&j);
    size_t len = 0;
    char *text = read_text(&len);
    /* Line 6 holds record 4: flip a byte of its key. */
    char *line = text;
    for (int i = 0; i < 5; i++)
        line = strchr(line, '\n') + 1;
    line[30] ^= 0x20;
    write_text(text, len);
    CHECK(journal_open(path, RUN_KEY, false, &err) == NULL);
    CHECK_INT(err.code, FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "corrupt.journal: line 6 is corrupt (checksum mismatch)");
    /* force does not paper over corruption. */
    CHECK(journal_open(path, RUN_KEY, true, &err) == NULL);
    CHECK_INT(err.code, FERRY_EINVAL);

    /* A malformed line (not hex). */
    line[30] ^= 0x20;
    char first = line[0];
    line[0] = 'x';
    write_text(text, len);
    CHECK(journal_open(path, RUN_KEY, false, &err) == NULL);
    CHECK_CONTAINS(err.message, "line 6 is corrupt (malformed)");
    line[0] = first;
    /* Two torn-looking lines at the end: the first is not the last record. */
    write_text(text, len - 1);
    FILE *f = fopen(path, "ab");
    fputs("garbage\ngarbage", f);
    fclose(f);
    CHECK(journal_open(path, RUN_KEY, false, &err) == NULL);
    CHECK_CONTAINS(err.message, "line 21 is corrupt");
    free(text);

    /* Not a journal at all: never truncated. */
    write_text("some notes\nof the operator\n", 27);
    CHECK(journal_open(path, RUN_KEY, false, &err) == NULL);
    CHECK_CONTAINS(err.message, "corrupt.journal is not a ferry journal");
    write_text("hello", 5);
    CHECK(journal_open(path, RUN_KEY, false, &err) == NULL);
    CHECK_CONTAINS(err.message, "is not a ferry journal");
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 5);
    unlink(path);
}

static void test_run_key_and_lock(void)
{
    ferry_err_t err = {0};
    set_path("runkey.journal");
    journal_t *j = write_records(3);
    /* Another process (or open) cannot use it meanwhile. */
    CHECK(journal_open(path, RUN_KEY, false, &err) == NULL);
    CHECK_INT(err.code, FERRY_EEXIST);
    CHECK_CONTAINS(err.message, "in use");
    journal_close(&j);

    CHECK(journal_open(path, "otherkey", false, &err) == NULL);
    CHECK_INT(err.code, FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "runkey.journal belongs to another migration (");
    CHECK_CONTAINS(err.message, RUN_KEY);

    j = journal_open(path, "otherkey", true, &err);
    CHECK(j != NULL);
    CHECK_INT(j ? journal_count(j) : 0, 3);
    journal_close(&j);
    /* Adopted: now it belongs to otherkey. */
    j = journal_open(path, "otherkey", false, &err);
    CHECK(j != NULL);
    journal_close(&j);
    CHECK(journal_open(path, RUN_KEY, false, &err) == NULL);
    CHECK_CONTAINS(err.message, "its run key is otherkey");

    CHECK(journal_open("/nonexistent-dir/x.journal", RUN_KEY, false, &err) == NULL);
    CHECK_INT(err.code, FERRY_EIO);
    CHECK_CONTAINS(err.message, "cannot open journal /nonexistent-dir/x.journal: No such file");
    unlink(path);
}

/* A child records in a loop until SIGKILL; the journal then holds a
 * consistent prefix of its records. */
static void test_sigkill(void)
{
    set_path("kill.journal");
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        journal_t *j = journal_open(path, RUN_KEY, false, NULL);
        if (!j)
            _exit(3);
        char key[128];
        for (int i = 0; i < 10000000; i++) {
            key_of(key, sizeof key, i);
            if (journal_record(j, key, NULL) != 0)
                _exit(4);
            if (i == 200 && write(ready[1], "r", 1) != 1)
                _exit(5);
        }
        _exit(6);
    }
    close(ready[1]);
    char byte;
    CHECK(read(ready[0], &byte, 1) == 1);
    close(ready[0]);
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    ferry_err_t err = {0};
    journal_t *j = journal_open(path, RUN_KEY, false, &err);
    CHECK(j != NULL);
    if (!j) {
        fprintf(stderr, "  %s\n", err.message);
        return;
    }
    size_t n = journal_count(j);
    CHECK(n > 200);
    CHECK(journal_torn(j) <= 1);
    CHECK_INT(count_present(j, (int)n), n);
    char key[128];
    key_of(key, sizeof key, (int)n);
    CHECK(!journal_has(j, key));
    fprintf(stderr, "sigkill: %zu records survived, %zu torn\n", n, journal_torn(j));
    journal_close(&j);
    unlink(path);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_roundtrip();
    test_bad_keys();
    test_torn_tail();
    test_corrupt_middle();
    test_run_key_and_lock();
    test_sigkill();
    rmdir(dir);
    return test_report();
}
