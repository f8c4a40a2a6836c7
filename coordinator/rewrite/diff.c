/* diff — showing and applying a file's changes: a unified diff of the old and
 * new text (Myers' shortest edit script, hunks as `diff -u` writes them) and,
 * with --write, the atomic replacement of the file. */
#include "coordinator/rewrite/rw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Line edits the diff searches for a shortest script; past them it shows
 * the changed middle of the file as one replacement (still a correct diff). */
#define RW_DIFF_EDITS_MAX 1000
/* Lines of context around a hunk. */
#define RW_DIFF_CONTEXT 3
/* Cap of one file's diff text: every line removed and added, with headers. */
#define RW_DIFF_MAX (3 * (size_t)REWRITE_FILE_MAX + 4096)
/* Names tried for the temporary file before giving up. */
#define RW_TEMP_TRIES 16

typedef struct rw_line {
    const char *text; /* the line, with its line ending; borrowed */
    size_t len;       /* bytes, line ending included */
    uint64_t hash;    /* FNV-1a of the bytes, to compare quickly */
} rw_line_t;

/* Splits text into lines; the last may lack a line ending. 0 or FERRY_ENOMEM. */
static int rw_lines(const char *text, size_t len, rw_line_t **out, size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n')
            n++;
    if (len > 0 && text[len - 1] != '\n')
        n++;
    rw_line_t *lines = calloc(n ? n : 1, sizeof *lines);
    if (!lines)
        return FERRY_ENOMEM;
    size_t start = 0, k = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\n' && i + 1 < len)
            continue;
        size_t end = i + 1;
        uint64_t hash = 14695981039346656037ULL;
        for (size_t j = start; j < end; j++)
            hash = (hash ^ (unsigned char)text[j]) * 1099511628211ULL;
        lines[k++] = (rw_line_t){.text = text + start, .len = end - start, .hash = hash};
        start = end;
    }
    *out = lines;
    *n_out = n;
    return 0;
}

