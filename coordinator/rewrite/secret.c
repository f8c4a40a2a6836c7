/* secret — pull secrets: imagePullSecrets set in the pod specs where
 * `ferry rewrite --pull-secret` changed a reference, and the
 * kubernetes.io/dockerconfigjson Secret `ferry rewrite secret` prints. */
#include "coordinator/rewrite/rw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * imagePullSecrets */

/* Spaces between a sequence-valued key of the pod spec and the dashes of its
 * items ("containers:\n  - name" is 2, "containers:\n- name" is 0): the
 * file's own style, 2 when the pod spec shows none. */
static size_t rw_sequence_indent(const rw_file_t *f, const rw_node_t *spec)
{
    static const char *const keys[] = {"containers", "initContainers", "ephemeralContainers",
                                       "volumes", "tolerations"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        rw_node_t *key = NULL;
        rw_node_t *seq = rw_get(spec, keys[i], &key);
        if (!seq || seq->kind != RW_SEQUENCE || seq->flow || seq->n_items == 0)
            continue;
        size_t key_column = key->start - rw_line_start(f, key->start);
        size_t item_line = rw_line_start(f, seq->items[0]->start), dash = item_line;
        while (dash < f->len && f->text[dash] == ' ')
            dash++;
        if (dash < f->len && f->text[dash] == '-' && dash - item_line >= key_column &&
            rw_line_indented_to(f, key->start))
            return dash - item_line - key_column;
    }
    return 2;
}

/* Sets imagePullSecrets of a pod spec mapping to [{name: NAME}]: inserts the
 * key before the spec's first key, in block or flow style as the spec is
 * written, or replaces an existing list. 0 or FERRY_ENOMEM. */
int rw_pull_secret(const rw_run_t *run, rw_file_t *f, const rw_node_t *spec)
{
    const char *name = run->pull_secret;
    char *text = NULL;
    int rc = 0;
    rw_node_t *key = NULL;
    rw_node_t *value = rw_get(spec, "imagePullSecrets", &key);
    if (spec->n_items < 2)
        return 0;
    rw_node_t *first_key = spec->items[0];

    if (!value) {
        if (spec->flow) {
            text = rw_concat("imagePullSecrets: [{name: ", name, "}], ", NULL);
            rc = text ? rw_edit(f, first_key->start, first_key->start, text) : FERRY_ENOMEM;
            goto out;
        }
        if (!rw_line_indented_to(f, first_key->start)) {
            rc = rw_note(f, first_key->start,
                         "imagePullSecrets not added: the pod spec does not start on a line "
                         "of its own");
            goto out;
        }
        size_t line = rw_line_start(f, first_key->start);
        size_t indent = first_key->start - line, dash = indent + rw_sequence_indent(f, spec);
        char *key_indent = calloc(1, indent + 1), *dash_indent = calloc(1, dash + 1);
        if (key_indent && dash_indent) {
            memset(key_indent, ' ', indent);
            memset(dash_indent, ' ', dash);
            text = rw_concat(key_indent, "imagePullSecrets:", f->eol, dash_indent, "- name: ", name,
                             f->eol, NULL);
        }
        free(key_indent);
        free(dash_indent);
        rc = text ? rw_edit(f, line, line, text) : FERRY_ENOMEM;
        goto out;
    }

    if (value->kind == RW_SEQUENCE) {
        if (value->n_items == 1 && value->items[0]->kind == RW_MAPPING &&
            value->items[0]->n_items == 2 &&
            rw_is_scalar(rw_get(value->items[0], "name", NULL), name))
            goto out; /* already so */
        if (value->flow) {
            if (value->end > f->len || value->end == 0 || f->text[value->start] != '[' ||
                f->text[value->end - 1] != ']')
                goto odd;
            text = rw_concat("[{name: ", name, "}]", NULL);
            rc = text ? rw_edit(f, value->start, value->end, text) : FERRY_ENOMEM;
            goto out;
        }
        /* A block list: its lines, from the first dash to the end of the last
         * item's line, become one item at the first dash's indentation. */
        size_t line = rw_line_start(f, value->items[0]->start), dash = line;
        while (dash < f->len && f->text[dash] == ' ')
            dash++;
        if (dash >= f->len || f->text[dash] != '-')
            goto odd;
        size_t end = rw_line_next(f, rw_content_end(value) - 1);
        bool ends_line = end > 0 && f->text[end - 1] == '\n';
        char *dash_indent = calloc(1, dash - line + 1);
        if (dash_indent) {
            memset(dash_indent, ' ', dash - line);
            text = rw_concat(dash_indent, "- name: ", name, ends_line ? f->eol : "", NULL);
        }
        free(dash_indent);
        rc = text ? rw_edit(f, line, end, text) : FERRY_ENOMEM;
        goto out;
    }
    if (value->kind == RW_SCALAR && value->style == YAML_PLAIN_SCALAR_STYLE &&
        (value->value_len == 0 || strcmp(value->value, "null") == 0 ||
         strcmp(value->value, "~") == 0)) {
        /* An empty value: its mark may lie on a later line, so the list goes
         * right after the key's colon. */
        size_t colon = key->end;
        while (colon < f->len && (f->text[colon] == ' ' || f->text[colon] == '\t'))
            colon++;
        if (colon >= f->len || f->text[colon] != ':')
            goto odd;
        size_t start = colon + 1, end = start, span = 0;
        if (value->value_len > 0 && rw_scalar_span(f, value, &span))
            end = value->end;
        text = rw_concat(" [{name: ", name, "}]", NULL);
        rc = text ? rw_edit(f, start, end, text) : FERRY_ENOMEM;
        goto out;
    }
odd:
    rc = rw_note(f, key->start, "imagePullSecrets left as it is: not a list ferry can replace");
out:
    free(text);
    return rc;
}

