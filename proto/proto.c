/* proto — encoder, strict decoder and ZeroMQ helpers for the messages of
 * proto/PROTOCOL.md.
 *
 * Decoding is two steps: a bounded scan of the raw msgpack (one value, a map,
 * no trailing bytes, container counts never larger than the bytes left, a
 * nesting limit) so msgpack-c can not be made to allocate more than the body
 * justifies; then msgpack_unpack_next and a typed read of every known key.
 * Both the decoder and the encoder end in proto_validate, so what one side
 * may send is exactly what the other accepts. */
#include "proto/proto.h"
#include "common/ref.h"

#include "common/digest.h"

#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_KEYS        64  /* keys in one map */
#define MAX_DEPTH       8   /* nested containers in a body */
#define MAX_COMMAND_LEN 16  /* bytes of the command frame */
#define MAX_AGENT_ID    64  /* HELLO.agent_id */
#define MAX_VERSION     32  /* HELLO.version, WELCOME.version */
#define MAX_SESSION     64  /* WELCOME.session */
#define MIN_HEARTBEAT   100 /* WELCOME.heartbeat_ms */
#define MAX_HEARTBEAT   60000
#define MAX_REPO        255 /* repositories, media type, mount_from */
#define MAX_DIGEST      136 /* "sha512:" + 128 hex */
#define MAX_TAG         128 /* TASK.tag */
#define MAX_HOST        255 /* endpoint.host */
#define MAX_CA_PEM      65536
#define MAX_USERNAME    256
#define MAX_PASSWORD    4096
#define MAX_ERROR_CODE  32   /* RESULT.error_code */
#define MAX_MESSAGE     1024 /* RESULT.message */
#define MAX_REASON      256  /* DISCONNECT.reason */

/* What characters a string field may hold (PROTOCOL.md, "Body rules"). */
enum str_class {
    STR_IDENT,  /* [A-Za-z0-9._-] */
    STR_HOST,   /* [A-Za-z0-9.:_[]-] */
    STR_TEXT,   /* UTF-8 without control characters */
    STR_PEM,    /* printable ASCII, TAB, CR, LF */
    STR_SECRET, /* anything but NUL (checked by the decoder) */
};

static const char *const command_names[] = {
    [PROTO_HELLO] = "HELLO",       [PROTO_WELCOME] = "WELCOME", [PROTO_TASK] = "TASK",
    [PROTO_PROGRESS] = "PROGRESS", [PROTO_RESULT] = "RESULT",   [PROTO_HEARTBEAT] = "HEARTBEAT",
    [PROTO_CREDIT] = "CREDIT",     [PROTO_CANCEL] = "CANCEL",   [PROTO_DISCONNECT] = "DISCONNECT",
};
#define COMMAND_COUNT (sizeof command_names / sizeof command_names[0])

static const char *const kind_names[] = {
    [PROTO_KIND_COPY_BLOB] = "copy-blob",
    [PROTO_KIND_MOUNT_BLOB] = "mount-blob",
    [PROTO_KIND_PUT_MANIFEST] = "put-manifest",
};
static const char *const outcome_names[] = {
    [PROTO_OUTCOME_DONE] = "done",
    [PROTO_OUTCOME_SKIPPED] = "skipped",
    [PROTO_OUTCOME_MOUNTED] = "mounted",
    [PROTO_OUTCOME_FAILED] = "failed",
};
static const char *const error_class_names[] = {
    [PROTO_ERROR_NONE] = "none",
    [PROTO_ERROR_RETRYABLE] = "retryable",
    [PROTO_ERROR_PERMANENT] = "permanent",
};

/* A name from one of the tables above; NULL outside it. */
static const char *table_name(const char *const *table, size_t count, int value)
{
    if (value <= 0 || (size_t)value >= count)
        return NULL;
    return table[value];
}

const char *proto_command_name(int command)
{
    return table_name(command_names, COMMAND_COUNT, command);
}

const char *proto_task_kind_name(int kind)
{
    return table_name(kind_names, sizeof kind_names / sizeof kind_names[0], kind);
}

const char *proto_outcome_name(int outcome)
{
    return table_name(outcome_names, sizeof outcome_names / sizeof outcome_names[0], outcome);
}

const char *proto_error_class_name(int error_class)
{
    return table_name(error_class_names, sizeof error_class_names / sizeof error_class_names[0],
                      error_class);
}

/* ---- messages ---------------------------------------------------------- */

/* Wipes and frees an owned string. */
static void str_free(char **field)
{
    if (*field) {
        explicit_bzero(*field, strlen(*field));
        free(*field);
        *field = NULL;
    }
}

int proto_str_set(char **field, const char *value)
{
    char *copy = NULL;
    if (value) {
        copy = strdup(value);
        if (!copy)
            return FERRY_ENOMEM;
    }
    str_free(field);
    *field = copy;
    return 0;
}

proto_msg_t *proto_msg_new(int command)
{
    if (!proto_command_name(command))
        return NULL;
    proto_msg_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->command = command;
    switch (command) {
    case PROTO_HELLO:
        self->hello.protocol = PROTO_VERSION;
        break;
    case PROTO_TASK:
        self->task.size = -1;
        self->task.attempt = 1;
        self->task.source.tls_verify = true;
        self->task.target.tls_verify = true;
        break;
    case PROTO_PROGRESS:
        self->progress.bytes_total = -1;
        break;
    case PROTO_RESULT:
        self->result.error_class = PROTO_ERROR_NONE;
        break;
    default:
        break;
    }
    return self;
}

static void endpoint_free(proto_endpoint_t *ep)
{
    str_free(&ep->host);
    str_free(&ep->ca_pem);
    str_free(&ep->username);
    str_free(&ep->password);
}

void proto_msg_destroy(proto_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_msg_t *self = *self_p;
    switch (self->command) {
    case PROTO_HELLO:
        str_free(&self->hello.agent_id);
        str_free(&self->hello.version);
        free(self->hello.active);
        break;
    case PROTO_WELCOME:
        str_free(&self->welcome.session);
        str_free(&self->welcome.version);
        break;
    case PROTO_TASK:
        endpoint_free(&self->task.source);
        endpoint_free(&self->task.target);
        str_free(&self->task.source_repo);
        str_free(&self->task.target_repo);
        str_free(&self->task.digest);
        str_free(&self->task.media_type);
        str_free(&self->task.tag);
        str_free(&self->task.mount_from);
        free(self->task.manifest);
        self->task.manifest = NULL;
        break;
    case PROTO_RESULT:
        str_free(&self->result.error_code);
        str_free(&self->result.message);
        str_free(&self->result.digest);
        break;
    case PROTO_DISCONNECT:
        str_free(&self->disconnect.reason);
        break;
    default:
        break;
    }
    explicit_bzero(self, sizeof *self);
    free(self);
    *self_p = NULL;
}

