/* Unit tests of proto/: the codec (every command, both ways), hostile input,
 * framing over real inproc sockets, CURVE key files and the ZAP allowlist. */
#include "proto/proto.h"
#include "testlib.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define DIGEST_A "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const uint8_t good_sig[PROTO_SIG_LEN] = {'F', 'E', 'R', 'R', 'Y', PROTO_VERSION};

/* Encodes msg and decodes the result; NULL (with a failed check) when either
 * step fails. */
static proto_msg_t *roundtrip(const proto_msg_t *msg)
{
    fbuf_t body;
    ferry_err_t err = {0};
    proto_msg_t *back = NULL;
    fbuf_init(&body, PROTO_MAX_BODY);
    int rc = proto_encode(msg, &body, &err);
    CHECK_INT(rc, 0);
    if (rc == 0) {
        const char *name = proto_command_name(msg->command);
        rc = proto_decode(&back, good_sig, sizeof good_sig, name, strlen(name), body.data, body.len,
                          &err);
        CHECK_INT(rc, 0);
        if (rc < 0)
            fprintf(stderr, "  decode: %s\n", err.message);
    } else {
        fprintf(stderr, "  encode: %s\n", err.message);
    }
    fbuf_free(&body);
    if (back)
        CHECK_INT(back->command, msg->command);
    return back;
}

/* Decodes a raw body under a good signature. */
static int decode_body(const char *command, const void *body, size_t len, ferry_err_t *err)
{
    proto_msg_t *msg = NULL;
    ferry_err_clear(err);
    int rc =
        proto_decode(&msg, good_sig, sizeof good_sig, command, strlen(command), body, len, err);
    if (rc == 0)
        CHECK(msg != NULL);
    else
        CHECK(msg == NULL);
    proto_msg_destroy(&msg);
    return rc;
}

static void set(char **field, const char *value)
{
    CHECK_INT(proto_str_set(field, value), 0);
}

