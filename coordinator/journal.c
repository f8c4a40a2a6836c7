/* journal — append-only journal of finished work: replay on open, one
 * write(2) per record, fdatasync at most once a second. */
#include "coordinator/journal.h"

#include "common/strmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Header records: this prefix, then the run key. */
#define JOURNAL_HEADER "ferry-journal v1 "
/* Longest file name shown in a message. */
#define JOURNAL_SHOW_MAX 200
/* "<8 hex> " before the key. */
#define JOURNAL_CRC_LEN 9

struct journal {
    char *path;              /* file name, for messages; owned */
    int fd;                  /* open O_APPEND, locked with flock */
    strmap_t *keys;          /* recorded keys (values unused) */
    size_t torn;             /* torn trailing records dropped on open */
    off_t end;               /* file length after the last whole record */
    double last_sync;        /* monotonic time of the last fdatasync */
    bool dirty;              /* records written since the last fdatasync */
    bool broken;             /* a partial write could not be cut off: refuse more */
    uint32_t crc_table[256]; /* CRC-32C (Castagnoli) table */
};

static void journal_crc_init(uint32_t table[256])
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        table[i] = c;
    }
}

static uint32_t journal_crc(const journal_t *j, const char *data, size_t len)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++)
        c = j->crc_table[(c ^ (unsigned char)data[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static double journal_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool journal_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Checks one line (without its '\n'); on success *key points at its key.
 * Otherwise returns why it is corrupt. */
static const char *journal_check_line(const journal_t *j, const char *line, size_t len,
                                      const char **key)
{
    if (len < JOURNAL_CRC_LEN + 1 || line[JOURNAL_CRC_LEN - 1] != ' ')
        return "malformed";
    uint32_t want = 0;
    for (int i = 0; i < 8; i++) {
        if (!journal_is_hex(line[i]))
            return "malformed";
        want = want << 4 | (uint32_t)(line[i] <= '9' ? line[i] - '0' : line[i] - 'a' + 10);
    }
    size_t key_len = len - JOURNAL_CRC_LEN;
    if (key_len > JOURNAL_KEY_MAX)
        return "record too long";
    if (memchr(line + JOURNAL_CRC_LEN, '\0', key_len))
        return "NUL byte";
    if (journal_crc(j, line + JOURNAL_CRC_LEN, key_len) != want)
        return "checksum mismatch";
    *key = line + JOURNAL_CRC_LEN;
    return NULL;
}

/* Is the rest of the file, from a bad line on, what one interrupted append
 * leaves: one partial line (ignoring the NUL bytes a power loss can leave),
 * at most ending in '\n'? For the first line it must also look like the
 * start of a header, so a file that is not a journal is never truncated. */
static bool journal_tail_is_torn(const char *rest, size_t len, bool first_line)
{
    size_t content = 0;
    for (size_t i = 0; i < len; i++) {
        if (rest[i] == '\0')
            continue;
        if (rest[i] == '\n') {
            if (first_line)
                return false; /* a torn header never got its newline */
            for (size_t k = i + 1; k < len; k++)
                if (rest[k] != '\0')
                    return false;
            break;
        }
        content++;
    }
    if (!first_line)
        return true;
    static const char header[] = "00000000 " JOURNAL_HEADER;
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof header - 1; i++) {
        if (rest[i] == '\0' || rest[i] == '\n')
            break;
        bool ok = n < 8 ? journal_is_hex(rest[i]) : rest[i] == header[n];
        if (!ok)
            return false;
        n++;
    }
    return n == content || n == sizeof header - 1;
}

/* Appends one "<crc> <key>\n" line with a single write(2). */
static int journal_append(journal_t *j, const char *key, size_t key_len, ferry_err_t *err)
{
    if (j->broken)
        return ferry_err_set(err, FERRY_EIO, "journal %.*s is unusable after a failed write",
                             JOURNAL_SHOW_MAX, j->path);
    size_t line_len = JOURNAL_CRC_LEN + key_len + 1;
    char *line = malloc(line_len + 1);
    if (!line)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    snprintf(line, line_len + 1, "%08x %s\n", (unsigned)journal_crc(j, key, key_len), key);
    ssize_t wrote;
    do
        wrote = write(j->fd, line, line_len);
    while (wrote < 0 && errno == EINTR);
    int saved = errno;
    free(line);
    if (wrote == (ssize_t)line_len) {
        j->end += (off_t)line_len;
        j->dirty = true;
        return 0;
    }
    /* Cut the partial line off, so the next record starts on a fresh line. */
    if (wrote > 0 && ftruncate(j->fd, j->end) != 0)
        j->broken = true;
    return ferry_err_set(err, FERRY_EIO, "cannot write journal %.*s: %s", JOURNAL_SHOW_MAX, j->path,
                         wrote < 0 ? strerror(saved) : "short write (disk full?)");
}

int journal_sync(journal_t *j, ferry_err_t *err)
{
    if (!j->dirty)
        return 0;
    if (fdatasync(j->fd) != 0)
        return ferry_err_set(err, FERRY_EIO, "cannot sync journal %.*s: %s", JOURNAL_SHOW_MAX,
                             j->path, strerror(errno));
    j->dirty = false;
    j->last_sync = journal_now();
    return 0;
}

/* Reads the whole journal into a new NUL-terminated buffer. */
static int journal_read_all(journal_t *j, char **data_out, size_t *len_out, ferry_err_t *err)
{
    struct stat st;
    *data_out = NULL;
    if (fstat(j->fd, &st) != 0)
        return ferry_err_set(err, FERRY_EIO, "cannot read journal %.*s: %s", JOURNAL_SHOW_MAX,
                             j->path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ferry_err_set(err, FERRY_EIO, "journal %.*s is not a regular file", JOURNAL_SHOW_MAX,
                             j->path);
    if (st.st_size > JOURNAL_FILE_MAX)
        return ferry_err_set(err, FERRY_ETOOBIG, "journal %.*s is larger than %ld bytes",
                             JOURNAL_SHOW_MAX, j->path, JOURNAL_FILE_MAX);
    size_t size = (size_t)st.st_size, len = 0;
    char *data = malloc(size + 1);
    if (!data)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory reading journal %.*s",
                             JOURNAL_SHOW_MAX, j->path);
    while (len < size) {
        ssize_t got = pread(j->fd, data + len, size - len, (off_t)len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            int rc = ferry_err_set(err, FERRY_EIO, "cannot read journal %.*s: %s", JOURNAL_SHOW_MAX,
                                   j->path, got < 0 ? strerror(errno) : "unexpected end of file");
            free(data);
            return rc;
        }
        len += (size_t)got;
    }
    data[len] = '\0';
    *data_out = data;
    *len_out = len;
    return 0;
}

/* Replays the records in data; *good_end is the length of the valid prefix,
 * *run_key the latest header's run key (into data, NUL-terminated), NULL
 * when there is none. */
static int journal_replay(journal_t *j, char *data, size_t len, size_t *good_end,
                          const char **run_key, ferry_err_t *err)
{
    size_t pos = 0, line_no = 0;
    *good_end = 0;
    *run_key = NULL;
    while (pos < len) {
        line_no++;
        char *line = data + pos;
        char *newline = memchr(line, '\n', len - pos);
        size_t line_len = newline ? (size_t)(newline - line) : len - pos;
        const char *key = NULL;
        const char *why = newline ? journal_check_line(j, line, line_len, &key) : "incomplete";
        if (why) {
            if (journal_tail_is_torn(line, len - pos, line_no == 1)) {
                j->torn = 1;
                return 0;
            }
            if (line_no == 1)
                return ferry_err_set(err, FERRY_EINVAL,
                                     "%.*s is not a ferry journal (line 1 is not its header)",
                                     JOURNAL_SHOW_MAX, j->path);
            return ferry_err_set(err, FERRY_EINVAL, "journal %.*s: line %zu is corrupt (%s)",
                                 JOURNAL_SHOW_MAX, j->path, line_no, why);
        }
        *newline = '\0';
        bool header = strncmp(key, JOURNAL_HEADER, sizeof JOURNAL_HEADER - 1) == 0;
        if (line_no == 1 && !header)
            return ferry_err_set(err, FERRY_EINVAL,
                                 "%.*s is not a ferry journal (line 1 is not its header)",
                                 JOURNAL_SHOW_MAX, j->path);
        if (header)
            *run_key = key + sizeof JOURNAL_HEADER - 1;
        else if (strmap_put(j->keys, key, NULL, NULL) != 0)
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory replaying journal %.*s",
                                 JOURNAL_SHOW_MAX, j->path);
        pos += line_len + 1;
        *good_end = pos;
    }
    return 0;
}

static int journal_check_run_key(const char *run_key, ferry_err_t *err)
{
    size_t len = run_key ? strlen(run_key) : 0;
    if (len == 0 || len > JOURNAL_RUN_KEY_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "journal run key must have 1 to %d characters",
                             JOURNAL_RUN_KEY_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)run_key[i] <= ' ' || run_key[i] == 0x7f)
            return ferry_err_set(err, FERRY_EINVAL,
                                 "journal run key must be printable without spaces");
    return 0;
}