proto_msg_t *proto_disconnect_new(const char *reason)
{
    proto_msg_t *self = proto_msg_new(PROTO_DISCONNECT);
    if (!self)
        return NULL;
    size_t len = reason ? strlen(reason) : 0;
    if (len > MAX_REASON)
        len = MAX_REASON;
    self->disconnect.reason = malloc(len + 1);
    if (!self->disconnect.reason) {
        proto_msg_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)reason[i];
        self->disconnect.reason[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    self->disconnect.reason[len] = '\0';
    return self;
}

/* ---- validation -------------------------------------------------------- */

static bool ident_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* True for valid UTF-8 holding no C0 control, DEL or C1 control character. */
static bool text_valid(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t trail;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            trail = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            trail = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            trail = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (trail > len - i - 1)
            return false;
        for (size_t k = 1; k <= trail; k++) {
            unsigned cc = p[i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
            return false;
        i += trail + 1;
    }
    return true;
}

static bool str_class_valid(const char *s, size_t len, int cls)
{
    const unsigned char *p = (const unsigned char *)s;
    switch (cls) {
    case STR_IDENT:
        for (size_t i = 0; i < len; i++)
            if (!ident_char(p[i]))
                return false;
        return true;
    case STR_HOST:
        for (size_t i = 0; i < len; i++)
            if (!ident_char(p[i]) && p[i] != ':' && p[i] != '[' && p[i] != ']')
                return false;
        return true;
    case STR_TEXT:
        return text_valid(p, len);
    case STR_PEM:
        for (size_t i = 0; i < len; i++)
            if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
                return false;
        return true;
    default:
        return true;
    }
}

static const char *str_class_name(int cls)
{
    switch (cls) {
    case STR_IDENT:
        return "characters outside [A-Za-z0-9._-]";
    case STR_HOST:
        return "characters outside [A-Za-z0-9.:_[]-]";
    case STR_TEXT:
        return "invalid UTF-8 or control characters";
    case STR_PEM:
        return "non-printable characters";
    default:
        return "invalid characters";
    }
}

/* Checks one string field: presence, length min..max bytes, class. */
static int check_str(const char *name, const char *value, bool required, size_t min, size_t max,
                     int cls, ferry_err_t *err)
{
    if (!value) {
        if (required)
            return ferry_err_set(err, FERRY_EPROTO, "missing field '%s'", name);
        return 0;
    }
    size_t len = strlen(value);
    if (len < min)
        return ferry_err_set(err, FERRY_EPROTO, "field '%s' is empty", name);
    if (len > max)
        return ferry_err_set(err, FERRY_EPROTO, "field '%s' is %zu bytes, at most %zu allowed",
                             name, len, max);
    if (!str_class_valid(value, len, cls))
        return ferry_err_set(err, FERRY_EPROTO, "field '%s' has %s", name, str_class_name(cls));
    return 0;
}

static int check_range(const char *name, int64_t value, int64_t min, int64_t max, ferry_err_t *err)
{
    if (value < min || value > max)
        return ferry_err_set(err, FERRY_EPROTO,
                             "field '%s' is %" PRId64 ", out of range %" PRId64 "..%" PRId64, name,
                             value, min, max);
    return 0;
}

static int check_digest(const char *name, const char *digest, bool required, ferry_err_t *err)
{
    int rc = check_str(name, digest, required, 1, MAX_DIGEST, STR_TEXT, err);
    if (rc < 0 || !digest)
        return rc;
    if (digest_validate(digest, NULL) < 0)
        return ferry_err_set(err, FERRY_EPROTO, "field '%s' is not a sha256 or sha512 digest",
                             name);
    return 0;
}

static int check_endpoint(const char *which, const proto_endpoint_t *ep, ferry_err_t *err)
{
    char name[32];
    int rc;
    snprintf(name, sizeof name, "%s.host", which);
    if ((rc = check_str(name, ep->host, true, 1, MAX_HOST, STR_HOST, err)) < 0)
        return rc;
    snprintf(name, sizeof name, "%s.ca_pem", which);
    if ((rc = check_str(name, ep->ca_pem, false, 0, MAX_CA_PEM, STR_PEM, err)) < 0)
        return rc;
    snprintf(name, sizeof name, "%s.username", which);
    if ((rc = check_str(name, ep->username, false, 0, MAX_USERNAME, STR_TEXT, err)) < 0)
        return rc;
    snprintf(name, sizeof name, "%s.password", which);
    return check_str(name, ep->password, false, 0, MAX_PASSWORD, STR_SECRET, err);
}

static int validate_hello(const proto_hello_t *m, ferry_err_t *err)
{
    int rc;
    if ((rc = check_str("agent_id", m->agent_id, true, 1, MAX_AGENT_ID, STR_IDENT, err)) < 0 ||
        (rc = check_str("version", m->version, true, 1, MAX_VERSION, STR_TEXT, err)) < 0)
        return rc;
    if (m->protocol != PROTO_VERSION)
        return ferry_err_set(err, FERRY_EPROTO, "protocol version %" PRIu32 " not supported",
                             m->protocol);
    if ((rc = check_range("capacity", m->capacity, 1, PROTO_MAX_CAPACITY, err)) < 0)
        return rc;
    if (m->active_count > PROTO_MAX_ACTIVE)
        return ferry_err_set(err, FERRY_EPROTO,
                             "field 'active' has %zu entries, at most %d allowed", m->active_count,
                             PROTO_MAX_ACTIVE);
    if (m->active_count && !m->active)
        return ferry_err_set(err, FERRY_EPROTO, "field 'active' is missing its entries");
    return 0;
}

static int validate_task(const proto_task_t *m, ferry_err_t *err)
{
    int rc;
    if (m->task_id == 0)
        return ferry_err_set(err, FERRY_EPROTO, "field 'task_id' is 0, must be at least 1");
    if (!proto_task_kind_name(m->kind))
        return ferry_err_set(err, FERRY_EPROTO, "field 'kind' is not a known task kind");
    if ((rc = check_endpoint("source", &m->source, err)) < 0 ||
        (rc = check_endpoint("target", &m->target, err)) < 0 ||
        (rc = check_str("source_repo", m->source_repo, true, 1, MAX_REPO, STR_TEXT, err)) < 0 ||
        (rc = check_str("target_repo", m->target_repo, true, 1, MAX_REPO, STR_TEXT, err)) < 0 ||
        (rc = check_digest("digest", m->digest, true, err)) < 0 ||
        (rc = check_range("size", m->size, -1, INT64_MAX, err)) < 0 ||
        (rc = check_str("media_type", m->media_type, m->kind == PROTO_KIND_PUT_MANIFEST, 1,
                        MAX_REPO, STR_TEXT, err)) < 0 ||
        (rc = check_str("tag", m->tag, false, 1, MAX_TAG, STR_TEXT, err)) < 0 ||
        (rc = check_str("mount_from", m->mount_from, m->kind == PROTO_KIND_MOUNT_BLOB, 1, MAX_REPO,
                        STR_TEXT, err)) < 0)
        return rc;
    /* Names go into URLs: the distribution spec's grammar, not just text. */
    ferry_err_t why;
    const char *const repos[] = {m->source_repo, m->target_repo, m->mount_from};
    const char *const names[] = {"source_repo", "target_repo", "mount_from"};
    for (int i = 0; i < 3; i++)
        if (repos[i] && ref_validate_repository(repos[i], &why) < 0)
            return ferry_err_set(err, FERRY_EPROTO, "field '%s': %s", names[i], why.message);
    if (m->tag && ref_validate_tag(m->tag, &why) < 0)
        return ferry_err_set(err, FERRY_EPROTO, "field 'tag': %s", why.message);
    if (m->manifest && (m->manifest_len == 0 || m->manifest_len > PROTO_MAX_MANIFEST))
        return ferry_err_set(err, FERRY_EPROTO, "field 'manifest' is %zu bytes, must be 1 to %d",
                             m->manifest_len, PROTO_MAX_MANIFEST);
    if (m->manifest && m->kind != PROTO_KIND_PUT_MANIFEST)
        return ferry_err_set(err, FERRY_EPROTO, "field 'manifest' is only for put-manifest");
    if (m->attempt == 0)
        return ferry_err_set(err, FERRY_EPROTO, "field 'attempt' is 0, must be at least 1");
    return 0;
}

static int validate_result(const proto_result_t *m, ferry_err_t *err)
{
    int rc;
    if (!proto_outcome_name(m->outcome))
        return ferry_err_set(err, FERRY_EPROTO, "field 'outcome' is not a known outcome");
    if (!proto_error_class_name(m->error_class))
        return ferry_err_set(err, FERRY_EPROTO, "field 'error_class' is not a known class");
    bool failed = m->outcome == PROTO_OUTCOME_FAILED;
    if (failed == (m->error_class == PROTO_ERROR_NONE))
        return ferry_err_set(err, FERRY_EPROTO, "field 'error_class' is '%s' but outcome is '%s'",
                             proto_error_class_name(m->error_class),
                             proto_outcome_name(m->outcome));
    if ((rc = check_str("error_code", m->error_code, true, 0, MAX_ERROR_CODE, STR_IDENT, err)) <
            0 ||
        (rc = check_str("message", m->message, true, 0, MAX_MESSAGE, STR_TEXT, err)) < 0 ||
        (rc = check_digest("digest", m->digest, false, err)) < 0)
        return rc;
    return 0;
}

static int validate_body(const proto_msg_t *msg, ferry_err_t *err)
{
    switch (msg->command) {
    case PROTO_HELLO:
        return validate_hello(&msg->hello, err);
    case PROTO_WELCOME: {
        int rc = check_range("heartbeat_ms", msg->welcome.heartbeat_ms, MIN_HEARTBEAT,
                             MAX_HEARTBEAT, err);
        if (rc == 0)
            rc = check_str("session", msg->welcome.session, true, 1, MAX_SESSION, STR_IDENT, err);
        if (rc == 0)
            rc = check_str("version", msg->welcome.version, true, 1, MAX_VERSION, STR_TEXT, err);
        return rc;
    }
    case PROTO_TASK:
        return validate_task(&msg->task, err);
    case PROTO_PROGRESS:
        return check_range("bytes_total", msg->progress.bytes_total, -1, INT64_MAX, err);
    case PROTO_RESULT:
        return validate_result(&msg->result, err);
    case PROTO_HEARTBEAT:
        return check_range("running", msg->heartbeat.running, 0, PROTO_MAX_CAPACITY, err);
    case PROTO_CREDIT:
        return check_range("capacity", msg->credit.capacity, 0, PROTO_MAX_CAPACITY, err);
    case PROTO_CANCEL:
        return 0;
    case PROTO_DISCONNECT:
        return check_str("reason", msg->disconnect.reason, true, 0, MAX_REASON, STR_TEXT, err);
    }
    return ferry_err_set(err, FERRY_EPROTO, "unknown command %d", msg->command);
}

int proto_validate(const proto_msg_t *msg, ferry_err_t *err)
{
    int rc = validate_body(msg, err);
    const char *name = proto_command_name(msg->command);
    if (rc < 0 && name)
        ferry_err_prefix(err, "%s", name);
    return rc;
}

/* ---- encoding ---------------------------------------------------------- */

/* Where the packer writes: a capped buffer, or only a byte count. */
typedef struct pack_sink {
    fbuf_t *buf;  /* destination, NULL when only counting */
    size_t count; /* bytes written (or that would have been) */
    int rc;       /* first fbuf error, 0 while all is well */
} pack_sink_t;

static int pack_write(void *data, const char *bytes, size_t len)
{
    pack_sink_t *sink = data;
    sink->count += len;
    if (sink->buf && sink->rc == 0)
        sink->rc = fbuf_append(sink->buf, bytes, len);
    return sink->rc == 0 ? 0 : -1;
}

static void pack_key(msgpack_packer *pk, const char *key)
{
    size_t len = strlen(key);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, key, len);
}

static void pack_str(msgpack_packer *pk, const char *key, const char *value)
{
    size_t len = strlen(value);
    pack_key(pk, key);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, value, len);
}