static bool rw_line_eq(const rw_line_t *a, const rw_line_t *b)
{
    return a->hash == b->hash && a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

/* The shortest edit script from a[0..n) to b[0..m) (Myers, "An O(ND)
 * difference algorithm", 1986) as ' ', '-' and '+' written to ops (room for
 * n + m), its length in *n_ops. Past RW_DIFF_EDITS_MAX edits it deletes all
 * and inserts all. 0 or FERRY_ENOMEM. */
static int rw_myers(const rw_line_t *a, size_t n, const rw_line_t *b, size_t m, char *ops,
                    size_t *n_ops)
{
    ptrdiff_t dmax = (ptrdiff_t)(n + m < RW_DIFF_EDITS_MAX ? n + m : RW_DIFF_EDITS_MAX);
    ptrdiff_t off = dmax + 1, found = -1, N = (ptrdiff_t)n, M = (ptrdiff_t)m;
    ptrdiff_t *v = calloc((size_t)(2 * dmax + 3), sizeof *v);
    ptrdiff_t **trace = calloc((size_t)dmax + 1, sizeof *trace);
    int rc = 0;
    if (!v || !trace)
        goto oom;
    for (ptrdiff_t d = 0; d <= dmax && found < 0; d++) {
        for (ptrdiff_t k = -d; k <= d; k += 2) {
            ptrdiff_t x = (k == -d || (k != d && v[off + k - 1] < v[off + k + 1]))
                              ? v[off + k + 1]
                              : v[off + k - 1] + 1;
            ptrdiff_t y = x - k;
            while (x < N && y < M && rw_line_eq(&a[x], &b[y])) {
                x++;
                y++;
            }
            v[off + k] = x;
            if (x >= N && y >= M) {
                found = d;
                break;
            }
        }
        /* The diagonals -d..d after round d, for the way back. */
        trace[d] = malloc((size_t)(2 * d + 1) * sizeof **trace);
        if (!trace[d])
            goto oom;
        memcpy(trace[d], v + off - d, (size_t)(2 * d + 1) * sizeof **trace);
    }
    if (found < 0) {
        memset(ops, '-', n);
        memset(ops + n, '+', m);
        *n_ops = n + m;
        goto out;
    }
    size_t pos = (n + m + (size_t)found) / 2;
    *n_ops = pos;
    ptrdiff_t x = N, y = M;
    for (ptrdiff_t d = found; d > 0; d--) {
        const ptrdiff_t *prev = trace[d - 1] + (d - 1); /* prev[k] for k in -(d-1)..d-1 */
        ptrdiff_t k = x - y;
        bool down = k == -d || (k != d && prev[k - 1] < prev[k + 1]);
        ptrdiff_t prev_k = down ? k + 1 : k - 1;
        ptrdiff_t prev_x = prev[prev_k], prev_y = prev_x - prev_k;
        while (x > prev_x && y > prev_y) {
            ops[--pos] = ' ';
            x--;
            y--;
        }
        ops[--pos] = down ? '+' : '-';
        x = prev_x;
        y = prev_y;
    }
    while (x > 0 && y > 0) {
        ops[--pos] = ' ';
        x--;
        y--;
    }
    goto out;
oom:
    rc = FERRY_ENOMEM;
out:
    if (trace)
        for (ptrdiff_t d = 0; d <= dmax; d++)
            free(trace[d]);
    free(trace);
    free(v);
    return rc;
}

/* "l,n" of a hunk header, as diff writes it: "l" when n is 1, and the line
 * before the hunk when n is 0. */
static int rw_range(fbuf_t *out, size_t first, size_t count)
{
    if (count == 1)
        return fbuf_printf(out, "%zu", first + 1);
    return fbuf_printf(out, "%zu,%zu", count == 0 ? first : first + 1, count);
}

static int rw_diff_line(fbuf_t *out, char mark, const rw_line_t *line)
{
    int rc = fbuf_append(out, &mark, 1);
    if (!rc)
        rc = fbuf_append(out, line->text, line->len);
    if (!rc && (line->len == 0 || line->text[line->len - 1] != '\n'))
        rc = fbuf_puts(out, "\n\\ No newline at end of file\n");
    return rc;
}

/* Writes the hunks of a complete edit script. */
static int rw_hunks(fbuf_t *out, const char *ops, size_t n_ops, const rw_line_t *a,
                    const rw_line_t *b)
{
    size_t op = 0, ai = 0, bi = 0; /* the next op, and the lines before it */
    int rc = 0;
    while (!rc) {
        size_t change = op;
        while (change < n_ops && ops[change] == ' ')
            change++;
        if (change == n_ops)
            break;
        /* The hunk opens RW_DIFF_CONTEXT lines before its first change... */
        size_t start = change - op > RW_DIFF_CONTEXT ? change - RW_DIFF_CONTEXT : op;
        ai += start - op;
        bi += start - op;
        /* ...and runs until RW_DIFF_CONTEXT lines after a change that no
         * other follows within 2 * RW_DIFF_CONTEXT lines. */
        size_t end = change;
        for (;;) {
            while (end < n_ops && ops[end] != ' ')
                end++;
            size_t next = end;
            while (next < n_ops && ops[next] == ' ')
                next++;
            if (next < n_ops && next - end <= 2 * RW_DIFF_CONTEXT) {
                end = next;
                continue;
            }
            end = next - end > RW_DIFF_CONTEXT ? end + RW_DIFF_CONTEXT : next;
            break;
        }
        size_t a_count = 0, b_count = 0;
        for (size_t i = start; i < end; i++) {
            a_count += ops[i] != '+';
            b_count += ops[i] != '-';
        }
        rc = fbuf_puts(out, "@@ -");
        if (!rc)
            rc = rw_range(out, ai, a_count);
        if (!rc)
            rc = fbuf_puts(out, " +");
        if (!rc)
            rc = rw_range(out, bi, b_count);
        if (!rc)
            rc = fbuf_puts(out, " @@\n");
        for (size_t i = start; i < end && !rc; i++) {
            if (ops[i] == '+')
                rc = rw_diff_line(out, '+', &b[bi++]);
            else if (ops[i] == '-')
                rc = rw_diff_line(out, '-', &a[ai++]);
            else {
                rc = rw_diff_line(out, ' ', &a[ai++]);
                bi++;
            }
        }
        op = end;
    }
    return rc;
}

int rewrite_diff(fbuf_t *out, const char *path, const char *old_text, size_t old_len,
                 const char *new_text, size_t new_len)
{
    rw_line_t *a = NULL, *b = NULL;
    size_t n = 0, m = 0, n_ops = 0;
    char *ops = NULL;
    int rc = 0;
    if (old_len == new_len && memcmp(old_text, new_text, old_len) == 0)
        return 0;
    rc = rw_lines(old_text, old_len, &a, &n);
    if (!rc)
        rc = rw_lines(new_text, new_len, &b, &m);
    if (rc)
        goto out;
    ops = malloc(n + m + 1);
    if (!ops) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    /* Common first and last lines need no search. */
    size_t head = 0, tail = 0;
    while (head < n && head < m && rw_line_eq(&a[head], &b[head]))
        head++;
    while (tail < n - head && tail < m - head && rw_line_eq(&a[n - 1 - tail], &b[m - 1 - tail]))
        tail++;
    memset(ops, ' ', head);
    size_t middle = 0;
    rc = rw_myers(a + head, n - head - tail, b + head, m - head - tail, ops + head, &middle);
    if (rc)
        goto out;
    memset(ops + head + middle, ' ', tail);
    n_ops = head + middle + tail;

    while (*path == '/' || (path[0] == '.' && path[1] == '/'))
        path += *path == '/' ? 1 : 2;
    rc = fbuf_printf(out, "--- a/%s\n+++ b/%s\n", path, path);
    if (!rc)
        rc = rw_hunks(out, ops, n_ops, a, b);
out:
    free(ops);
    free(a);
    free(b);
    return rc;
}

/* Replaces f's file by text at its real path, so a symbolic link named on the
 * command line keeps pointing at the rewritten file. A temporary file
 * ".BASE.ferry-RANDOM" is created beside it with O_CREAT|O_EXCL|O_NOFOLLOW (a
 * file or link planted at that name is never opened), given the file's mode
 * (and owner, when allowed), written, fsynced and renamed over the file; then
 * the directory is fsynced. After resolving the path everything goes through
 * the directory's descriptor, so a name swapped meanwhile is not followed.
 * Fails when the file changed since it was read, or when its real path no
 * longer lies in f->root. 0 or FERRY_EIO.
 *
 * The one place that replaces a file: keep it a single function, so that a
 * shared helper can take its place. */
static int rw_write(const rw_file_t *f, const char *text, size_t len, ferry_err_t *err)
{
    static const char hex[] = "0123456789abcdef";
    char *real = realpath(f->path, NULL), *tmp = NULL;
    int dir = -1, fd = -1, rc = 0;
    struct stat now;
    if (!real)
        goto failed;
    if (f->root && !rw_under(real, f->root)) {
        rc = ferry_err_set(err, FERRY_EIO, "%s: error: now leads out of the searched directory",
                           f->path);
        goto out;
    }
    char *slash = strrchr(real, '/'); /* realpath's result is absolute */
    const char *base = slash + 1;
    *slash = '\0';
    dir = open(*real ? real : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *slash = '/';
    if (dir < 0 || fstatat(dir, base, &now, AT_SYMLINK_NOFOLLOW) != 0)
        goto failed;
    if (now.st_dev != f->st.st_dev || now.st_ino != f->st.st_ino || now.st_size != f->st.st_size ||
        now.st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec) {
        rc = ferry_err_set(err, FERRY_EIO, "%s: error: changed while being rewritten; run again",
                           f->path);
        goto out;
    }
    for (int attempt = 0; fd < 0 && attempt < RW_TEMP_TRIES; attempt++) {
        unsigned char random[6];
        char suffix[2 * sizeof random + 1] = {0};
        if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random)
            break;
        for (size_t i = 0; i < sizeof random; i++) {
            suffix[2 * i] = hex[random[i] >> 4];
            suffix[2 * i + 1] = hex[random[i] & 15];
        }
        free(tmp);
        tmp = rw_concat(".", base, ".ferry-", suffix, NULL);
        if (!tmp) {
            errno = ENOMEM;
            break;
        }
        fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        rc = ferry_err_set(err, FERRY_EIO, "%s: error: cannot create a temporary file: %s", f->path,
                           strerror(errno));
        free(tmp); /* not created: nothing to remove */
        tmp = NULL;
        goto out;
    }
    if (fchown(fd, now.st_uid, now.st_gid) != 0) {
        /* Not allowed to give the file away: it stays ours, like an edit. */
    }
    if (fchmod(fd, now.st_mode & 07777) != 0)
        goto failed;
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto failed;
        done += (size_t)n;
    }
    if (fsync(fd) != 0)
        goto failed;
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || renameat(dir, tmp, dir, base) != 0)
        goto failed;
    free(tmp);
    tmp = NULL;
    /* The file is replaced; a directory that cannot be synced (some file
     * systems refuse) does not undo that. */
    (void)fsync(dir);
    goto out;
failed:
    rc = ferry_err_set(err, FERRY_EIO, "%s: error: cannot write: %s", f->path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlinkat(dir, tmp, 0);
        free(tmp);
    }
    if (dir >= 0)
        close(dir);
    free(real);
    return rc;
}

int rw_file_commit(const rw_run_t *run, const rw_file_t *f, const fbuf_t *fresh, bool *changed,
                   ferry_err_t *err)
{
    fbuf_t diff;
    int rc;
    *changed = false;
    fbuf_init(&diff, RW_DIFF_MAX);
    rc = rewrite_diff(&diff, f->path, f->text, f->len, fresh->data ? fresh->data : "", fresh->len);
    if (rc) {
        ferry_err_set(err, rc, "%s: error: the diff is too large or out of memory", f->path);
        goto out;
    }
    if (diff.len > 0) {
        fwrite(diff.data, 1, diff.len, run->out);
        if (run->write)
            rc = rw_write(f, fresh->data, fresh->len, err);
        *changed = rc == 0;
    }
out:
    fbuf_free(&diff);
    return rc;
}