/* ---------------------------------------------------------------------------
 * The Secret */

static int rw_base64(fbuf_t *out, const unsigned char *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int rc = 0;
    for (size_t i = 0; i < len && !rc; i += 3) {
        unsigned int chunk = (unsigned int)data[i] << 16;
        if (i + 1 < len)
            chunk |= (unsigned int)data[i + 1] << 8;
        if (i + 2 < len)
            chunk |= data[i + 2];
        char quad[4] = {alphabet[(chunk >> 18) & 63], alphabet[(chunk >> 12) & 63],
                        i + 1 < len ? alphabet[(chunk >> 6) & 63] : '=',
                        i + 2 < len ? alphabet[chunk & 63] : '='};
        rc = fbuf_append(out, quad, 4);
    }
    return rc;
}

/* Appends s as a JSON string. */
static int rw_json_string(fbuf_t *out, const char *s)
{
    int rc = fbuf_puts(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        if (*p == '"' || *p == '\\')
            rc = fbuf_printf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            rc = fbuf_printf(out, "\\u%04x", *p);
        else
            rc = fbuf_append(out, p, 1);
    }
    return rc ? rc : fbuf_puts(out, "\"");
}

/* Wipes and frees a buffer that held a secret. */
static void rw_wipe(fbuf_t *b)
{
    if (b->data)
        explicit_bzero(b->data, b->cap);
    fbuf_free(b);
}

/* Appends to manifest the Secret: the config {"auths":{REGISTRY:{"username":
 * ...,"password":...,"auth":BASE64(USER:PASSWORD)}}}, base64-encoded. The
 * intermediate buffers are wiped. 0, FERRY_ENOMEM or FERRY_ETOOBIG. */
static int rw_secret_build(fbuf_t *manifest, const char *registry, const creds_t *creds,
                           const char *name, const char *namespace)
{
    fbuf_t userpass, config, encoded;
    fbuf_init(&userpass, 2 * CREDS_TEXT_MAX);
    fbuf_init(&config, 16 * CREDS_TEXT_MAX);
    fbuf_init(&encoded, 32 * CREDS_TEXT_MAX);
    int rc = fbuf_printf(&userpass, "%s:%s", creds->username, creds->password);
    if (!rc)
        rc = fbuf_puts(&config, "{\"auths\":{");
    if (!rc)
        rc = rw_json_string(&config, registry);
    if (!rc)
        rc = fbuf_puts(&config, ":{\"username\":");
    if (!rc)
        rc = rw_json_string(&config, creds->username);
    if (!rc)
        rc = fbuf_puts(&config, ",\"password\":");
    if (!rc)
        rc = rw_json_string(&config, creds->password);
    if (!rc)
        rc = fbuf_puts(&config, ",\"auth\":\"");
    if (!rc)
        rc = rw_base64(&config, (const unsigned char *)userpass.data, userpass.len);
    if (!rc)
        rc = fbuf_puts(&config, "\"}}}");
    if (!rc)
        rc = rw_base64(&encoded, (const unsigned char *)config.data, config.len);
    if (!rc)
        rc = fbuf_printf(manifest,
                         "apiVersion: v1\n"
                         "kind: Secret\n"
                         "metadata:\n"
                         "  name: %s\n"
                         "%s%s%s"
                         "type: kubernetes.io/dockerconfigjson\n"
                         "data:\n"
                         "  .dockerconfigjson: %s\n",
                         name, namespace ? "  namespace: " : "", namespace ? namespace : "",
                         namespace ? "\n" : "", encoded.data);
    rw_wipe(&userpass);
    rw_wipe(&config);
    rw_wipe(&encoded);
    return rc;
}

int rw_secret_write(FILE *out, const char *registry, const creds_t *creds, const char *name,
                    const char *namespace, ferry_err_t *err)
{
    fbuf_t manifest;
    int rc = 0;
    fbuf_init(&manifest, 64 * CREDS_TEXT_MAX);
    if (rw_secret_build(&manifest, registry, creds, name, namespace) != 0)
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    else if (fwrite(manifest.data, 1, manifest.len, out) != manifest.len || fflush(out) != 0)
        rc = ferry_err_set(err, FERRY_EIO, "cannot write the Secret: %s", strerror(errno));
    rw_wipe(&manifest);
    return rc;
}