static void pack_uint(msgpack_packer *pk, const char *key, uint64_t value)
{
    pack_key(pk, key);
    msgpack_pack_uint64(pk, value);
}

static void pack_int(msgpack_packer *pk, const char *key, int64_t value)
{
    pack_key(pk, key);
    msgpack_pack_int64(pk, value);
}

static void pack_bool(msgpack_packer *pk, const char *key, bool value)
{
    pack_key(pk, key);
    if (value)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

/* Optional fields are sent only when set; the map sizes below count them. */
static void pack_endpoint(msgpack_packer *pk, const char *key, const proto_endpoint_t *ep)
{
    pack_key(pk, key);
    msgpack_pack_map(pk, 3 + (ep->ca_pem != NULL) + (ep->username != NULL) +
                             (ep->password != NULL) + (ep->qps != 0));
    pack_str(pk, "host", ep->host);
    pack_bool(pk, "plain_http", ep->plain_http);
    pack_bool(pk, "tls_verify", ep->tls_verify);
    if (ep->ca_pem)
        pack_str(pk, "ca_pem", ep->ca_pem);
    if (ep->username)
        pack_str(pk, "username", ep->username);
    if (ep->password)
        pack_str(pk, "password", ep->password);
    if (ep->qps)
        pack_uint(pk, "qps", ep->qps);
}

static void pack_body(msgpack_packer *pk, const proto_msg_t *msg)
{
    switch (msg->command) {
    case PROTO_HELLO: {
        const proto_hello_t *m = &msg->hello;
        msgpack_pack_map(pk, 5 + (m->pid != 0));
        pack_str(pk, "agent_id", m->agent_id);
        pack_str(pk, "version", m->version);
        pack_uint(pk, "protocol", m->protocol);
        pack_uint(pk, "capacity", m->capacity);
        pack_key(pk, "active");
        msgpack_pack_array(pk, m->active_count);
        for (size_t i = 0; i < m->active_count; i++)
            msgpack_pack_uint64(pk, m->active[i]);
        if (m->pid)
            pack_uint(pk, "pid", m->pid);
        break;
    }
    case PROTO_WELCOME:
        msgpack_pack_map(pk, 3);
        pack_uint(pk, "heartbeat_ms", msg->welcome.heartbeat_ms);
        pack_str(pk, "session", msg->welcome.session);
        pack_str(pk, "version", msg->welcome.version);
        break;
    case PROTO_TASK: {
        const proto_task_t *m = &msg->task;
        msgpack_pack_map(pk, 9 + (m->media_type != NULL) + (m->tag != NULL) +
                                 (m->mount_from != NULL) + (m->deadline_ms != 0) +
                                 (m->manifest != NULL));
        pack_uint(pk, "task_id", m->task_id);
        pack_str(pk, "kind", proto_task_kind_name(m->kind));
        pack_endpoint(pk, "source", &m->source);
        pack_endpoint(pk, "target", &m->target);
        pack_str(pk, "source_repo", m->source_repo);
        pack_str(pk, "target_repo", m->target_repo);
        pack_str(pk, "digest", m->digest);
        pack_int(pk, "size", m->size);
        pack_uint(pk, "attempt", m->attempt);
        if (m->media_type)
            pack_str(pk, "media_type", m->media_type);
        if (m->tag)
            pack_str(pk, "tag", m->tag);
        if (m->mount_from)
            pack_str(pk, "mount_from", m->mount_from);
        if (m->deadline_ms)
            pack_uint(pk, "deadline_ms", m->deadline_ms);
        if (m->manifest) {
            pack_key(pk, "manifest");
            msgpack_pack_bin(pk, m->manifest_len);
            msgpack_pack_bin_body(pk, m->manifest, m->manifest_len);
        }
        break;
    }
    case PROTO_PROGRESS:
        msgpack_pack_map(pk, 3);
        pack_uint(pk, "task_id", msg->progress.task_id);
        pack_uint(pk, "bytes_done", msg->progress.bytes_done);
        pack_int(pk, "bytes_total", msg->progress.bytes_total);
        break;
    case PROTO_RESULT: {
        const proto_result_t *m = &msg->result;
        msgpack_pack_map(pk, 7 + (m->digest != NULL));
        pack_uint(pk, "task_id", m->task_id);
        pack_str(pk, "outcome", proto_outcome_name(m->outcome));
        pack_str(pk, "error_class", proto_error_class_name(m->error_class));
        pack_str(pk, "error_code", m->error_code);
        pack_str(pk, "message", m->message);
        pack_uint(pk, "bytes", m->bytes);
        pack_uint(pk, "duration_ms", m->duration_ms);
        if (m->digest)
            pack_str(pk, "digest", m->digest);
        break;
    }
    case PROTO_HEARTBEAT:
        msgpack_pack_map(pk, msg->heartbeat.has_running ? 1 : 0);
        if (msg->heartbeat.has_running)
            pack_uint(pk, "running", msg->heartbeat.running);
        break;
    case PROTO_CREDIT:
        msgpack_pack_map(pk, 1);
        pack_uint(pk, "capacity", msg->credit.capacity);
        break;
    case PROTO_CANCEL:
        msgpack_pack_map(pk, 1);
        pack_uint(pk, "task_id", msg->cancel.task_id);
        break;
    case PROTO_DISCONNECT:
        msgpack_pack_map(pk, 1);
        pack_str(pk, "reason", msg->disconnect.reason);
        break;
    }
}

int proto_encode(const proto_msg_t *msg, fbuf_t *body_out, ferry_err_t *err)
{
    int rc = proto_validate(msg, err);
    if (rc < 0)
        return rc;
    fbuf_reset(body_out);

    /* Measure first, then grow the buffer over zeros to the final size, so
     * the pass that writes a password never reallocates and leaves no
     * unwiped copy of it behind in freed memory. */
    pack_sink_t sink = {.buf = NULL};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sink, pack_write);
    pack_body(&pk, msg);
    if (sink.count > body_out->max || sink.count > PROTO_MAX_BODY)
        return ferry_err_set(err, FERRY_ETOOBIG, "%s body would be %zu bytes, at most %zu allowed",
                             proto_command_name(msg->command), sink.count,
                             body_out->max < PROTO_MAX_BODY ? body_out->max : PROTO_MAX_BODY);
    static const char zeros[1024];
    while (body_out->len < sink.count) {
        size_t n = sink.count - body_out->len;
        rc = fbuf_append(body_out, zeros, n < sizeof zeros ? n : sizeof zeros);
        if (rc < 0)
            return ferry_err_set(err, rc, "encoding %s: out of memory",
                                 proto_command_name(msg->command));
    }
    fbuf_reset(body_out);

    sink = (pack_sink_t){.buf = body_out};
    msgpack_packer_init(&pk, &sink, pack_write);
    pack_body(&pk, msg);
    if (sink.rc < 0)
        return ferry_err_set(err, sink.rc, "encoding %s failed", proto_command_name(msg->command));
    return 0;
}