static int journal_append_header(journal_t *j, const char *run_key, ferry_err_t *err)
{
    char header[sizeof JOURNAL_HEADER + JOURNAL_RUN_KEY_MAX];
    int n = snprintf(header, sizeof header, "%s%s", JOURNAL_HEADER, run_key);
    int rc = journal_append(j, header, (size_t)n, err);
    if (!rc)
        rc = journal_sync(j, err);
    return rc;
}

journal_t *journal_open(const char *path, const char *run_key, bool force, ferry_err_t *err)
{
    char *data = NULL;
    size_t len = 0, good_end = 0;
    const char *file_run_key = NULL;
    journal_t *j = NULL;
    int rc = journal_check_run_key(run_key, err);
    if (rc)
        goto out;
    j = calloc(1, sizeof *j);
    if (!j)
        goto oom;
    j->fd = -1;
    journal_crc_init(j->crc_table);
    j->path = strdup(path);
    j->keys = strmap_new();
    if (!j->path || !j->keys)
        goto oom;
    j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        rc = ferry_err_set(err, FERRY_EIO, "cannot open journal %.*s: %s", JOURNAL_SHOW_MAX, path,
                           strerror(errno));
        goto out;
    }
    if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            rc = ferry_err_set(err, FERRY_EEXIST, "journal %.*s is in use by another ferry process",
                               JOURNAL_SHOW_MAX, path);
        else
            rc = ferry_err_set(err, FERRY_EIO, "cannot lock journal %.*s: %s", JOURNAL_SHOW_MAX,
                               path, strerror(errno));
        goto out;
    }
    rc = journal_read_all(j, &data, &len, err);
    if (!rc)
        rc = journal_replay(j, data, len, &good_end, &file_run_key, err);
    if (rc)
        goto out;
    if (file_run_key && strcmp(file_run_key, run_key) != 0 && !force) {
        rc = ferry_err_set(err, FERRY_EINVAL,
                           "journal %.*s belongs to another migration (its run key is %.64s, this "
                           "migration's is %.64s)",
                           JOURNAL_SHOW_MAX, path, file_run_key, run_key);
        goto out;
    }
    j->end = (off_t)good_end;
    if (good_end < len) {
        /* Drop the torn tail so the next record starts on a line of its own. */
        if (ftruncate(j->fd, (off_t)good_end) != 0 || fdatasync(j->fd) != 0) {
            rc = ferry_err_set(err, FERRY_EIO, "cannot cut the torn end off journal %.*s: %s",
                               JOURNAL_SHOW_MAX, path, strerror(errno));
            goto out;
        }
    }
    if (!file_run_key || strcmp(file_run_key, run_key) != 0) {
        rc = journal_append_header(j, run_key, err);
        if (rc)
            goto out;
    }
    j->last_sync = journal_now();
    goto out;
