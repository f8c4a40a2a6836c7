/* rules — loading and validating migration rules and credentials files:
 * ferry's JSON rules (jansson), image-transfer's rule and security YAML
 * (libyaml's document API). */
#include "coordinator/rules.h"

#include "common/buf.h"
#include "common/ref.h"
#include "common/strmap.h"
#include "coordinator/tagfilter.h"

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* Longest file name or text quoted in a message. */
#define RULES_SHOW_MAX 200

/* ---- files ---- */

/* Reads a whole regular file of at most RULES_FILE_MAX bytes into a new
 * NUL-terminated buffer the caller frees. */
static int rules_read_file(const char *path, char **data_out, size_t *len_out, ferry_err_t *err)
{
    ferry_err_t why;
    int rc = fbuf_read_file(path, RULES_FILE_MAX, FBUF_FILE_REGULAR, data_out, len_out, &why);
    if (rc == FERRY_ETOOBIG)
        return ferry_err_set(err, rc, "%.*s is larger than %d bytes", RULES_SHOW_MAX, path,
                             RULES_FILE_MAX);
    if (rc < 0)
        return ferry_err_set(err, rc == FERRY_ENOMEM ? rc : FERRY_EIO, "cannot read %.*s: %s",
                             RULES_SHOW_MAX, path, why.message);
    return 0;
}

/* ---- rules ---- */

static void rule_free(rule_t *r)
{
    free(r->source);
    free(r->target);
    free(r->include);
    free(r->exclude);
    for (size_t i = 0; i < r->n_tags; i++)
        free(r->tags[i]);
    free(r->tags);
    for (size_t i = 0; i < r->n_platforms; i++)
        free(r->platforms[i]);
    free(r->platforms);
    memset(r, 0, sizeof *r);
}

void rules_destroy(rules_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rules_t *rules = *self_p;
    for (size_t i = 0; i < rules->n; i++)
        rule_free(&rules->items[i]);
    free(rules->items);
    free(rules);
    *self_p = NULL;
}

/* Appends a zeroed rule; NULL when out of memory. */
static rule_t *rules_append(rules_t *rules, size_t *capacity)
{
    if (rules->n == *capacity) {
        size_t grown = *capacity ? *capacity * 2 : 8;
        rule_t *items = realloc(rules->items, grown * sizeof *items);
        if (!items)
            return NULL;
        rules->items = items;
        *capacity = grown;
    }
    rule_t *r = &rules->items[rules->n++];
    memset(r, 0, sizeof *r);
    return r;
}

/* Appends a copy of text (len bytes) to a string list. */
static int rules_list_add(char ***list, size_t *n, const char *text, size_t len)
{
    char **grown = realloc(*list, (*n + 1) * sizeof *grown);
    if (!grown)
        return FERRY_ENOMEM;
    *list = grown;
    char *copy = malloc(len + 1);
    if (!copy)
        return FERRY_ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    grown[(*n)++] = copy;
    return 0;
}

/* Validates a source or target: an image reference or a registry location.
 * *names_image is true when it names a tag or digest. */
static int rules_check_endpoint(const char *text, const char *field, bool is_target,
                                bool *names_image, ferry_err_t *err)
{
    ref_t *ref = NULL;
    *names_image = false;
    int rc = ref_parse(&ref, text, err);
    if (rc == FERRY_ENOMEM)
        return rc;
    if (rc != 0) {
        /* A bare "host[:port]" is a location only; report ref_parse's finer
         * message for anything else. */
        ferry_err_t location_err = {0};
        int location_rc = ref_parse_location(&ref, text, &location_err);
        if (location_rc != 0) {
            ferry_err_prefix(err, "%s", field);
            return rc;
        }
        rc = 0;
    }
    *names_image = ref->tag || ref->digest;
    if (is_target && ref->digest)
        rc = ferry_err_set(err, FERRY_EINVAL, "%s: '%.*s' must not name a digest: targets get tags",
                           field, RULES_SHOW_MAX, text);
    ref_destroy(&ref);
    return rc;
}

/* Validates one rule's fields and their combination. Messages start with the
 * field; the caller prefixes the file and rule. */