static void fill_endpoint(proto_endpoint_t *ep, const char *host, bool full)
{
    set(&ep->host, host);
    ep->plain_http = full;
    ep->tls_verify = !full;
    if (full) {
        set(&ep->ca_pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        set(&ep->username, "robot$ferry");
        set(&ep->password, "s3cret\x01pass\xff");
        ep->qps = 50;
    }
}

static proto_msg_t *sample_task(int kind, bool full)
{
    proto_msg_t *msg = proto_msg_new(PROTO_TASK);
    proto_task_t *t = &msg->task;
    t->task_id = UINT64_MAX;
    t->kind = kind;
    fill_endpoint(&t->source, "ccr.ccs.tencentyun.com", full);
    fill_endpoint(&t->target, "[::1]:5000", full);
    set(&t->source_repo, "team/app");
    set(&t->target_repo, "mirror/team/app");
    set(&t->digest, DIGEST_A);
    t->size = full ? INT64_MAX : -1;
    if (kind == PROTO_KIND_PUT_MANIFEST || full)
        set(&t->media_type, "application/vnd.oci.image.index.v1+json");
    if (kind == PROTO_KIND_MOUNT_BLOB || full)
        set(&t->mount_from, "mirror/other/app");
    if (full) {
        set(&t->tag, "v1.2.3");
        t->deadline_ms = 600000;
    }
    if (full && kind == PROTO_KIND_PUT_MANIFEST) {
        /* bytes, not text: a NUL and a high byte travel unchanged */
        static const char bytes[] = "{\"schemaVersion\":2}\0\xff";
        t->manifest = malloc(sizeof bytes);
        memcpy(t->manifest, bytes, sizeof bytes);
        t->manifest_len = sizeof bytes;
    }
    t->attempt = 3;
    return msg;
}

static void check_endpoint(const proto_endpoint_t *a, const proto_endpoint_t *b)
{
    CHECK_STR(a->host, b->host);
    CHECK_INT(a->plain_http, b->plain_http);
    CHECK_INT(a->tls_verify, b->tls_verify);
    CHECK_STR(a->ca_pem, b->ca_pem);
    CHECK_STR(a->username, b->username);
    CHECK_STR(a->password, b->password);
    CHECK_INT(a->qps, b->qps);
}

static void test_roundtrip_task(void)
{
    int kinds[] = {PROTO_KIND_COPY_BLOB, PROTO_KIND_MOUNT_BLOB, PROTO_KIND_PUT_MANIFEST};
    for (size_t k = 0; k < 3; k++) {
        for (int full = 0; full <= 1; full++) {
            proto_msg_t *msg = sample_task(kinds[k], full);
            proto_msg_t *back = roundtrip(msg);
            if (back) {
                const proto_task_t *a = &back->task, *b = &msg->task;
                CHECK(a->task_id == b->task_id);
                CHECK_INT(a->kind, b->kind);
                check_endpoint(&a->source, &b->source);
                check_endpoint(&a->target, &b->target);
                CHECK_STR(a->source_repo, b->source_repo);
                CHECK_STR(a->target_repo, b->target_repo);
                CHECK_STR(a->digest, b->digest);
                CHECK(a->size == b->size);
                CHECK_STR(a->media_type, b->media_type);
                CHECK_STR(a->tag, b->tag);
                CHECK_STR(a->mount_from, b->mount_from);
                CHECK_INT(a->attempt, b->attempt);
                CHECK_INT(a->deadline_ms, b->deadline_ms);
                CHECK(a->manifest_len == b->manifest_len);
                CHECK((a->manifest == NULL) == (b->manifest == NULL));
                if (a->manifest && b->manifest && a->manifest_len == b->manifest_len)
                    CHECK(memcmp(a->manifest, b->manifest, a->manifest_len) == 0);
            }
            proto_msg_destroy(&back);
            proto_msg_destroy(&msg);
            CHECK(msg == NULL);
        }
    }
    proto_msg_destroy(NULL); /* accepted */
}

static void test_roundtrip_others(void)
{
    /* HELLO, with and without the optional pid and active tasks */
    for (int full = 0; full <= 1; full++) {
        proto_msg_t *msg = proto_msg_new(PROTO_HELLO);
        set(&msg->hello.agent_id, "agent-7.node_3");
        set(&msg->hello.version, "0.1.0 (linux)");
        msg->hello.capacity = full ? PROTO_MAX_CAPACITY : 1;
        if (full) {
            msg->hello.pid = 4242;
            msg->hello.active_count = PROTO_MAX_ACTIVE;
            msg->hello.active = calloc(PROTO_MAX_ACTIVE, sizeof *msg->hello.active);
            for (size_t i = 0; i < PROTO_MAX_ACTIVE; i++)
                msg->hello.active[i] = i * 0x100000001ull;
        }
        proto_msg_t *back = roundtrip(msg);
        if (back) {
            CHECK_STR(back->hello.agent_id, msg->hello.agent_id);
            CHECK_STR(back->hello.version, msg->hello.version);
            CHECK_INT(back->hello.protocol, PROTO_VERSION);
            CHECK_INT(back->hello.capacity, msg->hello.capacity);
            CHECK_INT(back->hello.pid, msg->hello.pid);
            CHECK_INT(back->hello.active_count, msg->hello.active_count);
            if (full && back->hello.active_count == PROTO_MAX_ACTIVE)
                CHECK(memcmp(back->hello.active, msg->hello.active,
                             PROTO_MAX_ACTIVE * sizeof *msg->hello.active) == 0);
        }
        proto_msg_destroy(&back);
        proto_msg_destroy(&msg);
    }

    proto_msg_t *msg = proto_msg_new(PROTO_WELCOME);
    msg->welcome.heartbeat_ms = 60000;
    set(&msg->welcome.session, "s-0001");
    set(&msg->welcome.version, "0.1.0");
    proto_msg_t *back = roundtrip(msg);
    if (back) {
        CHECK_INT(back->welcome.heartbeat_ms, 60000);
        CHECK_STR(back->welcome.session, "s-0001");
        CHECK_STR(back->welcome.version, "0.1.0");
    }
    proto_msg_destroy(&back);
    proto_msg_destroy(&msg);

    msg = proto_msg_new(PROTO_PROGRESS);
    msg->progress.task_id = 9;
    msg->progress.bytes_done = UINT64_MAX;
    back = roundtrip(msg);
    if (back) {
        CHECK(back->progress.task_id == 9);
        CHECK(back->progress.bytes_done == UINT64_MAX);
        CHECK(back->progress.bytes_total == -1);
    }
    proto_msg_destroy(&back);
    proto_msg_destroy(&msg);

    for (int full = 0; full <= 1; full++) {
        msg = proto_msg_new(PROTO_RESULT);
        msg->result.task_id = 77;
        msg->result.outcome = full ? PROTO_OUTCOME_FAILED : PROTO_OUTCOME_SKIPPED;
        msg->result.error_class = full ? PROTO_ERROR_RETRYABLE : PROTO_ERROR_NONE;
        set(&msg->result.error_code, full ? "canceled" : "");
        set(&msg->result.message, full ? "upload: 503 Service Unavailable — «retry»" : "");
        msg->result.bytes = 1u << 31;
        msg->result.duration_ms = 12345;
        if (full)
            set(&msg->result.digest, DIGEST_A);
        back = roundtrip(msg);
        if (back) {
            CHECK(back->result.task_id == 77);
            CHECK_INT(back->result.outcome, msg->result.outcome);
            CHECK_INT(back->result.error_class, msg->result.error_class);
            CHECK_STR(back->result.error_code, msg->result.error_code);
            CHECK_STR(back->result.message, msg->result.message);
            CHECK(back->result.bytes == msg->result.bytes);
            CHECK(back->result.duration_ms == 12345);
            CHECK_STR(back->result.digest, msg->result.digest);
        }
        proto_msg_destroy(&back);
        proto_msg_destroy(&msg);
    }

    for (int full = 0; full <= 1; full++) {
        msg = proto_msg_new(PROTO_HEARTBEAT);
        msg->heartbeat.has_running = full;
        msg->heartbeat.running = full ? 12 : 0;
        back = roundtrip(msg);
        if (back) {
            CHECK_INT(back->heartbeat.has_running, full);
            CHECK_INT(back->heartbeat.running, msg->heartbeat.running);
        }
        proto_msg_destroy(&back);
        proto_msg_destroy(&msg);
    }

    msg = proto_msg_new(PROTO_CREDIT); /* capacity 0: draining */
    back = roundtrip(msg);
    if (back)
        CHECK_INT(back->credit.capacity, 0);
    proto_msg_destroy(&back);
    proto_msg_destroy(&msg);

    msg = proto_msg_new(PROTO_CANCEL);
    msg->cancel.task_id = 5;
    back = roundtrip(msg);
    if (back)
        CHECK(back->cancel.task_id == 5);
    proto_msg_destroy(&back);
    proto_msg_destroy(&msg);

    msg = proto_disconnect_new("bad\nmessage\x1b[31m from peer");
    CHECK_STR(msg->disconnect.reason, "bad?message?[31m from peer");
    back = roundtrip(msg);
    if (back)
        CHECK_STR(back->disconnect.reason, msg->disconnect.reason);
    proto_msg_destroy(&back);
    proto_msg_destroy(&msg);

    char long_reason[600];
    memset(long_reason, 'x', sizeof long_reason - 1);
    long_reason[sizeof long_reason - 1] = '\0';
    msg = proto_disconnect_new(long_reason);
    CHECK_INT(strlen(msg->disconnect.reason), 256);
    proto_msg_destroy(&msg);

    CHECK(proto_msg_new(0) == NULL);
    CHECK(proto_msg_new(PROTO_DISCONNECT + 1) == NULL);
    CHECK_STR(proto_command_name(PROTO_HEARTBEAT), "HEARTBEAT");
    CHECK(proto_command_name(42) == NULL);
    CHECK_STR(proto_task_kind_name(PROTO_KIND_MOUNT_BLOB), "mount-blob");
    CHECK_STR(proto_outcome_name(PROTO_OUTCOME_MOUNTED), "mounted");
    CHECK_STR(proto_error_class_name(PROTO_ERROR_PERMANENT), "permanent");
}

/* The encoder refuses what the decoder would reject. */
static void test_encode_refuses(void)
{
    fbuf_t body;
    ferry_err_t err;
    fbuf_init(&body, PROTO_MAX_BODY);

    proto_msg_t *msg = proto_msg_new(PROTO_HELLO);
    set(&msg->hello.agent_id, "a");
    set(&msg->hello.version, "1");
    CHECK_INT(proto_encode(msg, &body, &err), FERRY_EPROTO); /* capacity 0 */
    CHECK_CONTAINS(err.message, "capacity");
    msg->hello.capacity = 4;
    set(&msg->hello.agent_id, "has space");
    CHECK_INT(proto_encode(msg, &body, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "agent_id");
    set(&msg->hello.agent_id, "a");
    msg->hello.active = calloc(PROTO_MAX_ACTIVE + 1, sizeof *msg->hello.active);
    msg->hello.active_count = PROTO_MAX_ACTIVE + 1;
    CHECK_INT(proto_encode(msg, &body, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "HELLO: field 'active' has 1025 entries");
    msg->hello.active_count = PROTO_MAX_ACTIVE;
    CHECK_INT(proto_encode(msg, &body, &err), 0);
    /* a body cap smaller than the message */
    fbuf_t small;
    fbuf_init(&small, 16);
    CHECK_INT(proto_encode(msg, &small, &err), FERRY_ETOOBIG);
    CHECK(small.len == 0);
    fbuf_free(&small);
    proto_msg_destroy(&msg);

    msg = sample_task(PROTO_KIND_PUT_MANIFEST, false);
    set(&msg->task.media_type, NULL);
    CHECK_INT(proto_encode(msg, &body, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "media_type");
    proto_msg_destroy(&msg);

    msg = sample_task(PROTO_KIND_COPY_BLOB, false);
    set(&msg->task.digest, "sha256:abc");
    CHECK_INT(proto_encode(msg, &body, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "digest");
    proto_msg_destroy(&msg);

    msg = proto_msg_new(PROTO_RESULT);
    msg->result.outcome = PROTO_OUTCOME_FAILED; /* but error_class stays none */
    set(&msg->result.error_code, "x");
    set(&msg->result.message, "y");
    CHECK_INT(proto_encode(msg, &body, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "error_class");
    proto_msg_destroy(&msg);

    /* ca_pem at its limit on both endpoints still fits in a body */
    msg = sample_task(PROTO_KIND_COPY_BLOB, true);
    char *pem = malloc(65537);
    memset(pem, 'A', 65536);
    pem[65536] = '\0';
    set(&msg->task.source.ca_pem, pem);
    set(&msg->task.target.ca_pem, pem);
    proto_msg_t *back = roundtrip(msg);
    proto_msg_destroy(&back);
    pem[65535] = '\x07';
    set(&msg->task.target.ca_pem, pem);
    CHECK_INT(proto_encode(msg, &body, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "target.ca_pem");
    free(pem);
    proto_msg_destroy(&msg);
    fbuf_free(&body);
}

/* ---- hostile bodies ---------------------------------------------------- */

/* A body built by hand with msgpack-c. */
typedef struct raw {
    msgpack_sbuffer sbuf; /* the bytes */
    msgpack_packer pk;    /* writes into sbuf */
} raw_t;

static void raw_init(raw_t *r)
{
    msgpack_sbuffer_init(&r->sbuf);
    msgpack_packer_init(&r->pk, &r->sbuf, msgpack_sbuffer_write);
}

static void raw_str(raw_t *r, const char *s)
{
    msgpack_pack_str(&r->pk, strlen(s));
    msgpack_pack_str_body(&r->pk, s, strlen(s));
}

static void raw_key_str(raw_t *r, const char *key, const char *value)
{
    raw_str(r, key);
    raw_str(r, value);
}

static void raw_key_uint(raw_t *r, const char *key, uint64_t value)
{
    raw_str(r, key);
    msgpack_pack_uint64(&r->pk, value);
}

/* A HELLO body with `skip` left out and `capacity` as given. */
static void raw_hello(raw_t *r, const char *skip, uint64_t capacity, size_t extra_keys)
{
    raw_init(r);
    int n = 5 - (skip != NULL) + (int)extra_keys;
    msgpack_pack_map(&r->pk, (size_t)n);
    if (!skip || strcmp(skip, "agent_id"))
        raw_key_str(r, "agent_id", "a1");
    if (!skip || strcmp(skip, "version"))
        raw_key_str(r, "version", "0.1");
    if (!skip || strcmp(skip, "protocol"))
        raw_key_uint(r, "protocol", 1);
    if (!skip || strcmp(skip, "capacity"))
        raw_key_uint(r, "capacity", capacity);
    if (!skip || strcmp(skip, "active")) {
        raw_str(r, "active");
        msgpack_pack_array(&r->pk, 0);
    }
}

static void expect_reject(const char *command, raw_t *r, const char *needle)
{
    ferry_err_t err;
    CHECK_INT(decode_body(command, r->sbuf.data, r->sbuf.size, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, needle);
    msgpack_sbuffer_destroy(&r->sbuf);
}

static void test_hostile_fields(void)
{
    raw_t r;
    ferry_err_t err;

    raw_hello(&r, NULL, 8, 0);
    CHECK_INT(decode_body("HELLO", r.sbuf.data, r.sbuf.size, &err), 0);
    msgpack_sbuffer_destroy(&r.sbuf);

    raw_hello(&r, "capacity", 8, 0);
    expect_reject("HELLO", &r, "missing field 'capacity'");
    raw_hello(&r, "active", 8, 0);
    expect_reject("HELLO", &r, "missing field 'active'");
    raw_hello(&r, NULL, 0, 0);
    expect_reject("HELLO", &r, "capacity");
    raw_hello(&r, NULL, 1025, 0);
    expect_reject("HELLO", &r, "capacity");
    raw_hello(&r, NULL, UINT64_MAX, 0);
    expect_reject("HELLO", &r, "capacity");

    /* unknown keys are ignored, whatever they hold */
    raw_hello(&r, NULL, 8, 2);
    raw_str(&r, "future_list");
    msgpack_pack_array(&r.pk, 2);
    msgpack_pack_double(&r.pk, 1.5);
    msgpack_pack_map(&r.pk, 1);
    msgpack_pack_nil(&r.pk);
    msgpack_pack_bin(&r.pk, 2);
    msgpack_pack_bin_body(&r.pk, "\0\1", 2);
    raw_key_str(&r, "future_text", "hi");
    CHECK_INT(decode_body("HELLO", r.sbuf.data, r.sbuf.size, &err), 0);
    msgpack_sbuffer_destroy(&r.sbuf);

    /* a known key twice */
    raw_hello(&r, NULL, 8, 1);
    raw_key_uint(&r, "capacity", 9);
    expect_reject("HELLO", &r, "twice");

    /* the empty key twice */
    raw_hello(&r, NULL, 8, 2);
    raw_key_uint(&r, "", 1);
    raw_key_uint(&r, "", 2);
    expect_reject("HELLO", &r, "twice");

    /* a non-string key */
    raw_hello(&r, NULL, 8, 1);
    msgpack_pack_int(&r.pk, 7);
    msgpack_pack_int(&r.pk, 7);
    expect_reject("HELLO", &r, "keys must be strings");

    /* wrong protocol in HELLO */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 5);
    raw_key_str(&r, "agent_id", "a1");
    raw_key_str(&r, "version", "0.1");
    raw_key_uint(&r, "protocol", 2);
    raw_key_uint(&r, "capacity", 3);
    raw_str(&r, "active");
    msgpack_pack_array(&r.pk, 0);
    expect_reject("HELLO", &r, "protocol version 2 not supported");

    /* array too long, and a string inside it */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 5);
    raw_key_str(&r, "agent_id", "a1");
    raw_key_str(&r, "version", "0.1");
    raw_key_uint(&r, "protocol", 1);
    raw_key_uint(&r, "capacity", 3);
    raw_str(&r, "active");
    msgpack_pack_array(&r.pk, PROTO_MAX_ACTIVE + 1);
    for (int i = 0; i <= PROTO_MAX_ACTIVE; i++)
        msgpack_pack_uint32(&r.pk, (uint32_t)i);
    expect_reject("HELLO", &r, "at most 1024");
    raw_init(&r);
    msgpack_pack_map(&r.pk, 5);
    raw_key_str(&r, "agent_id", "a1");
    raw_key_str(&r, "version", "0.1");
    raw_key_uint(&r, "protocol", 1);
    raw_key_uint(&r, "capacity", 3);
    raw_str(&r, "active");
    msgpack_pack_array(&r.pk, 2);
    msgpack_pack_uint32(&r.pk, 1);
    raw_str(&r, "2");
    expect_reject("HELLO", &r, "entry 1");

    /* string where a uint is expected; a negative uint; a float */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    raw_key_str(&r, "capacity", "4");
    expect_reject("CREDIT", &r, "must be an unsigned integer, not string");
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    raw_str(&r, "capacity");
    msgpack_pack_int(&r.pk, -1);
    expect_reject("CREDIT", &r, "must be >= 0");
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    raw_str(&r, "task_id");
    msgpack_pack_double(&r.pk, 3.0);
    expect_reject("CANCEL", &r, "not float");
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    raw_key_uint(&r, "capacity", 1025);
    expect_reject("CREDIT", &r, "capacity");

    /* heartbeat_ms out of range both ways */
    uint64_t beats[] = {99, 60001};
    for (size_t i = 0; i < 2; i++) {
        raw_init(&r);
        msgpack_pack_map(&r.pk, 3);
        raw_key_uint(&r, "heartbeat_ms", beats[i]);
        raw_key_str(&r, "session", "s");
        raw_key_str(&r, "version", "v");
        expect_reject("WELCOME", &r, "heartbeat_ms");
    }

    /* string too long; NUL inside; invalid UTF-8; control character */
    char reason[258];
    memset(reason, 'r', 257);
    reason[257] = '\0';
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    raw_key_str(&r, "reason", reason);
    expect_reject("DISCONNECT", &r, "257 bytes, at most 256");
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    raw_str(&r, "reason");
    msgpack_pack_str(&r.pk, 3);
    msgpack_pack_str_body(&r.pk, "a\0b", 3);
    expect_reject("DISCONNECT", &r, "NUL");
    const char *bad_text[] = {"\xc0\xaf", "\xed\xa0\x80", "ab\xe2\x82", "tab\there", "\xc2\x9b"};
    for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
        raw_init(&r);
        msgpack_pack_map(&r.pk, 1);
        raw_key_str(&r, "reason", bad_text[i]);
        expect_reject("DISCONNECT", &r, "UTF-8");
    }

    /* enumerations */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 7);
    raw_key_uint(&r, "task_id", 1);
    raw_key_str(&r, "outcome", "exploded");
    raw_key_str(&r, "error_class", "none");
    raw_key_str(&r, "error_code", "");
    raw_key_str(&r, "message", "");
    raw_key_uint(&r, "bytes", 0);
    raw_key_uint(&r, "duration_ms", 0);
    expect_reject("RESULT", &r, "not one of done, skipped, mounted, failed");

    /* a nil for an optional key is a type error, not "absent" */
    raw_init(&r);
    msgpack_pack_map(&r.pk, 1);
    raw_str(&r, "running");
    msgpack_pack_nil(&r.pk);
    expect_reject("HEARTBEAT", &r, "not nil");

    /* an endpoint that is not a map, and one missing its host */
    proto_msg_t *task = sample_task(PROTO_KIND_COPY_BLOB, false);
    fbuf_t body;
    fbuf_init(&body, PROTO_MAX_BODY);
    CHECK_INT(proto_encode(task, &body, &err), 0);
    char *host = memmem(body.data, body.len, "\xa4host", 5);
    CHECK(host != NULL);
    if (host) {
        host[1] = 'g'; /* "gost": the first endpoint now lacks "host" */
        CHECK_INT(decode_body("TASK", body.data, body.len, &err), FERRY_EPROTO);
        CHECK_CONTAINS(err.message, "missing field 'source.host'");
    }
    fbuf_free(&body);
    proto_msg_destroy(&task);
}

/* A TASK's manifest bytes: limits on encode, and on decode a wrong type,
 * an empty or oversized value are refused. */
static void test_task_manifest(void)
{
    fbuf_t body;
    ferry_err_t err;
    fbuf_init(&body, PROTO_MAX_BODY);
    proto_msg_t *msg = sample_task(PROTO_KIND_COPY_BLOB, false);
    msg->task.manifest = strdup("{}");
    msg->task.manifest_len = 2;
    CHECK_INT(proto_encode(msg, &body, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "only for put-manifest");
    proto_msg_destroy(&msg);

    msg = sample_task(PROTO_KIND_PUT_MANIFEST, false);
    msg->task.manifest = calloc(1, PROTO_MAX_MANIFEST + 1);
    msg->task.manifest_len = PROTO_MAX_MANIFEST + 1;
    CHECK_INT(proto_encode(msg, &body, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "field 'manifest' is 131073 bytes");
    msg->task.manifest_len = PROTO_MAX_MANIFEST; /* the largest fits a body */
    proto_msg_t *back = roundtrip(msg);
    CHECK(back && back->task.manifest_len == PROTO_MAX_MANIFEST);
    proto_msg_destroy(&back);

    /* Hand-made bodies: the valid task re-packed with a hostile manifest. */
    msg->task.manifest_len = 4;
    CHECK_INT(proto_encode(msg, &body, &err), 0);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    CHECK(msgpack_unpack_next(&up, body.data, body.len, NULL) == MSGPACK_UNPACK_SUCCESS);
    const msgpack_object_map *map = &up.data.via.map;
    for (int variant = 0; variant < 3; variant++) {
        raw_t r;
        raw_init(&r);
        msgpack_pack_map(&r.pk, map->size);
        for (uint32_t i = 0; i < map->size; i++) {
            const msgpack_object_str *k = &map->ptr[i].key.via.str;
            msgpack_pack_object(&r.pk, map->ptr[i].key);
            if (k->size != 8 || memcmp(k->ptr, "manifest", 8) != 0) {
                msgpack_pack_object(&r.pk, map->ptr[i].val);
            } else if (variant == 0) {
                raw_str(&r, "{}"); /* a string, not bytes */
            } else if (variant == 1) {
                msgpack_pack_bin(&r.pk, 0);
            } else {
                char *big = calloc(1, PROTO_MAX_MANIFEST + 1);
                msgpack_pack_bin(&r.pk, PROTO_MAX_MANIFEST + 1);
                msgpack_pack_bin_body(&r.pk, big, PROTO_MAX_MANIFEST + 1);
                free(big);
            }
        }
        expect_reject("TASK", &r,
                      variant == 0   ? "field 'manifest' must be binary, not string"
                      : variant == 1 ? "field 'manifest' is 0 bytes"
                                     : "field 'manifest' is 131073 bytes");
    }
    msgpack_unpacked_destroy(&up);
    proto_msg_destroy(&msg);
    fbuf_free(&body);
}

static void test_hostile_structure(void)
{
    ferry_err_t err;

    /* a valid TASK cut at every byte must fail cleanly */
    proto_msg_t *task = sample_task(PROTO_KIND_PUT_MANIFEST, true);
    fbuf_t body;
    fbuf_init(&body, PROTO_MAX_BODY);
    CHECK_INT(proto_encode(task, &body, &err), 0);
    int truncated_ok = 0;
    for (size_t cut = 0; cut < body.len; cut++) {
        char *copy = malloc(cut ? cut : 1); /* exact size so ASan sees over-reads */
        memcpy(copy, body.data, cut);
        if (decode_body("TASK", copy, cut, &err) == FERRY_EPROTO)
            truncated_ok++;
        free(copy);
    }
    CHECK_INT(truncated_ok, body.len);
    CHECK_INT(decode_body("TASK", body.data, body.len, &err), 0);

    /* trailing bytes */
    char *longer = malloc(body.len + 1);
    memcpy(longer, body.data, body.len);
    longer[body.len] = '\xc0';
    CHECK_INT(decode_body("TASK", longer, body.len + 1, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "1 trailing bytes");
    free(longer);

    /* signature, version, command */
    proto_msg_t *out = NULL;
    CHECK_INT(proto_decode(&out, "FERRZ\1", 6, "TASK", 4, body.data, body.len, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "signature");
    CHECK_INT(proto_decode(&out, "FERRY", 5, "TASK", 4, body.data, body.len, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "signature");
    CHECK_INT(proto_decode(&out, "FERRY\2", 6, "TASK", 4, body.data, body.len, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "protocol version 2 not supported");
    CHECK_INT(proto_decode(&out, good_sig, 6, "TASKS", 5, body.data, body.len, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "unknown command 'TASKS'");
    CHECK_INT(proto_decode(&out, good_sig, 6, "task", 4, body.data, body.len, &err), FERRY_EPROTO);
    CHECK_INT(proto_decode(&out, good_sig, 6, "TASK\0", 5, body.data, body.len, &err),
              FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "unknown command 'TASK?'");
    /* a valid body under another command lacks that command's fields */
    CHECK_INT(proto_decode(&out, good_sig, 6, "RESULT", 6, body.data, body.len, &err),
              FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "RESULT: missing field 'outcome'");
    CHECK(out == NULL);
    fbuf_free(&body);
    proto_msg_destroy(&task);

    /* body over the limit, even when it is otherwise valid */
    size_t big_len = PROTO_MAX_BODY + 1;
    uint8_t *big = calloc(1, big_len);
    big[0] = 0x81; /* {"x": str32 of the rest} */
    big[1] = 0xa1;
    big[2] = 'x';
    big[3] = 0xdb;
    uint32_t rest = (uint32_t)(big_len - 8);
    big[4] = (uint8_t)(rest >> 24), big[5] = (uint8_t)(rest >> 16);
    big[6] = (uint8_t)(rest >> 8), big[7] = (uint8_t)rest;
    CHECK_INT(decode_body("HEARTBEAT", big, big_len, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "at most 262144");
    rest--; /* one byte less: at the limit, accepted */
    big[7] = (uint8_t)rest;
    CHECK_INT(decode_body("HEARTBEAT", big, big_len - 1, &err), 0);
    free(big);

    /* not a map; empty; a container claiming more elements than bytes left */
    const struct {
        const char *bytes;
        size_t len;
        const char *needle;
    } cases[] = {
        {"\x91\x01", 2, "not a msgpack map"},
        {"", 0, "empty"},
        {"\xc1", 1, "not a msgpack map"},
        {"\x81\xa1x\xdd\xff\xff\xff\xff", 8, "truncated"},
        {"\xdf\xff\xff\xff\xff", 5, "truncated"},
        {"\x81\xa1x\xdb\xff\xff\xff\xff", 8, "truncated"},
        {"\x81\xa1x\xc9\x00\x00\x00\x02\x01", 9, "truncated"},
        {"\x81\xa1x\xc1", 4, "invalid msgpack byte 0xc1"},
        {"\x81\xa1x\x91\x91\x91\x91\x91\x91\x91\x91\x01", 12, "deeper than 8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_INT(decode_body("HEARTBEAT", cases[i].bytes, cases[i].len, &err), FERRY_EPROTO);
        CHECK_CONTAINS(err.message, cases[i].needle);
    }
    /* seven levels inside the body map are fine in an unknown key */
    CHECK_INT(decode_body("HEARTBEAT", "\x81\xa1x\x91\x91\x91\x91\x91\x91\x91\x01", 11, &err), 0);
    /* ext values in unknown keys are skipped correctly */
    CHECK_INT(decode_body("HEARTBEAT", "\x82\xa1x\xc7\x02\x05\x01\x02\xa1y\xd4\x01\x00", 13, &err),
              0);
    /* too many keys */
    raw_t r;
    raw_init(&r);
    msgpack_pack_map(&r.pk, 65);
    for (int i = 0; i < 65; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        raw_key_uint(&r, key, 1);
    }
    expect_reject("HEARTBEAT", &r, "65 keys");
}

/* ---- sockets ----------------------------------------------------------- */

/* proto_recv, polling up to timeout_ms for a message. */
static int recv_wait(void *socket, bool router, proto_msg_t **out, void **rid, size_t *rid_len,
                     int timeout_ms, ferry_err_t *err)
{
    zmq_pollitem_t item = {.socket = socket, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return ferry_err_set(err, FERRY_ERETRY, "timed out");
    return proto_recv(socket, router, out, rid, rid_len, err);
}

static void send_frames(void *socket, const char *const *frames, const size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CHECK(zmq_send(socket, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
}

static void test_sockets(void)
{
    ferry_err_t err;
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, mandatory = 1;
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(router, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory);
    CHECK_INT(proto_socket_limits(router, &err), 0);
    CHECK_INT(proto_socket_limits(dealer, &err), 0);

    proto_msg_t *hello = proto_msg_new(PROTO_HELLO);
    set(&hello->hello.agent_id, "agent-1");
    set(&hello->hello.version, "0.1.0");
    hello->hello.capacity = 2;
    /* a DEALER with no peer can not take a message: retry later */
    CHECK_INT(proto_send(dealer, NULL, 0, hello, &err), FERRY_ERETRY);

    CHECK_INT(zmq_bind(router, "inproc://proto-test"), 0);
    CHECK_INT(zmq_connect(dealer, "inproc://proto-test"), 0);

    proto_msg_t *msg = NULL;
    void *rid = NULL;
    size_t rid_len = 0;
    CHECK_INT(proto_recv(router, true, &msg, &rid, &rid_len, &err), FERRY_ERETRY);
    CHECK(rid == NULL);

    CHECK_INT(proto_send(dealer, NULL, 0, hello, &err), 0);
    CHECK_INT(recv_wait(router, true, &msg, &rid, &rid_len, 2000, &err), 0);
    CHECK(msg && msg->command == PROTO_HELLO);
    if (msg)
        CHECK_STR(msg->hello.agent_id, "agent-1");
    CHECK(rid != NULL && rid_len > 0);
    proto_msg_destroy(&msg);

    proto_msg_t *welcome = proto_msg_new(PROTO_WELCOME);
    welcome->welcome.heartbeat_ms = 1000;
    set(&welcome->welcome.session, "s1");
    set(&welcome->welcome.version, "0.1.0");
    CHECK_INT(proto_send(router, rid, rid_len, welcome, &err), 0);
    CHECK_INT(recv_wait(dealer, false, &msg, NULL, NULL, 2000, &err), 0);
    CHECK(msg && msg->command == PROTO_WELCOME && msg->welcome.heartbeat_ms == 1000);
    proto_msg_destroy(&msg);

    /* a ROUTER with ZMQ_ROUTER_MANDATORY and an unknown peer */
    CHECK_INT(proto_send(router, "nobody", 6, welcome, &err), FERRY_ENOTFOUND);

    /* garbage multipart messages, each followed by nothing else: proto_recv
     * reports each one and stays in step for the valid message after them */
    const char *two[] = {"FERRY\1", "HEARTBEAT"};
    size_t two_len[] = {6, 9};
    const char *five[] = {"FERRY\1", "HEARTBEAT", "\x80", "extra", "more"};
    size_t five_len[] = {6, 9, 1, 5, 4};
    const char *v2[] = {"FERRY\2", "HEARTBEAT", "\x80"};
    size_t v2_len[] = {6, 9, 1};
    const char *junk[] = {"\xff\xfe", "", "\x80\x80\x80", "a", "b", "c", "d", "e", "f"};
    size_t junk_len[] = {2, 0, 3, 1, 1, 1, 1, 1, 1};
    const char *one[] = {"x"};
    size_t one_len[] = {1};
    send_frames(dealer, two, two_len, 2);
    send_frames(dealer, five, five_len, 5);
    send_frames(dealer, v2, v2_len, 3);
    send_frames(dealer, junk, junk_len, 9);
    send_frames(dealer, one, one_len, 1);
    proto_msg_t *beat = proto_msg_new(PROTO_HEARTBEAT);
    CHECK_INT(proto_send(dealer, NULL, 0, beat, &err), 0);

    const char *expect[] = {"2 frames", "5 frames", "protocol version 2", "9 frames", "1 frames"};
    for (size_t i = 0; i < 5; i++) {
        free(rid);
        rid = NULL;
        CHECK_INT(recv_wait(router, true, &msg, &rid, &rid_len, 2000, &err), FERRY_EPROTO);
        CHECK_CONTAINS(err.message, expect[i]);
        CHECK(msg == NULL);
        CHECK(rid != NULL); /* so the coordinator can answer DISCONNECT */
    }
    free(rid);
    rid = NULL;
    CHECK_INT(recv_wait(router, true, &msg, &rid, &rid_len, 2000, &err), 0);
    CHECK(msg && msg->command == PROTO_HEARTBEAT);
    proto_msg_destroy(&msg);

    /* the agent side checks frame counts too */
    const char *to_dealer[] = {"", "FERRY\1", "CANCEL", "\x81\xa7task_id\x07", "extra"};
    size_t to_dealer_len[] = {0, 6, 6, 10, 5};
    to_dealer[0] = rid;
    to_dealer_len[0] = rid_len;
    send_frames(router, to_dealer, to_dealer_len, 5);
    send_frames(router, to_dealer, to_dealer_len, 4);
    CHECK_INT(recv_wait(dealer, false, &msg, NULL, NULL, 2000, &err), FERRY_EPROTO);
    CHECK_CONTAINS(err.message, "4 frames");
    CHECK_INT(recv_wait(dealer, false, &msg, NULL, NULL, 2000, &err), 0);
    CHECK(msg && msg->command == PROTO_CANCEL && msg->cancel.task_id == 7);
    proto_msg_destroy(&msg);
    free(rid);

    proto_msg_destroy(&beat);
    proto_msg_destroy(&welcome);
    proto_msg_destroy(&hello);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
}

/* ---- CURVE ------------------------------------------------------------- */

static char tmpdir[64];

static void path_in_tmp(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", tmpdir, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_keys(void)
{
    ferry_err_t err;
    char pub[41], sec[41], pub2[41], sec2[41], path[128];
    CHECK_INT(proto_keygen(pub, sec), 0);
    CHECK_INT(strlen(pub), 40);
    CHECK_INT(strlen(sec), 40);

    path_in_tmp(path, sizeof path, "agent.key");
    CHECK_INT(proto_key_write(path, pub, sec, &err), 0);
    struct stat st;
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    CHECK_INT(proto_key_read(path, pub2, sec2, &err), 0);
    CHECK_STR(pub2, pub);
    CHECK_STR(sec2, sec);

    path_in_tmp(path, sizeof path, "agent.pub");
    CHECK_INT(proto_key_write(path, pub, NULL, &err), 0);
    memset(pub2, 0, sizeof pub2);
    CHECK_INT(proto_key_read(path, pub2, NULL, &err), 0);
    CHECK_STR(pub2, pub);
    CHECK_INT(proto_key_read(path, pub2, sec2, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "no secret key");

    /* a hand-written file: comments, blanks, CRLF, spacing */
    char text[256];
    snprintf(text, sizeof text, "# mine\r\n\n  secret=%s \r\npublic   =\t%s\n", sec, pub);
    path_in_tmp(path, sizeof path, "hand.key");
    write_text(path, text);
    CHECK_INT(proto_key_read(path, pub2, sec2, &err), 0);
    CHECK_STR(pub2, pub);
    CHECK_STR(sec2, sec);

    /* mismatched halves, a bad key, an unknown name, a missing file */
    char other_pub[41], other_sec[41];
    CHECK_INT(proto_keygen(other_pub, other_sec), 0);
    snprintf(text, sizeof text, "public = %s\nsecret = %s\n", other_pub, sec);
    write_text(path, text);
    CHECK_INT(proto_key_read(path, pub2, sec2, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "does not match");
    CHECK_INT(proto_key_write(path, other_pub, sec, &err), FERRY_EINVAL);
    write_text(path, "public = tooshort\n");
    CHECK_INT(proto_key_read(path, pub2, NULL, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "line 1");
    snprintf(text, sizeof text, "private = %s\n", pub);
    write_text(path, text);
    CHECK_INT(proto_key_read(path, pub2, NULL, &err), FERRY_EINVAL);
    CHECK_INT(proto_key_write(path, "not a key", NULL, &err), FERRY_EINVAL);
    path_in_tmp(path, sizeof path, "missing.key");
    CHECK_INT(proto_key_read(path, pub2, NULL, &err), FERRY_EIO);
}

static void test_curve_zap(void)
{
    ferry_err_t err;
    char server_pub[41], server_sec[41], good_pub[41], good_sec[41], bad_pub[41], bad_sec[41];
    CHECK_INT(proto_keygen(server_pub, server_sec), 0);
    /* '#' is a Z85 character: the admitted key holds one, which must not be
     * taken for the start of a comment */
    for (int tries = 0; tries < 1000; tries++)
        if (proto_keygen(good_pub, good_sec) != 0 || strchr(good_pub, '#'))
            break;
    CHECK(strchr(good_pub, '#') != NULL);
    CHECK_INT(proto_keygen(bad_pub, bad_sec), 0);

    char allow[128], text[256];
    path_in_tmp(allow, sizeof allow, "agents.allow");
    snprintf(text, sizeof text, "# agents\n#\n\n%s  node-1, a comment\n", good_pub);
    write_text(allow, text);

    void *ctx = zmq_ctx_new();
    proto_zap_t *zap = proto_zap_new(ctx, allow, &err);
    CHECK(zap != NULL);
    /* only one handler per context */
    proto_zap_t *second = proto_zap_new(ctx, allow, &err);
    CHECK(second == NULL);
    CHECK_CONTAINS(err.message, "zeromq.zap.01");

    void *server = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(server, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(server, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(server, ZMQ_CURVE_SECRETKEY, server_sec, 41);
    zmq_setsockopt(server, ZMQ_ZAP_DOMAIN, PROTO_ZAP_DOMAIN, strlen(PROTO_ZAP_DOMAIN));
    CHECK_INT(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    char endpoint[128];
    size_t endpoint_len = sizeof endpoint;
    zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len);
    CHECK(proto_endpoint_is_local(endpoint));

    const char *client_pub[] = {good_pub, bad_pub}, *client_sec[] = {good_sec, bad_sec};
    proto_msg_t *hello = proto_msg_new(PROTO_HELLO);
    set(&hello->hello.agent_id, "curve-agent");
    set(&hello->hello.version, "0.1.0");
    hello->hello.capacity = 1;
    for (int i = 0; i < 2; i++) {
        void *client = zmq_socket(ctx, ZMQ_DEALER);
        zmq_setsockopt(client, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(client, ZMQ_CURVE_SERVERKEY, server_pub, 41);
        zmq_setsockopt(client, ZMQ_CURVE_PUBLICKEY, client_pub[i], 41);
        zmq_setsockopt(client, ZMQ_CURVE_SECRETKEY, client_sec[i], 41);
        CHECK_INT(zmq_connect(client, endpoint), 0);
        /* the DEALER queues the message only once the handshake is done */
        int rc = FERRY_ERETRY;
        for (int tries = 0; tries < 50 && rc == FERRY_ERETRY; tries++) {
            rc = proto_send(client, NULL, 0, hello, &err);
            if (rc == FERRY_ERETRY)
                nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        }
        proto_msg_t *msg = NULL;
        void *rid = NULL;
        size_t rid_len;
        if (i == 0) {
            CHECK_INT(rc, 0);
            CHECK_INT(recv_wait(server, true, &msg, &rid, &rid_len, 3000, &err), 0);
            CHECK(msg && msg->command == PROTO_HELLO);
        } else {
            CHECK_INT(recv_wait(server, true, &msg, &rid, &rid_len, 500, &err), FERRY_ERETRY);
            CHECK(msg == NULL);
        }
        proto_msg_destroy(&msg);
        free(rid);
        zmq_close(client);
    }
    proto_msg_destroy(&hello);
    zmq_close(server);
    proto_zap_destroy(&zap);
    CHECK(zap == NULL);
    proto_zap_destroy(&zap);

    /* agents' .pub files concatenated make an allowlist */
    {
        char pub_a[41], sec_a[41], pub_b[41], sec_b[41], listing[256];
        CHECK_INT(proto_keygen(pub_a, sec_a), 0);
        CHECK_INT(proto_keygen(pub_b, sec_b), 0);
        snprintf(listing, sizeof listing, "# ferry CURVE key (public)\npublic = %s\npublic=%s\n",
                 pub_a, pub_b);
        write_text(allow, listing);
        proto_zap_t *from_pub = proto_zap_new(ctx, allow, &err);
        CHECK(from_pub != NULL);
        if (!from_pub)
            fprintf(stderr, "allowlist from .pub lines refused: %s\n%s", err.message, listing);
        proto_zap_destroy(&from_pub);
        snprintf(listing, sizeof listing, "publicity = %s\n", pub_a);
        write_text(allow, listing);
        CHECK(proto_zap_new(ctx, allow, &err) == NULL);
    }

    /* a malformed allowlist is refused with its line */
    write_text(allow, "# ok\nnot-a-key\n");
    CHECK(proto_zap_new(ctx, allow, &err) == NULL);
    CHECK_CONTAINS(err.message, "line 2");
    zmq_ctx_term(ctx);
}

static void test_endpoint_is_local(void)
{
    CHECK(proto_endpoint_is_local("inproc://agents"));
    CHECK(proto_endpoint_is_local("ipc:///run/ferry.sock"));
    CHECK(proto_endpoint_is_local("tcp://127.0.0.1:5555"));
    CHECK(proto_endpoint_is_local("tcp://127.10.20.30:5555"));
    CHECK(proto_endpoint_is_local("tcp://[::1]:5555"));
    CHECK(proto_endpoint_is_local("tcp://[::ffff:127.0.0.1]:5555"));
    CHECK(proto_endpoint_is_local("tcp://localhost:5555"));
    CHECK(proto_endpoint_is_local("tcp://10.0.0.1:6000;127.0.0.1:5555"));
    CHECK(!proto_endpoint_is_local("tcp://*:5555"));
    CHECK(!proto_endpoint_is_local("tcp://0.0.0.0:5555"));
    CHECK(!proto_endpoint_is_local("tcp://10.0.0.5:5555"));
    CHECK(!proto_endpoint_is_local("tcp://127.0.0.1.evil.example:5555"));
    CHECK(!proto_endpoint_is_local("tcp://localhost.evil.example:5555"));
    CHECK(!proto_endpoint_is_local("tcp://[::2]:5555"));
    CHECK(!proto_endpoint_is_local("tcp://127.0.0.1:5555;10.0.0.1:5555"));
    CHECK(!proto_endpoint_is_local("tcp://lo:5555"));
    CHECK(!proto_endpoint_is_local("udp://127.0.0.1:5555"));
    CHECK(!proto_endpoint_is_local("tcp://"));
    CHECK(!proto_endpoint_is_local(""));
    CHECK(!proto_endpoint_is_local(NULL));
}

/* Names in a TASK go into URLs: a peer's traversal or a tag with a slash
 * is refused by the codec, not merely carried as text. */
static void test_task_names(void)
{
    const char *bad[][2] = {
        {"source_repo", "x/../../victim"}, {"target_repo", "a//b"}, {"target_repo", "Upper/case"},
        {"mount_from", "../x"},           {"tag", "v1/../../prod"}, {"tag", "-x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proto_msg_t *msg = sample_task(PROTO_KIND_MOUNT_BLOB, true);
        char **field = strcmp(bad[i][0], "source_repo") == 0   ? &msg->task.source_repo
                       : strcmp(bad[i][0], "target_repo") == 0 ? &msg->task.target_repo
                       : strcmp(bad[i][0], "mount_from") == 0  ? &msg->task.mount_from
                                                               : &msg->task.tag;
        CHECK_INT(proto_str_set(field, bad[i][1]), 0);
        ferry_err_t err;
        CHECK_INT(proto_validate(msg, &err), FERRY_EPROTO);
        CHECK_CONTAINS(err.message, bad[i][0]);
        fbuf_t body;
        fbuf_init(&body, PROTO_MAX_BODY);
        CHECK_INT(proto_encode(msg, &body, &err), FERRY_EPROTO);
        fbuf_free(&body);
        proto_msg_destroy(&msg);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ferry-proto-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roundtrip_task();
    test_roundtrip_others();
    test_encode_refuses();
    test_hostile_fields();
    test_task_names();
    test_task_manifest();
    test_hostile_structure();
    test_sockets();
    test_keys();
    test_curve_zap();
    test_endpoint_is_local();

    const char *files[] = {"agent.key", "agent.pub", "hand.key", "agents.allow"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[128];
        path_in_tmp(path, sizeof path, files[i]);
        unlink(path);
    }
    CHECK_INT(rmdir(tmpdir), 0); /* fails when a temporary key file was left behind */
    return test_report();
}
