/* keys — CURVE key files, the agent allowlist with its ZAP handler thread,
 * and the locality test for endpoints (PROTOCOL.md, section 5). */
#include "proto/keys.h"
#include "common/buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define KEY_Z85_LEN        40                /* a CURVE key in Z85 */
#define KEY_BIN_LEN        32                /* a CURVE key in binary */
#define KEY_FILE_MAX       4096              /* bytes of a key file */
#define ALLOWLIST_MAX      (4 * 1024 * 1024) /* bytes of an allowlist file */
#define ALLOWLIST_MAX_KEYS 65536
#define ZAP_ENDPOINT       "inproc://zeromq.zap.01"
#define ZAP_MAX_FRAMES     8 /* request frames kept; RFC 27 CURVE uses 7 */
#define ZAP_REFUSED_MAX    256 /* distinct refused keys remembered */

/* True for a 40-character Z85 string that decodes to a key; the binary key
 * goes to bin when it is not NULL. */
static bool key_decode(const char *z85, size_t len, uint8_t bin[KEY_BIN_LEN])
{
    char text[KEY_Z85_LEN + 1];
    uint8_t scratch[KEY_BIN_LEN];
    if (len != KEY_Z85_LEN)
        return false;
    memcpy(text, z85, KEY_Z85_LEN);
    text[KEY_Z85_LEN] = '\0';
    bool ok = zmq_z85_decode(bin ? bin : scratch, text) != NULL;
    explicit_bzero(text, sizeof text);
    explicit_bzero(scratch, sizeof scratch);
    return ok;
}

/* Checks that public_z85 is the public half of secret_z85. */
static bool key_pair_matches(const char *public_z85, const char *secret_z85)
{
    char derived[KEY_Z85_LEN + 1];
    bool ok =
        zmq_curve_public(derived, secret_z85) == 0 && memcmp(derived, public_z85, KEY_Z85_LEN) == 0;
    explicit_bzero(derived, sizeof derived);
    return ok;
}

int proto_keygen(char public_z85[41], char secret_z85[41])
{
    if (!zmq_has("curve"))
        return FERRY_EUNSUPPORTED;
    if (zmq_curve_keypair(public_z85, secret_z85) < 0)
        return FERRY_EUNSUPPORTED;
    return 0;
}

/* Reads a whole regular file of at most max bytes into a new NUL-terminated
 * buffer; the caller wipes and frees it. */
static int file_slurp(const char *path, size_t max, char **out, size_t *len_out, ferry_err_t *err)
{
    ferry_err_t why;
    int rc = fbuf_read_file(path, max, FBUF_FILE_REGULAR | FBUF_FILE_SECRET, out, len_out, &why);
    if (rc < 0)
        return ferry_err_set(err,
                             rc == FERRY_ETOOBIG  ? FERRY_EINVAL
                             : rc == FERRY_ENOMEM ? rc
                                                  : FERRY_EIO,
                             "%s: %s", path, why.message);
    return 0;
}

/* Cuts the next line out of *cursor (up to end), trims blanks at both ends,
 * and returns it with its length; NULL at the end of the text. */