/* ---- decoding ---------------------------------------------------------- */

static uint32_t load_be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The msgpack formats 0xc0..0xdf: bytes of the length field after the type
 * byte, fixed payload bytes, and what the value is. */
enum { FMT_INVALID, FMT_SCALAR, FMT_EXT, FMT_ARRAY, FMT_MAP };
struct msgpack_format {
    uint8_t len_bytes; /* 0, 1, 2 or 4 */
    uint8_t fixed;     /* payload bytes when there is no length field */
    uint8_t kind;      /* FMT_* */
};
static const struct msgpack_format formats[32] = {
    [0x00] = {0, 0, FMT_SCALAR},  /* 0xc0 nil; 0xc1 is never used */
    [0x02] = {0, 0, FMT_SCALAR},  /* 0xc2 false */
    [0x03] = {0, 0, FMT_SCALAR},  /* 0xc3 true */
    [0x04] = {1, 0, FMT_SCALAR},  /* 0xc4 bin8 */
    [0x05] = {2, 0, FMT_SCALAR},  /* 0xc5 bin16 */
    [0x06] = {4, 0, FMT_SCALAR},  /* 0xc6 bin32 */
    [0x07] = {1, 0, FMT_EXT},     /* 0xc7 ext8 */
    [0x08] = {2, 0, FMT_EXT},     /* 0xc8 ext16 */
    [0x09] = {4, 0, FMT_EXT},     /* 0xc9 ext32 */
    [0x0a] = {0, 4, FMT_SCALAR},  /* 0xca float32 */
    [0x0b] = {0, 8, FMT_SCALAR},  /* 0xcb float64 */
    [0x0c] = {0, 1, FMT_SCALAR},  /* 0xcc uint8 */
    [0x0d] = {0, 2, FMT_SCALAR},  /* 0xcd uint16 */
    [0x0e] = {0, 4, FMT_SCALAR},  /* 0xce uint32 */
    [0x0f] = {0, 8, FMT_SCALAR},  /* 0xcf uint64 */
    [0x10] = {0, 1, FMT_SCALAR},  /* 0xd0 int8 */
    [0x11] = {0, 2, FMT_SCALAR},  /* 0xd1 int16 */
    [0x12] = {0, 4, FMT_SCALAR},  /* 0xd2 int32 */
    [0x13] = {0, 8, FMT_SCALAR},  /* 0xd3 int64 */
    [0x14] = {0, 2, FMT_SCALAR},  /* 0xd4 fixext1: type + 1 */
    [0x15] = {0, 3, FMT_SCALAR},  /* 0xd5 fixext2 */
    [0x16] = {0, 5, FMT_SCALAR},  /* 0xd6 fixext4 */
    [0x17] = {0, 9, FMT_SCALAR},  /* 0xd7 fixext8 */
    [0x18] = {0, 17, FMT_SCALAR}, /* 0xd8 fixext16 */
    [0x19] = {1, 0, FMT_SCALAR},  /* 0xd9 str8 */
    [0x1a] = {2, 0, FMT_SCALAR},  /* 0xda str16 */
    [0x1b] = {4, 0, FMT_SCALAR},  /* 0xdb str32 */
    [0x1c] = {2, 0, FMT_ARRAY},   /* 0xdc array16 */
    [0x1d] = {4, 0, FMT_ARRAY},   /* 0xdd array32 */
    [0x1e] = {2, 0, FMT_MAP},     /* 0xde map16 */
    [0x1f] = {4, 0, FMT_MAP},     /* 0xdf map32 */
};

