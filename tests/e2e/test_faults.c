/* End-to-end fault tests: the real `ferry` and `ferry-agent` under hostile
 * conditions, against real registries from tests/fixtures.
 *
 * Sub-tests run alone by name (`test_faults NAME`):
 *   journal    coordinator SIGKILLed mid-migration, resumed from --journal
 *              (with a torn last record); nothing journaled is sent again
 *   agents     remote agents: one SIGKILLed, then one SIGSTOPped and
 *              SIGCONTed; their tasks move to the other, counts stay exact
 *   security   in a private network namespace: --listen off loopback needs
 *              CURVE or --insecure-control; an agent whose key is not allowed
 *              gets no task and no credential
 *   restart    the target registry restarted during a large chunked upload
 *   token      bearer tokens that expire every 2 seconds
 *   throttle   429/503 bursts with Retry-After on both registries
 *   cut        bodies cut mid-stream, a request dropped
 *   corrupt    a source blob whose bytes do not match its digest
 *   interrupt  SIGINT, then SIGTERM, mid-migration; a third run completes
 * Each migration ends with `ferry verify`. Processes the test starts in the
 * background are killed at exit; ferry's output goes to files in a work
 * directory, printed when a check fails (always with FERRY_E2E_VERBOSE=1). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "e2e.h"
#include "fixture.h"
#include "proto/proto.h"
#include "testlib.h"

#ifndef FERRY_BIN
#error "FERRY_BIN must name the ferry executable"
#endif
#ifndef FERRY_AGENT_BIN
#error "FERRY_AGENT_BIN must name the ferry-agent executable"
#endif

#define MIB          (1024 * 1024)
#define HEARTBEAT_MS 300
#define WAIT_RUN_MS  (120 * 1000) /* longest a single ferry run may take here */

static char workdir[256]; /* reports, journals, logs of every process started */

/* ------------------------------------------------------------ small helpers */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Occurrences of needle in the file at path (0 when it cannot be read). */
static int file_count(const char *path, const char *needle)
{
    char *text = fx_read_file(path);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

static bool file_has(const char *path, const char *needle)
{
    return file_count(path, needle) > 0;
}

/* Waits until the file holds needle at least `times` times; false after
 * timeout_ms. */
static bool wait_file(const char *path, const char *needle, int times, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    do {
        if (file_count(path, needle) >= times)
            return true;
        sleep_ms(20);
    } while (now_ms() < end);
    fprintf(stderr, "  timed out waiting for %d x \"%s\" in %s\n", times, needle, path);
    return false;
}

/* "WORKDIR/name" in a static ring of buffers, so a few may be used at once. */
static const char *work_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *work_path(const char *fmt, ...)
{
    static char ring[32][384];
    static int next;
    char *out = ring[next++ % 32];
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof ring[0], "%s/%s", workdir, name);
    return out;
}