oom:
    rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory opening journal");
out:
    free(data);
    if (rc)
        journal_close(&j);
    return j;
}

void journal_close(journal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    journal_t *j = *self_p;
    if (j->fd >= 0) {
        journal_sync(j, NULL);
        close(j->fd);
    }
    strmap_destroy(&j->keys, NULL);
    free(j->path);
    free(j);
    *self_p = NULL;
}

bool journal_has(const journal_t *j, const char *key)
{
    return strmap_has(j->keys, key);
}

int journal_record(journal_t *j, const char *key, ferry_err_t *err)
{
    size_t key_len = strlen(key);
    if (key_len == 0 || key_len > JOURNAL_KEY_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "journal key must have 1 to %d bytes, not %zu",
                             JOURNAL_KEY_MAX, key_len);
    if (memchr(key, '\n', key_len))
        return ferry_err_set(err, FERRY_EINVAL, "journal key must not contain a newline");
    if (strncmp(key, JOURNAL_HEADER, sizeof JOURNAL_HEADER - 1) == 0)
        return ferry_err_set(err, FERRY_EINVAL, "journal key must not start with '%s'",
                             JOURNAL_HEADER);
    if (strmap_has(j->keys, key))
        return 0;
    if (strmap_put(j->keys, key, NULL, NULL) != 0)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    int rc = journal_append(j, key, key_len, err);
    if (rc) {
        strmap_remove(j->keys, key, NULL);
        return rc;
    }
    if (journal_now() - j->last_sync >= 1.0)
        return journal_sync(j, err);
    return 0;
}

size_t journal_count(const journal_t *j)
{
    return strmap_size(j->keys);
}

size_t journal_torn(const journal_t *j)
{
    return j->torn;
}