/* Walks the raw msgpack body without building anything: exactly one value,
 * a map, complete, nested at most MAX_DEPTH deep, with no trailing bytes.
 * Every container count is checked against the bytes left (each element
 * takes at least one byte), which bounds what msgpack-c allocates later. */
static int body_scan(const uint8_t *p, size_t len, ferry_err_t *err)
{
    if (len == 0)
        return ferry_err_set(err, FERRY_EPROTO, "body is empty");
    if (!((p[0] >= 0x80 && p[0] <= 0x8f) || p[0] == 0xde || p[0] == 0xdf))
        return ferry_err_set(err, FERRY_EPROTO, "body is not a msgpack map");

    uint64_t pending[MAX_DEPTH + 1]; /* elements still expected per open level */
    uint64_t outstanding = 1;        /* elements still expected in all */
    int depth = 0;
    size_t pos = 0;
    pending[0] = 1;
    for (;;) {
        while (depth > 0 && pending[depth] == 0)
            depth--;
        if (depth == 0 && pending[0] == 0)
            break;
        if (pos >= len)
            return ferry_err_set(err, FERRY_EPROTO, "body is truncated");
        uint8_t b = p[pos];
        size_t head = 1;       /* bytes of the type, length and ext-type fields */
        size_t len_bytes = 0;  /* bytes of the length field inside head */
        uint64_t payload = 0;  /* bytes after head (scalars) */
        uint64_t children = 0; /* elements inside (containers) */
        bool container = false, is_map = false;
        size_t left = len - pos;
        if (b <= 0x7f || b >= 0xe0) {
            /* positive or negative fixint: the byte is all */
        } else if (b <= 0x8f) {
            container = is_map = true, children = b & 0x0f;
        } else if (b <= 0x9f) {
            container = true, children = b & 0x0f;
        } else if (b <= 0xbf) {
            payload = b & 0x1f; /* fixstr */
        } else {
            const struct msgpack_format *f = &formats[b - 0xc0];
            if (f->kind == FMT_INVALID)
                return ferry_err_set(err, FERRY_EPROTO, "body has invalid msgpack byte 0x%02x", b);
            len_bytes = f->len_bytes;
            payload = f->fixed;
            container = f->kind == FMT_ARRAY || f->kind == FMT_MAP;
            is_map = f->kind == FMT_MAP;
            head += len_bytes + (f->kind == FMT_EXT ? 1 : 0);
            if (head > left)
                return ferry_err_set(err, FERRY_EPROTO, "body is truncated");
            if (len_bytes) {
                const uint8_t *n_at = p + pos + 1;
                uint64_t n = len_bytes == 1   ? n_at[0]
                             : len_bytes == 2 ? load_be16(n_at)
                                              : load_be32(n_at);
                if (container)
                    children = n;
                else
                    payload = n;
            }
        }
        if (is_map)
            children *= 2; /* a key and a value per entry */
        pending[depth]--;
        outstanding--;
        if (payload > left - head)
            return ferry_err_set(err, FERRY_EPROTO, "body is truncated");
        pos += head + (size_t)payload;
        if (container && children > 0) {
            if (depth >= MAX_DEPTH)
                return ferry_err_set(err, FERRY_EPROTO, "body nests deeper than %d levels",
                                     MAX_DEPTH);
            outstanding += children;
            if (outstanding > len - pos)
                return ferry_err_set(err, FERRY_EPROTO, "body is truncated");
            pending[++depth] = children;
        }
    }
    if (pos != len)
        return ferry_err_set(err, FERRY_EPROTO, "body has %zu trailing bytes", len - pos);
    return 0;
}

static const char *object_type_name(msgpack_object_type type)
{
    switch (type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return "unsigned integer";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "negative integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "float";
    case MSGPACK_OBJECT_STR:
        return "string";
    case MSGPACK_OBJECT_ARRAY:
        return "array";
    case MSGPACK_OBJECT_MAP:
        return "map";
    case MSGPACK_OBJECT_BIN:
        return "binary";
    case MSGPACK_OBJECT_EXT:
        return "ext";
    }
    return "unknown";
}

/* A decoded map plus the prefix of its field names in messages ("source."). */
typedef struct body_map {
    const msgpack_object_map *map; /* the msgpack map */
    const char *prefix;            /* "" for the body, "source." for an endpoint */
} body_map_t;

/* Keys must be strings, at most MAX_KEYS of them, none twice. */
static int map_check_keys(const body_map_t *bm, ferry_err_t *err)
{
    const msgpack_object_map *map = bm->map;
    if (map->size > MAX_KEYS)
        return ferry_err_set(err, FERRY_EPROTO, "%smap has %" PRIu32 " keys, at most %d allowed",
                             bm->prefix, map->size, MAX_KEYS);
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr[i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            return ferry_err_set(err, FERRY_EPROTO, "%smap has a %s key, keys must be strings",
                                 bm->prefix, object_type_name(key->type));
        for (uint32_t j = 0; j < i; j++) {
            const msgpack_object_str *a = &map->ptr[j].key.via.str, *b = &key->via.str;
            /* msgpack-c may give an empty string a NULL pointer */
            if (a->size == b->size && (a->size == 0 || memcmp(a->ptr, b->ptr, a->size) == 0))
                return ferry_err_set(err, FERRY_EPROTO, "%smap has a key twice", bm->prefix);
        }
    }
    return 0;
}

static const msgpack_object *map_find(const body_map_t *bm, const char *key)
{
    size_t len = strlen(key);
    for (uint32_t i = 0; i < bm->map->size; i++) {
        const msgpack_object_str *k = &bm->map->ptr[i].key.via.str;
        if (k->size == len && memcmp(k->ptr, key, len) == 0)
            return &bm->map->ptr[i].val;
    }
    return NULL;
}

/* Finds key; NULL with 0 when absent and optional, NULL with an error when
 * absent and required or present with another type. */