static int rules_check_rule(const rule_t *r, ferry_err_t *err)
{
    bool source_image = false, target_image = false;
    int rc = rules_check_endpoint(r->source, "source", false, &source_image, err);
    if (rc)
        return rc;
    rc = rules_check_endpoint(r->target, "target", true, &target_image, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < r->n_tags; i++) {
        rc = ref_validate_tag(r->tags[i], err);
        if (rc) {
            ferry_err_prefix(err, "tags[%zu]", i);
            return rc;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->tags[i], r->tags[j]) == 0)
                return ferry_err_set(err, FERRY_EINVAL, "tags: tag '%s' is listed twice",
                                     r->tags[i]);
    }
    tagfilter_t *filter = tagfilter_new(r->include, r->exclude, err);
    if (!filter) {
        ferry_err_prefix(err, "tags");
        return err->code;
    }
    tagfilter_destroy(&filter);
    if (r->latest < 0)
        return ferry_err_set(err, FERRY_EINVAL, "tags.latest: must be 0 (all) or more, not %d",
                             r->latest);
    for (size_t i = 0; i < r->n_platforms; i++) {
        rc = platform_parse(r->platforms[i], NULL, NULL, NULL, err);
        if (rc) {
            ferry_err_prefix(err, "platforms[%zu]", i);
            return rc;
        }
    }
    bool selects = r->n_tags || r->include || r->exclude || r->latest;
    if (source_image && selects)
        return ferry_err_set(
            err, FERRY_EINVAL,
            "tags: source '%.*s' already names one image; drop its tag or the tag selection",
            RULES_SHOW_MAX, r->source);
    if (target_image && !source_image && r->n_tags != 1)
        return ferry_err_set(err, FERRY_EINVAL,
                             "target: '%.*s' names a tag, but the source selects %s; a tag on the "
                             "target needs exactly one source image",
                             RULES_SHOW_MAX, r->target,
                             r->n_tags > 1 ? "several tags" : "any number of tags");
    return 0;
}

/* ---- JSON ---- */

static int rules_json_string(json_t *value, const char *field, char **out, ferry_err_t *err)
{
    if (!json_is_string(value))
        return ferry_err_set(err, FERRY_EINVAL, "%s: must be a string", field);
    *out = strdup(json_string_value(value));
    return *out ? 0 : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
}

static int rules_json_string_list(json_t *value, const char *field, char ***list, size_t *n,
                                  ferry_err_t *err)
{
    if (!json_is_array(value))
        return ferry_err_set(err, FERRY_EINVAL, "%s: must be a list of strings", field);
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item)
    {
        if (!json_is_string(item))
            return ferry_err_set(err, FERRY_EINVAL, "%s[%zu]: must be a string", field, i);
        if (rules_list_add(list, n, json_string_value(item), json_string_length(item)) != 0)
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    }
    return 0;
}

