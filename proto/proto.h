/* proto — the coordinator–agent message codec and its ZeroMQ send/receive
 * helpers.
 *
 * proto/PROTOCOL.md is the specification; this module implements it and
 * nothing else. CURVE keys and the ZAP handler live in proto/keys.h, which
 * this header includes. Every message is validated the same way on encode and on
 * decode, so ferry never emits what a peer must reject. */
#ifndef FERRY_PROTO_H
#define FERRY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "proto/keys.h"

#define PROTO_VERSION      1
#define PROTO_SIGNATURE    "FERRY"      /* frame 1: these 5 bytes, then the version byte */
#define PROTO_SIG_LEN      6            /* length of the signature frame */
#define PROTO_MAX_BODY     (256 * 1024) /* largest body frame */
#define PROTO_MAX_FRAME    (260 * 1024) /* for ZMQ_MAXMSGSIZE: the body plus slack */
#define PROTO_MAX_CAPACITY 1024         /* largest HELLO/CREDIT capacity */
#define PROTO_MAX_ACTIVE   1024         /* most task ids in HELLO.active */
#define PROTO_MAX_MANIFEST (128 * 1024) /* largest TASK.manifest */

enum proto_command {
    PROTO_HELLO = 1,
    PROTO_WELCOME,
    PROTO_TASK,
    PROTO_PROGRESS,
    PROTO_RESULT,
    PROTO_HEARTBEAT,
    PROTO_CREDIT,
    PROTO_CANCEL,
    PROTO_DISCONNECT,
};

/* TASK.kind */
enum proto_task_kind {
    PROTO_KIND_COPY_BLOB = 1, /* "copy-blob" */
    PROTO_KIND_MOUNT_BLOB,    /* "mount-blob" */
    PROTO_KIND_PUT_MANIFEST,  /* "put-manifest" */
};

/* RESULT.outcome */
enum proto_outcome {
    PROTO_OUTCOME_DONE = 1, /* "done" */
    PROTO_OUTCOME_SKIPPED,  /* "skipped": already at the target */
    PROTO_OUTCOME_MOUNTED,  /* "mounted" */
    PROTO_OUTCOME_FAILED,   /* "failed" */
};

/* RESULT.error_class */
enum proto_error_class {
    PROTO_ERROR_NONE = 1,  /* "none": outcome is not failed */
    PROTO_ERROR_RETRYABLE, /* "retryable" */
    PROTO_ERROR_PERMANENT, /* "permanent" */
};

/* A registry as a TASK names it. Strings are owned by the message; NULL
 * means absent for the optional ones. */
typedef struct proto_endpoint {
    char *host;      /* "host[:port]", required */
    bool plain_http; /* http:// instead of https:// */
    bool tls_verify; /* verify the server certificate */
    char *ca_pem;    /* optional extra CA certificates, PEM */
    char *username;  /* optional */
    char *password;  /* optional; SECRET: never log, wiped on destroy */
    uint32_t qps;    /* request rate limit, 0 = unlimited */
} proto_endpoint_t;

typedef struct proto_hello {
    char *agent_id;      /* [A-Za-z0-9._-], 1..64 bytes */
    char *version;       /* agent software version, 1..32 bytes */
    uint32_t protocol;   /* must be PROTO_VERSION */
    uint32_t capacity;   /* 1..PROTO_MAX_CAPACITY */
    uint64_t *active;    /* task ids still running; owned, may be NULL when count is 0 */
    size_t active_count; /* 0..PROTO_MAX_ACTIVE */
    uint32_t pid;        /* informational, 0 = not sent */
} proto_hello_t;

typedef struct proto_welcome {
    uint32_t heartbeat_ms; /* 100..60000 */
    char *session;         /* [A-Za-z0-9._-], 1..64 bytes */
    char *version;         /* coordinator software version, 1..32 bytes */
} proto_welcome_t;

typedef struct proto_task {
    uint64_t task_id;        /* >= 1 */
    int kind;                /* enum proto_task_kind */
    proto_endpoint_t source; /* registry to read from */
    proto_endpoint_t target; /* registry to write to */
    char *source_repo;       /* 1..255 bytes */
    char *target_repo;       /* 1..255 bytes */
    char *digest;            /* sha256:/sha512: digest */
    int64_t size;            /* bytes, -1 = unknown */
    char *media_type;        /* required for put-manifest, else optional; <= 255 bytes */
    char *tag;               /* optional, put-manifest: also push under this tag; 1..128 bytes */
    char *mount_from;        /* required for mount-blob, else optional; 1..255 bytes */
    uint32_t attempt;        /* >= 1 */
    uint32_t deadline_ms;    /* 0 = no deadline */
    char *manifest;          /* optional, put-manifest: the manifest's bytes (so the agent
                                need not fetch them); owned, manifest_len bytes */
    size_t manifest_len;     /* 1..PROTO_MAX_MANIFEST when manifest is set */
} proto_task_t;

typedef struct proto_progress {
    uint64_t task_id;    /* the running task */
    uint64_t bytes_done; /* bytes transferred so far */
    int64_t bytes_total; /* -1 = unknown */
} proto_progress_t;

typedef struct proto_result {
    uint64_t task_id;     /* the finished task */
    int outcome;          /* enum proto_outcome */
    int error_class;      /* enum proto_error_class; NONE exactly when outcome is not FAILED */
    char *error_code;     /* [A-Za-z0-9._-], 0..32 bytes; required ("" allowed) */
    char *message;        /* 0..1024 bytes; required ("" allowed); never a secret */
    uint64_t bytes;       /* bytes uploaded by this attempt */
    uint64_t duration_ms; /* wall time of this attempt */
    char *digest;         /* optional: digest computed by the agent */
} proto_result_t;