static const msgpack_object *map_get(const body_map_t *bm, const char *key, bool required,
                                     msgpack_object_type type, const char *type_name, int *rc,
                                     ferry_err_t *err)
{
    *rc = 0;
    const msgpack_object *value = map_find(bm, key);
    if (!value) {
        if (required)
            *rc = ferry_err_set(err, FERRY_EPROTO, "missing field '%s%s'", bm->prefix, key);
        return NULL;
    }
    bool ok = value->type == type;
    if (type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        ok = ok || value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
    if (!ok) {
        *rc = ferry_err_set(err, FERRY_EPROTO, "field '%s%s' must be %s, not %s", bm->prefix, key,
                            type_name, object_type_name(value->type));
        return NULL;
    }
    return value;
}

/* Copies a string field into a new *out, refusing NUL bytes and more than
 * max bytes (limits and classes are checked again by proto_validate). */
static int get_str(const body_map_t *bm, const char *key, bool required, size_t max, char **out,
                   ferry_err_t *err)
{
    int rc;
    const msgpack_object *v = map_get(bm, key, required, MSGPACK_OBJECT_STR, "a string", &rc, err);
    if (!v)
        return rc;
    if (v->via.str.size > max)
        return ferry_err_set(err, FERRY_EPROTO,
                             "field '%s%s' is %" PRIu32 " bytes, at most %zu allowed", bm->prefix,
                             key, v->via.str.size, max);
    size_t size = v->via.str.size;
    if (size && memchr(v->via.str.ptr, '\0', size))
        return ferry_err_set(err, FERRY_EPROTO, "field '%s%s' contains a NUL byte", bm->prefix,
                             key);
    char *copy = malloc(size + 1);
    if (!copy)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    if (size)
        memcpy(copy, v->via.str.ptr, size);
    copy[size] = '\0';
    str_free(out);
    *out = copy;
    return 0;
}

/* Copies a binary field of 1 to max bytes into a new *out. */
static int get_bin(const body_map_t *bm, const char *key, size_t max, char **out, size_t *len_out,
                   ferry_err_t *err)
{
    int rc;
    const msgpack_object *v = map_get(bm, key, false, MSGPACK_OBJECT_BIN, "binary", &rc, err);
    if (!v)
        return rc;
    size_t size = v->via.bin.size;
    if (size == 0 || size > max)
        return ferry_err_set(err, FERRY_EPROTO, "field '%s%s' is %zu bytes, must be 1 to %zu",
                             bm->prefix, key, size, max);
    char *copy = malloc(size);
    if (!copy)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    memcpy(copy, v->via.bin.ptr, size);
    free(*out);
    *out = copy;
    *len_out = size;
    return 0;
}

/* Reads an unsigned integer field of at most max; *out is left alone when
 * the optional field is absent. */
static int get_uint(const body_map_t *bm, const char *key, bool required, uint64_t max,
                    uint64_t *out, ferry_err_t *err)
{
    int rc;
    const msgpack_object *v = map_get(bm, key, required, MSGPACK_OBJECT_POSITIVE_INTEGER,
                                      "an unsigned integer", &rc, err);
    if (!v)
        return rc;
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return ferry_err_set(err, FERRY_EPROTO, "field '%s%s' is %" PRId64 ", must be >= 0",
                             bm->prefix, key, v->via.i64);
    if (v->via.u64 > max)
        return ferry_err_set(err, FERRY_EPROTO,
                             "field '%s%s' is %" PRIu64 ", at most %" PRIu64 " allowed", bm->prefix,
                             key, v->via.u64, max);
    *out = v->via.u64;
    return 0;
}

static int get_u32(const body_map_t *bm, const char *key, bool required, uint32_t *out,
                   ferry_err_t *err)
{
    uint64_t value = *out;
    int rc = get_uint(bm, key, required, UINT32_MAX, &value, err);
    if (rc == 0)
        *out = (uint32_t)value;
    return rc;
}

static int get_u64(const body_map_t *bm, const char *key, uint64_t *out, ferry_err_t *err)
{
    return get_uint(bm, key, true, UINT64_MAX, out, err);
}

static int get_i64(const body_map_t *bm, const char *key, int64_t *out, ferry_err_t *err)
{
    int rc;
    const msgpack_object *v =
        map_get(bm, key, true, MSGPACK_OBJECT_POSITIVE_INTEGER, "an integer", &rc, err);
    if (!v)
        return rc;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 > INT64_MAX)
        return ferry_err_set(err, FERRY_EPROTO, "field '%s%s' is too large", bm->prefix, key);
    *out = v->via.i64;
    return 0;
}

static int get_bool(const body_map_t *bm, const char *key, bool *out, ferry_err_t *err)
{
    int rc;
    const msgpack_object *v = map_get(bm, key, true, MSGPACK_OBJECT_BOOLEAN, "a bool", &rc, err);
    if (v)
        *out = v->via.boolean;
    return rc;
}