/* A TCP port free on addr now (the caller binds it soon after), 0 on failure. */
static int free_port(const char *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof sa;
    int port = 0;
    sa.sin_family = AF_INET;
    if (fd < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        goto out;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
out:
    if (fd >= 0)
        close(fd);
    return port;
}

/* ------------------------------------------------------------ processes */

#define BG_MAX 32
static pid_t bg_pids[BG_MAX]; /* started in the background and not reaped yet */

static void bg_forget(pid_t pid)
{
    for (int i = 0; i < BG_MAX; i++)
        if (bg_pids[i] == pid)
            bg_pids[i] = 0;
}

/* Kills and reaps whatever is still running (at exit, and after a sub-test). */
static void bg_kill_all(void)
{
    for (int i = 0; i < BG_MAX; i++) {
        if (bg_pids[i] > 0) {
            kill(bg_pids[i], SIGCONT);
            kill(bg_pids[i], SIGKILL);
            waitpid(bg_pids[i], NULL, 0);
            bg_pids[i] = 0;
        }
    }
}

/* Starts `sh -c 'exec COMMAND'` with stdin from /dev/null and stdout, stderr
 * to the files given; returns the process id (that of COMMAND itself), or -1. */
static pid_t bg_start(const char *out_path, const char *err_path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static pid_t bg_start(const char *out_path, const char *err_path, const char *fmt, ...)
{
    char *cmd = NULL, *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || asprintf(&line, "exec %s", cmd) < 0) {
        free(cmd);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    free(line);
    if (pid > 0) {
        for (int i = 0; i < BG_MAX; i++) {
            if (bg_pids[i] == 0) {
                bg_pids[i] = pid;
                break;
            }
        }
    }
    return pid;
}

/* Waits for a background process: its exit status, 128 + N when killed by
 * signal N, or -1 when it did not end within timeout_ms (it is killed then). */
static int bg_wait(pid_t pid, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    int64_t end = now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            break;
        if (got < 0) {
            bg_forget(pid);
            return -1;
        }
        if (now_ms() > end) {
            fprintf(stderr, "  process %d still running after %d ms: killed\n", (int)pid,
                    timeout_ms);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            bg_forget(pid);
            return -1;
        }
        sleep_ms(20);
    }
    bg_forget(pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Sanitizer reports in a log fail the test. */
static void check_clean_log(const char *path)
{
    bool sanitizer = file_has(path, "Sanitizer") || file_has(path, "runtime error:");
    CHECK(!sanitizer);
    if (sanitizer) {
        char *text = fx_read_file(path);
        fprintf(stderr, "--- %s\n%s---\n", path, text ? text : "");
        free(text);
    }
}

/* ------------------------------------------------------------ running ferry */

/* One ferry run: in the background (pid) or done (status, out, err). */
typedef struct ferry_run {
    pid_t pid;
    int status;
    int64_t started_ms, elapsed_ms;
    char out_path[384], err_path[384];
    char *out, *err; /* filled by ferry_finish */
} ferry_run_t;

static void ferry_run_free(ferry_run_t *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static int ferry_started(ferry_run_t *r, const char *args)
{
    static int runs;
    memset(r, 0, sizeof *r);
    runs++;
    snprintf(r->out_path, sizeof r->out_path, "%s/ferry-%d.out", workdir, runs);
    snprintf(r->err_path, sizeof r->err_path, "%s/ferry-%d.err", workdir, runs);
    fprintf(stderr, "$ ferry %s  (log %s)\n", args, r->err_path);
    r->started_ms = now_ms();
    r->pid = bg_start(r->out_path, r->err_path, "'%s' %s", FERRY_BIN, args);
    return r->pid > 0 ? 0 : -1;
}

/* Starts `ferry ARGS` in the background. */
static int ferry_bg(ferry_run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ferry_bg(ferry_run_t *r, const char *fmt, ...)
{
    char *args = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&args, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    int rc = ferry_started(r, args);
    free(args);
    CHECK(rc == 0);
    return rc;
}

/* Waits for a background ferry and reads its output; returns its status. */
static int ferry_finish(ferry_run_t *r, int timeout_ms)
{
    r->status = bg_wait(r->pid, timeout_ms);
    r->elapsed_ms = now_ms() - r->started_ms;
    r->out = fx_read_file(r->out_path);
    r->err = fx_read_file(r->err_path);
    if (!r->out)
        r->out = calloc(1, 1);
    if (!r->err)
        r->err = calloc(1, 1);
    fprintf(stderr, "  exit %d in %.2f s\n", r->status, (double)r->elapsed_ms / 1000.0);
    check_clean_log(r->err_path);
    const char *verbose = getenv("FERRY_E2E_VERBOSE");
    if (verbose && *verbose == '1')
        fprintf(stderr, "--- stdout\n%s--- stderr\n%s---\n", r->out, r->err);
    return r->status;
}

/* Runs `ferry ARGS` to the end. */
static int ferry(ferry_run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ferry(ferry_run_t *r, const char *fmt, ...)
{
    char *args = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&args, fmt, ap);
    va_end(ap);
    if (n < 0)
        return r->status = -1;
    int rc = ferry_started(r, args);
    free(args);
    if (rc < 0)
        return r->status = -1;
    return ferry_finish(r, WAIT_RUN_MS);
}

/* Prints a run's output when checks failed since `before`. */
static void dump_if_failed(const ferry_run_t *r, int before)
{
    if (test_failures > before)
        fprintf(stderr, "--- ferry stdout (%s)\n%s--- ferry stderr\n%s---\n", r->out_path,
                r->out ? r->out : "", r->err ? r->err : "");
}

static void check_finished(const ferry_run_t *r, int x, int y, int z)
{
    check_finished_out(r->out, x, y, z);
}

/* The summary's blob counts; -1 each when the line is missing. */
static void blob_counts(const char *out, long *copied, long *mounted, long *present)
{
    *copied = *mounted = *present = -1;
    const char *line = out ? strstr(out, "Blobs: ") : NULL;
    if (line)
        sscanf(line, "Blobs: %ld copied, %ld mounted, %ld already present", copied, mounted,
               present);
}

/* `ferry verify SRC DST EXTRA`: expects exit 0 and `identical` tags, no difference. */
static void verify_ok(const char *src, const char *dst, const char *extra, int identical)
{
    ferry_run_t r;
    int before = test_failures;
    ferry(&r, "verify %s %s %s", src, dst, extra);
    CHECK_INT(r.status, 0);
    char want[160];
    snprintf(want, sizeof want,
             "verify: %d tag(s) identical, 0 difference(s), 0 repository listing(s) failed",
             identical);
    CHECK_CONTAINS(r.out, want);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
}

/* ------------------------------------------------------------ agents */

/* Starts `ferry-agent --connect ENDPOINT --id ID ...EXTRA` logging at debug
 * level to WORKDIR/agent-ID.log; returns its pid. */
static pid_t agent_start(const char *endpoint, const char *id, const char *extra)
{
    pid_t pid = bg_start("/dev/null", work_path("agent-%s.log", id),
                         "'%s' --connect %s --id %s --jobs 2 --grace 5 --log-level debug %s",
                         FERRY_AGENT_BIN, endpoint, id, extra ? extra : "");
    CHECK(pid > 0);
    return pid;
}

/* Tasks an agent finished (its debug log has one line per task). */
static int agent_tasks(const char *id)
{
    return file_count(work_path("agent-%s.log", id), "debug: task ") +
           file_count(work_path("agent-%s.log", id), "ferry-agent: task ");
}

/* SIGTERM: the agent drains and leaves; expects exit 0 and a clean log. */
static void agent_stop(pid_t pid, const char *id)
{
    if (pid <= 0)
        return;
    kill(pid, SIGCONT);
    kill(pid, SIGTERM);
    CHECK_INT(bg_wait(pid, 20000), 0);
    check_clean_log(work_path("agent-%s.log", id));
}

/* ------------------------------------------------------------ registries */

static fx_proxy_t *proxy(const fx_registry_t *r)
{
    fx_proxy_t *p = r ? fx_proxy_start(r->url) : NULL;
    CHECK(p != NULL);
    return p;
}

static int rule(fx_proxy_t *p, const char *json)
{
    int rc = fx_proxy_rule(p, json);
    CHECK_INT(rc, 0);
    return rc;
}

/* Clears a proxy's rules and request log. */
static void proxy_reset(const fx_proxy_t *p)
{
    CHECK_INT(fx_run(NULL,
                     "curl -sf -o /dev/null -X DELETE '%s/__fault' && curl -sf -o /dev/null "
                     "-X DELETE '%s/__log'",
                     p->url, p->url),
              0);
}

/* Requests in a proxy's log whose path contains `what` (and whose method is
 * `method`, when not NULL). With fault not NULL, only those the proxy
 * answered with that fault ("status", "cut", "drop", "delay"). */
static int proxy_count(const fx_proxy_t *p, const char *method, const char *what, const char *fault)
{
    json_t *log = fx_proxy_log(p);
    int n = 0;
    for (size_t i = 0; i < json_array_size(log); i++) {
        json_t *e = json_array_get(log, i);
        const char *m = json_string_value(json_object_get(e, "method"));
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *f = json_string_value(json_object_get(e, "fault"));
        if (method && (!m || strcmp(m, method) != 0))
            continue;
        if (what && (!path || !strstr(path, what)))
            continue;
        if (fault && (!f || strcmp(f, fault) != 0))
            continue;
        n++;
    }
    json_decref(log);
    return n;
}

/* Pushes n images REPO_FMT(i):v1 with the given push flags into imgs[]. */
static int push_many(fx_registry_t *r, const char *repo_fmt, int n, const char *args, json_t **imgs)
{
    for (int i = 0; i < n; i++) {
        char repo[128];
        snprintf(repo, sizeof repo, repo_fmt, i);
        imgs[i] = push(r, repo, "v1", args);
        if (!imgs[i])
            return -1;
    }
    return 0;
}

static void free_many(json_t **imgs, int n)
{
    for (int i = 0; i < n; i++)
        json_decref(imgs[i]);
}

/* Two registries, fault proxies in front of those asked for, and n images
 * (repo_fmt with %d, tag v1) pushed to the source: what sub-tests share. */
typedef struct scene {
    fx_registry_t *src, *dst;
    fx_proxy_t *ps, *pd; /* in front of src / dst, or NULL */
    json_t *imgs[8];
    int n;
    ferry_run_t r;
} scene_t;

enum { PROXY_SRC = 1, PROXY_DST = 2 };

static bool scene_open(scene_t *sc, int proxies, const char *repo_fmt, int n, const char *args)
{
    memset(sc, 0, sizeof *sc);
    sc->n = n < 8 ? n : 8;
    sc->src = registry();
    sc->dst = registry();
    if (!sc->src || !sc->dst)
        return false;
    if ((proxies & PROXY_SRC) && !(sc->ps = proxy(sc->src)))
        return false;
    if ((proxies & PROXY_DST) && !(sc->pd = proxy(sc->dst)))
        return false;
    return push_many(sc->src, repo_fmt, sc->n, args, sc->imgs) == 0;
}

static void scene_close(scene_t *sc)
{
    ferry_run_free(&sc->r);
    free_many(sc->imgs, sc->n);
    fx_proxy_stop(&sc->ps);
    fx_proxy_stop(&sc->pd);
    fx_registry_stop(&sc->src);
    fx_registry_stop(&sc->dst);
}

/* The HTTP status of `curl -I url` (HEAD), 0 when it could not be asked. */
static int http_head(const char *url)
{
    char *out = NULL;
    int code = 0;
    if (fx_run(
            &out,
            "curl -s -o /dev/null -I -w '%%{http_code}' -H 'Accept: "
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.docker.distribution.manifest.list.v2+json' '%s'",
            url) == 0 &&
        out)
        code = (int)strtol(out, NULL, 10);
    free(out);
    return code;
}

/* HEAD /v2/REPO/blobs/DIGEST (or manifests/REF) on r, anonymous. */
static int head_blob(const fx_registry_t *r, const char *repo, const char *digest)
{
    char url[512];
    snprintf(url, sizeof url, "%s/v2/%s/blobs/%s", r->url, repo, digest);
    return http_head(url);
}

static int head_manifest(const fx_registry_t *r, const char *repo, const char *ref)
{
    char url[512];
    snprintf(url, sizeof url, "%s/v2/%s/manifests/%s", r->url, repo, ref);
    return http_head(url);
}

/* ------------------------------------------------------------ journals */

/* The complete records of a journal (lines ending in a newline, headers not
 * counted): their keys, one per line, in *keys (caller frees; may be NULL).
 * Returns the number of records, -1 when the file cannot be read. */
static int journal_records(const char *path, char **keys)
{
    char *text = fx_read_file(path);
    if (keys)
        *keys = NULL;
    if (!text)
        return -1;
    size_t cap = strlen(text) + 1;
    char *out = keys ? calloc(1, cap) : NULL;
    size_t out_len = 0;
    int n = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break; /* torn */
        *nl = '\0';
        const char *key = strchr(line, ' ');
        if (key && strncmp(key + 1, "ferry-journal ", 14) != 0) {
            n++;
            if (out)
                out_len += (size_t)snprintf(out + out_len, cap - out_len, "%s\n", key + 1);
        }
        line = nl + 1;
    }
    free(text);
    if (keys)
        *keys = out;
    return n;
}

static bool wait_journal(const char *path, int records, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    do {
        if (journal_records(path, NULL) >= records)
            return true;
        sleep_ms(20);
    } while (now_ms() < end);
    fprintf(stderr, "  timed out waiting for %d journal records in %s\n", records, path);
    return false;
}

/* Is "KIND HOST/REPO@...DIGEST" (any kind when kind is NULL) among keys? */
static bool journal_keys_have(const char *keys, const char *kind, const char *repo_at_host,
                              const char *digest)
{
    char needle[512];
    snprintf(needle, sizeof needle, "%s %s", kind, repo_at_host);
    for (const char *line = keys; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > strlen(needle) && strncmp(line, needle, strlen(needle)) == 0 &&
            (line[strlen(needle)] == '@' || line[strlen(needle)] == ':')) {
            const char *at = memchr(line, '@', len);
            size_t dlen = strlen(digest);
            if (at && (size_t)(line + len - (at + 1)) == dlen && memcmp(at + 1, digest, dlen) == 0)
                return true;
        }
        line = nl ? nl + 1 : NULL;
    }
    return false;
}

/* Cuts `bytes` bytes off the end of a file (a torn last record). */
static int truncate_tail(const char *path, off_t bytes)
{
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size < bytes)
        return -1;
    return truncate(path, st.st_size - bytes);
}

/* Checks that a re-run's proxy log (p, in front of the target) names none of
 * the blobs journaled for imgs[] (migrated to DST_HOST/repo), and has no
 * manifest PUT for an image whose manifest was journaled. Returns the number
 * of journaled blobs. */
static int check_nothing_resent(json_t **imgs, int n, const char *keys, const fx_proxy_t *p,
                                const char *dst_host)
{
    int journaled = 0;
    for (int i = 0; i < n; i++) {
        const char *repo = json_str(imgs[i], "repo");
        char where[300];
        snprintf(where, sizeof where, "%s/%s", dst_host, repo);
        json_t *blobs = json_object_get(imgs[i], "blobs");
        for (size_t b = 0; b < json_array_size(blobs); b++) {
            const char *digest = json_str(json_array_get(blobs, b), "digest");
            if (!journal_keys_have(keys, "blob", where, digest))
                continue;
            journaled++;
            int again = proxy_count(p, NULL, digest, NULL);
            if (again)
                fprintf(stderr, "  blob %s of %s was journaled, yet requested %d time(s) again\n",
                        digest, repo, again);
            CHECK_INT(again, 0);
        }
        if (journal_keys_have(keys, "manifest", where, json_str(imgs[i], "digest"))) {
            char path[300];
            snprintf(path, sizeof path, "/v2/%s/manifests/", repo);
            CHECK_INT(proxy_count(p, "PUT", path, NULL), 0);
        }
    }
    return journaled;
}

/* ------------------------------------------------------------ 1. journal */

/* A SIGKILLed coordinator resumes from its journal: nothing journaled is sent
 * again (no request names it at all), a torn last record is dropped, and the result
 * verifies. */
static void test_journal(void)
{
    enum { N = 6 };
    json_t *imgs[N] = {0};
    fx_registry_t *src = registry(), *dst = registry();
    fx_proxy_t *p = dst ? proxy(dst) : NULL;
    ferry_run_t r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0}, r5 = {0};
    if (!src || !p)
        goto out;
    if (push_many(src, "jr/app%d", N, "--layers 2 --layer-size 2097152", imgs) < 0)
        goto out;
    /* Slow uploads: about 0.4 s a blob, two at a time. */
    rule(p, "{\"match\":\"^PUT /v2/.+/blobs/uploads/\",\"action\":\"delay\",\"seconds\":0.4,"
            "\"count\":-1}");
    const char *journal = work_path("journal.jnl");
    const char *report_path = work_path("journal-report.json");
    char args[1024];
    /* The journal belongs to the migration (command, source, target), not to
     * its options: the re-run changes --jobs and adds --report. */
    char args1[1024];
    snprintf(args1, sizeof args1, "mirror %s %s %s --jobs 2 --journal '%s'", src->host, p->host,
             insecure(src->host, p->host), journal);
    snprintf(args, sizeof args, "mirror %s %s %s --jobs 3 --journal '%s' --report '%s'", src->host,
             p->host, insecure(src->host, p->host), journal, report_path);

    int before = test_failures;
    if (ferry_bg(&r1, "%s", args1) < 0)
        goto out;
    CHECK(wait_journal(journal, 6, 60000));
    kill(r1.pid, SIGKILL);
    CHECK_INT(ferry_finish(&r1, 10000), 128 + SIGKILL);
    int total_tasks = N * 3 + N; /* config + 2 layers, and the manifest */
    int recorded = journal_records(journal, NULL);
    fprintf(stderr, "  killed with %d of %d tasks journaled\n", recorded, total_tasks);
    CHECK(recorded >= 6 && recorded < total_tasks);
    dump_if_failed(&r1, before);

    /* A torn last record: the next run drops it. */
    CHECK_INT(truncate_tail(journal, 5), 0);
    char *keys = NULL;
    int kept = journal_records(journal, &keys);
    CHECK_INT(kept, recorded - 1);
    proxy_reset(p);

    before = test_failures;
    ferry(&r2, "%s", args);
    CHECK_INT(r2.status, 0);
    check_finished(&r2, 0, 0, 0);
    {
        /* Another migration (another target) is refused the journal. */
        ferry_run_t other;
        ferry(&other, "mirror %s %s/elsewhere %s --journal '%s'", src->host, p->host,
              insecure(src->host, p->host), journal);
        CHECK_INT(other.status, 2);
        CHECK_CONTAINS(other.err, "belongs to another migration");
        ferry_run_free(&other);
    }
    int journaled_blobs = check_nothing_resent(imgs, N, keys, p, p->host);
    fprintf(stderr, "  %d journaled blob(s): none requested again\n", journaled_blobs);
    /* Images whose manifest reached the target before the kill are already
     * there (skipped whole); for the others the plan held every blob, less
     * those journaled, and each was copied, or found at the target when its
     * upload had landed unrecorded: exactly once. */
    json_t *report = load_json(report_path);
    int migrated = 0, skipped = 0, journaled_of_migrated = 0;
    for (int i = 0; i < N; i++) {
        char source[300], where[300];
        snprintf(source, sizeof source, "%s/%s:v1", src->host, json_str(imgs[i], "repo"));
        snprintf(where, sizeof where, "%s/%s", p->host, json_str(imgs[i], "repo"));
        const char *status = json_str(report_item(report, source), "status");
        skipped += strcmp(status, "skipped") == 0;
        if (strcmp(status, "migrated") != 0)
            continue;
        migrated++;
        json_t *blobs = json_object_get(imgs[i], "blobs");
        for (size_t b = 0; b < json_array_size(blobs); b++)
            journaled_of_migrated += journal_keys_have(
                keys, "blob", where, json_str(json_array_get(blobs, b), "digest"));
    }
    json_decref(report);
    CHECK_INT(migrated + skipped, N);
    if (journaled_of_migrated) {
        char want[96];
        snprintf(want, sizeof want, "journal: %d task(s) already done", journaled_of_migrated);
        CHECK_CONTAINS(r2.err, want);
    } else {
        CHECK(!strstr(r2.err, "already done"));
    }
    long copied, mounted, present;
    blob_counts(r2.out, &copied, &mounted, &present);
    CHECK_INT(copied + present, (long)(migrated * 3 - journaled_of_migrated));
    CHECK_INT(mounted, 0);
    CHECK(journaled_blobs >= journaled_of_migrated);
    CHECK(!strstr(r2.err, "corrupt"));
    CHECK(journal_records(journal, NULL) >= kept);
    free(keys);
    dump_if_failed(&r2, before);
    verify_ok(src->host, dst->host, insecure(src->host, dst->host), N);

    /* A new journal for the migrated target: each tag is found there (a
     * question each), and journaled; the next run asks the source only, the
     * target hears not one question about a tag. */
    snprintf(args, sizeof args, "mirror %s %s %s --jobs 3 --journal '%s'", src->host, p->host,
             insecure(src->host, p->host), work_path("journal2.jnl"));
    char want[96];
    snprintf(want, sizeof want, "Images: 0 migrated, %d already present, 0 failed", N);
    for (int run = 0; run < 2; run++) {
        ferry_run_t *r = run ? &r4 : &r3;
        proxy_reset(p);
        before = test_failures;
        ferry(r, "%s", args);
        CHECK_INT(r->status, 0);
        check_finished(r, 0, 0, 0);
        CHECK_CONTAINS(r->out, want);
        CHECK_INT(proxy_count(p, "HEAD", "/manifests/", NULL), run ? 0 : N);
        dump_if_failed(r, before);
    }
    snprintf(want, sizeof want, "journal: %d tag(s) unchanged at the source", N);
    CHECK_CONTAINS(r4.err, want);
    CHECK_INT(proxy_count(p, NULL, "/manifests/", NULL), 0);
    CHECK_INT(proxy_count(p, NULL, "/blobs/", NULL), 0);

    /* A tag moved at the source is not the journaled one: the target is asked
     * about that tag alone, and it is migrated again. A repository the target
     * lacks needs no question at all before its manifest is read. */
    json_t *moved = push(src, json_str(imgs[0], "repo"), "v1",
                         "--layers 2 --layer-size 65536 --seed journal-moved");
    json_t *fresh = push(src, "jr/fresh", "v1", "--layers 1 --layer-size 65536");
    proxy_reset(p);
    long src_mark = fx_log_mark(src);
    before = test_failures;
    ferry(&r5, "%s", args);
    CHECK_INT(r5.status, 0);
    check_finished(&r5, 0, 0, 0);
    snprintf(want, sizeof want, "Images: 2 migrated, %d already present, 0 failed", N - 1);
    CHECK_CONTAINS(r5.out, want);
    char path[300];
    snprintf(path, sizeof path, "/v2/%s/manifests/", json_str(imgs[0], "repo"));
    CHECK_INT(proxy_count(p, "HEAD", "/manifests/", NULL), 1);
    CHECK_INT(proxy_count(p, "HEAD", path, NULL), 1);
    CHECK_INT(proxy_count(p, "PUT", path, NULL), 1);
    CHECK_INT(fx_log_count(src, src_mark, "\"HEAD /v2/jr/fresh/manifests/v1"), 0);
    CHECK_INT(fx_log_count(src, src_mark, "\"GET /v2/jr/fresh/manifests/v1"), 1);
    dump_if_failed(&r5, before);
    json_decref(moved);
    json_decref(fresh);
    verify_ok(src->host, dst->host, insecure(src->host, dst->host), N + 1);
out:
    ferry_run_free(&r1);
    ferry_run_free(&r2);
    ferry_run_free(&r3);
    ferry_run_free(&r4);
    ferry_run_free(&r5);
    free_many(imgs, N);
    fx_proxy_stop(&p);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* ------------------------------------------------------------ 2. agents */

/* Waits until the coordinator's log says `agent ID lost`; returns the time
 * it took from `since`, or -1. */
static int64_t wait_lost(const ferry_run_t *coord, const char *id, int64_t since, int timeout_ms)
{
    char needle[96];
    snprintf(needle, sizeof needle, "agent %s lost", id);
    if (!wait_file(coord->err_path, needle, 1, timeout_ms))
        return -1;
    return now_ms() - since;
}

/* The number N in "agent ID lost (...); N task(s) requeued", -1 without. */
static int requeued(const char *err, const char *id)
{
    char needle[96];
    snprintf(needle, sizeof needle, "agent %s lost", id);
    const char *line = err ? strstr(err, needle) : NULL;
    const char *semi = line ? strstr(line, "); ") : NULL;
    int n = -1;
    if (semi)
        sscanf(semi, "); %d task(s) requeued", &n);
    return n;
}

/* One migration with two remote agents; `fault` hurts the second one once it
 * has finished a task: "kill" (SIGKILL) or "stop" (SIGSTOP, SIGCONT later). */
static void agents_run(fx_registry_t *src, fx_registry_t *dst, fx_proxy_t *p, const char *fault,
                       int n_images)
{
    ferry_run_t coord = {0};
    pid_t a1 = -1, a2 = -1;
    char id1[32], id2[32], endpoint[64], prefix[32];
    snprintf(id1, sizeof id1, "%s-1", fault);
    snprintf(id2, sizeof id2, "%s-2", fault);
    snprintf(prefix, sizeof prefix, "%s", strcmp(fault, "kill") == 0 ? "killed" : "stopped");
    int port = free_port("127.0.0.1");
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    int before = test_failures;
    fprintf(stderr, "-- agent %s\n", fault);
    char report[400];
    snprintf(report, sizeof report, "%s/agents-%s.json", workdir, fault);
    if (ferry_bg(&coord,
                 "mirror %s %s/%s %s --listen %s --agents 2 --heartbeat-ms %d --retries 5 "
                 "--report '%s' --insecure-control",
                 src->host, p->host, prefix, insecure(src->host, p->host), endpoint, HEARTBEAT_MS,
                 report) < 0)
        goto out;
    a1 = agent_start(endpoint, id1, NULL);
    a2 = agent_start(endpoint, id2, NULL);
    char joined[96];
    snprintf(joined, sizeof joined, "agent %s joined", id2);
    CHECK(wait_file(coord.err_path, joined, 1, 30000));
    /* Hurt it once it is busy: it has finished one task and holds others. */
    CHECK(wait_file(work_path("agent-%s.log", id2), "debug: task ", 1, 30000));
    int64_t t0 = now_ms();
    int tasks_before = agent_tasks(id1);
    if (strcmp(fault, "kill") == 0) {
        kill(a2, SIGKILL);
        CHECK_INT(bg_wait(a2, 5000), 128 + SIGKILL);
        a2 = -1;
        CHECK(wait_lost(&coord, id2, t0, 10000) >= 0);
    } else {
        kill(a2, SIGSTOP);
        int64_t took = wait_lost(&coord, id2, t0, 10000);
        fprintf(stderr, "  frozen agent declared lost after %lld ms (heartbeat %d ms)\n",
                (long long)took, HEARTBEAT_MS);
        /* Three intervals of silence, and the last heartbeat may be up to one
         * interval old: within 3 intervals plus polling slack. */
        CHECK(took >= 0 && took <= 3 * HEARTBEAT_MS + 400);
        sleep_ms(4 * HEARTBEAT_MS);
        kill(a2, SIGCONT);
        /* It notices the silence, reconnects on a fresh socket, is welcomed. */
        CHECK(wait_file(coord.err_path, joined, 2, 15000));
    }
    int status = ferry_finish(&coord, WAIT_RUN_MS);
    CHECK_INT(status, 0);
    check_finished(&coord, 0, 0, 0);
    char want[96];
    snprintf(want, sizeof want, "Images: %d migrated, 0 already present, 0 failed", n_images);
    CHECK_CONTAINS(coord.out, want);
    int n = requeued(coord.err, id2);
    fprintf(stderr, "  %d task(s) requeued from %s\n", n, id2);
    CHECK(n >= 1);
    /* The survivor took over: it finished tasks after the fault. */
    CHECK(agent_tasks(id1) > tasks_before);
    /* Every blob counted once: copied, or found at the target when a lost
     * agent's upload had landed. */
    long copied, mounted, present;
    blob_counts(coord.out, &copied, &mounted, &present);
    CHECK_INT(copied + present, n_images * 3);
    CHECK_INT(mounted, 0);
    /* Who did what: a line per agent, and the report's agents add up. */
    char line[96];
    snprintf(line, sizeof line, "Agent %s: ", id1);
    CHECK_CONTAINS(coord.out, line);
    json_t *doc = load_json(report);
    json_t *agents = json_object_get(doc, "agents");
    long long sum = 0;
    bool seen1 = false;
    for (size_t i = 0; i < json_array_size(agents); i++) {
        json_t *a = json_array_get(agents, i);
        sum += json_integer_value(json_object_get(a, "bytes"));
        seen1 |= json_str(a, "id") && strcmp(json_str(a, "id"), id1) == 0;
    }
    CHECK(seen1);
    CHECK(json_array_size(agents) >= 1);
    CHECK(report_count(doc, "bytes") > 0);
    CHECK_INT(sum, report_count(doc, "bytes"));
    json_decref(doc);
    if (strcmp(fault, "stop") == 0) {
        const char *log2 = work_path("agent-%s.log", id2);
        /* It found its session gone (silence, or "expected HELLO") and came back. */
        CHECK(file_has(log2, "reconnecting in"));
        CHECK_INT(file_count(log2, "connected to "), 2);
    }
    dump_if_failed(&coord, before);
    char src_prefix[300], dst_prefix[300];
    snprintf(src_prefix, sizeof src_prefix, "%s", src->host);
    snprintf(dst_prefix, sizeof dst_prefix, "%s/%s", dst->host, prefix);
    verify_ok(src_prefix, dst_prefix, insecure(src->host, dst->host), n_images);
out:
    agent_stop(a1, id1);
    agent_stop(a2, id2);
    if (test_failures > before) {
        for (int i = 1; i <= 2; i++) {
            char *log = fx_read_file(work_path("agent-%s-%d.log", fault, i));
            fprintf(stderr, "--- agent %s-%d\n%s---\n", fault, i, log ? log : "");
            free(log);
        }
    }
    ferry_run_free(&coord);
}

static void test_agents(void)
{
    enum { N = 6 };
    json_t *imgs[N] = {0};
    fx_registry_t *src = registry(), *dst = registry();
    fx_proxy_t *p = dst ? proxy(dst) : NULL;
    if (!src || !p)
        goto out;
    if (push_many(src, "ag/app%d", N, "--layers 2 --layer-size 524288", imgs) < 0)
        goto out;
    /* Each upload takes 0.8 s: the agents hold tasks when they are hurt. */
    rule(p, "{\"match\":\"^PUT /v2/.+/blobs/uploads/\",\"action\":\"delay\",\"seconds\":0.8,"
            "\"count\":-1}");
    agents_run(src, dst, p, "kill", N);
    agents_run(src, dst, p, "stop", N);
out:
    free_many(imgs, N);
    fx_proxy_stop(&p);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* ------------------------------------------------------------ 3. security */

#define SEC_ADDR "10.200.66.1"

/* Moves this process into a fresh network namespace, made by name
 * (ferry-t-f6sec-PID) and unnamed again at once, so nothing is left behind
 * however the test ends; brings up lo with SEC_ADDR on it. */
static int enter_netns(void)
{
    char name[64], path[128];
    snprintf(name, sizeof name, "ferry-t-f6sec-%d", (int)getpid());
    snprintf(path, sizeof path, "/run/netns/%s", name);
    if (fx_run(NULL, "ip netns add %s", name) != 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd >= 0 ? setns(fd, CLONE_NEWNET) : -1;
    if (fd >= 0)
        close(fd);
    fx_run(NULL, "ip netns del %s", name);
    if (rc != 0) {
        fprintf(stderr, "setns %s: %s\n", path, strerror(errno));
        return -1;
    }
    return fx_run(NULL, "ip link set lo up && ip addr add " SEC_ADDR "/32 dev lo") == 0 ? 0 : -1;
}

/* The Z85 public key in a key file's "public = KEY" line (static). */
static const char *public_key(const char *path)
{
    static char key[64];
    char *text = fx_read_file(path);
    const char *p = text ? strstr(text, "public = ") : NULL;
    key[0] = '\0';
    if (p)
        sscanf(p + 9, "%40s", key);
    free(text);
    return key;
}

static void security_in_netns(void)
{
    enum { N = 3 };
    json_t *imgs[N] = {0};
    ferry_run_t r = {0}, coord = {0};
    pid_t good = -1, bad = -1;
    fx_registry_t *src = fx_registry_start("basic", 0), *dst = fx_registry_start("basic", 0);
    CHECK(src && dst);
    if (!src || !dst)
        goto out;
    if (push_many(src, "sec/app%d", N, "--layers 2 --layer-size 262144", imgs) < 0)
        goto out;
    char creds[768];
    snprintf(creds, sizeof creds, "--src-creds '%s:%s' --dst-creds '%s:%s' %s", src->user,
             src->password, dst->user, dst->password, insecure(src->host, dst->host));
    int port = free_port(SEC_ADDR);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://%s:%d", SEC_ADDR, port);
    const char *coord_key = work_path("coordinator.key");
    const char *good_key = work_path("good.key");
    const char *bad_key = work_path("bad.key");
    const char *allow = work_path("allowed-agents");
    CHECK_INT(fx_run(NULL, "'%s' keygen '%s' >/dev/null", FERRY_BIN, coord_key), 0);
    CHECK_INT(fx_run(NULL, "'%s' keygen '%s' >/dev/null", FERRY_AGENT_BIN, good_key), 0);
    CHECK_INT(fx_run(NULL, "'%s' keygen '%s' >/dev/null", FERRY_AGENT_BIN, bad_key), 0);
    char allow_text[128];
    snprintf(allow_text, sizeof allow_text, "%s  the good agent\n",
             public_key(work_path("good.key.pub")));
    CHECK_INT(write_file(allow, allow_text), 0);

    /* Off loopback without CURVE: a usage error, before anything is sent. */
    int before = test_failures;
    ferry(&r, "mirror %s %s %s --listen %s --agents 1", src->host, dst->host, creds, endpoint);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "agents must authenticate");
    CHECK(!strstr(r.err, src->password));
    dump_if_failed(&r, before);
    ferry_run_free(&r);
    ferry(&r, "mirror %s %s %s --listen %s --server-key '%s'", src->host, dst->host, creds,
          endpoint, coord_key);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "--allow-keys");
    ferry_run_free(&r);

    /* --insecure-control lets it listen there in the clear. */
    before = test_failures;
    if (ferry_bg(&r, "mirror %s %s %s --listen %s --agents 1 --insecure-control", src->host,
                 dst->host, creds, endpoint) == 0) {
        char waiting[128];
        snprintf(waiting, sizeof waiting, "waiting for agents on %s", endpoint);
        CHECK(wait_file(r.err_path, waiting, 1, 30000));
        char *ss = NULL;
        fx_run(&ss, "ss -Hltn 'sport = :%d'", port);
        CHECK_CONTAINS(ss, SEC_ADDR ":");
        free(ss);
        kill(r.pid, SIGINT);
        CHECK_INT(ferry_finish(&r, 40000), 1);
        CHECK(!strstr(r.err, src->password));
        dump_if_failed(&r, before);
        ferry_run_free(&r);
    }

    /* CURVE with an allowlist: the unknown agent knocks first, and gets
     * nothing; the listed one does the work. */
    char agent_args[512];
    snprintf(agent_args, sizeof agent_args, "--server-key '%s.pub' --key '%s'", coord_key, bad_key);
    bad = agent_start(endpoint, "intruder", agent_args);
    before = test_failures;
    if (ferry_bg(&coord,
                 "mirror %s %s %s --listen %s --agents 1 --heartbeat-ms %d --server-key '%s' "
                 "--allow-keys '%s' --report '%s'",
                 src->host, dst->host, creds, endpoint, HEARTBEAT_MS, coord_key, allow,
                 work_path("security-report.json")) < 0)
        goto out;
    char waiting[128];
    snprintf(waiting, sizeof waiting, "waiting for agents on %s", endpoint);
    CHECK(wait_file(coord.err_path, waiting, 1, 30000));
    /* The intruder tried at least once: no WELCOME within 3 s, reconnect. */
    const char *bad_log = work_path("agent-intruder.log");
    CHECK(wait_file(bad_log, "no WELCOME", 1, 15000));
    snprintf(agent_args, sizeof agent_args, "--server-key '%s.pub' --key '%s'", coord_key,
             good_key);
    good = agent_start(endpoint, "trusted", agent_args);
    CHECK_INT(ferry_finish(&coord, WAIT_RUN_MS), 0);
    check_finished(&coord, 0, 0, 0);
    CHECK_CONTAINS(coord.out, "Images: 3 migrated, 0 already present, 0 failed");
    CHECK_CONTAINS(coord.err, "agent trusted joined");
    CHECK(!strstr(coord.err, "agent intruder"));
    CHECK(!strstr(coord.err, src->password));
    CHECK(!strstr(coord.out, src->password));
    const char *good_log = work_path("agent-trusted.log");
    CHECK(file_has(good_log, "connected to"));
    CHECK(agent_tasks("trusted") >= N * 4);
    CHECK(!file_has(good_log, src->password));
    /* The refused key is said once on each side, with its first characters;
     * the intruder backs off quietly. */
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%.12s", public_key(work_path("bad.key.pub")));
    char said[96];
    snprintf(said, sizeof said, "refused an agent key %s...", prefix);
    CHECK_INT(file_count(coord.err_path, said), 1);
    CHECK_INT(file_count(bad_log, "does not accept this agent's key"), 1);
    CHECK_INT(file_count(bad_log, "warning: sending"), 0);
    /* The intruder: never welcomed, never given a task or a credential. */
    CHECK(!file_has(bad_log, "connected to"));
    CHECK(!file_has(bad_log, "task"));
    CHECK(!file_has(bad_log, src->password));
    CHECK(!file_has(bad_log, dst->password));
    dump_if_failed(&coord, before);
    if (test_failures > before) {
        char *log = fx_read_file(bad_log);
        fprintf(stderr, "--- intruder\n%s---\n", log ? log : "");
        free(log);
    }
    verify_ok(src->host, dst->host, creds, N);
out:
    agent_stop(good, "trusted");
    agent_stop(bad, "intruder");
    ferry_run_free(&r);
    ferry_run_free(&coord);
    free_many(imgs, N);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* Runs in a child process moved into its own network namespace, where
 * SEC_ADDR is an address of this "host" that is not loopback. */
static void test_security(void)
{
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        if (enter_netns() < 0) {
            fprintf(stderr, "cannot make a network namespace for the test\n");
            _exit(1);
        }
        security_in_netns();
        bg_kill_all();
        fprintf(stderr, "  (in the namespace: %d checks, %d failed)\n", test_checks, test_failures);
        fflush(NULL);
        exit(test_failures > 100 ? 100 : test_failures);
    }
    int status = 0;
    CHECK(child > 0);
    if (child > 0 && waitpid(child, &status, 0) == child) {
        CHECK(WIFEXITED(status));
        if (WIFEXITED(status))
            test_failures += WEXITSTATUS(status);
    }
}

/* ------------------------------------------------------------ 4. registries */

/* The target registry restarts while a 128 MiB blob is being uploaded in
 * chunks: the agent resumes (or restarts) the upload; the blob arrives whole. */
static void test_restart(void)
{
    json_t *big = NULL, *small = NULL;
    ferry_run_t r = {0};
    fx_registry_t *src = registry(), *dst = registry();
    fx_proxy_t *p = dst ? proxy(dst) : NULL;
    if (!src || !p)
        goto out;
    big = push(src, "big/app", "v1", "--layers 1 --layer-size 134217728");
    small = push(src, "small/app", "v1", "--layers 2 --layer-size 262144");
    if (!big || !small)
        goto out;
    const char *layer = json_string_value(json_array_get(json_object_get(big, "layers"), 0));
    /* The upload's last request waits in the proxy: however fast the chunks
     * go, the restart comes before the upload is complete. */
    char json[512];
    snprintf(json, sizeof json,
             "{\"match\":\"^PUT /v2/big/app/blobs/uploads/.*%s\",\"action\":\"delay\","
             "\"seconds\":3,\"count\":1}",
             layer + 7);
    rule(p, json);
    int before = test_failures;
    if (ferry_bg(&r, "mirror %s %s %s --jobs 2 --chunk-mib 32", src->host, p->host,
                 insecure(src->host, p->host)) < 0)
        goto out;
    char dst_log[512];
    snprintf(dst_log, sizeof dst_log, "%s/registry.log", dst->dir);
    CHECK(wait_file(dst_log, "\"PATCH /v2/big/app/blobs/uploads/", 1, 60000));
    CHECK_INT(head_blob(dst, "big/app", layer), 404);
    CHECK_INT(fx_registry_restart(dst), 0);
    long mark = fx_log_mark(dst);
    fprintf(stderr, "  target registry restarted mid-upload\n");
    CHECK_INT(ferry_finish(&r, WAIT_RUN_MS), 0);
    check_finished(&r, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 2 migrated, 0 already present, 0 failed");
    /* The upload was completed by the restarted registry. */
    CHECK_INT(fx_log_count(dst, mark, "\"PUT /v2/big/app/blobs/uploads/", layer + 7, "\" 201 "), 1);
    fprintf(stderr, "  after the restart: %d PATCH, %d POST, %d GET of upload state\n",
            fx_log_count(dst, mark, "\"PATCH /v2/big/app/blobs/uploads/"),
            fx_log_count(dst, mark, "\"POST /v2/big/app/blobs/uploads/"),
            fx_log_count(dst, mark, "\"GET /v2/big/app/blobs/uploads/"));
    CHECK_INT(head_blob(dst, "big/app", layer), 200);
    dump_if_failed(&r, before);
    verify_ok(src->host, dst->host, insecure(src->host, dst->host), 2);
out:
    ferry_run_free(&r);
    json_decref(big);
    json_decref(small);
    fx_proxy_stop(&p);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* Bearer tokens live 2 seconds; uploads are slowed so one repository's
 * blobs take several token lifetimes: ferry fetches fresh tokens and
 * finishes. */
static void test_token(void)
{
    json_t *big = NULL, *small = NULL;
    ferry_run_t r = {0};
    fx_registry_t *src = registry(), *dst = fx_registry_start_opts("token", "--token-ttl 2");
    CHECK(dst != NULL);
    fx_proxy_t *p = dst ? proxy(dst) : NULL;
    if (!src || !p)
        goto out;
    big = push(src, "tok/many", "v1", "--layers 10 --layer-size 131072");
    small = push(src, "tok/few", "v1", "--layers 2 --layer-size 131072");
    if (!big || !small)
        goto out;
    rule(p, "{\"match\":\"^PUT /v2/.+/blobs/uploads/\",\"action\":\"delay\",\"seconds\":0.6,"
            "\"count\":-1}");
    int scopes_before = file_count(dst->scopes_file, "repository:tok/many:");
    int before = test_failures;
    ferry(&r, "mirror %s %s %s --jobs 2 --dst-creds '%s:%s'", src->host, p->host,
          insecure(src->host, p->host), dst->user, dst->password);
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 2 migrated, 0 already present, 0 failed");
    /* 11 blobs of one repository, two at a time, 0.6 s each: more than two
     * token lifetimes, so its token was renewed on the way. */
    int scopes = file_count(dst->scopes_file, "repository:tok/many:") - scopes_before;
    fprintf(stderr, "  tok/many: %d token request(s) in %.1f s\n", scopes,
            (double)r.elapsed_ms / 1000.0);
    CHECK(r.elapsed_ms > 3500);
    CHECK(scopes >= 2);
    long copied, mounted, present;
    blob_counts(r.out, &copied, &mounted, &present);
    CHECK_INT(copied, 11 + 3);
    dump_if_failed(&r, before);
    char creds[256];
    snprintf(creds, sizeof creds, "--dst-creds '%s:%s' %s", dst->user, dst->password,
             insecure(src->host, dst->host));
    verify_ok(src->host, dst->host, creds, 2);
out:
    ferry_run_free(&r);
    json_decref(big);
    json_decref(small);
    fx_proxy_stop(&p);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* Both registries answer in bursts of 429 and 503 with Retry-After. */
static void test_throttle(void)
{
    enum { N = 3 };
    json_t *imgs[N] = {0};
    ferry_run_t r = {0};
    fx_registry_t *src = registry(), *dst = registry();
    fx_proxy_t *ps = src ? proxy(src) : NULL, *pd = dst ? proxy(dst) : NULL;
    if (!ps || !pd)
        goto out;
    if (push_many(src, "thr/app%d", N, "--layers 2 --layer-size 262144", imgs) < 0)
        goto out;
    rule(ps, "[{\"match\":\"^GET /v2/.+/blobs/sha256:\",\"action\":\"status\",\"status\":429,"
             "\"retry_after\":1,\"count\":3},"
             "{\"match\":\"^GET /v2/.+/manifests/\",\"action\":\"status\",\"status\":503,"
             "\"retry_after\":1,\"count\":2}]");
    rule(pd, "[{\"match\":\"^PUT /v2/.+/blobs/uploads/\",\"action\":\"status\",\"status\":503,"
             "\"retry_after\":1,\"count\":3},"
             "{\"match\":\"^POST /v2/.+/blobs/uploads/\",\"action\":\"status\",\"status\":429,"
             "\"retry_after\":1,\"count\":3},"
             "{\"match\":\"^PUT /v2/.+/manifests/\",\"action\":\"status\",\"status\":429,"
             "\"retry_after\":1,\"count\":2}]");
    int before = test_failures;
    ferry(&r, "mirror %s %s %s --jobs 4", ps->host, pd->host, insecure(ps->host, pd->host));
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 3 migrated, 0 already present, 0 failed");
    /* Every burst was served, and waited for. */
    CHECK_INT(proxy_count(ps, NULL, NULL, "status"), 5);
    CHECK_INT(proxy_count(pd, NULL, NULL, "status"), 8);
    CHECK(r.elapsed_ms >= 1000);
    long copied, mounted, present;
    blob_counts(r.out, &copied, &mounted, &present);
    CHECK_INT(copied + present, N * 3);
    dump_if_failed(&r, before);
    verify_ok(src->host, dst->host, insecure(src->host, dst->host), N);
out:
    ferry_run_free(&r);
    free_many(imgs, N);
    fx_proxy_stop(&ps);
    fx_proxy_stop(&pd);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* Connections cut in the middle of a body: blob downloads, the
 * coordinator's manifest download, and an upload dropped without an answer. */
static void test_cut(void)
{
    enum { N = 3 };
    scene_t sc;
    if (!scene_open(&sc, PROXY_SRC | PROXY_DST, "cut/app%d", N, "--layers 2 --layer-size 1048576"))
        goto out;
    rule(sc.ps,
         "[{\"match\":\"^GET /v2/.+/blobs/sha256:\",\"action\":\"cut\",\"after_bytes\":300000,"
         "\"count\":2},"
         "{\"match\":\"^GET /v2/.+/manifests/\",\"action\":\"cut\",\"after_bytes\":100,"
         "\"count\":1}]");
    rule(sc.pd, "{\"match\":\"^PUT /v2/.+/blobs/uploads/\",\"action\":\"drop\",\"count\":1}");
    int before = test_failures;
    ferry(&sc.r, "mirror %s %s %s --jobs 4", sc.ps->host, sc.pd->host,
          insecure(sc.ps->host, sc.pd->host));
    CHECK_INT(sc.r.status, 0);
    check_finished(&sc.r, 0, 0, 0);
    CHECK_CONTAINS(sc.r.out, "Images: 3 migrated, 0 already present, 0 failed");
    CHECK_INT(proxy_count(sc.ps, NULL, NULL, "cut"), 3);
    CHECK_INT(proxy_count(sc.pd, NULL, NULL, "drop"), 1);
    long copied, mounted, present;
    blob_counts(sc.r.out, &copied, &mounted, &present);
    CHECK_INT(copied + present, N * 3);
    dump_if_failed(&sc.r, before);
    verify_ok(sc.src->host, sc.dst->host, insecure(sc.src->host, sc.dst->host), N);
out:
    scene_close(&sc);
}

/* A hostile source: its catalog lists a path-traversing repository and its
 * tag listing a path-traversing tag and one with terminal escapes. Each is
 * a counted failure with its reason; nothing is written at the target
 * outside the mapped prefix, and no escape reaches the terminal. */
static void test_names(void)
{
    ferry_run_t r = {0};
    fx_registry_t *src = registry(), *dst = registry();
    fx_proxy_t *ps = src ? proxy(src) : NULL;
    json_t *img = src ? push(src, "good/app", "v1", "--layers 1") : NULL;
    /* What the traversals reach at the source, were they followed. */
    json_t *v1 = src ? push(src, "victim", "prod", "--layers 1") : NULL;
    json_t *v2 = src ? push(src, "victim", "prod3", "--layers 1") : NULL;
    if (!ps || !dst || !img || !v1 || !v2)
        goto out;
    rule(ps, "[{\"match\":\"^GET /v2/_catalog\",\"action\":\"answer\",\"count\":-1,"
             "\"body\":{\"repositories\":[\"good/app\",\"x/../../victim\"]}},"
             "{\"match\":\"^GET /v2/good/app/tags/list\",\"action\":\"answer\",\"count\":-1,"
             "\"body\":{\"name\":\"good/app\",\"tags\":[\"v1\","
             "\"v1/../../../../victim/manifests/prod3\",\"x\\u001b]0;PWNED\\u0007\"]}}]");
    long mark = fx_log_mark(dst);
    int before = test_failures;
    char report[400];
    snprintf(report, sizeof report, "%s/names-report.json", workdir);
    ferry(&r, "mirror %s %s/mirror --report %s %s", ps->host, dst->host, report,
          insecure(ps->host, dst->host));
    CHECK_INT(r.status, 1);
    /* Two tags failed (X), one repository (Y); the good tag migrated. */
    check_finished(&r, 2, 1, 0);
    CHECK_CONTAINS(r.out, "Images: 1 migrated, 0 already present, 2 failed");
    CHECK_CONTAINS(r.err, "path traversal");
    CHECK(!strchr(r.err, 0x1b) && !strchr(r.out, 0x1b));
    /* The target saw writes to the mapped repository only. */
    CHECK_INT(fx_log_count(dst, mark, "\"PUT /v2/mirror/good/app/manifests/v1"), 1);
    CHECK_INT(fx_log_count(dst, mark, "victim"), 0);
    CHECK_INT(fx_log_count(dst, mark, "\"PUT /v2/", "\" 201 "), fx_log_count(dst, mark,
                                                                           "\"PUT /v2/mirror/"));
    /* And the source was never asked about the bad names. */
    CHECK_INT(proxy_count(ps, NULL, "victim", NULL), 0);
    CHECK_INT(proxy_count(ps, NULL, "PWNED", NULL), 0);
    json_t *doc = load_json(report);
    CHECK_INT(report_count(doc, "repositories_failed"), 1);
    CHECK_INT(report_count(doc, "failed"), 2);
    json_decref(doc);
    dump_if_failed(&r, before);
out:
    ferry_run_free(&r);
    json_decref(img);
    json_decref(v1);
    json_decref(v2);
    fx_proxy_stop(&ps);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* A source whose catalog never ends (every page links to one more): SIGTERM
 * during discovery ends the run within a second, exit 1, nothing written. */
static void test_endless(void)
{
    ferry_run_t r = {0};
    fx_registry_t *src = registry(), *dst = registry();
    fx_proxy_t *ps = src ? proxy(src) : NULL;
    if (!ps || !dst)
        goto out;
    rule(ps, "{\"match\":\"^GET /v2/_catalog\",\"action\":\"answer\",\"count\":-1,"
             "\"body\":{\"repositories\":[\"a\"]},"
             "\"headers\":{\"Link\":\"<{path}&more=1>; rel=\\\"next\\\"\"}}");
    long mark = fx_log_mark(dst);
    int before = test_failures;
    if (ferry_bg(&r, "mirror %s %s %s", ps->host, dst->host, insecure(ps->host, dst->host)) < 0)
        goto out;
    usleep(1500 * 1000);
    CHECK(proxy_count(ps, "GET", "/v2/_catalog", "answer") > 3); /* still listing */
    int64_t t0 = now_ms();
    kill(r.pid, SIGTERM);
    CHECK_INT(ferry_finish(&r, 20000), 1);
    CHECK(now_ms() - t0 < 1500);
    CHECK_INT(fx_log_count(dst, mark, "\"PUT /v2/"), 0);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* Pages of long names: the listing stops at its byte cap with a clear
     * error (a counted failure), instead of growing without end. */
    proxy_reset(ps);
    char *rule_text = NULL;
    size_t rule_len = 0;
    FILE *f = open_memstream(&rule_text, &rule_len);
    if (f) {
        fputs("{\"match\":\"^GET /v2/_catalog\",\"action\":\"answer\",\"count\":-1,"
              "\"headers\":{\"Link\":\"<{path}&more=1>; rel=\\\"next\\\"\"},"
              "\"body\":{\"repositories\":[",
              f);
        for (int i = 0; i < 3000; i++) /* 3000 names of 2 KiB: 6 MiB a page */
            fprintf(f, "%s\"n%04d%02040d\"", i ? "," : "", i, 0);
        fputs("]}}", f);
        fclose(f);
    }
    char rules_path[400];
    snprintf(rules_path, sizeof rules_path, "%s/long-names.json", workdir);
    CHECK(rule_text && write_file(rules_path, rule_text) == 0);
    free(rule_text);
    CHECK_INT(fx_run(NULL, "curl -sf -o /dev/null -X POST --data-binary @'%s' %s/__fault",
                     rules_path, ps->url),
              0);
    before = test_failures;
    ferry(&r, "mirror %s %s %s", ps->host, dst->host, insecure(ps->host, dst->host));
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "the names listed exceed 64 MiB");
    check_finished(&r, 0, 1, 0);
    CHECK(proxy_count(ps, "GET", "/v2/_catalog", "answer") <= 12);
    dump_if_failed(&r, before);
out:
    ferry_run_free(&r);
    fx_proxy_stop(&ps);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* An agent that joins 2 s late: the summary's rate counts the transfer's
 * own time, and says how long it waited for agents. */
static void test_late(void)
{
    enum { N = 2 };
    ferry_run_t r = {0};
    json_t *imgs[N] = {0};
    pid_t agent = -1;
    fx_registry_t *src = registry(), *dst = registry();
    if (!src || !dst || push_many(src, "late/app%d", N, "--layers 2 --layer-size 200000", imgs) < 0)
        goto out;
    char endpoint[64], report[400];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", free_port("127.0.0.1"));
    snprintf(report, sizeof report, "%s/late.json", workdir);
    int before = test_failures;
    if (ferry_bg(&r, "mirror %s %s %s --listen %s --agents 1 --insecure-control --report '%s'",
                 src->host, dst->host,
                 insecure(src->host, dst->host), endpoint, report) < 0)
        goto out;
    sleep_ms(2000);
    agent = agent_start(endpoint, "late", NULL);
    CHECK_INT(ferry_finish(&r, WAIT_RUN_MS), 0);
    CHECK_CONTAINS(r.out, "waiting for agents");
    json_t *doc = load_json(report);
    double wait_s = json_real_value(json_object_get(doc, "wait_s"));
    double transfer_s = json_real_value(json_object_get(doc, "transfer_s"));
    double duration_s = json_real_value(json_object_get(doc, "duration_s"));
    fprintf(stderr, "  waited %.2f s, transferred for %.2f s of %.2f s\n", wait_s, transfer_s,
            duration_s);
    CHECK(wait_s >= 1.5);
    CHECK(transfer_s > 0 && transfer_s + wait_s <= duration_s + 0.2);
    json_decref(doc);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
    agent_stop(agent, "late");
    agent = -1;

    /* Two agents asked for, one comes: --agents-timeout gives up, naming it. */
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", free_port("127.0.0.1"));
    before = test_failures;
    agent = agent_start(endpoint, "only-one", NULL);
    int64_t t0 = now_ms();
    CHECK_INT(ferry(&r, "mirror %s %s/other %s --listen %s --agents 2 --agents-timeout 3 "
                        "--insecure-control",
                    src->host, dst->host, insecure(src->host, dst->host), endpoint),
              2);
    CHECK(now_ms() - t0 < 20000);
    CHECK_CONTAINS(r.err, "1 of 2 agents joined");
    CHECK_CONTAINS(r.err, "only-one");
    dump_if_failed(&r, before);
out:
    agent_stop(agent, "late");
    ferry_run_free(&r);
    free_many(imgs, N);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* The leading whole number of text, 0 when none. */
static long atoi_safe(const char *text)
{
    return strtol(text, NULL, 10);
}

/* Waits until repo_ref at r has the manifest digest want; returns the ms it
 * took, -1 on timeout. */
static int64_t wait_digest(const fx_registry_t *r, const char *repo_ref, const char *want,
                           int timeout_ms)
{
    int64_t t0 = now_ms();
    char got[DIGEST_STR_MAX];
    while (now_ms() - t0 < timeout_ms) {
        if (fx_skopeo_digest(r, repo_ref, got) == 0 && strcmp(got, want) == 0)
            return now_ms() - t0;
        sleep_ms(100);
    }
    return -1;
}

/* Continuous replication: a real registry's notifications reach --http; with
 * --watch at ten minutes, a pushed tag and a repointed one are at the target
 * within seconds, a push outside the selection changes nothing, events
 * without the token are refused, /metrics parses as Prometheus text, and
 * SIGTERM ends it with exit 0 and the banner last. */
static void test_watch(void)
{
    ferry_run_t r = {0};
    json_t *v1 = NULL, *v2 = NULL, *v1b = NULL, *other = NULL;
    int port = free_port("127.0.0.1");
    char extra[200], journal[400], url[64];
    snprintf(extra, sizeof extra, "--notify http://127.0.0.1:%d/events --notify-token watch-token",
             port);
    snprintf(journal, sizeof journal, "%s/watch.journal", workdir);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    fx_registry_t *src = fx_registry_start_opts("anon", extra), *dst = registry();
    CHECK(src != NULL);
    if (!src || !dst || !(v1 = push(src, "team/app", "v1", "--layers 1")))
        goto out;
    int before = test_failures;
    if (ferry_bg(&r, "mirror %s/team %s/team %s --watch 10m --http 127.0.0.1:%d --http-token "
                     "watch-token --journal '%s'",
                 src->host, dst->host, insecure(src->host, dst->host), port, journal) < 0)
        goto out;
    CHECK(wait_digest(dst, "team/app:v1", json_str(v1, "digest"), 30000) >= 0);
    CHECK(wait_file(r.err_path, "pass: 1 migrated", 1, 10000)); /* the first pass is over */

    /* A push, then a repointed tag: each at the target within seconds. */
    v2 = push(src, "team/app", "v2", "--layers 1 --seed pushed-later");
    int64_t took = v2 ? wait_digest(dst, "team/app:v2", json_str(v2, "digest"), 15000) : -1;
    fprintf(stderr, "  pushed tag at the target after %lld ms\n", (long long)took);
    CHECK(took >= 0);
    v1b = push(src, "team/app", "v1", "--layers 1 --seed repointed");
    took = v1b ? wait_digest(dst, "team/app:v1", json_str(v1b, "digest"), 15000) : -1;
    fprintf(stderr, "  repointed tag at the target after %lld ms\n", (long long)took);
    CHECK(took >= 0);

    /* Outside the selection: nothing moves; events need the token. */
    long mark = fx_log_mark(dst);
    other = push(src, "other/app", "v1", "--layers 1");
    sleep_ms(3000);
    CHECK_INT(fx_log_count(dst, mark, "other/app"), 0);
    char *code = NULL;
    CHECK_INT(fx_run(&code, "curl -s -o /dev/null -w '%%{http_code}' -X POST -d '{\"events\":[]}' "
                            "%s/events", url),
              0);
    CHECK_STR(code, "401");
    free(code);
    CHECK_INT(fx_run(NULL, "curl -sf %s/healthz >/dev/null", url), 0);
    /* /metrics is Prometheus text (parsed by prometheus_client), with the
     * watch's figures; `ferry status URL` reads /status. */
    char *passes = NULL;
    CHECK_INT(fx_run(&passes,
                     "curl -sf %s/metrics | /usr/bin/python3 -c 'import sys; from "
                     "prometheus_client.parser import text_string_to_metric_families as p; "
                     "f = {m.name: m for m in p(sys.stdin.read())}; "
                     "print(int(f[\"ferry_passes\"].samples[0].value), "
                     "\"ferry_replication_lag_seconds\" in f)'",
                     url),
              0);
    CHECK(passes && atoi_safe(passes) >= 3);
    CHECK(passes && strstr(passes, "True"));
    free(passes);
    char *status = NULL;
    CHECK_INT(fx_run(&status, "'%s' status %s", FERRY_BIN, url), 0);
    CHECK_CONTAINS(status, "watch:");
    free(status);

    int64_t t0 = now_ms();
    kill(r.pid, SIGTERM);
    CHECK_INT(ferry_finish(&r, 30000), 0);
    CHECK(now_ms() - t0 < 10000);
    check_finished(&r, 0, 0, 0);
    char *j = fx_read_file(journal);
    CHECK(j && strstr(j, "manifest ") != NULL);
    free(j);
    dump_if_failed(&r, before);
out:
    if (r.pid > 0 && !r.out) {
        kill(r.pid, SIGKILL);
        ferry_finish(&r, 5000);
    }
    ferry_run_free(&r);
    json_decref(v1);
    json_decref(v2);
    json_decref(v1b);
    json_decref(other);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* Requests a proxy saw with an Authorization header (any path). */
static int proxy_authed(const fx_proxy_t *p)
{
    json_t *log = fx_proxy_log(p);
    int n = 0;
    for (size_t i = 0; i < json_array_size(log); i++)
        n += json_is_true(json_object_get(json_array_get(log, i), "auth"));
    json_decref(log);
    return n;
}

/* Credentials stay with their origin: a catalog page whose Link points at
 * another host is refused (no request reaches it), and an upload Location
 * on another host is followed without the target's credentials. A
 * collector on another port records whatever arrives. */
static void test_origins(void)
{
    ferry_run_t r = {0};
    fx_registry_t *src = fx_registry_start_opts("basic", NULL);
    fx_registry_t *dst = fx_registry_start_opts("basic", NULL);
    fx_registry_t *other = registry();
    fx_proxy_t *ps = src ? proxy(src) : NULL, *pd = dst ? proxy(dst) : NULL;
    fx_proxy_t *collector = other ? proxy(other) : NULL;
    json_t *img = src ? push(src, "lnk/app", "v1", "--layers 1") : NULL;
    if (!ps || !pd || !collector || !img)
        goto out;
    char rule_text[600];
    snprintf(rule_text, sizeof rule_text,
             "{\"match\":\"^GET /v2/_catalog\",\"action\":\"answer\",\"count\":-1,"
             "\"body\":{\"repositories\":[\"lnk/app\"]},"
             "\"headers\":{\"Link\":\"<%s/v2/_catalog?n=1&last=lnk>; rel=\\\"next\\\"\"}}",
             collector->url);
    rule(ps, rule_text);
    int before = test_failures;
    char creds[200];
    snprintf(creds, sizeof creds, "--src-creds %s:%s --dst-creds %s:%s", src->user, src->password,
             dst->user, dst->password);
    ferry(&r, "mirror %s %s %s %s", ps->host, pd->host, creds, insecure(ps->host, pd->host));
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "points at another origin");
    CHECK_INT(proxy_count(collector, NULL, NULL, NULL), 0);
    CHECK(proxy_authed(ps) > 0); /* the source itself did get them */
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* An upload Location on another host: followed without credentials. */
    proxy_reset(ps);
    snprintf(rule_text, sizeof rule_text,
             "{\"match\":\"^POST /v2/.+/blobs/uploads/\",\"action\":\"answer\",\"count\":-1,"
             "\"status\":202,\"body\":\"\",\"headers\":{\"Location\":"
             "\"%s/v2/lnk/app/blobs/uploads/stolen\",\"Docker-Upload-UUID\":\"stolen\"}}",
             collector->url);
    rule(pd, rule_text);
    before = test_failures;
    ferry(&r, "copy %s/lnk/app %s/fresh/app %s %s --retries 0", ps->host, pd->host, creds,
          insecure(ps->host, pd->host));
    CHECK_INT(r.status, 1);
    CHECK(proxy_count(collector, NULL, "/stolen", NULL) > 0);
    CHECK_INT(proxy_authed(collector), 0);
    dump_if_failed(&r, before);
out:
    ferry_run_free(&r);
    json_decref(img);
    fx_proxy_stop(&ps);
    fx_proxy_stop(&pd);
    fx_proxy_stop(&collector);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
    fx_registry_stop(&other);
}

/* A local process that connects to an unauthenticated --listen: without
 * --insecure-control the coordinator will not listen so; with it, a raw
 * DEALER that says HELLO gets TASKs that carry no credential. */
static void test_peer(void)
{
    ferry_run_t r = {0};
    fx_registry_t *src = fx_registry_start("basic", 0), *dst = fx_registry_start("basic", 0);
    json_t *img = src ? push(src, "peer/app", "v1", "--layers 2") : NULL;
    void *ctx = zmq_ctx_new(), *sock = NULL;
    if (!src || !dst || !img || !ctx)
        goto out;
    char creds[768], endpoint[64];
    snprintf(creds, sizeof creds, "--src-creds '%s:%s' --dst-creds '%s:%s' %s", src->user,
             src->password, dst->user, dst->password, insecure(src->host, dst->host));
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", free_port("127.0.0.1"));
    int before = test_failures;
    ferry(&r, "mirror %s %s %s --listen %s --agents 1", src->host, dst->host, creds, endpoint);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "agents must authenticate");
    ferry_run_free(&r);
    if (ferry_bg(&r, "mirror %s %s %s --listen %s --agents 1 --insecure-control", src->host,
                 dst->host, creds, endpoint) < 0)
        goto out;
    sock = zmq_socket(ctx, ZMQ_DEALER);
    CHECK(sock && zmq_connect(sock, endpoint) == 0);
    proto_msg_t *hello = proto_msg_new(PROTO_HELLO);
    ferry_err_t err;
    CHECK(hello && proto_str_set(&hello->hello.agent_id, "raw-peer") == 0 &&
          proto_str_set(&hello->hello.version, "0") == 0);
    if (hello)
        hello->hello.capacity = 4;
    int tasks = 0, secrets = 0;
    for (int64_t t0 = now_ms(); now_ms() - t0 < 15000 && tasks < 2;) {
        if (hello && proto_send(sock, NULL, 0, hello, &err) == 0)
            proto_msg_destroy(&hello); /* said once */
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, 200);
        proto_msg_t *msg = NULL;
        while (proto_recv(sock, false, &msg, NULL, NULL, &err) == 0) {
            if (msg->command == PROTO_TASK) {
                tasks++;
                secrets += msg->task.source.password != NULL || msg->task.target.password != NULL ||
                           msg->task.source.username != NULL || msg->task.target.username != NULL;
            }
            proto_msg_destroy(&msg);
        }
    }
    proto_msg_destroy(&hello);
    CHECK(tasks >= 1);
    CHECK_INT(secrets, 0);
    kill(r.pid, SIGINT);
    ferry_finish(&r, 40000);
    CHECK_CONTAINS(r.err, "TASKs carry no registry credentials");
    CHECK(!strstr(r.err, src->password) && !strstr(r.err, dst->password));
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* An ipc:// socket authenticates by its directory: open to others, no;
     * the user's own (0700), yes, and a real agent does the work. */
    char open_dir[400], closed_dir[400];
    snprintf(open_dir, sizeof open_dir, "%s/ipc-open", workdir);
    snprintf(closed_dir, sizeof closed_dir, "%s/ipc-closed", workdir);
    mkdir(open_dir, 0755);
    chmod(open_dir, 0755);
    mkdir(closed_dir, 0700);
    before = test_failures;
    ferry(&r, "mirror %s %s %s --listen ipc://%s/ferry.sock --agents 1", src->host, dst->host,
          creds, open_dir);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "its directory must be yours");
    ferry_run_free(&r);
    snprintf(endpoint, sizeof endpoint, "ipc://%s/ferry.sock", closed_dir);
    pid_t agent = agent_start(endpoint, "ipc-agent", NULL);
    CHECK_INT(ferry(&r, "mirror %s %s %s --listen %s --agents 1", src->host, dst->host, creds,
                    endpoint),
              0);
    check_finished(&r, 0, 0, 0);
    agent_stop(agent, "ipc-agent");
    dump_if_failed(&r, before);
out:
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
    ferry_run_free(&r);
    json_decref(img);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* A schema 1 manifest (re-signed on every read, so its digest never holds)
 * is named as such, with what to do, not reported as corruption. */
static void test_schema1(void)
{
    ferry_run_t r = {0};
    fx_registry_t *src = registry(), *dst = registry();
    fx_proxy_t *ps = src ? proxy(src) : NULL;
    if (!ps || !dst)
        goto out;
    rule(ps, "{\"match\":\"^(GET|HEAD) /v2/old/app/manifests/v1\",\"action\":\"answer\","
             "\"count\":-1,\"body\":{\"schemaVersion\":1,\"name\":\"old/app\",\"tag\":\"v1\"},"
             "\"headers\":{\"Content-Type\":"
             "\"application/vnd.docker.distribution.manifest.v1+prettyjws\","
             "\"Docker-Content-Digest\":\"sha256:"
             "1111111111111111111111111111111111111111111111111111111111111111\"}}");
    int before = test_failures;
    ferry(&r, "copy %s/old/app:v1 %s/old/app %s", ps->host, dst->host,
          insecure(ps->host, dst->host));
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.out, "is a Docker schema 1 manifest");
    CHECK_CONTAINS(r.out, "push the image again with a current client");
    CHECK(!strstr(r.out, "expected sha256"));
    dump_if_failed(&r, before);
out:
    ferry_run_free(&r);
    fx_proxy_stop(&ps);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* An https registry whose token realm is plain http: the credentials would
 * cross the network in the clear, so the realm is refused and never asked
 * (a collector stands at that address). The registry here is a TLS fault
 * proxy answering every request with that challenge. */
static void test_realm(void)
{
    ferry_run_t r = {0};
    fx_registry_t *tls = fx_registry_start("tls", 0), *dst = registry();
    fx_proxy_t *collector = dst ? proxy(dst) : NULL;
    pid_t pid = -1;
    if (!tls || !dst || !collector)
        goto out;
    const char *port_file = work_path("realm-proxy.port");
    char crt[400], key[400];
    snprintf(crt, sizeof crt, "%s/tls/server.crt", tls->dir);
    snprintf(key, sizeof key, "%s/tls/server.key", tls->dir);
    pid = bg_start("/dev/null", work_path("realm-proxy.log"),
                   "/usr/bin/python3 '%s' --upstream %s --upstream-ca '%s' --port-file '%s' "
                   "--tls-cert '%s' --tls-key '%s'",
                   FAULTPROXY, tls->url, tls->ca_file, port_file, crt, key);
    CHECK(pid > 0 && wait_file(port_file, "\n", 1, 15000));
    char *port_text = fx_read_file(port_file);
    char host[64], rule_text[700];
    snprintf(host, sizeof host, "127.0.0.1:%ld", port_text ? strtol(port_text, NULL, 10) : 0L);
    free(port_text);
    snprintf(rule_text, sizeof rule_text,
             "{\"match\":\".\",\"action\":\"answer\",\"count\":-1,\"status\":401,"
             "\"body\":{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"token\"}]},"
             "\"headers\":{\"WWW-Authenticate\":\"Bearer realm=\\\"%s/token\\\","
             "service=\\\"registry\\\"\"}}",
             collector->url);
    CHECK_INT(fx_run(NULL, "curl -sf --cacert '%s' -o /dev/null -X POST -d '%s' https://%s/__fault",
                     tls->ca_file, rule_text, host),
              0);
    int before = test_failures;
    ferry(&r, "copy %s/x/app:v1 %s/x/app --src-creds user:secret-pass --ca-file '%s' --insecure %s "
              "--progress none",
          host, dst->host, tls->ca_file, dst->host);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "is plain http for an https registry: refused");
    CHECK_INT(proxy_count(collector, NULL, NULL, NULL), 0);
    CHECK(!strstr(r.err, "secret-pass"));
    dump_if_failed(&r, before);
out:
    if (pid > 0) {
        kill(pid, SIGTERM);
        bg_wait(pid, 5000);
    }
    ferry_run_free(&r);
    fx_proxy_stop(&collector);
    fx_registry_stop(&tls);
    fx_registry_stop(&dst);
}

/* A source blob whose bytes do not match its digest: that image fails with
 * a digest-mismatch reason, the others migrate, and the target holds nothing
 * unverified. */
static void test_corrupt(void)
{
    enum { N = 3 };
    json_t *imgs[N] = {0};
    ferry_run_t r = {0};
    fx_registry_t *src = registry(), *dst = registry();
    if (!src || !dst)
        goto out;
    if (push_many(src, "bad/app%d", N, "--layers 1 --layer-size 262144", imgs) < 0)
        goto out;
    const char *layer = json_string_value(json_array_get(json_object_get(imgs[1], "layers"), 0));
    CHECK_INT(fx_corrupt_blob(src, "bad/app1", layer), 0);
    long src_mark = fx_log_mark(src);
    const char *report_path = work_path("corrupt-report.json");
    int before = test_failures;
    ferry(&r, "mirror %s %s %s --report '%s'", src->host, dst->host, insecure(src->host, dst->host),
          report_path);
    CHECK_INT(r.status, 1);
    check_finished(&r, 1, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 2 migrated, 0 already present, 1 failed");
    CHECK_CONTAINS(r.out, "Failures (1):");
    CHECK_CONTAINS(r.out, "/bad/app1:v1");
    CHECK_CONTAINS(r.out, "(digest-mismatch)");
    json_t *report = load_json(report_path);
    CHECK_INT(report_count(report, "failed"), 1);
    CHECK_INT(report_count(report, "migrated"), 2);
    json_t *items = json_object_get(report, "items");
    int failed_items = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        if (strcmp(json_str(it, "status"), "failed") != 0)
            continue;
        failed_items++;
        CHECK_CONTAINS(json_str(it, "source"), "/bad/app1:v1");
        CHECK_CONTAINS(json_str(it, "error"), "(digest-mismatch)");
    }
    CHECK_INT(failed_items, 1);
    json_decref(report);
    /* Nothing unverified at the target: not the blob, not the manifest. */
    CHECK_INT(head_blob(dst, "bad/app1", layer), 404);
    CHECK_INT(head_manifest(dst, "bad/app1", "v1"), 404);
    /* Permanent: the bad blob was read once, not retried. */
    CHECK_INT(fx_log_count(src, src_mark, "\"GET /v2/bad/app1/blobs/", layer), 1);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* verify: the two migrated images are identical, the failed one missing. */
    before = test_failures;
    ferry(&r, "verify %s %s %s", src->host, dst->host, insecure(src->host, dst->host));
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.out,
                   "verify: 2 tag(s) identical, 1 difference(s), 0 repository listing(s) failed");
    char missing[300];
    snprintf(missing, sizeof missing, "missing  %s/bad/app1:v1", dst->host);
    CHECK_CONTAINS(r.out, missing);
    dump_if_failed(&r, before);
out:
    ferry_run_free(&r);
    free_many(imgs, N);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* ------------------------------------------------------------ 5. interrupt */

/* Checks a report written by an interrupted run: every image is migrated
 * (and there) or failed as interrupted; returns the migrated count. */
static int check_interrupted_report(const char *path, const fx_registry_t *dst, int n_images)
{
    json_t *report = load_json(path);
    CHECK(report != NULL);
    long long migrated = report_count(report, "migrated");
    CHECK_INT(migrated + report_count(report, "failed") + report_count(report, "skipped"),
              n_images);
    json_t *items = json_object_get(report, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        const char *status = json_str(it, "status");
        const char *target = json_str(it, "target");
        const char *slash = strchr(target, '/');
        char repo[256];
        snprintf(repo, sizeof repo, "%s", slash ? slash + 1 : "");
        char *colon = strrchr(repo, ':');
        if (colon)
            *colon = '\0';
        if (strcmp(status, "failed") == 0) {
            CHECK_CONTAINS(json_str(it, "error"), "interrupted");
        } else {
            CHECK_INT(head_manifest(dst, repo, "v1"), 200);
        }
    }
    json_decref(report);
    return (int)migrated;
}

/* Every blob the journal names is at the target (the journal never claims
 * what is not there). */
static void check_journal_true(const char *journal, const fx_registry_t *dst, const char *via_host)
{
    char *keys = NULL;
    journal_records(journal, &keys);
    size_t hl = strlen(via_host);
    for (char *line = keys; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, "blob ", 5) == 0 && strncmp(line + 5, via_host, hl) == 0 &&
            line[5 + hl] == '/') {
            char repo[300];
            snprintf(repo, sizeof repo, "%s", line + 6 + hl);
            char *at = strchr(repo, '@');
            if (at) {
                *at = '\0';
                CHECK_INT(head_blob(dst, repo, at + 1), 200);
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(keys);
}

/* SIGINT and SIGTERM on the coordinator: it stops dispatching, lets running
 * tasks finish, writes journal and report, prints the summary, exits 1; a
 * re-run with the journal completes. */
static void test_interrupt(void)
{
    enum { N = 6 };
    json_t *imgs[N] = {0};
    ferry_run_t r = {0};
    fx_registry_t *src = registry(), *dst = registry();
    fx_proxy_t *p = dst ? proxy(dst) : NULL;
    if (!src || !p)
        goto out;
    if (push_many(src, "int/app%d", N, "--layers 2 --layer-size 524288", imgs) < 0)
        goto out;
    rule(p, "{\"match\":\"^PUT /v2/.+/blobs/uploads/\",\"action\":\"delay\",\"seconds\":0.4,"
            "\"count\":-1}");
    const char *journal = work_path("interrupt.jnl");
    const char *report = work_path("interrupt-report.json");
    char args[1024];
    snprintf(args, sizeof args, "mirror %s %s %s --jobs 2 --journal '%s' --report '%s'", src->host,
             p->host, insecure(src->host, p->host), journal, report);
    const int sigs[2] = {SIGINT, SIGTERM};
    int records = 0;
    for (int s = 0; s < 2; s++) {
        int before = test_failures;
        unlink(report);
        if (ferry_bg(&r, "%s", args) < 0)
            goto out;
        CHECK(wait_journal(journal, records + 3, 60000));
        kill(r.pid, sigs[s]);
        int64_t t0 = now_ms();
        CHECK_INT(ferry_finish(&r, 40000), 1);
        fprintf(stderr, "  %s: exited %.2f s after the signal\n", strsignal(sigs[s]),
                (double)(now_ms() - t0) / 1000.0);
        CHECK_CONTAINS(r.err, "interrupted: no new tasks");
        CHECK_CONTAINS(r.out, "Images: ");
        CHECK_CONTAINS(last_line(r.out), "################# Finished, ");
        /* The journal and the report tell the truth about what finished. */
        int migrated = check_interrupted_report(report, dst, N);
        fprintf(stderr, "  report: %d image(s) migrated before the stop\n", migrated);
        check_journal_true(journal, dst, p->host);
        int now_records = journal_records(journal, NULL);
        CHECK(now_records > records);
        /* Everything finished in this run, the running tasks it waited for
         * included, is in the journal: each blob and each manifest. */
        long copied, mounted, present;
        blob_counts(r.out, &copied, &mounted, &present);
        CHECK_INT(now_records - records, copied + present + migrated);
        CHECK(now_records < N * 4);
        records = now_records;
        dump_if_failed(&r, before);
        ferry_run_free(&r);
    }
    int before = test_failures;
    ferry(&r, "%s", args);
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_CONTAINS(r.err, "journal: ");
    int migrated = -1, skipped = -1;
    const char *images = strstr(r.out, "Images: ");
    if (images)
        sscanf(images, "Images: %d migrated, %d already present", &migrated, &skipped);
    CHECK_INT(migrated + skipped, N);
    CHECK_INT(journal_records(journal, NULL) >= records, 1);
    dump_if_failed(&r, before);
    verify_ok(src->host, dst->host, insecure(src->host, dst->host), N);
out:
    ferry_run_free(&r);
    free_many(imgs, N);
    fx_proxy_stop(&p);
    fx_registry_stop(&src);
    fx_registry_stop(&dst);
}

/* Inspection and transfer overlap: while the source is slow to answer
 * for one tag, the images already inspected are being copied. */
static void test_overlap(void)
{
    enum { N = 4 };
    scene_t sc;
    if (!scene_open(&sc, PROXY_SRC, "lap/app%d", N, "--layers 2 --layer-size 65536"))
        goto out;
    rule(sc.ps, "{\"match\":\"^GET /v2/lap/app3/manifests/v1\",\"action\":\"delay\","
                "\"seconds\":6,\"count\":1}");
    int before = test_failures;
    ferry(&sc.r, "mirror %s %s %s --progress json", sc.ps->host, sc.dst->host,
          insecure(sc.ps->host, sc.dst->host));
    CHECK_INT(sc.r.status, 0);
    check_finished(&sc.r, 0, 0, 0);
    CHECK_CONTAINS(sc.r.out, "Images: 4 migrated, 0 already present, 0 failed");
    /* A progress line of the inspection with tasks already done: three
     * images had moved (9 blobs with their configs, 3 manifests) before the
     * fourth was read. */
    static const char inspect_line[] = "{\"event\":\"progress\",\"phase\":\"inspect\"";
    int most = -1;
    for (const char *line = sc.r.err; line && *line;) {
        int done = 0;
        const char *k = strstr(line, "\"tasks_done\":");
        if (strncmp(line, inspect_line, sizeof inspect_line - 1) == 0 && k &&
            sscanf(k + 13, "%d", &done) == 1 && done > most)
            most = done;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    CHECK_INT(most, 12);
    dump_if_failed(&sc.r, before);
    verify_ok(sc.src->host, sc.dst->host, insecure(sc.src->host, sc.dst->host), N);
out:
    scene_close(&sc);
}

/* ------------------------------------------------------------ main */

typedef struct subtest {
    const char *name;
    void (*run)(void);
} subtest_t;

static const subtest_t subtests[] = {
    {"journal", test_journal}, {"agents", test_agents},   {"security", test_security},
    {"restart", test_restart}, {"token", test_token},     {"throttle", test_throttle},
    {"cut", test_cut},         {"corrupt", test_corrupt}, {"interrupt", test_interrupt},
    {"overlap", test_overlap}, {"names", test_names},
    {"endless", test_endless}, {"late", test_late}, {"watch", test_watch},
    {"origins", test_origins}, {"peer", test_peer},
    {"schema1", test_schema1}, {"realm", test_realm},
};

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(workdir, sizeof workdir, "%s/ferry-faults-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(workdir)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(bg_kill_all);
    /* No credentials of the machine's user reach the test registries. */
    char config_dir[300];
    snprintf(config_dir, sizeof config_dir, "%s/docker", workdir);
    mkdir(config_dir, 0700);
    setenv("DOCKER_CONFIG", config_dir, 1);

    size_t n = sizeof subtests / sizeof subtests[0];
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], subtests[i].name) != 0)
            continue;
        int64_t t0 = now_ms();
        int before = test_failures;
        fprintf(stderr, "== %s\n", subtests[i].name);
        subtests[i].run();
        bg_kill_all();
        fprintf(stderr, "== %s: %s in %.1f s\n", subtests[i].name,
                test_failures > before ? "FAILED" : "ok", (double)(now_ms() - t0) / 1000.0);
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "unknown sub-test '%s'; one of:", argv[1]);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %s", subtests[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    const char *keep = getenv("FX_KEEP");
    if (!(keep && *keep && strcmp(keep, "0") != 0) && test_failures == 0)
        fx_run(NULL, "rm -rf '%s'", workdir);
    else
        fprintf(stderr, "logs kept in %s\n", workdir);
    return test_report();
}
