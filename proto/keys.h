/* keys — CURVE key files, the agent allowlist and its ZAP handler, and the
 * "is this endpoint local" test that decides whether CURVE is required.
 *
 * Part of the proto module (see proto/PROTOCOL.md, section 5); proto.h
 * includes this header. */
#ifndef FERRY_PROTO_KEYS_H
#define FERRY_PROTO_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define PROTO_ZAP_DOMAIN "ferry" /* ZMQ_ZAP_DOMAIN of the coordinator's socket */

/* Generates a CURVE key pair as two Z85 strings of 40 characters plus NUL.
 * 0, or FERRY_EUNSUPPORTED when libzmq was built without CURVE. */
int proto_keygen(char public_z85[41], char secret_z85[41]);

/* Generates a key pair and writes it to path (mode 0600) and its public key
 * to path.pub, for `keygen` commands. The public key goes to public_z85.
 * An existing path or path.pub is kept (FERRY_EEXIST) unless force. */
int proto_keygen_files(const char *path, bool force, char public_z85[41], ferry_err_t *err);

/* Writes a key file (format in PROTOCOL.md) atomically with mode 0600:
 * the public key, and the secret key unless secret_z85 is NULL. Both keys
 * are checked first (FERRY_EINVAL), and must match when both are given.
 * FERRY_EIO when the file can not be written. */
int proto_key_write(const char *path, const char *public_z85, const char *secret_z85,
                    ferry_err_t *err);

/* Reads a key file into public_z85 and, unless secret_z85 is NULL, the
 * secret key. FERRY_EIO when unreadable, FERRY_EINVAL when malformed,
 * when a secret is asked for but absent, or when the keys do not match. */
int proto_key_read(const char *path, char public_z85[41], char secret_z85[41], ferry_err_t *err);

/* A ZAP handler (RFC 27) for a CURVE server: a thread answering on
 * inproc://zeromq.zap.01 in zmq_ctx, 200 for CURVE clients whose public key
 * is in the allowlist file and whose ZAP domain is "ferry", 400 otherwise.
 * The user id of an admitted peer is its Z85 public key. One per context;
 * create it before binding the CURVE socket. Runs until destroyed. NULL on
 * failure with err set (FERRY_EIO, FERRY_EINVAL for a bad allowlist). */
typedef struct proto_zap proto_zap_t;

/* An agent key the allowlist refused: the first characters of its Z85 form
 * and the peer's address as ZAP reports it. */
typedef struct proto_zap_refusal {
    char key[13];
    char address[64];
} proto_zap_refusal_t;

/* Keys refused since the last call, each once, at most max into out; the
 * caller logs them (the handler thread does not). Thread-safe. */
size_t proto_zap_refused(proto_zap_t *self, proto_zap_refusal_t *out, size_t max);
proto_zap_t *proto_zap_new(void *zmq_ctx, const char *allowlist_path, ferry_err_t *err);

/* Stops the handler thread and frees it. Accepts NULL; sets *self_p to NULL. */
void proto_zap_destroy(proto_zap_t **self_p);

/* True when a zmq endpoint stays on this host: inproc://, ipc://, or tcp://
 * to 127.0.0.0/8, ::1 (also ::ffff:127.x) or "localhost". Anything else,
 * including wildcard binds and interface names, is not local
 * and needs CURVE. */
bool proto_endpoint_is_local(const char *endpoint);

#endif
