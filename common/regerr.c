/* regerr — reading registry error bodies and classifying failed answers. */
#include "common/regerr.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Bytes of a plain-text body looked at for its first line. */
#define REGERR_PLAIN_MAX 4096

/* Length of the UTF-8 sequence starting at s (at most n bytes available), or
 * 0 when the bytes there are not valid UTF-8. */
static size_t regerr_utf8_len(const unsigned char *s, size_t n)
{
    size_t want;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        want = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        want = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        want = 4;
    else
        return 0;
    if (want > n)
        return 0;
    for (size_t i = 1; i < want; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* Overlong and out-of-range forms of 3- and 4-byte sequences. */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xf0 && s[1] < 0x90) ||
        (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return want;
}

/* Copies n bytes of src into dst (dst_size > 0) for a message: white space
 * runs become one space, other control characters (C0, DEL, C1) and invalid
 * UTF-8 are dropped, the result is trimmed and cut to dst_size - 1 and to
 * REGERR_MESSAGE_MAX bytes without splitting a character. */
static void regerr_clean(const char *src, size_t n, char *dst, size_t dst_size)
{
    size_t limit = dst_size - 1 < REGERR_MESSAGE_MAX ? dst_size - 1 : REGERR_MESSAGE_MAX;
    size_t out = 0;
    bool pending_space = false;
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0;
    while (i < n) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
            pending_space = out > 0;
            i++;
            continue;
        }
        size_t seq = regerr_utf8_len(s + i, n - i);
        bool drop = seq == 0 || s[i] < 0x20 || s[i] == 0x7f ||
                    (seq == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0);
        if (drop) {
            i += seq ? seq : 1;
            continue;
        }
        if (out + (pending_space ? 1 : 0) + seq > limit)
            break;
        if (pending_space)
            dst[out++] = ' ';
        pending_space = false;
        memcpy(dst + out, s + i, seq);
        out += seq;
        i += seq;
    }
    dst[out] = '\0';
}

static void regerr_copy_json_string(json_t *value, char *dst, size_t dst_size)
{
    if (dst_size && json_is_string(value))
        regerr_clean(json_string_value(value), json_string_length(value), dst, dst_size);
}

void regerr_parse(const char *body, size_t len, char *code, size_t code_size, char *message,
                  size_t message_size)
{
    if (code_size)
        code[0] = '\0';
    if (message_size)
        message[0] = '\0';
    if (!body || len == 0 || len > REGERR_BODY_MAX)
        return;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(root))
        goto out;
    json_t *errors = json_object_get(root, "errors");
    if (errors) {
        json_t *first = json_array_get(errors, 0); /* NULL unless an array */
        if (json_is_object(first)) {
            regerr_copy_json_string(json_object_get(first, "code"), code, code_size);
            regerr_copy_json_string(json_object_get(first, "message"), message, message_size);
        }
        goto out;
    }
    /* Not the spec's shape, but what token servers and proxies send. */
    static const char *const message_keys[] = {"message", "error", "details"};
    for (size_t i = 0; i < sizeof message_keys / sizeof message_keys[0]; i++) {
        json_t *value = json_object_get(root, message_keys[i]);
        if (json_is_string(value)) {
            regerr_copy_json_string(value, message, message_size);
            break;
        }
    }
out:
    json_decref(root);
}

static bool regerr_code_is(const char *code, const char *name)
{
    return code && strcasecmp(code, name) == 0;
}

int regerr_classify(int http_status, const char *code)
{
    static const char *const invalid_codes[] = {"MANIFEST_INVALID", "NAME_INVALID", "TAG_INVALID",
                                                "SIZE_INVALID", "BLOB_UPLOAD_INVALID"};
    if (regerr_code_is(code, "DIGEST_INVALID"))
        return FERRY_EDIGEST;
    if (regerr_code_is(code, "TOOMANYREQUESTS"))
        return FERRY_ERETRY;
    if (http_status == 401 || http_status == 403)
        return FERRY_EAUTH;
    if (http_status == 404)
        return FERRY_ENOTFOUND;
    if (http_status == 408 || http_status == 429 || (http_status >= 500 && http_status <= 599))
        return FERRY_ERETRY;
    if (http_status == 413)
        return FERRY_ETOOBIG;
    if (regerr_code_is(code, "UNAUTHORIZED") || regerr_code_is(code, "DENIED"))
        return FERRY_EAUTH;
    size_t code_len = code ? strlen(code) : 0;
    if (code_len > 8 && strcasecmp(code + code_len - 8, "_UNKNOWN") == 0)
        return FERRY_ENOTFOUND;
    for (size_t i = 0; i < sizeof invalid_codes / sizeof invalid_codes[0]; i++)
        if (regerr_code_is(code, invalid_codes[i]))
            return FERRY_EINVAL;
    return FERRY_EPROTO;
}

/* The first line of a short plain-text body (not JSON, not HTML), for answers
 * from proxies and load balancers in front of a registry. */
static void regerr_plain_text(const char *body, size_t len, char *message, size_t message_size)
{
    if (len > REGERR_PLAIN_MAX)
        len = REGERR_PLAIN_MAX;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len || body[i] == '<' || body[i] == '{' || body[i] == '[')
        return;
    const char *line = body + i;
    const char *newline = memchr(line, '\n', len - i);
    regerr_clean(line, newline ? (size_t)(newline - line) : len - i, message, message_size);
}

int regerr_from_response(ferry_err_t *err, const char *what, int http_status, const char *body,
                         size_t len)
{
    char code[64], message[REGERR_MESSAGE_MAX + 1];
    const char *subject = what ? what : "registry";
    regerr_parse(body, len, code, sizeof code, message, sizeof message);
    if (!code[0] && !message[0] && body)
        regerr_plain_text(body, len, message, sizeof message);
    int rc = regerr_classify(http_status, code);
    if (code[0] && message[0])
        ferry_err_set(err, rc, "%s: HTTP %d %s: %s", subject, http_status, code, message);
    else if (code[0])
        ferry_err_set(err, rc, "%s: HTTP %d %s", subject, http_status, code);
    else if (message[0])
        ferry_err_set(err, rc, "%s: HTTP %d: %s", subject, http_status, message);
    else
        ferry_err_set(err, rc, "%s: HTTP %d", subject, http_status);
    if (err)
        err->http_status = http_status;
    return rc;
}