static int rules_json_tags(json_t *tags, rule_t *r, ferry_err_t *err)
{
    if (json_is_array(tags))
        return rules_json_string_list(tags, "tags", &r->tags, &r->n_tags, err);
    if (!json_is_object(tags))
        return ferry_err_set(
            err, FERRY_EINVAL,
            "tags: must be an object {include, exclude, latest} or a list of tags");
    const char *key;
    json_t *value;
    json_object_foreach(tags, key, value)
    {
        int rc;
        if (strcmp(key, "include") == 0) {
            rc = rules_json_string(value, "tags.include", &r->include, err);
        } else if (strcmp(key, "exclude") == 0) {
            rc = rules_json_string(value, "tags.exclude", &r->exclude, err);
        } else if (strcmp(key, "latest") == 0) {
            if (!json_is_integer(value))
                return ferry_err_set(err, FERRY_EINVAL, "tags.latest: must be an integer");
            json_int_t latest = json_integer_value(value);
            if (latest < 0 || latest > INT_MAX)
                return ferry_err_set(err, FERRY_EINVAL,
                                     "tags.latest: must be 0 (all) to %d, not %lld", INT_MAX,
                                     (long long)latest);
            r->latest = (int)latest;
            rc = 0;
        } else {
            return ferry_err_set(err, FERRY_EINVAL,
                                 "unknown key 'tags.%.*s' (expected include, exclude, latest)",
                                 RULES_SHOW_MAX, key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int rules_json_rule(json_t *obj, rule_t *r, ferry_err_t *err)
{
    if (!json_is_object(obj))
        return ferry_err_set(err, FERRY_EINVAL, "must be an object");
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        int rc;
        if (strcmp(key, "source") == 0)
            rc = rules_json_string(value, "source", &r->source, err);
        else if (strcmp(key, "target") == 0)
            rc = rules_json_string(value, "target", &r->target, err);
        else if (strcmp(key, "tags") == 0)
            rc = rules_json_tags(value, r, err);
        else if (strcmp(key, "platforms") == 0)
            rc = rules_json_string_list(value, "platforms", &r->platforms, &r->n_platforms, err);
        else
            return ferry_err_set(err, FERRY_EINVAL,
                                 "unknown key '%.*s' (expected source, target, tags, platforms)",
                                 RULES_SHOW_MAX, key);
        if (rc)
            return rc;
    }
    if (!r->source)
        return ferry_err_set(err, FERRY_EINVAL, "missing 'source'");
    if (!r->target)
        return ferry_err_set(err, FERRY_EINVAL, "missing 'target'");
    return rules_check_rule(r, err);
}

int rules_load_json(const char *path, rules_t **out, ferry_err_t *err)
{
    ferry_err_t local_err;
    if (!err)
        err = &local_err; /* helpers read the code back from it */
    char *data = NULL;
    size_t len = 0, capacity = 0;
    json_t *root = NULL;
    rules_t *rules = NULL;
    *out = NULL;
    int rc = rules_read_file(path, &data, &len, err);
    if (rc)
        goto out;
    json_error_t jerr;
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = ferry_err_set(err, FERRY_EINVAL, "%.*s:%d:%d: %s", RULES_SHOW_MAX, path, jerr.line,
                           jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = ferry_err_set(err, FERRY_EINVAL, "%.*s: expected an object {\"rules\": [...]}",
                           RULES_SHOW_MAX, path);
        goto out;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        if (strcmp(key, "rules") != 0) {
            rc = ferry_err_set(err, FERRY_EINVAL, "%.*s: unknown key '%.*s' (expected rules)",
                               RULES_SHOW_MAX, path, RULES_SHOW_MAX, key);
            goto out;
        }
    }
    json_t *list = json_object_get(root, "rules");
    if (!json_is_array(list)) {
        rc = ferry_err_set(err, FERRY_EINVAL, "%.*s: \"rules\" must be a list", RULES_SHOW_MAX,
                           path);
        goto out;
    }
    rules = calloc(1, sizeof *rules);
    if (!rules)
        goto oom;
    size_t i;
    json_array_foreach(list, i, value)
    {
        rule_t *r = rules_append(rules, &capacity);
        if (!r)
            goto oom;
        rc = rules_json_rule(value, r, err);
        if (rc) {
            ferry_err_prefix(err, "%.*s: rules[%zu]", RULES_SHOW_MAX, path, i);
            goto out;
        }
    }
    *out = rules;
    rules = NULL;
    goto out;
oom:
    rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory loading %.*s", RULES_SHOW_MAX, path);
out:
    rules_destroy(&rules);
    json_decref(root);
    free(data);
    return rc;
}

/* ---- YAML ---- */

/* Deepest nesting of YAML collections accepted: these files need 2; libyaml
 * slows down quadratically on deep flow nesting ("[[[[..."). */
#define RULES_YAML_DEPTH_MAX 16

/* Turns the parser's error into a message with the line (and column). */
static int rules_yaml_error(const char *path, const yaml_parser_t *parser, const char *data,
                            size_t len, ferry_err_t *err)
{
    const char *problem = parser->problem ? parser->problem : "syntax error";
    if (parser->error == YAML_MEMORY_ERROR)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory parsing %.*s", RULES_SHOW_MAX, path);
    if (parser->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        size_t line = 1;
        for (size_t i = 0; i < parser->problem_offset && i < len; i++)
            line += data[i] == '\n';
        return ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: %s (byte %zu)", RULES_SHOW_MAX, path,
                             line, problem, parser->problem_offset);
    }
    if (parser->context)
        return ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu:%zu: %s %s (line %zu)", RULES_SHOW_MAX,
                             path, parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                             problem, parser->context, parser->context_mark.line + 1);
    return ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu:%zu: %s", RULES_SHOW_MAX, path,
                         parser->problem_mark.line + 1, parser->problem_mark.column + 1, problem);
}

