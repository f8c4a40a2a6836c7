/* yaml — a manifest or values file as `ferry rewrite` sees it: read whole,
 * parsed with libyaml's event parser into a small tree that keeps every
 * node's byte offsets, and the edits and notes made against those offsets.
 * An edit splices new text at exactly the old scalar's bytes in its own
 * quoting style, so nothing else of the file changes. */
#include "coordinator/rewrite/rw.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Longest note about one reference ("left ...: reason"). */
#define RW_NOTE_MAX 2048

static void rw_node_free(rw_node_t *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->n_items; i++)
        rw_node_free(node->items[i]);
    free(node->items);
    free(node->value);
    free(node);
}

void rw_file_free(rw_file_t *f)
{
    for (size_t i = 0; i < f->n_docs; i++)
        rw_node_free(f->docs[i]);
    free(f->docs);
    for (size_t i = 0; i < f->n_edits; i++)
        free(f->edits[i].text);
    free(f->edits);
    for (size_t i = 0; i < f->n_notes; i++)
        free(f->notes[i].text);
    free(f->notes);
    free(f->text);
    memset(f, 0, sizeof *f);
}

/* Adds a note about offset; the text is formatted and its control characters
 * replaced. 0 or FERRY_ENOMEM. */
int rw_note(rw_file_t *f, size_t offset, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    rw_note_t *grown =
        n < 0 ? NULL : rw_grow(f->notes, &f->cap_notes, f->n_notes + 1, sizeof *grown);
    if (!grown) {
        if (n >= 0)
            free(text);
        return FERRY_ENOMEM;
    }
    f->notes = grown;
    if (strlen(text) > RW_NOTE_MAX)
        memcpy(text + RW_NOTE_MAX - 3, "...", 4);
    rw_sanitize(text);
    f->notes[f->n_notes] = (rw_note_t){.offset = offset, .order = f->n_notes, .text = text};
    f->n_notes++;
    return 0;
}

/* Adds the edit [start, end) → text (copied). 0 or FERRY_ENOMEM. */
int rw_edit(rw_file_t *f, size_t start, size_t end, const char *text)
{
    rw_edit_t *grown = rw_grow(f->edits, &f->cap_edits, f->n_edits + 1, sizeof *grown);
    if (!grown)
        return FERRY_ENOMEM;
    f->edits = grown;
    char *copy = strdup(text);
    if (!copy)
        return FERRY_ENOMEM;
    f->edits[f->n_edits++] = (rw_edit_t){.start = start, .end = end, .text = copy};
    return 0;
}

/* Reads path into f. 0; FERRY_EIO, FERRY_ETOOBIG, FERRY_EINVAL (not UTF-8),
 * FERRY_ENOMEM, with the message "PATH: ...". */
int rw_file_read(rw_file_t *f, const char *path, ferry_err_t *err)
{
    f->path = path;
    /* The state before reading, so that a change made after it is noticed
     * before writing (a change made while reading shows as a size apart). */
    if (stat(path, &f->st) != 0)
        return ferry_err_set(err, FERRY_EIO, "%s: error: cannot read: %s", path, strerror(errno));
    ferry_err_t why;
    int rc = fbuf_read_file(path, REWRITE_FILE_MAX, FBUF_FILE_REGULAR, &f->text, &f->len, &why);
    if (rc == FERRY_ETOOBIG)
        return ferry_err_set(err, rc, "%s: error: larger than %d bytes", path, REWRITE_FILE_MAX);
    if (rc == FERRY_ENOMEM)
        return ferry_err_set(err, rc, "%s: error: out of memory", path);
    if (rc < 0)
        return ferry_err_set(err, FERRY_EIO, "%s: error: cannot read: %s", path, why.message);
    if (f->len != (size_t)f->st.st_size)
        return ferry_err_set(err, FERRY_EIO, "%s: error: the file changed while being read", path);
    f->text[f->len] = '\0';
    const unsigned char *u = (const unsigned char *)f->text;
    if (f->len >= 2 && ((u[0] == 0xfe && u[1] == 0xff) || (u[0] == 0xff && u[1] == 0xfe))) {
        return ferry_err_set(err, FERRY_EINVAL, "%s:1:1: error: UTF-16 text; only UTF-8 is read",
                             path);
    }
    f->bom = (f->len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) ? 3 : 0;
    f->mark_offset = f->bom;
    const char *newline = memchr(f->text, '\n', f->len);
    f->eol = (newline && newline > f->text && newline[-1] == '\r') ? "\r\n" : "\n";
    return 0;
}