typedef struct proto_heartbeat {
    bool has_running; /* send/received "running" */
    uint32_t running; /* tasks running, 0..PROTO_MAX_CAPACITY */
} proto_heartbeat_t;

typedef struct proto_credit {
    uint32_t capacity; /* 0..PROTO_MAX_CAPACITY; 0 = draining */
} proto_credit_t;

typedef struct proto_cancel {
    uint64_t task_id; /* the task to abandon */
} proto_cancel_t;

typedef struct proto_disconnect {
    char *reason; /* 0..256 bytes */
} proto_disconnect_t;

/* One message. `command` selects the member of the union that is valid:
 * msg->hello for PROTO_HELLO, msg->task for PROTO_TASK, and so on. All
 * strings and arrays inside are owned by the message (malloc'd; set them
 * with proto_str_set or strdup, free through proto_msg_destroy). */
typedef struct proto_msg {
    int command; /* enum proto_command */
    union {
        proto_hello_t hello;
        proto_welcome_t welcome;
        proto_task_t task;
        proto_progress_t progress;
        proto_result_t result;
        proto_heartbeat_t heartbeat;
        proto_credit_t credit;
        proto_cancel_t cancel;
        proto_disconnect_t disconnect;
    };
} proto_msg_t;

/* Creates an empty message of one command with these defaults: HELLO
 * protocol = PROTO_VERSION; TASK size = -1, attempt = 1, tls_verify = true on
 * both endpoints; PROGRESS bytes_total = -1; RESULT error_class = NONE.
 * Returns NULL when out of memory or when command is not a proto_command. */
proto_msg_t *proto_msg_new(int command);

/* Frees a message and everything it owns, wiping password bytes first.
 * Accepts NULL and *self_p == NULL; sets *self_p to NULL. */
void proto_msg_destroy(proto_msg_t **self_p);

/* Replaces the owned string *field with a copy of value (NULL clears it);
 * the old value is wiped and freed. 0, or FERRY_ENOMEM (field unchanged). */
int proto_str_set(char **field, const char *value);

/* Creates a DISCONNECT carrying reason (for example an err->message),
 * reduced to what the protocol allows: non-printable or non-ASCII bytes
 * become '?', and it is cut to 256 bytes. NULL when out of memory. */
proto_msg_t *proto_disconnect_new(const char *reason);

/* Checks a message against PROTOCOL.md: required fields, ranges, string
 * classes and limits. 0, or FERRY_EPROTO with the first problem in err. */
int proto_validate(const proto_msg_t *msg, ferry_err_t *err);

/* Encodes the body frame (the msgpack map) of msg into body_out, which is
 * emptied first; frame 1 is PROTO_SIGNATURE plus the version byte and frame 2
 * proto_command_name(msg->command). Validates first (FERRY_EPROTO); never
 * produces more than PROTO_MAX_BODY bytes (FERRY_ETOOBIG). body_out may hold
 * a password afterwards: wipe it (explicit_bzero) before fbuf_free. */
int proto_encode(const proto_msg_t *msg, fbuf_t *body_out, ferry_err_t *err);

/* Strictly decodes the three frames of one message into a new *out (the
 * caller destroys it). On error *out is NULL and the result is FERRY_EPROTO
 * with a precise message (bad signature, protocol version N not supported,
 * unknown command, body over PROTO_MAX_BODY, body not a map, truncated body,
 * trailing bytes, missing/wrong-typed/over-long field, value out of range),
 * or FERRY_ENOMEM. */
int proto_decode(proto_msg_t **out, const void *sig, size_t sig_len, const char *command,
                 size_t command_len, const void *body, size_t body_len, ferry_err_t *err);

/* Sends msg as one multipart message. For a ROUTER socket pass the peer's
 * routing id first (routing_id/routing_id_len); for a DEALER pass NULL, 0.
 * Never blocks: FERRY_ERETRY when the socket can not take the message now
 * (EAGAIN at the high-water mark), FERRY_ENOTFOUND when a ROUTER with
 * ZMQ_ROUTER_MANDATORY does not know the peer, FERRY_EPROTO when msg is
 * invalid, FERRY_EIO for other zmq errors. The encoded body is wiped once
 * zmq releases it. */
int proto_send(void *socket, const void *routing_id, size_t routing_id_len, const proto_msg_t *msg,
               ferry_err_t *err);

/* Receives one whole multipart message without blocking and decodes it into
 * a new *out. `router` says the socket is a ROUTER: then the first frame is
 * the peer's routing id, returned in a new *routing_id_out buffer of
 * *routing_id_len_out bytes (routing_id_out may be NULL for a DEALER).
 * All frames of the message are read even when it is invalid, so the socket
 * stays in step. Returns 0; FERRY_ERETRY when nothing is pending;
 * FERRY_EPROTO for an invalid message (wrong frame count or what
 * proto_decode rejects) — *routing_id_out is still set then, so the caller
 * can answer DISCONNECT with err->message; FERRY_EIO for zmq errors. The
 * caller frees *routing_id_out (NULL or owned) whatever the result. */
int proto_recv(void *socket, bool router, proto_msg_t **out, void **routing_id_out,
               size_t *routing_id_len_out, ferry_err_t *err);

/* Sets the socket options PROTOCOL.md asks for on either side
 * (ZMQ_MAXMSGSIZE = PROTO_MAX_FRAME). 0 or FERRY_EIO. */
int proto_socket_limits(void *socket, ferry_err_t *err);

/* "HELLO", "TASK", ...; NULL for a value that is not a proto_command. */
const char *proto_command_name(int command);
/* "copy-blob", ...; "done", ...; "none", ...; NULL for unknown values. */
const char *proto_task_kind_name(int kind);
const char *proto_outcome_name(int outcome);
const char *proto_error_class_name(int error_class);

#endif