/* A first pass over the events: syntax errors, nesting deeper than
 * RULES_YAML_DEPTH_MAX and more than one document are refused before the
 * document is built. */
static int rules_yaml_check(const char *path, const char *data, size_t len, ferry_err_t *err)
{
    yaml_parser_t parser;
    yaml_event_t event;
    int rc = 0, depth = 0, documents = 0;
    if (!yaml_parser_initialize(&parser))
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    for (bool done = false; !done && !rc;) {
        if (!yaml_parser_parse(&parser, &event)) {
            rc = rules_yaml_error(path, &parser, data, len, err);
            break;
        }
        switch (event.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > RULES_YAML_DEPTH_MAX)
                rc = ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: nested deeper than %d levels",
                                   RULES_SHOW_MAX, path, event.start_mark.line + 1,
                                   RULES_YAML_DEPTH_MAX);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1)
                rc = ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: holds more than one YAML document",
                                   RULES_SHOW_MAX, path, event.start_mark.line + 1);
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Parses path's single YAML document into *doc (caller deletes it when
 * *loaded). An empty file gives a document without a root node. */
static int rules_yaml_load(const char *path, yaml_document_t *doc, bool *loaded, ferry_err_t *err)
{
    char *data = NULL;
    size_t len = 0;
    yaml_parser_t parser;
    bool parser_ready = false;
    *loaded = false;
    int rc = rules_read_file(path, &data, &len, err);
    if (!rc)
        rc = rules_yaml_check(path, data, len, err);
    if (rc)
        goto out;
    if (!yaml_parser_initialize(&parser)) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    parser_ready = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, doc)) {
        rc = rules_yaml_error(path, &parser, data, len, err);
        goto out;
    }
    *loaded = true;
out:
    if (parser_ready)
        yaml_parser_delete(&parser);
    free(data);
    return rc;
}

static size_t rules_yaml_line(const yaml_node_t *node)
{
    return node->start_mark.line + 1;
}

/* The text of a scalar node, or NULL (with err set) for another kind of
 * node or a scalar holding a NUL byte. Borrowed from the document. */
static const char *rules_yaml_scalar(const char *path, const yaml_node_t *node, const char *what,
                                     ferry_err_t *err)
{
    if (!node || node->type != YAML_SCALAR_NODE) {
        ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: %s must be a plain string", RULES_SHOW_MAX,
                      path, node ? rules_yaml_line(node) : 0, what);
        return NULL;
    }
    const char *text = (const char *)node->data.scalar.value;
    if (strlen(text) != node->data.scalar.length) {
        ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: %s contains a NUL character", RULES_SHOW_MAX,
                      path, rules_yaml_line(node), what);
        return NULL;
    }
    return text;
}

/* The root mapping, NULL for an empty document; err set when the root is
 * another kind of node. */
static int rules_yaml_root(const char *path, yaml_document_t *doc, yaml_node_t **root,
                           const char *expected, ferry_err_t *err)
{
    *root = yaml_document_get_root_node(doc);
    if (!*root)
        return 0;
    /* A file holding only "~" or "" is empty too. */
    if ((*root)->type == YAML_SCALAR_NODE && (*root)->data.scalar.length == 0) {
        *root = NULL;
        return 0;
    }
    if ((*root)->type != YAML_MAPPING_NODE)
        return ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: expected a mapping of %s",
                             RULES_SHOW_MAX, path, rules_yaml_line(*root), expected);
    return 0;
}

/* Splits image-transfer's "host/ns/repo:t1,t2" into r->source "host/ns/repo"
 * and r->tags; other sources are copied whole. */