/* Reads a string field that must be one of names[1..count-1]. */
static int get_enum(const body_map_t *bm, const char *key, const char *const *names, size_t count,
                    int *out, ferry_err_t *err)
{
    int rc;
    const msgpack_object *v = map_get(bm, key, true, MSGPACK_OBJECT_STR, "a string", &rc, err);
    if (!v)
        return rc;
    for (size_t i = 1; i < count; i++) {
        if (v->via.str.size == strlen(names[i]) &&
            memcmp(v->via.str.ptr, names[i], v->via.str.size) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    char allowed[128] = "";
    size_t used = 0;
    for (size_t i = 1; i < count && used < sizeof allowed; i++)
        used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s%s", i > 1 ? ", " : "",
                                 names[i]);
    return ferry_err_set(err, FERRY_EPROTO, "field '%s%s' is not one of %s", bm->prefix, key,
                         allowed);
}

static int get_endpoint(const body_map_t *bm, const char *key, proto_endpoint_t *ep,
                        ferry_err_t *err)
{
    int rc;
    const msgpack_object *v = map_get(bm, key, true, MSGPACK_OBJECT_MAP, "a map", &rc, err);
    if (!v)
        return rc;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s.", key);
    body_map_t inner = {.map = &v->via.map, .prefix = prefix};
    uint64_t qps = 0;
    if ((rc = map_check_keys(&inner, err)) < 0 ||
        (rc = get_str(&inner, "host", true, MAX_HOST, &ep->host, err)) < 0 ||
        (rc = get_bool(&inner, "plain_http", &ep->plain_http, err)) < 0 ||
        (rc = get_bool(&inner, "tls_verify", &ep->tls_verify, err)) < 0 ||
        (rc = get_str(&inner, "ca_pem", false, MAX_CA_PEM, &ep->ca_pem, err)) < 0 ||
        (rc = get_str(&inner, "username", false, MAX_USERNAME, &ep->username, err)) < 0 ||
        (rc = get_str(&inner, "password", false, MAX_PASSWORD, &ep->password, err)) < 0 ||
        (rc = get_uint(&inner, "qps", false, UINT32_MAX, &qps, err)) < 0)
        return rc;
    ep->qps = (uint32_t)qps;
    return 0;
}

static int decode_hello(const body_map_t *bm, proto_hello_t *m, ferry_err_t *err)
{
    int rc;
    if ((rc = get_str(bm, "agent_id", true, MAX_AGENT_ID, &m->agent_id, err)) < 0 ||
        (rc = get_str(bm, "version", true, MAX_VERSION, &m->version, err)) < 0 ||
        (rc = get_u32(bm, "protocol", true, &m->protocol, err)) < 0 ||
        (rc = get_u32(bm, "capacity", true, &m->capacity, err)) < 0 ||
        (rc = get_u32(bm, "pid", false, &m->pid, err)) < 0)
        return rc;
    const msgpack_object *v =
        map_get(bm, "active", true, MSGPACK_OBJECT_ARRAY, "an array", &rc, err);
    if (!v)
        return rc;
    const msgpack_object_array *array = &v->via.array;
    if (array->size > PROTO_MAX_ACTIVE)
        return ferry_err_set(err, FERRY_EPROTO,
                             "field 'active' has %" PRIu32 " entries, at most %d allowed",
                             array->size, PROTO_MAX_ACTIVE);
    if (array->size == 0)
        return 0;
    m->active = calloc(array->size, sizeof *m->active);
    if (!m->active)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < array->size; i++) {
        if (array->ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return ferry_err_set(err, FERRY_EPROTO,
                                 "field 'active' entry %" PRIu32 " must be an unsigned integer, "
                                 "not %s",
                                 i, object_type_name(array->ptr[i].type));
        m->active[i] = array->ptr[i].via.u64;
    }
    m->active_count = array->size;
    return 0;
}

static int decode_task(const body_map_t *bm, proto_task_t *m, ferry_err_t *err)
{
    int rc;
    if ((rc = get_u64(bm, "task_id", &m->task_id, err)) < 0 ||
        (rc = get_enum(bm, "kind", kind_names, sizeof kind_names / sizeof kind_names[0], &m->kind,
                       err)) < 0 ||
        (rc = get_endpoint(bm, "source", &m->source, err)) < 0 ||
        (rc = get_endpoint(bm, "target", &m->target, err)) < 0 ||
        (rc = get_str(bm, "source_repo", true, MAX_REPO, &m->source_repo, err)) < 0 ||
        (rc = get_str(bm, "target_repo", true, MAX_REPO, &m->target_repo, err)) < 0 ||
        (rc = get_str(bm, "digest", true, MAX_DIGEST, &m->digest, err)) < 0 ||
        (rc = get_i64(bm, "size", &m->size, err)) < 0 ||
        (rc = get_str(bm, "media_type", false, MAX_REPO, &m->media_type, err)) < 0 ||
        (rc = get_str(bm, "tag", false, MAX_TAG, &m->tag, err)) < 0 ||
        (rc = get_str(bm, "mount_from", false, MAX_REPO, &m->mount_from, err)) < 0 ||
        (rc = get_u32(bm, "attempt", true, &m->attempt, err)) < 0 ||
        (rc = get_u32(bm, "deadline_ms", false, &m->deadline_ms, err)) < 0 ||
        (rc = get_bin(bm, "manifest", PROTO_MAX_MANIFEST, &m->manifest, &m->manifest_len, err)) < 0)
        return rc;
    return 0;
}

static int decode_result(const body_map_t *bm, proto_result_t *m, ferry_err_t *err)
{
    int rc;
    if ((rc = get_u64(bm, "task_id", &m->task_id, err)) < 0 ||
        (rc = get_enum(bm, "outcome", outcome_names, sizeof outcome_names / sizeof outcome_names[0],
                       &m->outcome, err)) < 0 ||
        (rc = get_enum(bm, "error_class", error_class_names,
                       sizeof error_class_names / sizeof error_class_names[0], &m->error_class,
                       err)) < 0 ||
        (rc = get_str(bm, "error_code", true, MAX_ERROR_CODE, &m->error_code, err)) < 0 ||
        (rc = get_str(bm, "message", true, MAX_MESSAGE, &m->message, err)) < 0 ||
        (rc = get_u64(bm, "bytes", &m->bytes, err)) < 0 ||
        (rc = get_u64(bm, "duration_ms", &m->duration_ms, err)) < 0 ||
        (rc = get_str(bm, "digest", false, MAX_DIGEST, &m->digest, err)) < 0)
        return rc;
    return 0;
}

/* Reads the typed fields of one command from its body map. */
static int decode_fields(const body_map_t *bm, proto_msg_t *msg, ferry_err_t *err)
{
    int rc = 0;
    switch (msg->command) {
    case PROTO_HELLO:
        return decode_hello(bm, &msg->hello, err);
    case PROTO_WELCOME:
        if ((rc = get_u32(bm, "heartbeat_ms", true, &msg->welcome.heartbeat_ms, err)) < 0 ||
            (rc = get_str(bm, "session", true, MAX_SESSION, &msg->welcome.session, err)) < 0 ||
            (rc = get_str(bm, "version", true, MAX_VERSION, &msg->welcome.version, err)) < 0)
            return rc;
        return 0;
    case PROTO_TASK:
        return decode_task(bm, &msg->task, err);
    case PROTO_PROGRESS:
        if ((rc = get_u64(bm, "task_id", &msg->progress.task_id, err)) < 0 ||
            (rc = get_u64(bm, "bytes_done", &msg->progress.bytes_done, err)) < 0 ||
            (rc = get_i64(bm, "bytes_total", &msg->progress.bytes_total, err)) < 0)
            return rc;
        return 0;
    case PROTO_RESULT:
        return decode_result(bm, &msg->result, err);
    case PROTO_HEARTBEAT:
        msg->heartbeat.has_running = map_find(bm, "running") != NULL;
        return get_u32(bm, "running", false, &msg->heartbeat.running, err);
    case PROTO_CREDIT:
        return get_u32(bm, "capacity", true, &msg->credit.capacity, err);
    case PROTO_CANCEL:
        return get_u64(bm, "task_id", &msg->cancel.task_id, err);
    case PROTO_DISCONNECT:
        return get_str(bm, "reason", true, MAX_REASON, &msg->disconnect.reason, err);
    }
    return rc;
}

/* Copies up to max bytes of peer data for an error message, printable ASCII
 * only, so a hostile peer can not put control characters in our logs. */
static void sanitize(char *out, size_t out_size, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t n = len < out_size - 1 ? len : out_size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'' ? (char)p[i] : '?';
    out[n] = '\0';
}

/* The command whose name is exactly the command frame; 0 when none is. */
static int command_lookup(const char *command, size_t command_len)
{
    for (size_t i = 1; i < COMMAND_COUNT; i++)
        if (strlen(command_names[i]) == command_len &&
            memcmp(command_names[i], command, command_len) == 0)
            return (int)i;
    return 0;
}

int proto_decode(proto_msg_t **out, const void *sig, size_t sig_len, const char *command,
                 size_t command_len, const void *body, size_t body_len, ferry_err_t *err)
{
    proto_msg_t *msg = NULL;
    msgpack_unpacked unpacked;
    bool unpacked_live = false;
    int rc;

    *out = NULL;
    if (sig_len != PROTO_SIG_LEN || memcmp(sig, PROTO_SIGNATURE, PROTO_SIG_LEN - 1) != 0) {
        rc = ferry_err_set(err, FERRY_EPROTO,
                           "bad signature frame (%zu bytes, expected "
                           "'" PROTO_SIGNATURE "' and a version byte)",
                           sig_len);
        goto out;
    }
    unsigned version = ((const uint8_t *)sig)[PROTO_SIG_LEN - 1];
    if (version != PROTO_VERSION) {
        rc = ferry_err_set(err, FERRY_EPROTO, "protocol version %u not supported", version);
        goto out;
    }
    int cmd = command_len <= MAX_COMMAND_LEN ? command_lookup(command, command_len) : 0;
    if (cmd == 0) {
        char shown[MAX_COMMAND_LEN + 1];
        sanitize(shown, sizeof shown, command, command_len);
        rc = ferry_err_set(err, FERRY_EPROTO, "unknown command '%s'%s", shown,
                           command_len > MAX_COMMAND_LEN ? "..." : "");
        goto out;
    }
    const char *name = command_names[cmd];
    if (body_len > PROTO_MAX_BODY) {
        rc = ferry_err_set(err, FERRY_EPROTO, "%s: body is %zu bytes, at most %d allowed", name,
                           body_len, PROTO_MAX_BODY);
        goto out;
    }
    if ((rc = body_scan(body, body_len, err)) < 0) {
        ferry_err_prefix(err, "%s", name);
        goto out;
    }

    msgpack_unpacked_init(&unpacked);
    unpacked_live = true;
    size_t offset = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&unpacked, body, body_len, &offset);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "%s: out of memory decoding the body", name);
        goto out;
    }
    if (ur != MSGPACK_UNPACK_SUCCESS || offset != body_len ||
        unpacked.data.type != MSGPACK_OBJECT_MAP) {
        rc = ferry_err_set(err, FERRY_EPROTO, "%s: body is not one msgpack map", name);
        goto out;
    }

    msg = proto_msg_new(cmd);
    if (!msg) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    /* The defaults proto_msg_new sets are all of required fields, so they
     * never stand in for a field the peer left out. */
    body_map_t bm = {.map = &unpacked.data.via.map, .prefix = ""};
    if ((rc = map_check_keys(&bm, err)) < 0 || (rc = decode_fields(&bm, msg, err)) < 0) {
        ferry_err_prefix(err, "%s", name);
        goto out;
    }
    rc = proto_validate(msg, err);
    if (rc < 0)
        goto out;
    *out = msg;
    msg = NULL;