/* The byte offset of libyaml's mark index, which counts characters (a CR LF
 * pair as two) after the byte order mark. Marks come mostly in order, so a
 * cursor makes the walk linear. */
static size_t rw_offset(rw_file_t *f, size_t index)
{
    if (index < f->mark_index) {
        f->mark_index = 0;
        f->mark_offset = f->bom;
    }
    while (f->mark_index < index && f->mark_offset < f->len) {
        f->mark_offset++;
        while (f->mark_offset < f->len && ((unsigned char)f->text[f->mark_offset] & 0xc0) == 0x80)
            f->mark_offset++;
        f->mark_index++;
    }
    return f->mark_offset;
}

/* A place in a file: a byte offset with its 1-based line and column (in
 * characters, the byte order mark not counted). */
typedef struct rw_place {
    size_t offset;
    size_t line;
    size_t column;
} rw_place_t;

/* Moves *place forward to offset (from the start when offset lies behind
 * it), so that walking places in order is linear. */
static void rw_place_seek(const rw_file_t *f, rw_place_t *place, size_t offset)
{
    if (offset < place->offset || place->line == 0)
        *place = (rw_place_t){.offset = 0, .line = 1, .column = 1};
    for (; place->offset < offset && place->offset < f->len; place->offset++) {
        unsigned char c = (unsigned char)f->text[place->offset];
        if (c == '\n') {
            place->line++;
            place->column = 1;
        } else if ((c & 0xc0) != 0x80 && place->offset >= f->bom) {
            place->column++;
        }
    }
}

static int rw_yaml_error(rw_file_t *f, const yaml_parser_t *parser, ferry_err_t *err)
{
    const char *problem = parser->problem ? parser->problem : "invalid YAML";
    if (parser->error == YAML_MEMORY_ERROR)
        return ferry_err_set(err, FERRY_ENOMEM, "%s: error: out of memory", f->path);
    if (parser->error == YAML_READER_ERROR) {
        rw_place_t place = {0};
        rw_place_seek(f, &place, parser->problem_offset);
        return ferry_err_set(err, FERRY_EINVAL, "%s:%zu:%zu: error: %s", f->path, place.line,
                             place.column, problem);
    }
    size_t line = parser->problem_mark.line + 1, column = parser->problem_mark.column + 1;
    if (parser->context)
        return ferry_err_set(err, FERRY_EINVAL, "%s:%zu:%zu: error: %s, %s at line %zu, column %zu",
                             f->path, line, column, problem, parser->context,
                             parser->context_mark.line + 1, parser->context_mark.column + 1);
    return ferry_err_set(err, FERRY_EINVAL, "%s:%zu:%zu: error: %s", f->path, line, column,
                         problem);
}

/* Makes the node of an event and attaches it to its parent (the innermost
 * open collection) or as a document root. */
static int rw_node_add(rw_file_t *f, rw_node_t **stack, size_t depth, const yaml_event_t *event,
                       rw_node_t **out)
{
    rw_node_t *node = calloc(1, sizeof *node);
    if (!node)
        return FERRY_ENOMEM;
    node->start = rw_offset(f, event->start_mark.index);
    node->end = rw_offset(f, event->end_mark.index);
    switch (event->type) {
    case YAML_SCALAR_EVENT:
        node->kind = RW_SCALAR;
        node->value_len = event->data.scalar.length;
        node->value = malloc(node->value_len + 1);
        if (!node->value)
            goto oom;
        memcpy(node->value, event->data.scalar.value, node->value_len);
        node->value[node->value_len] = '\0';
        node->style = event->data.scalar.style;
        break;
    case YAML_SEQUENCE_START_EVENT:
        node->kind = RW_SEQUENCE;
        node->flow = event->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
        break;
    case YAML_MAPPING_START_EVENT:
        node->kind = RW_MAPPING;
        node->flow = event->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
        break;
    default:
        node->kind = RW_ALIAS;
        break;
    }
    if (depth == 0) {
        rw_node_t **grown = rw_grow(f->docs, &f->cap_docs, f->n_docs + 1, sizeof *grown);
        if (!grown)
            goto oom;
        f->docs = grown;
        f->docs[f->n_docs++] = node;
    } else {
        rw_node_t *parent = stack[depth - 1];
        rw_node_t **grown =
            rw_grow(parent->items, &parent->cap_items, parent->n_items + 1, sizeof *grown);
        if (!grown)
            goto oom;
        parent->items = grown;
        parent->items[parent->n_items++] = node;
    }
    *out = node;
    return 0;
oom:
    rw_node_free(node);
    return FERRY_ENOMEM;
}