static int rules_yaml_source(const char *text, rule_t *r)
{
    const char *slash = strrchr(text, '/');
    const char *colon = slash ? strchr(slash, ':') : NULL;
    if (!colon || !strchr(colon, ',') || strchr(colon, '@')) {
        r->source = strdup(text);
        return r->source ? 0 : FERRY_ENOMEM;
    }
    size_t name_len = (size_t)(colon - text);
    r->source = malloc(name_len + 1);
    if (!r->source)
        return FERRY_ENOMEM;
    memcpy(r->source, text, name_len);
    r->source[name_len] = '\0';
    const char *p = colon + 1;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *start = p;
        while (len && (*start == ' ' || *start == '\t')) {
            start++;
            len--;
        }
        while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
            len--;
        if (rules_list_add(&r->tags, &r->n_tags, start, len) != 0)
            return FERRY_ENOMEM;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

int rules_load_yaml(const char *path, rules_t **out, ferry_err_t *err)
{
    ferry_err_t local_err;
    if (!err)
        err = &local_err; /* helpers read the code back from it */
    yaml_document_t doc;
    bool loaded = false;
    rules_t *rules = NULL;
    strmap_t *seen = NULL;
    size_t capacity = 0;
    *out = NULL;
    int rc = rules_yaml_load(path, &doc, &loaded, err);
    if (rc)
        goto out;
    yaml_node_t *root = NULL;
    rc = rules_yaml_root(path, &doc, &root, "source to target", err);
    if (rc)
        goto out;
    rules = calloc(1, sizeof *rules);
    seen = strmap_new();
    if (!rules || !seen)
        goto oom;
    for (yaml_node_pair_t *pair = root ? root->data.mapping.pairs.start : NULL;
         root && pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *key_node = yaml_document_get_node(&doc, pair->key);
        yaml_node_t *value_node = yaml_document_get_node(&doc, pair->value);
        const char *source = rules_yaml_scalar(path, key_node, "a source", err);
        if (!source) {
            rc = err->code;
            goto out;
        }
        size_t line = rules_yaml_line(key_node);
        const char *target = rules_yaml_scalar(path, value_node, "a target", err);
        if (!target) {
            rc = err->code;
            goto out;
        }
        void *first_line = strmap_get(seen, source);
        if (first_line) {
            rc = ferry_err_set(
                err, FERRY_EINVAL, "%.*s:%zu: source '%.*s' is already mapped on line %zu",
                RULES_SHOW_MAX, path, line, RULES_SHOW_MAX, source, (size_t)(uintptr_t)first_line);
            goto out;
        }
        if (strmap_put(seen, source, (void *)(uintptr_t)line, NULL) != 0)
            goto oom;
        if (!*target) {
            rc = ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: source '%.*s' has no target",
                               RULES_SHOW_MAX, path, line, RULES_SHOW_MAX, source);
            goto out;
        }
        rule_t *r = rules_append(rules, &capacity);
        if (!r || rules_yaml_source(source, r) != 0 || !(r->target = strdup(target)))
            goto oom;
        r->line = line;
        rc = rules_check_rule(r, err);
        if (rc) {
            ferry_err_prefix(err, "%.*s:%zu", RULES_SHOW_MAX, path, line);
            goto out;
        }
    }
    *out = rules;
    rules = NULL;
    goto out;
oom:
    rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory loading %.*s", RULES_SHOW_MAX, path);
out:
    strmap_destroy(&seen, NULL);
    rules_destroy(&rules);
    if (loaded)
        yaml_document_delete(&doc);
    return rc;
}

/* ---- security ---- */

static void security_entry_free(security_entry_t *e)
{
    free(e->key);
    free(e->username);
    if (e->password) {
        explicit_bzero(e->password, strlen(e->password));
        free(e->password);
    }
    memset(e, 0, sizeof *e);
}

void security_destroy(security_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    security_t *s = *self_p;
    for (size_t i = 0; i < s->n; i++)
        security_entry_free(&s->items[i]);
    free(s->items);
    free(s);
    *self_p = NULL;
}

/* Validates "host[:port]" or "host[:port]/namespace". */
static int security_check_key(const char *key, ferry_err_t *err)
{
    const char *slash = strchr(key, '/');
    if (!slash)
        return ref_validate_host(key, err);
    size_t host_len = (size_t)(slash - key);
    char *host = malloc(host_len + 1);
    if (!host)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    memcpy(host, key, host_len);
    host[host_len] = '\0';
    int rc = ref_validate_host(host, err);
    free(host);
    if (!rc)
        rc = ref_validate_repository(slash + 1, err);
    return rc;
}

static int security_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "y"};
    static const char *const no[] = {"false", "no", "off", "n", ""};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    return FERRY_EINVAL;
}

/* Copies a scalar unless it is empty (YAML "key:" with no value). */
static int security_copy(const char *text, char **out)
{
    if (!*text)
        return 0;
    *out = strdup(text);
    return *out ? 0 : FERRY_ENOMEM;
}