out:
    if (unpacked_live)
        msgpack_unpacked_destroy(&unpacked);
    proto_msg_destroy(&msg);
    return rc;
}

/* ---- zmq --------------------------------------------------------------- */

/* zmq's release callback for an encoded body: wipe, then free. */
static void body_release(void *data, void *hint)
{
    explicit_bzero(data, (size_t)(uintptr_t)hint);
    free(data);
}

/* Maps a failed zmq send to an error code. */
static int send_error(int errnum, const char *what, ferry_err_t *err)
{
    if (errnum == EAGAIN || errnum == EINTR)
        return ferry_err_set(err, FERRY_ERETRY, "%s: socket busy, try again", what);
    if (errnum == EHOSTUNREACH)
        return ferry_err_set(err, FERRY_ENOTFOUND, "%s: peer is not connected", what);
    return ferry_err_set(err, FERRY_EIO, "%s: %s", what, zmq_strerror(errnum));
}

int proto_send(void *socket, const void *routing_id, size_t routing_id_len, const proto_msg_t *msg,
               ferry_err_t *err)
{
    fbuf_t body;
    uint8_t sig[PROTO_SIG_LEN];
    zmq_msg_t body_frame;
    bool frame_live = false;
    int rc;

    fbuf_init(&body, PROTO_MAX_BODY);
    if ((rc = proto_encode(msg, &body, err)) < 0)
        goto out;
    const char *name = proto_command_name(msg->command);
    memcpy(sig, PROTO_SIGNATURE, PROTO_SIG_LEN - 1);
    sig[PROTO_SIG_LEN - 1] = PROTO_VERSION;

    /* Only the first frame may be refused (EAGAIN, EHOSTUNREACH): once it is
     * accepted, zmq takes the rest of the multipart message whole, so the
     * later frames are sent without ZMQ_DONTWAIT and never leave a half
     * message behind. */
    if (routing_id &&
        zmq_send(socket, routing_id, routing_id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        rc = send_error(errno, name, err);
        goto out;
    }
    if (zmq_send(socket, sig, sizeof sig, ZMQ_SNDMORE | (routing_id ? 0 : ZMQ_DONTWAIT)) < 0) {
        rc = send_error(errno, name, err);
        goto out;
    }
    if (zmq_send(socket, name, strlen(name), ZMQ_SNDMORE) < 0) {
        rc = send_error(errno, name, err);
        goto out;
    }
    size_t len = body.len;
    char *data = fbuf_steal(&body);
    if (!data) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    if (zmq_msg_init_data(&body_frame, data, len, body_release, (void *)(uintptr_t)len) < 0) {
        body_release(data, (void *)(uintptr_t)len);
        rc = ferry_err_set(err, FERRY_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    frame_live = true;
    if (zmq_msg_send(&body_frame, socket, 0) < 0) {
        rc = send_error(errno, name, err);
        goto out;
    }
    frame_live = false; /* zmq owns it now */
    rc = 0;
out:
    if (frame_live)
        zmq_msg_close(&body_frame);
    if (body.data)
        explicit_bzero(body.data, body.len);
    fbuf_free(&body);
    return rc;
}

/* Frames proto_recv keeps: the routing id (ROUTER) and three more, plus one
 * to tell "too many" apart. */
#define RECV_KEEP 5

int proto_recv(void *socket, bool router, proto_msg_t **out, void **routing_id_out,
               size_t *routing_id_len_out, ferry_err_t *err)
{
    zmq_msg_t frames[RECV_KEEP];
    size_t kept = 0;  /* initialised entries of frames */
    size_t total = 0; /* frames in the message */
    int rc = 0;

    *out = NULL;
    if (routing_id_out)
        *routing_id_out = NULL;
    if (routing_id_len_out)
        *routing_id_len_out = 0;

    /* Read the whole message, even when it is invalid: the socket must be
     * positioned at the start of the next message when we return. */
    bool more = true;
    while (more) {
        zmq_msg_t scratch;
        zmq_msg_t *part = kept < RECV_KEEP ? &frames[kept] : &scratch;
        zmq_msg_init(part);
        int n;
        do
            n = zmq_msg_recv(part, socket, ZMQ_DONTWAIT);
        while (n < 0 && errno == EINTR && total > 0);
        if (n < 0) {
            int errnum = errno;
            zmq_msg_close(part);
            if (total == 0 && (errnum == EAGAIN || errnum == EINTR))
                rc = ferry_err_set(err, FERRY_ERETRY, "no message pending");
            else
                rc = ferry_err_set(err, FERRY_EIO, "receiving a message: %s", zmq_strerror(errnum));
            goto out;
        }
        total++;
        more = zmq_msg_more(part);
        if (part == &scratch) {
            explicit_bzero(zmq_msg_data(part), zmq_msg_size(part));
            zmq_msg_close(part);
        } else {
            kept++;
        }
    }

    size_t first = 0;
    if (router) {
        if (routing_id_out) {
            size_t len = zmq_msg_size(&frames[0]);
            *routing_id_out = malloc(len ? len : 1);
            if (!*routing_id_out) {
                rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
                goto out;
            }
            if (len)
                memcpy(*routing_id_out, zmq_msg_data(&frames[0]), len);
            if (routing_id_len_out)
                *routing_id_len_out = len;
        }
        first = 1;
    }
    if (total - first != 3) {
        rc = ferry_err_set(err, FERRY_EPROTO, "message has %zu frames, expected 3", total - first);
        goto out;
    }
    rc = proto_decode(out, zmq_msg_data(&frames[first]), zmq_msg_size(&frames[first]),
                      zmq_msg_data(&frames[first + 1]), zmq_msg_size(&frames[first + 1]),
                      zmq_msg_data(&frames[first + 2]), zmq_msg_size(&frames[first + 2]), err);
out:
    for (size_t i = 0; i < kept; i++) {
        explicit_bzero(zmq_msg_data(&frames[i]), zmq_msg_size(&frames[i]));
        zmq_msg_close(&frames[i]);
    }
    return rc;
}

int proto_socket_limits(void *socket, ferry_err_t *err)
{
    int64_t max = PROTO_MAX_FRAME;
    if (zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &max, sizeof max) < 0)
        return ferry_err_set(err, FERRY_EIO, "setting ZMQ_MAXMSGSIZE: %s", zmq_strerror(errno));
    return 0;
}