/* Parses every document of f into f->docs. 0; FERRY_EINVAL ("PATH:L:C:
 * error: ..."), FERRY_ETOOBIG, FERRY_ENOMEM. */
int rw_file_parse(rw_file_t *f, ferry_err_t *err)
{
    yaml_parser_t parser;
    yaml_event_t event;
    rw_node_t *stack[REWRITE_DEPTH_MAX];
    size_t depth = 0;
    bool have_event = false, done = false;
    int rc = 0;

    if (!yaml_parser_initialize(&parser))
        return ferry_err_set(err, FERRY_ENOMEM, "%s: error: out of memory", f->path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)f->text, f->len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &event)) {
            rc = rw_yaml_error(f, &parser, err);
            goto out;
        }
        have_event = true;
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            bool opens =
                event.type == YAML_SEQUENCE_START_EVENT || event.type == YAML_MAPPING_START_EVENT;
            if (++f->n_nodes > REWRITE_NODES_MAX) {
                rc = ferry_err_set(err, FERRY_ETOOBIG, "%s:%zu:%zu: error: more than %d YAML nodes",
                                   f->path, event.start_mark.line + 1, event.start_mark.column + 1,
                                   REWRITE_NODES_MAX);
                goto out;
            }
            if (opens && depth == REWRITE_DEPTH_MAX) {
                rc = ferry_err_set(
                    err, FERRY_ETOOBIG, "%s:%zu:%zu: error: nested deeper than %d levels", f->path,
                    event.start_mark.line + 1, event.start_mark.column + 1, REWRITE_DEPTH_MAX);
                goto out;
            }
            rw_node_t *node = NULL;
            if (rw_node_add(f, stack, depth, &event, &node) != 0) {
                rc = ferry_err_set(err, FERRY_ENOMEM, "%s: error: out of memory", f->path);
                goto out;
            }
            if (opens)
                stack[depth++] = node;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            /* libyaml pairs these with their starts: depth is never 0 here. */
            if (depth > 0)
                stack[--depth]->end = rw_offset(f, event.end_mark.index);
            break;
        default:
            break;
        }
        yaml_event_delete(&event);
        have_event = false;
    }
out:
    if (have_event)
        yaml_event_delete(&event);
    yaml_parser_delete(&parser);
    return rc;
}

bool rw_is_scalar(const rw_node_t *node, const char *value)
{
    return node && node->kind == RW_SCALAR && strlen(node->value) == node->value_len &&
           (!value || strcmp(node->value, value) == 0);
}

/* The value of key in a mapping (the first, should a key repeat), or NULL;
 * the key itself goes to *key_out when not NULL. */
rw_node_t *rw_get(const rw_node_t *mapping, const char *key, rw_node_t **key_out)
{
    if (!mapping || mapping->kind != RW_MAPPING)
        return NULL;
    for (size_t i = 0; i + 1 < mapping->n_items; i += 2) {
        if (rw_is_scalar(mapping->items[i], key)) {
            if (key_out)
                *key_out = mapping->items[i];
            return mapping->items[i + 1];
        }
    }
    return NULL;
}

/* Where the raw text of a scalar starts, when it is one the splicer edits:
 * a plain, single- or double-quoted scalar on one line whose text holds no
 * escape, which every image reference, repository and tag is in practice.
 * The check compares the bytes before its end with the value (and quotes),
 * which also steps over an &anchor or !tag before it. */
bool rw_scalar_span(const rw_file_t *f, const rw_node_t *node, size_t *start)
{
    if (!rw_is_scalar(node, NULL) || node->value_len == 0)
        return false;
    char quote;
    switch (node->style) {
    case YAML_PLAIN_SCALAR_STYLE:
        quote = 0;
        break;
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        quote = '\'';
        break;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        quote = '"';
        break;
    default:
        return false;
    }
    size_t raw = node->value_len + (quote ? 2 : 0);
    if (node->end > f->len || raw > node->end || node->end - raw < node->start)
        return false;
    size_t s = node->end - raw;
    if (quote && (f->text[s] != quote || f->text[node->end - 1] != quote))
        return false;
    if (memcmp(f->text + s + (quote ? 1 : 0), node->value, node->value_len) != 0)
        return false;
    if (memchr(node->value, '\n', node->value_len) || memchr(node->value, '\r', node->value_len))
        return false;
    *start = s;
    return true;
}