static int security_entry_load(const char *path, yaml_document_t *doc, yaml_node_t *node,
                               security_entry_t *e, ferry_err_t *err)
{
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0)
        return 0; /* "host:" alone: anonymous */
    if (node->type != YAML_MAPPING_NODE)
        return ferry_err_set(err, FERRY_EINVAL,
                             "%.*s:%zu: '%.*s' must map to {username, password, insecure}",
                             RULES_SHOW_MAX, path, rules_yaml_line(node), RULES_SHOW_MAX, e->key);
    bool seen_user = false, seen_pass = false, seen_insecure = false;
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key_node = yaml_document_get_node(doc, pair->key);
        yaml_node_t *value_node = yaml_document_get_node(doc, pair->value);
        const char *field = rules_yaml_scalar(path, key_node, "a field name", err);
        if (!field)
            return err->code;
        size_t line = rules_yaml_line(key_node);
        bool *seen;
        if (strcmp(field, "username") == 0)
            seen = &seen_user;
        else if (strcmp(field, "password") == 0)
            seen = &seen_pass;
        else if (strcmp(field, "insecure") == 0)
            seen = &seen_insecure;
        else
            return ferry_err_set(
                err, FERRY_EINVAL,
                "%.*s:%zu: unknown field '%.*s' (expected username, password, insecure)",
                RULES_SHOW_MAX, path, line, RULES_SHOW_MAX, field);
        if (*seen)
            return ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: field '%s' appears twice",
                                 RULES_SHOW_MAX, path, line, field);
        *seen = true;
        /* The password's own text never reaches a message, even when invalid. */
        const char *value = rules_yaml_scalar(path, value_node, field, err);
        if (!value)
            return err->code;
        int rc = 0;
        if (seen == &seen_user)
            rc = security_copy(value, &e->username);
        else if (seen == &seen_pass)
            rc = security_copy(value, &e->password);
        else if (security_bool(value, &e->insecure) != 0)
            return ferry_err_set(err, FERRY_EINVAL,
                                 "%.*s:%zu: insecure must be true or false, not '%.20s'",
                                 RULES_SHOW_MAX, path, line, value);
        if (rc)
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    }
    return 0;
}

int security_load_yaml(const char *path, security_t **out, ferry_err_t *err)
{
    ferry_err_t local_err;
    if (!err)
        err = &local_err; /* helpers read the code back from it */
    yaml_document_t doc;
    bool loaded = false;
    security_t *s = NULL;
    *out = NULL;
    int rc = rules_yaml_load(path, &doc, &loaded, err);
    if (rc)
        goto out;
    yaml_node_t *root = NULL;
    rc = rules_yaml_root(path, &doc, &root, "registry to credentials", err);
    if (rc)
        goto out;
    s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    size_t n_pairs =
        root ? (size_t)(root->data.mapping.pairs.top - root->data.mapping.pairs.start) : 0;
    if (n_pairs) {
        s->items = calloc(n_pairs, sizeof *s->items);
        if (!s->items)
            goto oom;
    }
    for (size_t i = 0; i < n_pairs; i++) {
        yaml_node_pair_t *pair = &root->data.mapping.pairs.start[i];
        yaml_node_t *key_node = yaml_document_get_node(&doc, pair->key);
        const char *key = rules_yaml_scalar(path, key_node, "a registry", err);
        if (!key) {
            rc = err->code;
            goto out;
        }
        size_t line = rules_yaml_line(key_node);
        rc = security_check_key(key, err);
        if (rc) {
            ferry_err_prefix(err, "%.*s:%zu", RULES_SHOW_MAX, path, line);
            goto out;
        }
        for (size_t j = 0; j < s->n; j++)
            if (strcasecmp(s->items[j].key, key) == 0) {
                rc = ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: registry '%.*s' is listed twice",
                                   RULES_SHOW_MAX, path, line, RULES_SHOW_MAX, key);
                goto out;
            }
        security_entry_t *e = &s->items[s->n++];
        e->key = strdup(key);
        if (!e->key)
            goto oom;
        rc = security_entry_load(path, &doc, yaml_document_get_node(&doc, pair->value), e, err);
        if (rc)
            goto out;
    }
    *out = s;
    s = NULL;
    goto out;
oom:
    rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory loading %.*s", RULES_SHOW_MAX, path);
out:
    security_destroy(&s);
    if (loaded)
        yaml_document_delete(&doc);
    return rc;
}

