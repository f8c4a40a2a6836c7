/* fuzz_proto — libFuzzer target for the proto/ decoder: arbitrary frames
 * into proto_decode; whatever decodes must encode, decode again, and encode
 * to the same bytes (the encoder never emits what the decoder rejects).
 *
 * Input layout: the first byte picks the frames.
 *   < 0xf0: a good signature, command number (byte % 9) + 1, body = the rest
 *           (most inputs exercise the body parser);
 *   >= 0xf0: raw frames: byte 1 = signature length (mod 8), byte 2 = command
 *           length (mod 18), then the signature, the command and the body. */
#include "proto/proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes msg into a new buffer; aborts when a decoded message does not
 * encode. */
static fbuf_t encode_or_die(const proto_msg_t *msg)
{
    fbuf_t body;
    fbuf_init(&body, PROTO_MAX_BODY);
    if (proto_encode(msg, &body, NULL) != 0)
        abort();
    return body;
}

static void check_round_trip(const proto_msg_t *msg)
{
    static const uint8_t sig[PROTO_SIG_LEN] = {'F', 'E', 'R', 'R', 'Y', PROTO_VERSION};
    const char *name = proto_command_name(msg->command);
    fbuf_t first = encode_or_die(msg);
    proto_msg_t *again = NULL;
    if (proto_decode(&again, sig, sizeof sig, name, strlen(name), first.data, first.len, NULL) != 0)
        abort();
    fbuf_t second = encode_or_die(again);
    if (first.len != second.len || memcmp(first.data, second.data, first.len) != 0)
        abort();
    proto_msg_destroy(&again);
    fbuf_free(&first);
    fbuf_free(&second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t good_sig[PROTO_SIG_LEN] = {'F', 'E', 'R', 'R', 'Y', PROTO_VERSION};
    const uint8_t *sig = good_sig;
    size_t sig_len = sizeof good_sig;
    const char *command;
    size_t command_len;
    const uint8_t *body;
    size_t body_len;

    if (size < 1)
        return 0;
    if (data[0] < 0xf0) {
        command = proto_command_name(data[0] % 9 + 1);
        command_len = strlen(command);
        body = data + 1;
        body_len = size - 1;
    } else {
        if (size < 3)
            return 0;
        sig_len = data[1] % 8;
        command_len = data[2] % 18;
        if (size - 3 < sig_len + command_len)
            return 0;
        sig = data + 3;
        command = (const char *)data + 3 + sig_len;
        body = data + 3 + sig_len + command_len;
        body_len = size - 3 - sig_len - command_len;
    }

    /* Exact-size copies, so reading one byte past a frame is caught. */
    uint8_t *sig_copy = malloc(sig_len ? sig_len : 1), *body_copy = malloc(body_len ? body_len : 1);
    char *command_copy = malloc(command_len ? command_len : 1);
    if (!sig_copy || !body_copy || !command_copy)
        abort();
    memcpy(sig_copy, sig, sig_len);
    memcpy(command_copy, command, command_len);
    memcpy(body_copy, body, body_len);

    proto_msg_t *msg = NULL;
    ferry_err_t err;
    int rc =
        proto_decode(&msg, sig_copy, sig_len, command_copy, command_len, body_copy, body_len, &err);
    if (rc == 0) {
        if (!msg)
            abort();
        check_round_trip(msg);
    } else if (msg || (rc != FERRY_EPROTO && rc != FERRY_ENOMEM) || err.message[0] == '\0') {
        abort();
    }
    proto_msg_destroy(&msg);
    free(sig_copy);
    free(command_copy);
    free(body_copy);
    return 0;
}