static char *next_line(char **cursor, char *end, size_t *len_out)
{
    char *line = *cursor;
    if (line >= end)
        return NULL;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    char *stop = nl ? nl : end;
    *cursor = nl ? nl + 1 : end;
    while (line < stop && (*line == ' ' || *line == '\t'))
        line++;
    while (stop > line && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\r'))
        stop--;
    *len_out = (size_t)(stop - line);
    return line;
}

int proto_key_read(const char *path, char public_z85[41], char secret_z85[41], ferry_err_t *err)
{
    char *text = NULL;
    size_t text_len = 0;
    char found_public[KEY_Z85_LEN + 1] = "", found_secret[KEY_Z85_LEN + 1] = "";
    int rc = file_slurp(path, KEY_FILE_MAX, &text, &text_len, err);
    if (rc < 0)
        goto out;

    char *cursor = text, *end = text + text_len, *line;
    size_t len, line_no = 0;
    while ((line = next_line(&cursor, end, &len)) != NULL) {
        line_no++;
        if (len == 0 || line[0] == '#')
            continue;
        char *eq = memchr(line, '=', len);
        if (!eq) {
            rc = ferry_err_set(err, FERRY_EINVAL, "%s line %zu: expected 'name = key'", path,
                               line_no);
            goto out;
        }
        size_t name_len = (size_t)(eq - line);
        while (name_len && (line[name_len - 1] == ' ' || line[name_len - 1] == '\t'))
            name_len--;
        char *value = eq + 1;
        while (value < line + len && (*value == ' ' || *value == '\t'))
            value++;
        size_t value_len = (size_t)(line + len - value);
        char *slot;
        if (name_len == 6 && memcmp(line, "public", 6) == 0) {
            slot = found_public;
        } else if (name_len == 6 && memcmp(line, "secret", 6) == 0) {
            slot = found_secret;
        } else {
            rc = ferry_err_set(err, FERRY_EINVAL,
                               "%s line %zu: unknown name, expected public "
                               "or secret",
                               path, line_no);
            goto out;
        }
        if (slot[0]) {
            rc = ferry_err_set(err, FERRY_EINVAL, "%s line %zu: key given twice", path, line_no);
            goto out;
        }
        if (!key_decode(value, value_len, NULL)) {
            rc = ferry_err_set(err, FERRY_EINVAL, "%s line %zu: not a 40-character Z85 key", path,
                               line_no);
            goto out;
        }
        memcpy(slot, value, KEY_Z85_LEN);
        slot[KEY_Z85_LEN] = '\0';
    }
    if (!found_public[0]) {
        rc = ferry_err_set(err, FERRY_EINVAL, "%s: no public key", path);
        goto out;
    }
    if (secret_z85 && !found_secret[0]) {
        rc = ferry_err_set(err, FERRY_EINVAL, "%s: no secret key", path);
        goto out;
    }
    if (found_secret[0] && !key_pair_matches(found_public, found_secret)) {
        rc = ferry_err_set(err, FERRY_EINVAL, "%s: public key does not match the secret key", path);
        goto out;
    }
    memcpy(public_z85, found_public, sizeof found_public);
    if (secret_z85)
        memcpy(secret_z85, found_secret, sizeof found_secret);
out:
    explicit_bzero(found_secret, sizeof found_secret);
    if (text) {
        explicit_bzero(text, text_len);
        free(text);
    }
    return rc;
}

int proto_key_write(const char *path, const char *public_z85, const char *secret_z85,
                    ferry_err_t *err)
{
    char text[160];
    char *tmp_path = NULL;
    int fd = -1;
    int rc = 0;
    int text_len = 0;

    if (!public_z85 || !key_decode(public_z85, strlen(public_z85), NULL)) {
        rc = ferry_err_set(err, FERRY_EINVAL, "%s: public key is not a 40-character Z85 key", path);
        goto out;
    }
    if (secret_z85 && (!key_decode(secret_z85, strlen(secret_z85), NULL) ||
                       !key_pair_matches(public_z85, secret_z85))) {
        rc = ferry_err_set(err, FERRY_EINVAL,
                           "%s: secret key is invalid or does not match the "
                           "public key",
                           path);
        goto out;
    }
    text_len = snprintf(text, sizeof text, "# ferry CURVE key%s\npublic = %s\n%s%s%s",
                        secret_z85 ? " pair: keep secret" : " (public)", public_z85,
                        secret_z85 ? "secret = " : "", secret_z85 ? secret_z85 : "",
                        secret_z85 ? "\n" : "");

    /* Write beside the target and rename, so a reader never sees half a key
     * and a crash never leaves a truncated one. mkstemp creates mode 0600. */
    size_t tmp_size = strlen(path) + sizeof ".XXXXXX";
    tmp_path = malloc(tmp_size);
    if (!tmp_path) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(tmp_path, tmp_size, "%s.XXXXXX", path);
    fd = mkstemp(tmp_path);
    if (fd < 0) {
        rc = ferry_err_set(err, FERRY_EIO, "%s: %s", path, strerror(errno));
        free(tmp_path);
        tmp_path = NULL;
        goto out;
    }
    size_t done = 0;
    while (done < (size_t)text_len) {
        ssize_t n = write(fd, text + done, (size_t)text_len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ferry_err_set(err, FERRY_EIO, "%s: %s", path, strerror(errno));
            goto out;
        }
        done += (size_t)n;
    }
    if (fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
        rc = ferry_err_set(err, FERRY_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    int close_rc = close(fd);
    fd = -1;
    if (close_rc < 0 || rename(tmp_path, path) < 0) {
        rc = ferry_err_set(err, FERRY_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    free(tmp_path);
    tmp_path = NULL;
out:
    explicit_bzero(text, sizeof text);
    if (fd >= 0)
        close(fd);
    if (tmp_path) {
        unlink(tmp_path);
        free(tmp_path);
    }
    return rc;
}

/* ---- allowlist and ZAP ------------------------------------------------- */

struct proto_zap {
    void *handler;                /* REP on ZAP_ENDPOINT; used only by the thread once it runs */
    void *control_main;           /* PAIR, caller's end: a message stops the thread */
    void *control_thread;         /* PAIR, thread's end */
    pthread_t thread;             /* answers ZAP requests */
    bool thread_running;          /* thread was started and not yet joined */
    uint8_t (*keys)[KEY_BIN_LEN]; /* admitted client keys, sorted */
    size_t key_count;             /* entries in keys */
    char control[64];             /* the control pair's inproc endpoint, unique per handler */
    pthread_mutex_t refused_lock; /* guards the three below (the thread writes, the owner reads) */
    proto_zap_refusal_t refused[ZAP_REFUSED_MAX]; /* refused keys, in order, each once */
    size_t n_refused;             /* entries in refused */
    size_t n_reported;            /* entries already handed out by proto_zap_refused */
};

static int key_compare(const void *a, const void *b)
{
    return memcmp(a, b, KEY_BIN_LEN);
}

/* Loads and sorts the allowlist file into self->keys. */
static int allowlist_load(proto_zap_t *self, const char *path, ferry_err_t *err)
{
    char *text = NULL;
    size_t text_len = 0;
    int rc = file_slurp(path, ALLOWLIST_MAX, &text, &text_len, err);
    if (rc < 0)
        goto out;
    size_t capacity = 16;
    self->keys = malloc(capacity * sizeof *self->keys);
    if (!self->keys) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    char *cursor = text, *end = text + text_len, *line;
    size_t len, line_no = 0;
    while ((line = next_line(&cursor, end, &len)) != NULL) {
        line_no++;
        /* '#' is a Z85 character, so "key # note" can not be split at the
         * '#': the key is the first word and the rest of the line is a
         * comment. A 32-byte key never starts with '#' (its first digit is
         * at most 82 of 85), so a leading '#' is unambiguous. */
        if (len == 0 || line[0] == '#')
            continue;
        /* A key file's "public = KEY" line counts too, so that agents' .pub
         * files can simply be concatenated into an allowlist. */
        if (len > 6 && strncmp(line, "public", 6) == 0) {
            size_t i = 6;
            while (i < len && (line[i] == ' ' || line[i] == '\t'))
                i++;
            if (i < len && line[i] == '=') {
                i++;
                while (i < len && (line[i] == ' ' || line[i] == '\t'))
                    i++;
                line += i;
                len -= i;
            }
        }
        size_t word = 0;
        while (word < len && line[word] != ' ' && line[word] != '\t')
            word++;
        len = word;
        if (self->key_count == ALLOWLIST_MAX_KEYS) {
            rc =
                ferry_err_set(err, FERRY_EINVAL, "%s: more than %d keys", path, ALLOWLIST_MAX_KEYS);
            goto out;
        }
        if (self->key_count == capacity) {
            capacity *= 2;
            void *grown = realloc(self->keys, capacity * sizeof *self->keys);
            if (!grown) {
                rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
                goto out;
            }
            self->keys = grown;
        }
        if (!key_decode(line, len, self->keys[self->key_count])) {
            rc = ferry_err_set(err, FERRY_EINVAL, "%s line %zu: not a 40-character Z85 public key",
                               path, line_no);
            goto out;
        }
        self->key_count++;
    }
    qsort(self->keys, self->key_count, sizeof *self->keys, key_compare);
out:
    free(text);
    return rc;
}

static bool allowlist_has(const proto_zap_t *self, const uint8_t *key)
{
    return self->key_count &&
           bsearch(key, self->keys, self->key_count, sizeof *self->keys, key_compare) != NULL;
}

static bool frame_is(zmq_msg_t *frame, const char *text)
{
    size_t len = strlen(text);
    return zmq_msg_size(frame) == len && memcmp(zmq_msg_data(frame), text, len) == 0;
}

/* Remembers a refused key (its Z85 prefix) and the peer's address, once. */
static void zap_note_refused(proto_zap_t *self, zmq_msg_t *address, const uint8_t *key)
{
    char z85[KEY_Z85_LEN + 1];
    zmq_z85_encode(z85, key, KEY_BIN_LEN);
    pthread_mutex_lock(&self->refused_lock);
    bool seen = false;
    for (size_t i = 0; i < self->n_refused && !seen; i++)
        seen = strncmp(self->refused[i].key, z85, sizeof self->refused[i].key - 1) == 0;
    if (!seen && self->n_refused < ZAP_REFUSED_MAX) {
        proto_zap_refusal_t *r = &self->refused[self->n_refused++];
        snprintf(r->key, sizeof r->key, "%.*s", (int)sizeof r->key - 1, z85);
        size_t n = zmq_msg_size(address) < sizeof r->address - 1 ? zmq_msg_size(address)
                                                                  : sizeof r->address - 1;
        const char *text = zmq_msg_data(address);
        for (size_t i = 0; i < n; i++) /* printable: the peer chose none of it, but be sure */
            r->address[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
        r->address[n] = '\0';
    }
    pthread_mutex_unlock(&self->refused_lock);
}

size_t proto_zap_refused(proto_zap_t *self, proto_zap_refusal_t *out, size_t max)
{
    pthread_mutex_lock(&self->refused_lock);
    size_t n = 0;
    while (self->n_reported < self->n_refused && n < max)
        out[n++] = self->refused[self->n_reported++];
    pthread_mutex_unlock(&self->refused_lock);
    return n;
}

/* Reads one ZAP request (RFC 27) and sends its reply. Malformed requests get
 * status 500; wrong domain, a mechanism other than CURVE or an unlisted key
 * get 400. */
static void zap_answer(proto_zap_t *self)
{
    zmq_msg_t frames[ZAP_MAX_FRAMES];
    size_t kept = 0;
    bool more = true;
    while (more) {
        zmq_msg_t scratch;
        zmq_msg_t *part = kept < ZAP_MAX_FRAMES ? &frames[kept] : &scratch;
        zmq_msg_init(part);
        if (zmq_msg_recv(part, self->handler, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(part);
            if (errno == EINTR)
                continue;
            break; /* nothing more (or the context is ending) */
        }
        more = zmq_msg_more(part);
        if (part == &scratch)
            zmq_msg_close(part);
        else
            kept++;
    }
    if (kept == 0)
        return;

    const char *status = "500", *status_text = "malformed ZAP request";
    char user_id[KEY_Z85_LEN + 1] = "";
    /* frames: version, request id, domain, address, routing id, mechanism, credentials */
    if (kept >= 6 && frame_is(&frames[0], "1.0")) {
        if (!frame_is(&frames[2], PROTO_ZAP_DOMAIN)) {
            status = "400", status_text = "ZAP domain not allowed";
        } else if (!frame_is(&frames[5], "CURVE") || kept != 7 ||
                   zmq_msg_size(&frames[6]) != KEY_BIN_LEN) {
            status = "400", status_text = "CURVE required";
        } else if (!allowlist_has(self, zmq_msg_data(&frames[6]))) {
            status = "400", status_text = "client key not allowed";
            zap_note_refused(self, &frames[3], zmq_msg_data(&frames[6]));
        } else {
            status = "200", status_text = "OK";
            zmq_z85_encode(user_id, zmq_msg_data(&frames[6]), KEY_BIN_LEN);
        }
    }
    const void *request_id = kept >= 2 ? zmq_msg_data(&frames[1]) : "";
    size_t request_id_len = kept >= 2 ? zmq_msg_size(&frames[1]) : 0;
    /* A REP socket must answer every request, or it stops taking new ones. */
    zmq_send(self->handler, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(self->handler, request_id, request_id_len, ZMQ_SNDMORE);
    zmq_send(self->handler, status, strlen(status), ZMQ_SNDMORE);
    zmq_send(self->handler, status_text, strlen(status_text), ZMQ_SNDMORE);
    zmq_send(self->handler, user_id, strlen(user_id), ZMQ_SNDMORE);
    zmq_send(self->handler, "", 0, 0);
    for (size_t i = 0; i < kept; i++)
        zmq_msg_close(&frames[i]);
}

static void *zap_thread(void *arg)
{
    proto_zap_t *self = arg;
    for (;;) {
        zmq_pollitem_t items[] = {
            {.socket = self->handler, .events = ZMQ_POLLIN},
            {.socket = self->control_thread, .events = ZMQ_POLLIN},
        };
        if (zmq_poll(items, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break; /* ETERM: the context is going away */
        }
        if (items[1].revents & ZMQ_POLLIN)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            zap_answer(self);
    }
    return NULL;
}

proto_zap_t *proto_zap_new(void *zmq_ctx, const char *allowlist_path, ferry_err_t *err)
{
    proto_zap_t *self = calloc(1, sizeof *self);
    if (!self || pthread_mutex_init(&self->refused_lock, NULL) != 0) {
        free(self);
        ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        return NULL;
    }
    if (allowlist_load(self, allowlist_path, err) < 0)
        goto fail;

    int linger = 0;
    /* Unique even when malloc hands out the same address again. */
    static atomic_uint handlers;
    snprintf(self->control, sizeof self->control, "inproc://ferry-zap-control-%u",
             atomic_fetch_add(&handlers, 1));
    const char *control = self->control;
    self->handler = zmq_socket(zmq_ctx, ZMQ_REP);
    self->control_main = zmq_socket(zmq_ctx, ZMQ_PAIR);
    self->control_thread = zmq_socket(zmq_ctx, ZMQ_PAIR);
    if (!self->handler || !self->control_main || !self->control_thread) {
        ferry_err_set(err, FERRY_EIO, "ZAP handler sockets: %s", zmq_strerror(errno));
        goto fail;
    }
    zmq_setsockopt(self->handler, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->control_main, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->control_thread, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(self->handler, ZAP_ENDPOINT) < 0) {
        ferry_err_set(err, FERRY_EIO, "binding %s: %s", ZAP_ENDPOINT, zmq_strerror(errno));
        goto fail;
    }
    if (zmq_bind(self->control_thread, control) < 0 ||
        zmq_connect(self->control_main, control) < 0) {
        ferry_err_set(err, FERRY_EIO, "ZAP control pipe: %s", zmq_strerror(errno));
        goto fail;
    }
    /* pthread_create is a full memory barrier, which is what zmq asks for
     * when a socket moves to another thread. */
    int prc = pthread_create(&self->thread, NULL, zap_thread, self);
    if (prc != 0) {
        ferry_err_set(err, FERRY_EIO, "starting the ZAP thread: %s", strerror(prc));
        goto fail;
    }
    self->thread_running = true;
    return self;
fail:
    proto_zap_destroy(&self);
    return NULL;
}

void proto_zap_destroy(proto_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_zap_t *self = *self_p;
    if (self->thread_running) {
        zmq_send(self->control_main, "stop", 4, 0);
        pthread_join(self->thread, NULL);
    }
    if (self->handler) {
        /* Unbind first: closing alone frees the inproc endpoint later, in
         * libzmq's reaper, and a new handler on the same context could not
         * bind it until then. */
        zmq_unbind(self->handler, ZAP_ENDPOINT);
        zmq_close(self->handler);
    }
    if (self->control_main)
        zmq_close(self->control_main);
    if (self->control_thread) {
        zmq_unbind(self->control_thread, self->control);
        zmq_close(self->control_thread);
    }
    free(self->keys);
    pthread_mutex_destroy(&self->refused_lock);
    free(self);
    *self_p = NULL;
}

/* ---- endpoints --------------------------------------------------------- */

bool proto_endpoint_is_local(const char *endpoint)
{
    if (!endpoint)
        return false;
    if (strncmp(endpoint, "inproc://", 9) == 0 || strncmp(endpoint, "ipc://", 6) == 0)
        return true;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    /* tcp://[source;]host:port — the destination decides */
    const char *addr = endpoint + 6;
    const char *semi = strrchr(addr, ';');
    if (semi)
        addr = semi + 1;
    const char *host = addr, *host_end;
    if (*addr == '[') {
        host = addr + 1;
        host_end = strchr(host, ']');
        if (!host_end)
            return false;
    } else {
        host_end = strrchr(addr, ':');
        if (!host_end)
            host_end = addr + strlen(addr);
    }
    char name[256];
    size_t len = (size_t)(host_end - host);
    if (len == 0 || len >= sizeof name)
        return false;
    memcpy(name, host, len);
    name[len] = '\0';
    if (strcasecmp(name, "localhost") == 0)
        return true;
    struct in_addr v4;
    if (inet_pton(AF_INET, name, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    struct in6_addr v6;
    if (inet_pton(AF_INET6, name, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
    return false;
}

int proto_keygen_files(const char *path, bool force, char public_z85[41], ferry_err_t *err)
{
    char pub_path[4096];
    int n = snprintf(pub_path, sizeof pub_path, "%s.pub", path);
    if (n < 0 || (size_t)n >= sizeof pub_path)
        return ferry_err_set(err, FERRY_EINVAL, "key file path too long");
    struct stat st;
    if (!force && (lstat(path, &st) == 0 || lstat(pub_path, &st) == 0))
        return ferry_err_set(err, FERRY_EEXIST,
                             "%s or %s exists: keeping it (--force replaces the pair)", path,
                             pub_path);
    char secret_z85[41];
    if (proto_keygen(public_z85, secret_z85) < 0)
        return ferry_err_set(err, FERRY_EUNSUPPORTED,
                             "cannot generate a key pair (libzmq built without CURVE?)");
    int rc = proto_key_write(path, public_z85, secret_z85, err);
    if (rc == 0)
        rc = proto_key_write(pub_path, public_z85, NULL, err);
    OPENSSL_cleanse(secret_z85, sizeof secret_z85);
    return rc;
}