/* True when value can be written as a plain scalar in block and flow context
 * alike: it opens with a letter or digit and holds only characters of image
 * references. */
static bool rw_plain_safe(const char *value)
{
    if (!((*value >= 'a' && *value <= 'z') || (*value >= 'A' && *value <= 'Z') ||
          (*value >= '0' && *value <= '9')))
        return false;
    for (const char *p = value; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@+", *p))
            return false;
    return true;
}

/* Adds the edit turning scalar node (spliceable: see rw_scalar_span) into
 * value, written in the node's quoting style; a plain scalar becomes double
 * quoted only when value could not stay plain. 0 or FERRY_ENOMEM. */
int rw_edit_scalar(rw_file_t *f, const rw_node_t *node, const char *value)
{
    size_t start = 0;
    if (!rw_scalar_span(f, node, &start))
        return FERRY_EINVAL;
    char *text = NULL;
    if (node->style == YAML_SINGLE_QUOTED_SCALAR_STYLE)
        text = rw_concat("'", value, "'", NULL);
    else if (node->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE || !rw_plain_safe(value))
        text = rw_concat("\"", value, "\"", NULL);
    else
        text = strdup(value);
    int rc = text ? rw_edit(f, start, node->end, text) : FERRY_ENOMEM;
    free(text);
    return rc;
}

/* The offset just past the last character of a node's content: for a block
 * collection, libyaml's end mark lies past trailing comments and blank lines,
 * so this looks inside instead. */
size_t rw_content_end(const rw_node_t *node)
{
    if ((node->kind == RW_MAPPING || node->kind == RW_SEQUENCE) && !node->flow)
        return node->n_items ? rw_content_end(node->items[node->n_items - 1]) : node->start;
    return node->end;
}

size_t rw_line_start(const rw_file_t *f, size_t offset)
{
    while (offset > 0 && f->text[offset - 1] != '\n')
        offset--;
    return offset;
}

/* The offset just past the line ending of the line holding offset, or the end
 * of the text. */
size_t rw_line_next(const rw_file_t *f, size_t offset)
{
    const char *newline = memchr(f->text + offset, '\n', f->len - offset);
    return newline ? (size_t)(newline - f->text) + 1 : f->len;
}

/* True when only spaces stand between the start of offset's line and offset. */
bool rw_line_indented_to(const rw_file_t *f, size_t offset)
{
    for (size_t i = rw_line_start(f, offset); i < offset; i++)
        if (f->text[i] != ' ')
            return false;
    return true;
}

static int rw_edit_compare(const void *a, const void *b)
{
    const rw_edit_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    /* An insertion goes before a replacement at the same place. */
    return (x->end > y->end) - (x->end < y->end);
}

/* The text of f with its edits applied, into *out (the caller frees it).
 * 0, FERRY_EINVAL when two edits overlap (a bug: the message says so),
 * FERRY_ENOMEM. */
int rw_file_apply(rw_file_t *f, fbuf_t *out, ferry_err_t *err)
{
    size_t at = 0;
    int rc = 0;
    if (f->n_edits > 1)
        qsort(f->edits, f->n_edits, sizeof *f->edits, rw_edit_compare);
    for (size_t i = 0; i < f->n_edits && !rc; i++) {
        const rw_edit_t *e = &f->edits[i];
        if (e->start < at || e->end > f->len)
            return ferry_err_set(err, FERRY_EINVAL,
                                 "%s: error: overlapping changes (a ferry bug); "
                                 "file left untouched",
                                 f->path);
        rc = fbuf_append(out, f->text + at, e->start - at);
        if (!rc)
            rc = fbuf_puts(out, e->text);
        at = e->end;
    }
    if (!rc)
        rc = fbuf_append(out, f->text + at, f->len - at);
    if (rc)
        return ferry_err_set(err, rc, "%s: error: out of memory", f->path);
    return 0;
}

static int rw_note_compare(const void *a, const void *b)
{
    const rw_note_t *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

void rw_print_notes(rw_file_t *f, FILE *errout)
{
    if (f->n_notes > 1)
        qsort(f->notes, f->n_notes, sizeof *f->notes, rw_note_compare);
    rw_place_t place = {0};
    for (size_t i = 0; i < f->n_notes; i++) {
        rw_place_seek(f, &place, f->notes[i].offset);
        fprintf(errout, "%s:%zu:%zu: %s\n", f->path, place.line, place.column, f->notes[i].text);
    }
}