const security_entry_t *security_lookup(const security_t *s, const char *host,
                                        const char *repository)
{
    const security_entry_t *best = NULL;
    size_t best_len = 0, host_len = strlen(host);
    for (size_t i = 0; s && i < s->n; i++) {
        const char *key = s->items[i].key;
        if (strncasecmp(key, host, host_len) != 0)
            continue;
        if (key[host_len] == '\0') {
            if (!best)
                best = &s->items[i];
            continue;
        }
        if (key[host_len] != '/' || !repository)
            continue;
        const char *ns = key + host_len + 1;
        size_t ns_len = strlen(ns);
        if (strncmp(repository, ns, ns_len) != 0 || repository[ns_len] != '/')
            continue;
        if (ns_len > best_len) {
            best = &s->items[i];
            best_len = ns_len;
        }
    }
    return best;
}

/* ------------------------------------------------------------ API keys */

static void api_key_free(char **s)
{
    if (*s) {
        memset(*s, 0, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void api_keys_clear(api_keys_t *k)
{
    api_key_free(&k->ccr_id);
    api_key_free(&k->ccr_key);
    api_key_free(&k->tcr_id);
    api_key_free(&k->tcr_key);
}

/* One side's {secretId, secretKey} mapping into *id and *key. */
static int api_keys_side(const char *path, yaml_document_t *doc, yaml_node_t *node, char **id,
                         char **key, ferry_err_t *err)
{
    if (!node || node->type != YAML_MAPPING_NODE)
        return ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: expected secretId and secretKey",
                             RULES_SHOW_MAX, path, node ? rules_yaml_line(node) : 0);
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        const char *name = rules_yaml_scalar(path, k, "a field name", err);
        if (!name)
            return err->code;
        char **slot = strcmp(name, "secretId") == 0    ? id
                      : strcmp(name, "secretKey") == 0 ? key
                                                       : NULL;
        if (!slot)
            return ferry_err_set(err, FERRY_EINVAL,
                                 "%.*s:%zu: unknown field '%.*s' (secretId, secretKey)",
                                 RULES_SHOW_MAX, path, rules_yaml_line(k), RULES_SHOW_MAX, name);
        /* The value's text is never shown: it may be a key. */
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!v || v->type != YAML_SCALAR_NODE || !v->data.scalar.length)
            return ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: %s must be a non-empty string",
                                 RULES_SHOW_MAX, path, rules_yaml_line(k), name);
        api_key_free(slot);
        if (!(*slot = strdup((const char *)v->data.scalar.value)))
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    }
    if (!*id || !*key)
        return ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: needs both secretId and secretKey",
                             RULES_SHOW_MAX, path, rules_yaml_line(node));
    return 0;
}

int api_keys_load_yaml(api_keys_t *out, const char *path, ferry_err_t *err)
{
    ferry_err_t local_err;
    if (!err)
        err = &local_err;
    memset(out, 0, sizeof *out);
    yaml_document_t doc;
    bool loaded = false;
    int rc = rules_yaml_load(path, &doc, &loaded, err);
    yaml_node_t *root = NULL;
    if (!rc)
        rc = rules_yaml_root(path, &doc, &root, "ccr and tcr API keys", err);
    if (!rc && !root)
        rc = ferry_err_set(err, FERRY_EINVAL, "%.*s holds no API key", RULES_SHOW_MAX, path);
    for (yaml_node_pair_t *p = root ? root->data.mapping.pairs.start : NULL;
         !rc && p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        const char *side = rules_yaml_scalar(path, k, "a side", err);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        if (!side)
            rc = err->code;
        else if (strcmp(side, "ccr") == 0)
            rc = api_keys_side(path, &doc, v, &out->ccr_id, &out->ccr_key, err);
        else if (strcmp(side, "tcr") == 0)
            rc = api_keys_side(path, &doc, v, &out->tcr_id, &out->tcr_key, err);
        else
            rc = ferry_err_set(err, FERRY_EINVAL, "%.*s:%zu: unknown side '%.*s' (ccr, tcr)",
                               RULES_SHOW_MAX, path, rules_yaml_line(k), RULES_SHOW_MAX, side);
    }
    if (loaded)
        yaml_document_delete(&doc);
    if (rc)
        api_keys_clear(out);
    return rc;
}
