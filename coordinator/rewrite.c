/* rewrite — `ferry rewrite`. Each file is parsed with libyaml's event parser
 * into a small tree that keeps every node's byte offsets; the image
 * references found in it are decided against the migration report (or --map
 * prefixes), and each change is an edit splicing new text at exactly the old
 * scalar's bytes in its own quoting style. Nothing else of the file is
 * touched. The changes are shown as a unified diff and, with --write, applied
 * by replacing each file atomically. */
#include "coordinator/rewrite.h"
#include "common/buf.h"

#include "common/creds.h"
#include "common/err.h"
#include "common/ref.h"
#include "common/strmap.h"
#include "coordinator/report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* Directory levels searched below a PATH. */
#define RW_DIR_DEPTH_MAX 64
/* --map options. */
#define RW_MAPS_MAX 64
/* Line edits the diff searches for a shortest script; past them it shows
 * the changed middle of the file as one replacement (still a correct diff). */
#define RW_DIFF_EDITS_MAX 1000
/* Lines of context around a hunk. */
#define RW_DIFF_CONTEXT 3
/* Cap of one file's diff text: every line removed and added, with headers. */
#define RW_DIFF_MAX (3 * (size_t)REWRITE_FILE_MAX + 4096)
/* Longest note about one reference ("left ...: reason"). */
#define RW_NOTE_MAX 2048
/* Longest Kubernetes object name (a DNS subdomain) and namespace (a label). */
#define RW_K8S_NAME_MAX  253
#define RW_K8S_LABEL_MAX 63

/* ---------------------------------------------------------------------------
 * The parsed file */

enum rw_kind { RW_SCALAR, RW_MAPPING, RW_SEQUENCE, RW_ALIAS };

typedef struct rw_node rw_node_t;
struct rw_node {
    enum rw_kind kind;         /* what the node is */
    size_t start;              /* byte offset of its first character, &anchor or !tag included */
    size_t end;                /* byte offset just past it; a block collection's is where
                                  libyaml ended it, which may be the next line */
    char *value;               /* a scalar's value, NUL-terminated; owned; NULL otherwise */
    size_t value_len;          /* its length in bytes (a value may hold a NUL) */
    yaml_scalar_style_t style; /* a scalar's style */
    bool flow;                 /* a collection written in flow style, [...] or {...} */
    rw_node_t **items;         /* mapping: key, value, key, value...; sequence: items; owned */
    size_t n_items;            /* items used */
    size_t cap_items;          /* items allocated */
};

/* One change: bytes [start, end) of the file become text. */
typedef struct rw_edit {
    size_t start; /* first byte replaced */
    size_t end;   /* byte just past the replaced ones; start for an insertion */
    char *text;   /* the new bytes; owned */
} rw_edit_t;

/* A message about a place in the file, printed as "PATH:LINE:COL: text". */
typedef struct rw_note {
    size_t offset; /* byte offset it is about */
    size_t order;  /* order added, to keep equal offsets stable when sorted */
    char *text;    /* owned */
} rw_note_t;

typedef struct rw_file {
    const char *path;   /* as the user named it or as found in a directory; borrowed */
    char *text;         /* the file's bytes, NUL-terminated; owned */
    size_t len;         /* bytes in text */
    struct stat st;     /* as read: the mode to keep, and to notice a change before writing */
    size_t bom;         /* 3 when text opens with a UTF-8 byte order mark (libyaml skips it) */
    const char *eol;    /* line ending of inserted lines: that of the first line */
    size_t mark_index;  /* cursor turning libyaml's character indexes into byte offsets: */
    size_t mark_offset; /*   a character index and its byte offset */
    size_t n_nodes;     /* nodes parsed, against REWRITE_NODES_MAX */
    rw_node_t **docs;   /* the root of each document; owned */
    size_t n_docs;      /* documents */
    size_t cap_docs;    /* roots allocated */
    rw_edit_t *edits;   /* changes, in the order found; owned */
    size_t n_edits;     /* changes */
    size_t cap_edits;   /* changes allocated */
    rw_note_t *notes;   /* messages; owned */
    size_t n_notes;     /* messages */
    size_t cap_notes;   /* messages allocated */
} rw_file_t;

/* One --map OLD=NEW. */
typedef struct rw_map {
    char *old_prefix; /* "host[/path]"; owned */
    char *new_prefix; /* "host[/path]"; owned */
} rw_map_t;

typedef struct rw_run {
    FILE *out;                  /* the diff */
    FILE *errout;               /* notes, errors, the summary */
    bool write;                 /* --write */
    bool pin_digests;           /* --pin-digests */
    const char *pull_secret;    /* --pull-secret NAME, or NULL; borrowed from argv */
    rw_map_t maps[RW_MAPS_MAX]; /* --map options */
    size_t n_maps;              /* --map options given */
    report_t *report;           /* --report, or NULL; owned */
    strmap_t *by_tag;           /* "host/repo:tag" of a report source → its item */
    strmap_t *by_digest;        /* "host/repo@digest" of a source → its item */
    strmap_t *target_names;     /* "host/repo" of every usable item's target → NULL */
    size_t files;               /* files read */
    size_t files_changed;       /* files with a change (written, with --write) */
    size_t files_failed;        /* files left untouched because of an error */
    size_t found;               /* image references found */
    size_t rewritten;           /* references changed */
    size_t up_to_date;          /* references already naming the new registry */
    size_t left;                /* references left as they were, with a note */
} rw_run_t;

/* Grows an array to hold need elements of size bytes. Returns the array, which
 * may have moved, or NULL when out of memory (the old array is untouched). */
static void *rw_grow(void *array, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return array;
    size_t new_cap = *cap ? *cap : 8;
    while (new_cap < need)
        new_cap *= 2;
    if (new_cap > SIZE_MAX / size)
        return NULL;
    void *grown = realloc(array, new_cap * size);
    if (grown)
        *cap = new_cap;
    return grown;
}

/* A new string "a" "b" ... of the given parts, or NULL when out of memory. */
static char *rw_concat(const char *first, ...)
{
    va_list ap;
    size_t len = 0;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        len += strlen(s);
    va_end(ap);
    char *text = malloc(len + 1);
    if (!text)
        return NULL;
    char *p = text;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        size_t n = strlen(s);
        memcpy(p, s, n);
        p += n;
    }
    va_end(ap);
    *p = '\0';
    return text;
}

/* Replaces control characters by '?', so text from a report or a file
 * cannot drive the terminal. */
static void rw_sanitize(char *text)
{
    for (unsigned char *p = (unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

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

static void rw_file_free(rw_file_t *f)
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
static int rw_note(rw_file_t *f, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rw_note(rw_file_t *f, size_t offset, const char *fmt, ...)
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
static int rw_edit(rw_file_t *f, size_t start, size_t end, const char *text)
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

/* ---------------------------------------------------------------------------
 * Reading and parsing */

/* Reads path into f. 0; FERRY_EIO, FERRY_ETOOBIG, FERRY_EINVAL (not UTF-8),
 * FERRY_ENOMEM, with the message "PATH: ...". */
static int rw_file_read(rw_file_t *f, const char *path, ferry_err_t *err)
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
static int rw_file_parse(rw_file_t *f, ferry_err_t *err)
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

/* ---------------------------------------------------------------------------
 * Looking at nodes */

static bool rw_is_scalar(const rw_node_t *node, const char *value)
{
    return node && node->kind == RW_SCALAR && strlen(node->value) == node->value_len &&
           (!value || strcmp(node->value, value) == 0);
}

/* The value of key in a mapping (the first, should a key repeat), or NULL;
 * the key itself goes to *key_out when not NULL. */
static rw_node_t *rw_get(const rw_node_t *mapping, const char *key, rw_node_t **key_out)
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
static bool rw_scalar_span(const rw_file_t *f, const rw_node_t *node, size_t *start)
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
static int rw_edit_scalar(rw_file_t *f, const rw_node_t *node, const char *value)
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
static size_t rw_content_end(const rw_node_t *node)
{
    if ((node->kind == RW_MAPPING || node->kind == RW_SEQUENCE) && !node->flow)
        return node->n_items ? rw_content_end(node->items[node->n_items - 1]) : node->start;
    return node->end;
}

static size_t rw_line_start(const rw_file_t *f, size_t offset)
{
    while (offset > 0 && f->text[offset - 1] != '\n')
        offset--;
    return offset;
}

/* The offset just past the line ending of the line holding offset, or the end
 * of the text. */
static size_t rw_line_next(const rw_file_t *f, size_t offset)
{
    const char *newline = memchr(f->text + offset, '\n', f->len - offset);
    return newline ? (size_t)(newline - f->text) + 1 : f->len;
}

/* True when only spaces stand between the start of offset's line and offset. */
static bool rw_line_indented_to(const rw_file_t *f, size_t offset)
{
    for (size_t i = rw_line_start(f, offset); i < offset; i++)
        if (f->text[i] != ' ')
            return false;
    return true;
}

/* ---------------------------------------------------------------------------
 * References and the decision to rewrite */

/* Parses an image reference as a container runtime reads it: a first
 * component without '.' or ':' that is not "localhost" is a Docker Hub path
 * ("nginx" is docker.io/library/nginx), and index.docker.io and
 * registry-1.docker.io are docker.io. NULL when text is no reference (a
 * template, a word, a URL) or out of memory. */
static ref_t *rw_ref_parse(const char *text)
{
    ref_t *ref = NULL;
    char *full = NULL;
    const char *slash = strchr(text, '/');
    size_t first = slash ? (size_t)(slash - text) : strlen(text);
    bool hub = !slash || (!memchr(text, '.', first) && !memchr(text, ':', first) &&
                          !(first == 9 && memcmp(text, "localhost", 9) == 0));
    if (hub) {
        full = rw_concat(slash ? "docker.io/" : "docker.io/library/", text, NULL);
        if (!full)
            goto out;
    }
    if (ref_parse(&ref, full ? full : text, NULL) != 0)
        goto out;
    if (strcmp(ref->registry, "index.docker.io") == 0 ||
        strcmp(ref->registry, "registry-1.docker.io") == 0) {
        char *docker = strdup("docker.io");
        if (!docker) {
            ref_destroy(&ref);
            goto out;
        }
        free(ref->registry);
        ref->registry = docker;
    }
    if (strcmp(ref->registry, "docker.io") == 0 && !strchr(ref->repository, '/')) {
        char *library = rw_concat("library/", ref->repository, NULL);
        if (!library) {
            ref_destroy(&ref);
            goto out;
        }
        free(ref->repository);
        ref->repository = library;
    }
out:
    free(full);
    return ref;
}

static bool rw_item_usable(const report_item_t *item)
{
    return item->status == REPORT_MIGRATED || item->status == REPORT_SKIPPED;
}

enum rw_decision { RW_LEFT, RW_UP_TO_DATE, RW_REWRITE };

/* Parses "NAME[:TAG][@DIGEST]" into *fresh. RW_REWRITE, or RW_LEFT with the
 * reason in *reason. */
static int rw_fresh_ref(const char *name, const char *tag, const char *digest, ref_t **fresh,
                        char **reason, const char *what)
{
    ferry_err_t err;
    char *text = rw_concat(name, tag ? ":" : "", tag ? tag : "", digest ? "@" : "",
                           digest ? digest : "", NULL);
    if (!text)
        return FERRY_ENOMEM;
    int rc = ref_parse(fresh, text, &err);
    free(text);
    if (rc == FERRY_ENOMEM)
        return rc;
    if (rc) {
        *reason = rw_concat(what, ": ", err.message, NULL);
        return *reason ? RW_LEFT : FERRY_ENOMEM;
    }
    return RW_REWRITE;
}

/* Decides ref against the report. Returns RW_REWRITE with the new reference
 * in *fresh (the caller destroys it), RW_UP_TO_DATE, RW_LEFT with the reason
 * in *reason (the caller frees it), or FERRY_ENOMEM. */
static int rw_decide_report(const rw_run_t *run, const ref_t *ref, const char *name, ref_t **fresh,
                            char **reason)
{
    const report_item_t *item = NULL;
    ref_t *target = NULL;
    char *key = NULL;
    int rc;
    if (ref->digest) {
        key = rw_concat(name, "@", ref->digest, NULL);
        if (!key)
            return FERRY_ENOMEM;
        item = strmap_get(run->by_digest, key);
        free(key);
    }
    if (!item) {
        key = rw_concat(name, ":", ref->tag ? ref->tag : "latest", NULL);
        if (!key)
            return FERRY_ENOMEM;
        item = strmap_get(run->by_tag, key);
        free(key);
        if (item && ref->digest && item->digest && rw_item_usable(item) &&
            strcmp(item->digest, ref->digest) != 0) {
            *reason = rw_concat("the report migrated this tag with another digest (", item->digest,
                                ")", NULL);
            return *reason ? RW_LEFT : FERRY_ENOMEM;
        }
    }
    if (!item) {
        if (strmap_has(run->target_names, name))
            return RW_UP_TO_DATE;
        *reason = strdup("not in the report");
        return *reason ? RW_LEFT : FERRY_ENOMEM;
    }
    if (!rw_item_usable(item)) {
        *reason = rw_concat("failed in the report: ", item->error ? item->error : "no reason given",
                            NULL);
        return *reason ? RW_LEFT : FERRY_ENOMEM;
    }
    if (!item->target || !(target = rw_ref_parse(item->target))) {
        *reason = strdup("the report gives no valid target");
        return *reason ? RW_LEFT : FERRY_ENOMEM;
    }
    char *target_name = rw_concat(target->registry, "/", target->repository, NULL);
    if (!target_name) {
        ref_destroy(&target);
        return FERRY_ENOMEM;
    }
    const char *digest = ref->digest ? ref->digest : run->pin_digests ? item->digest : NULL;
    rc = rw_fresh_ref(target_name, ref->tag, digest, fresh, reason, "invalid target in the report");
    free(target_name);
    ref_destroy(&target);
    return rc;
}

/* True when name is prefix or lies under it ("a.io/ns" holds "a.io/ns/app"). */
static bool rw_under(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

/* Decides ref against the --map prefixes, as rw_decide_report. */
static int rw_decide_map(const rw_run_t *run, const ref_t *ref, const char *name, ref_t **fresh,
                         char **reason)
{
    const rw_map_t *best = NULL;
    for (size_t i = 0; i < run->n_maps; i++)
        if (rw_under(name, run->maps[i].old_prefix) &&
            (!best || strlen(run->maps[i].old_prefix) > strlen(best->old_prefix)))
            best = &run->maps[i];
    if (!best) {
        for (size_t i = 0; i < run->n_maps; i++)
            if (rw_under(name, run->maps[i].new_prefix))
                return RW_UP_TO_DATE;
        *reason = strdup("no mapping");
        return *reason ? RW_LEFT : FERRY_ENOMEM;
    }
    char *mapped = rw_concat(best->new_prefix, name + strlen(best->old_prefix), NULL);
    if (!mapped)
        return FERRY_ENOMEM;
    int rc = rw_fresh_ref(mapped, ref->tag, ref->digest, fresh, reason,
                          "the mapping gives an invalid reference");
    free(mapped);
    return rc;
}

/* One image reference found: the scalar of an "image:" field, or the
 * registry (optional), repository and tag scalars of a Helm values mapping.
 * Counts it, decides it, and adds its edits or a note. *rewritten is set when
 * it changed. 0 or FERRY_ENOMEM. */
static int rw_reference(rw_run_t *run, rw_file_t *f, const rw_node_t *image,
                        const rw_node_t *registry, const rw_node_t *repository,
                        const rw_node_t *tag, bool *rewritten)
{
    char *text = NULL, *name = NULL, *reason = NULL, *formatted = NULL, *repo_text = NULL,
         *tag_text = NULL;
    ref_t *ref = NULL, *fresh = NULL;
    int rc = 0;
    const rw_node_t *at = image ? image : repository;
    if (image)
        text = strdup(image->value);
    else
        text = rw_concat(registry ? registry->value : "", registry ? "/" : "", repository->value,
                         ":", tag->value, NULL);
    if (!text)
        goto oom;
    ref = rw_ref_parse(text);
    if (!ref)
        goto out; /* not a reference: a template, a word */
    name = rw_concat(ref->registry, "/", ref->repository, NULL);
    if (!name)
        goto oom;
    run->found++;

    size_t at_start = at->start;
    bool spliceable = rw_scalar_span(f, at, &at_start);
    if (!image)
        spliceable = spliceable && rw_scalar_span(f, tag, &(size_t){0}) &&
                     (!registry || rw_scalar_span(f, registry, &(size_t){0}));
    if (!spliceable) {
        run->left++;
        rc = rw_note(f, at_start,
                     "left %s: written in a form ferry does not edit "
                     "(a block, multi-line or escaped scalar)",
                     text);
        goto out;
    }
    int decision = run->report ? rw_decide_report(run, ref, name, &fresh, &reason)
                               : rw_decide_map(run, ref, name, &fresh, &reason);
    if (decision < 0)
        goto oom;
    if (decision == RW_LEFT) {
        run->left++;
        rc = rw_note(f, at_start, "left %s: %s", text, reason);
        goto out;
    }
    if (decision == RW_UP_TO_DATE) {
        run->up_to_date++;
        goto out;
    }

    bool changed = false;
    if (image) {
        formatted = ref_format(fresh);
        if (!formatted)
            goto oom;
        if (strcmp(formatted, image->value) != 0) {
            rc = rw_edit_scalar(f, image, formatted);
            changed = true;
        }
    } else {
        /* Without a registry field the host goes into the repository. */
        repo_text = registry ? strdup(fresh->repository)
                             : rw_concat(fresh->registry, "/", fresh->repository, NULL);
        tag_text = rw_concat(fresh->tag ? fresh->tag : "latest", fresh->digest ? "@" : "",
                             fresh->digest ? fresh->digest : "", NULL);
        if (!repo_text || !tag_text)
            goto oom;
        if (registry && strcmp(registry->value, fresh->registry) != 0) {
            changed = true;
            rc = rw_edit_scalar(f, registry, fresh->registry);
        }
        if (!rc && strcmp(repository->value, repo_text) != 0) {
            changed = true;
            rc = rw_edit_scalar(f, repository, repo_text);
        }
        if (!rc && strcmp(tag->value, tag_text) != 0) {
            changed = true;
            rc = rw_edit_scalar(f, tag, tag_text);
        }
    }
    if (rc)
        goto out;
    if (changed) {
        run->rewritten++;
        *rewritten = true;
    } else {
        run->up_to_date++;
    }
    goto out;
oom:
    rc = FERRY_ENOMEM;
out:
    free(text);
    free(name);
    free(reason);
    free(formatted);
    free(repo_text);
    free(tag_text);
    ref_destroy(&ref);
    ref_destroy(&fresh);
    return rc;
}

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
static int rw_pull_secret(const rw_run_t *run, rw_file_t *f, const rw_node_t *spec)
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
 * Walking Kubernetes objects and Helm values */

/* The image fields of a pod spec's containers, initContainers and
 * ephemeralContainers; then imagePullSecrets when one changed. */
static int rw_pod_spec(rw_run_t *run, rw_file_t *f, const rw_node_t *spec)
{
    static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
    bool rewritten = false;
    int rc = 0;
    if (!spec || spec->kind != RW_MAPPING)
        return 0;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0] && !rc; i++) {
        const rw_node_t *containers = rw_get(spec, lists[i], NULL);
        if (!containers || containers->kind != RW_SEQUENCE)
            continue;
        for (size_t j = 0; j < containers->n_items && !rc; j++) {
            const rw_node_t *image = rw_get(containers->items[j], "image", NULL);
            if (rw_is_scalar(image, NULL))
                rc = rw_reference(run, f, image, NULL, NULL, NULL, &rewritten);
        }
    }
    if (!rc && rewritten && run->pull_secret)
        rc = rw_pull_secret(run, f, spec);
    return rc;
}

/* Where each kind of workload keeps its pod spec. */
static const struct {
    const char *kind;
    const char *path[6];
} rw_workloads[] = {
    {"Pod", {"spec"}},
    {"PodTemplate", {"template", "spec"}},
    {"Deployment", {"spec", "template", "spec"}},
    {"StatefulSet", {"spec", "template", "spec"}},
    {"DaemonSet", {"spec", "template", "spec"}},
    {"ReplicaSet", {"spec", "template", "spec"}},
    {"ReplicationController", {"spec", "template", "spec"}},
    {"Job", {"spec", "template", "spec"}},
    {"CronJob", {"spec", "jobTemplate", "spec", "template", "spec"}},
};

/* A Kubernetes object: a workload's pod spec, or the items of a List. */
static int rw_object(rw_run_t *run, rw_file_t *f, const rw_node_t *object)
{
    const rw_node_t *kind = rw_get(object, "kind", NULL);
    int rc = 0;
    if (!rw_is_scalar(kind, NULL))
        return 0;
    size_t kind_len = strlen(kind->value);
    if (kind_len >= 4 && strcmp(kind->value + kind_len - 4, "List") == 0) {
        const rw_node_t *items = rw_get(object, "items", NULL);
        for (size_t i = 0; items && items->kind == RW_SEQUENCE && i < items->n_items && !rc; i++)
            rc = rw_object(run, f, items->items[i]);
        return rc;
    }
    for (size_t i = 0; i < sizeof rw_workloads / sizeof rw_workloads[0]; i++) {
        if (strcmp(kind->value, rw_workloads[i].kind) != 0)
            continue;
        const rw_node_t *node = object;
        for (size_t j = 0; node && rw_workloads[i].path[j]; j++)
            node = rw_get(node, rw_workloads[i].path[j], NULL);
        return rw_pod_spec(run, f, node);
    }
    return 0;
}

/* Returns a scalar with a non-empty value, or NULL. */
static const rw_node_t *rw_text(const rw_node_t *node)
{
    return rw_is_scalar(node, NULL) && node->value_len > 0 ? node : NULL;
}

/* A Helm values tree: every "image:" string, and every mapping with
 * "repository" and "tag" (and "registry", when set). */
static int rw_values(rw_run_t *run, rw_file_t *f, const rw_node_t *node)
{
    bool rewritten = false;
    int rc = 0;
    if (node->kind == RW_MAPPING) {
        const rw_node_t *image = rw_text(rw_get(node, "image", NULL));
        const rw_node_t *repository = rw_text(rw_get(node, "repository", NULL));
        const rw_node_t *tag = rw_text(rw_get(node, "tag", NULL));
        if (image)
            rc = rw_reference(run, f, image, NULL, NULL, NULL, &rewritten);
        if (!rc && repository && tag)
            rc = rw_reference(run, f, NULL, rw_text(rw_get(node, "registry", NULL)), repository,
                              tag, &rewritten);
        for (size_t i = 1; i < node->n_items && !rc; i += 2)
            rc = rw_values(run, f, node->items[i]);
    } else if (node->kind == RW_SEQUENCE) {
        for (size_t i = 0; i < node->n_items && !rc; i++)
            rc = rw_values(run, f, node->items[i]);
    }
    return rc;
}

/* Every document: an object with apiVersion and kind is read as Kubernetes,
 * anything else as Helm values. 0 or FERRY_ENOMEM. */
static int rw_file_scan(rw_run_t *run, rw_file_t *f)
{
    int rc = 0;
    for (size_t i = 0; i < f->n_docs && !rc; i++) {
        const rw_node_t *doc = f->docs[i];
        if (rw_is_scalar(rw_get(doc, "apiVersion", NULL), NULL) &&
            rw_is_scalar(rw_get(doc, "kind", NULL), NULL))
            rc = rw_object(run, f, doc);
        else
            rc = rw_values(run, f, doc);
    }
    return rc;
}

/* ---------------------------------------------------------------------------
 * Applying edits, the diff, writing */

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
static int rw_file_apply(rw_file_t *f, fbuf_t *out, ferry_err_t *err)
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

typedef struct rw_line {
    const char *text; /* the line, with its line ending; borrowed */
    size_t len;       /* bytes, line ending included */
    uint64_t hash;    /* FNV-1a of the bytes, to compare quickly */
} rw_line_t;

/* Splits text into lines; the last may lack a line ending. 0 or FERRY_ENOMEM. */
static int rw_lines(const char *text, size_t len, rw_line_t **out, size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n')
            n++;
    if (len > 0 && text[len - 1] != '\n')
        n++;
    rw_line_t *lines = calloc(n ? n : 1, sizeof *lines);
    if (!lines)
        return FERRY_ENOMEM;
    size_t start = 0, k = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\n' && i + 1 < len)
            continue;
        size_t end = i + 1;
        uint64_t hash = 14695981039346656037ULL;
        for (size_t j = start; j < end; j++)
            hash = (hash ^ (unsigned char)text[j]) * 1099511628211ULL;
        lines[k++] = (rw_line_t){.text = text + start, .len = end - start, .hash = hash};
        start = end;
    }
    *out = lines;
    *n_out = n;
    return 0;
}

static bool rw_line_eq(const rw_line_t *a, const rw_line_t *b)
{
    return a->hash == b->hash && a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

/* The shortest edit script from a[0..n) to b[0..m) (Myers, "An O(ND)
 * difference algorithm", 1986) as ' ', '-' and '+' written to ops (room for
 * n + m), its length in *n_ops. Past RW_DIFF_EDITS_MAX edits it deletes all
 * and inserts all. 0 or FERRY_ENOMEM. */
static int rw_myers(const rw_line_t *a, size_t n, const rw_line_t *b, size_t m, char *ops,
                    size_t *n_ops)
{
    ptrdiff_t dmax = (ptrdiff_t)(n + m < RW_DIFF_EDITS_MAX ? n + m : RW_DIFF_EDITS_MAX);
    ptrdiff_t off = dmax + 1, found = -1, N = (ptrdiff_t)n, M = (ptrdiff_t)m;
    ptrdiff_t *v = calloc((size_t)(2 * dmax + 3), sizeof *v);
    ptrdiff_t **trace = calloc((size_t)dmax + 1, sizeof *trace);
    int rc = 0;
    if (!v || !trace)
        goto oom;
    for (ptrdiff_t d = 0; d <= dmax && found < 0; d++) {
        for (ptrdiff_t k = -d; k <= d; k += 2) {
            ptrdiff_t x = (k == -d || (k != d && v[off + k - 1] < v[off + k + 1]))
                              ? v[off + k + 1]
                              : v[off + k - 1] + 1;
            ptrdiff_t y = x - k;
            while (x < N && y < M && rw_line_eq(&a[x], &b[y])) {
                x++;
                y++;
            }
            v[off + k] = x;
            if (x >= N && y >= M) {
                found = d;
                break;
            }
        }
        /* The diagonals -d..d after round d, for the way back. */
        trace[d] = malloc((size_t)(2 * d + 1) * sizeof **trace);
        if (!trace[d])
            goto oom;
        memcpy(trace[d], v + off - d, (size_t)(2 * d + 1) * sizeof **trace);
    }
    if (found < 0) {
        memset(ops, '-', n);
        memset(ops + n, '+', m);
        *n_ops = n + m;
        goto out;
    }
    size_t pos = (n + m + (size_t)found) / 2;
    *n_ops = pos;
    ptrdiff_t x = N, y = M;
    for (ptrdiff_t d = found; d > 0; d--) {
        const ptrdiff_t *prev = trace[d - 1] + (d - 1); /* prev[k] for k in -(d-1)..d-1 */
        ptrdiff_t k = x - y;
        bool down = k == -d || (k != d && prev[k - 1] < prev[k + 1]);
        ptrdiff_t prev_k = down ? k + 1 : k - 1;
        ptrdiff_t prev_x = prev[prev_k], prev_y = prev_x - prev_k;
        while (x > prev_x && y > prev_y) {
            ops[--pos] = ' ';
            x--;
            y--;
        }
        ops[--pos] = down ? '+' : '-';
        x = prev_x;
        y = prev_y;
    }
    while (x > 0 && y > 0) {
        ops[--pos] = ' ';
        x--;
        y--;
    }
    goto out;
oom:
    rc = FERRY_ENOMEM;
out:
    if (trace)
        for (ptrdiff_t d = 0; d <= dmax; d++)
            free(trace[d]);
    free(trace);
    free(v);
    return rc;
}

/* "l,n" of a hunk header, as diff writes it: "l" when n is 1, and the line
 * before the hunk when n is 0. */
static int rw_range(fbuf_t *out, size_t first, size_t count)
{
    if (count == 1)
        return fbuf_printf(out, "%zu", first + 1);
    return fbuf_printf(out, "%zu,%zu", count == 0 ? first : first + 1, count);
}

static int rw_diff_line(fbuf_t *out, char mark, const rw_line_t *line)
{
    int rc = fbuf_append(out, &mark, 1);
    if (!rc)
        rc = fbuf_append(out, line->text, line->len);
    if (!rc && (line->len == 0 || line->text[line->len - 1] != '\n'))
        rc = fbuf_puts(out, "\n\\ No newline at end of file\n");
    return rc;
}

/* Writes the hunks of a complete edit script. */
static int rw_hunks(fbuf_t *out, const char *ops, size_t n_ops, const rw_line_t *a,
                    const rw_line_t *b)
{
    size_t op = 0, ai = 0, bi = 0; /* the next op, and the lines before it */
    int rc = 0;
    while (!rc) {
        size_t change = op;
        while (change < n_ops && ops[change] == ' ')
            change++;
        if (change == n_ops)
            break;
        /* The hunk opens RW_DIFF_CONTEXT lines before its first change... */
        size_t start = change - op > RW_DIFF_CONTEXT ? change - RW_DIFF_CONTEXT : op;
        ai += start - op;
        bi += start - op;
        /* ...and runs until RW_DIFF_CONTEXT lines after a change that no
         * other follows within 2 * RW_DIFF_CONTEXT lines. */
        size_t end = change;
        for (;;) {
            while (end < n_ops && ops[end] != ' ')
                end++;
            size_t next = end;
            while (next < n_ops && ops[next] == ' ')
                next++;
            if (next < n_ops && next - end <= 2 * RW_DIFF_CONTEXT) {
                end = next;
                continue;
            }
            end = next - end > RW_DIFF_CONTEXT ? end + RW_DIFF_CONTEXT : next;
            break;
        }
        size_t a_count = 0, b_count = 0;
        for (size_t i = start; i < end; i++) {
            a_count += ops[i] != '+';
            b_count += ops[i] != '-';
        }
        rc = fbuf_puts(out, "@@ -");
        if (!rc)
            rc = rw_range(out, ai, a_count);
        if (!rc)
            rc = fbuf_puts(out, " +");
        if (!rc)
            rc = rw_range(out, bi, b_count);
        if (!rc)
            rc = fbuf_puts(out, " @@\n");
        for (size_t i = start; i < end && !rc; i++) {
            if (ops[i] == '+')
                rc = rw_diff_line(out, '+', &b[bi++]);
            else if (ops[i] == '-')
                rc = rw_diff_line(out, '-', &a[ai++]);
            else {
                rc = rw_diff_line(out, ' ', &a[ai++]);
                bi++;
            }
        }
        op = end;
    }
    return rc;
}

int rewrite_diff(fbuf_t *out, const char *path, const char *old_text, size_t old_len,
                 const char *new_text, size_t new_len)
{
    rw_line_t *a = NULL, *b = NULL;
    size_t n = 0, m = 0, n_ops = 0;
    char *ops = NULL;
    int rc = 0;
    if (old_len == new_len && memcmp(old_text, new_text, old_len) == 0)
        return 0;
    rc = rw_lines(old_text, old_len, &a, &n);
    if (!rc)
        rc = rw_lines(new_text, new_len, &b, &m);
    if (rc)
        goto out;
    ops = malloc(n + m + 1);
    if (!ops) {
        rc = FERRY_ENOMEM;
        goto out;
    }
    /* Common first and last lines need no search. */
    size_t head = 0, tail = 0;
    while (head < n && head < m && rw_line_eq(&a[head], &b[head]))
        head++;
    while (tail < n - head && tail < m - head && rw_line_eq(&a[n - 1 - tail], &b[m - 1 - tail]))
        tail++;
    memset(ops, ' ', head);
    size_t middle = 0;
    rc = rw_myers(a + head, n - head - tail, b + head, m - head - tail, ops + head, &middle);
    if (rc)
        goto out;
    memset(ops + head + middle, ' ', tail);
    n_ops = head + middle + tail;

    while (*path == '/' || (path[0] == '.' && path[1] == '/'))
        path += *path == '/' ? 1 : 2;
    rc = fbuf_printf(out, "--- a/%s\n+++ b/%s\n", path, path);
    if (!rc)
        rc = rw_hunks(out, ops, n_ops, a, b);
out:
    free(ops);
    free(a);
    free(b);
    return rc;
}

/* Replaces f's file by text: a temporary file in the same directory with the
 * same mode (and owner, when allowed), fsync, rename over the file (a
 * symbolic link's target, so the link stays), fsync of the directory. Fails
 * when the file changed since it was read. 0 or FERRY_EIO. */
static int rw_write(const rw_file_t *f, const char *text, size_t len, ferry_err_t *err)
{
    char *real = realpath(f->path, NULL), *tmp = NULL;
    int fd = -1, rc = 0;
    struct stat now;
    if (!real || stat(real, &now) != 0) {
        rc = ferry_err_set(err, FERRY_EIO, "%s: error: cannot write: %s", f->path, strerror(errno));
        goto out;
    }
    if (now.st_dev != f->st.st_dev || now.st_ino != f->st.st_ino || now.st_size != f->st.st_size ||
        now.st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec) {
        rc = ferry_err_set(err, FERRY_EIO, "%s: error: changed while being rewritten; run again",
                           f->path);
        goto out;
    }
    char *slash = strrchr(real, '/');
    *slash = '\0';
    tmp = rw_concat(real, "/.", slash + 1, ".ferry-XXXXXX", NULL);
    *slash = '/';
    if (!tmp) {
        rc = ferry_err_set(err, FERRY_EIO, "%s: error: out of memory", f->path);
        goto out;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        free(tmp);
        tmp = NULL;
        rc = ferry_err_set(err, FERRY_EIO, "%s: error: cannot create a temporary file: %s", f->path,
                           strerror(errno));
        goto out;
    }
    if (fchown(fd, now.st_uid, now.st_gid) != 0) {
        /* Not allowed to give the file away: it stays ours, like an edit. */
    }
    if (fchmod(fd, now.st_mode & 07777) != 0)
        goto failed;
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto failed;
        done += (size_t)n;
    }
    if (fsync(fd) != 0)
        goto failed;
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || rename(tmp, real) != 0)
        goto failed;
    free(tmp);
    tmp = NULL;
    *slash = '\0';
    int dir = open(*real ? real : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    goto out;
failed:
    rc = ferry_err_set(err, FERRY_EIO, "%s: error: cannot write: %s", f->path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(real);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Files and directories */

static int rw_note_compare(const void *a, const void *b)
{
    const rw_note_t *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static void rw_print_notes(const rw_run_t *run, rw_file_t *f)
{
    if (f->n_notes > 1)
        qsort(f->notes, f->n_notes, sizeof *f->notes, rw_note_compare);
    rw_place_t place = {0};
    for (size_t i = 0; i < f->n_notes; i++) {
        rw_place_seek(f, &place, f->notes[i].offset);
        fprintf(run->errout, "%s:%zu:%zu: %s\n", f->path, place.line, place.column,
                f->notes[i].text);
    }
}

/* Reads, parses, decides and shows (and with --write writes) one file. An
 * error is printed and counted; the file is then left untouched. */
static void rw_file_run(rw_run_t *run, const char *path)
{
    rw_file_t f = {0};
    fbuf_t fresh, diff;
    ferry_err_t err = {0};
    int rc;
    fbuf_init(&fresh, REWRITE_FILE_MAX + (size_t)REWRITE_FILE_MAX / 2);
    fbuf_init(&diff, RW_DIFF_MAX);
    run->files++;
    rc = rw_file_read(&f, path, &err);
    if (!rc)
        rc = rw_file_parse(&f, &err);
    if (!rc) {
        rc = rw_file_scan(run, &f);
        if (rc)
            ferry_err_set(&err, rc, "%s: error: out of memory", path);
    }
    if (!rc)
        rc = rw_file_apply(&f, &fresh, &err);
    if (!rc) {
        rw_print_notes(run, &f);
        rc = rewrite_diff(&diff, path, f.text, f.len, fresh.data ? fresh.data : "", fresh.len);
        if (rc)
            ferry_err_set(&err, rc, "%s: error: the diff is too large or out of memory", path);
    }
    if (!rc && diff.len > 0) {
        fwrite(diff.data, 1, diff.len, run->out);
        if (run->write)
            rc = rw_write(&f, fresh.data, fresh.len, &err);
        if (!rc)
            run->files_changed++;
    }
    if (rc) {
        fprintf(run->errout, "%s; file left untouched\n", err.message);
        run->files_failed++;
    }
    fflush(run->out);
    fbuf_free(&diff);
    fbuf_free(&fresh);
    rw_file_free(&f);
}

static int rw_name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool rw_yaml_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* A PATH: a file (of any name) or a directory searched for *.yaml and *.yml
 * in name order, skipping hidden entries, symbolic links to directories, and
 * the templates/ of a Helm chart (Go templates, not YAML). */
static void rw_visit(rw_run_t *run, const char *path, int depth)
{
    struct stat st;
    DIR *dir = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (stat(path, &st) != 0) {
        fprintf(run->errout, "%s: error: %s\n", path, strerror(errno));
        run->files++;
        run->files_failed++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        rw_file_run(run, path);
        return;
    }
    if (depth >= RW_DIR_DEPTH_MAX) {
        fprintf(run->errout, "%s: error: more than %d directory levels; not searched\n", path,
                RW_DIR_DEPTH_MAX);
        run->files++;
        run->files_failed++;
        return;
    }
    dir = opendir(path);
    if (!dir) {
        fprintf(run->errout, "%s: error: %s\n", path, strerror(errno));
        run->files++;
        run->files_failed++;
        return;
    }
    bool chart = false;
    for (struct dirent *entry; (entry = readdir(dir));) {
        if (strcmp(entry->d_name, "Chart.yaml") == 0)
            chart = true;
        if (entry->d_name[0] == '.')
            continue;
        char **grown = rw_grow(names, &cap, n + 1, sizeof *grown);
        char *child =
            grown ? rw_concat(path, path[strlen(path) - 1] == '/' ? "" : "/", entry->d_name, NULL)
                  : NULL;
        if (grown)
            names = grown;
        if (!child) {
            fprintf(run->errout, "%s: error: out of memory\n", path);
            run->files_failed++;
            goto out;
        }
        names[n++] = child;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, rw_name_compare);
    for (size_t i = 0; i < n; i++) {
        struct stat link_st;
        const char *base = strrchr(names[i], '/') + 1;
        if (lstat(names[i], &link_st) != 0 || stat(names[i], &st) != 0)
            continue; /* gone, or a dangling link */
        if (S_ISDIR(st.st_mode)) {
            if (!S_ISLNK(link_st.st_mode) && !(chart && strcmp(base, "templates") == 0))
                rw_visit(run, names[i], depth + 1);
        } else if (S_ISREG(st.st_mode) && rw_yaml_name(base)) {
            rw_file_run(run, names[i]);
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(dir);
}

/* ---------------------------------------------------------------------------
 * The report */

/* Indexes the image items of the report at path. 0; FERRY_EINVAL when it has
 * none; the errors of report_load_json; FERRY_ENOMEM. */
static int rw_report_load(rw_run_t *run, const char *path, ferry_err_t *err)
{
    size_t images = 0;
    int rc = report_load_json(path, &run->report, err);
    if (rc)
        return rc;
    run->by_tag = strmap_new();
    run->by_digest = strmap_new();
    run->target_names = strmap_new();
    if (!run->by_tag || !run->by_digest || !run->target_names)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    for (size_t i = 0; i < report_size(run->report); i++) {
        const report_item_t *item = report_item(run->report, i);
        if (strcmp(item->kind, "image") != 0)
            continue;
        images++;
        ref_t *source = rw_ref_parse(item->source), *target = NULL;
        if (!source)
            continue;
        char *name = rw_concat(source->registry, "/", source->repository, NULL);
        char *keys[3] = {NULL, NULL, NULL};
        /* A source by tag, a source by digest, and the digest a tag had. */
        const char *const parts[3][2] = {{":", source->tag},
                                         {"@", source->digest},
                                         {"@", rw_item_usable(item) ? item->digest : NULL}};
        rc = name ? 0 : FERRY_ENOMEM;
        for (size_t k = 0; k < 3 && !rc; k++)
            if (parts[k][1] && !(keys[k] = rw_concat(name, parts[k][0], parts[k][1], NULL)))
                rc = FERRY_ENOMEM;
        for (size_t k = 0; k < 3 && !rc; k++) {
            strmap_t *map = k == 0 ? run->by_tag : run->by_digest;
            const report_item_t *known = keys[k] ? strmap_get(map, keys[k]) : NULL;
            /* A later outcome wins, but a failure never hides a success. */
            if (keys[k] && !(known && rw_item_usable(known) && !rw_item_usable(item)))
                rc = strmap_put(map, keys[k], (void *)item, NULL);
        }
        if (!rc && rw_item_usable(item) && item->target && (target = rw_ref_parse(item->target))) {
            char *target_name = rw_concat(target->registry, "/", target->repository, NULL);
            rc =
                target_name ? strmap_put(run->target_names, target_name, NULL, NULL) : FERRY_ENOMEM;
            free(target_name);
        }
        for (size_t k = 0; k < 3; k++)
            free(keys[k]);
        free(name);
        ref_destroy(&source);
        ref_destroy(&target);
        if (rc)
            return ferry_err_set(err, rc, "out of memory");
    }
    if (images == 0)
        return ferry_err_set(err, FERRY_EINVAL, "%s: the report has no image items", path);
    return 0;
}

/* ---------------------------------------------------------------------------
 * The command */

static void rw_usage(FILE *out)
{
    fprintf(out,
            "Usage: ferry rewrite --report REPORT.json [options] PATH...\n"
            "       ferry rewrite --map OLD=NEW [--map OLD=NEW...] [options] PATH...\n"
            "       ferry rewrite secret --registry HOST --creds USER:PASSWORD --name NAME\n"
            "                            [--namespace NAMESPACE]\n"
            "\n"
            "Points Kubernetes manifests and Helm values files at the registry their images\n"
            "were migrated to. Image references are the image fields of the containers,\n"
            "initContainers and ephemeralContainers of Pods, Deployments, StatefulSets,\n"
            "DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs and\n"
            "PodTemplates (also inside a List); and, in a document without apiVersion and\n"
            "kind (Helm values), every \"image:\" string and every mapping with \"repository\"\n"
            "and \"tag\" (and \"registry\", when not empty). Only the text of a rewritten\n"
            "reference changes, in its own quoting style; comments, order, quoting and\n"
            "indentation stay byte for byte. A reference by tag keeps its tag, one pinned\n"
            "by digest keeps its digest.\n"
            "\n"
            "A PATH is a file, or a directory searched recursively for *.yaml and *.yml\n"
            "(hidden entries, symbolic links to directories and the templates/ directory\n"
            "beside a Chart.yaml are skipped). Without --write nothing is written: the\n"
            "changes go to standard output as a unified diff (apply it with patch -p1).\n"
            "Notes on references left as they are, errors and a summary go to standard\n"
            "error.\n"
            "\n"
            "Options:\n"
            "  -r, --report FILE        the JSON report of a ferry migration: rewrite the\n"
            "                           images it shows migrated, or skipped because already\n"
            "                           there, to its target; leave the others, saying why\n"
            "  -m, --map OLD=NEW        instead of a report: rewrite every reference under\n"
            "                           the prefix OLD (HOST[/PATH]) to NEW; repeatable, the\n"
            "                           longest OLD wins; no NEW may overlap an OLD\n"
            "  -w, --write              apply the changes: each file is replaced atomically\n"
            "                           and keeps its mode; a symbolic link keeps pointing\n"
            "                           at the rewritten file\n"
            "      --pin-digests        with --report: write TAG@DIGEST with the digest\n"
            "                           the report gives\n"
            "      --pull-secret NAME   set imagePullSecrets to just NAME in every pod spec\n"
            "                           where a reference was rewritten\n"
            "  -h, --help               show this help and exit\n"
            "\n"
            "secret prints a kubernetes.io/dockerconfigjson Secret with the credentials\n"
            "for HOST; --creds - reads USER:PASSWORD from the first line of standard input.\n"
            "\n"
            "Exit status: 0 when every file was read (and written); 1 when the report or a\n"
            "file could not be read, parsed or written (that file is left untouched);\n"
            "2 for a usage error.\n");
}

/* True for a Kubernetes name: lower-case letters, digits, '-' and (for a DNS
 * subdomain) '.', opening and ending with a letter or digit, at most max
 * characters. */
static bool rw_k8s_name(const char *name, size_t max, bool dots)
{
    size_t n = strlen(name);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i + 1 < n) &&
            !(dots && c == '.' && i > 0 && i + 1 < n))
            return false;
    }
    return true;
}

/* Parses OLD=NEW into run->maps. 0 or FERRY_EINVAL with a message. */
static int rw_map_add(rw_run_t *run, const char *arg, ferry_err_t *err)
{
    const char *eq = strchr(arg, '=');
    ref_t *locations[2] = {NULL, NULL};
    char *texts[2] = {NULL, NULL};
    int rc = 0;
    if (run->n_maps == RW_MAPS_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "more than %d --map options", RW_MAPS_MAX);
    if (!eq)
        return ferry_err_set(err, FERRY_EINVAL, "--map %s: write OLD=NEW", arg);
    char *old_text = strndup(arg, (size_t)(eq - arg));
    if (!old_text)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    rc = ref_parse_location(&locations[0], old_text, err);
    if (!rc)
        rc = ref_parse_location(&locations[1], eq + 1, err);
    if (rc) {
        ferry_err_prefix(err, "--map %s", arg);
        goto out;
    }
    for (size_t i = 0; i < 2; i++) {
        /* "host[/path]", without a trailing '/'. */
        texts[i] = rw_concat(locations[i]->registry, *locations[i]->repository ? "/" : "",
                             locations[i]->repository, NULL);
        if (!texts[i]) {
            rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i <= run->n_maps; i++) {
        const char *other_old = i < run->n_maps ? run->maps[i].old_prefix : texts[0];
        const char *other_new = i < run->n_maps ? run->maps[i].new_prefix : texts[1];
        if (rw_under(texts[1], other_old) || rw_under(other_old, texts[1]) ||
            rw_under(other_new, texts[0]) || rw_under(texts[0], other_new)) {
            rc = ferry_err_set(err, FERRY_EINVAL,
                               "--map %s: a new prefix overlaps an old one, so a second run would "
                               "rewrite again",
                               arg);
            goto out;
        }
    }
    run->maps[run->n_maps++] = (rw_map_t){.old_prefix = texts[0], .new_prefix = texts[1]};
    texts[0] = texts[1] = NULL;
out:
    free(old_text);
    free(texts[0]);
    free(texts[1]);
    ref_destroy(&locations[0]);
    ref_destroy(&locations[1]);
    return rc;
}

enum {
    RW_OPT_PIN = 256,
    RW_OPT_PULL_SECRET,
    RW_OPT_REGISTRY,
    RW_OPT_CREDS,
    RW_OPT_NAME,
    RW_OPT_NAMESPACE
};

/* Reports a getopt failure. */
static void rw_bad_option(FILE *errout, int c, char **argv)
{
    const char *arg = argv[optind - 1];
    if (c == ':')
        fprintf(errout, "ferry rewrite: %s needs a value (see --help)\n", arg);
    else
        fprintf(errout, "ferry rewrite: unknown option %s (see --help)\n", arg);
}

/* ---------------------------------------------------------------------------
 * ferry rewrite secret */

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

static int rw_secret_main(int argc, char **argv, FILE *out, FILE *errout)
{
    static const struct option options[] = {
        {"registry", required_argument, NULL, RW_OPT_REGISTRY},
        {"creds", required_argument, NULL, RW_OPT_CREDS},
        {"name", required_argument, NULL, RW_OPT_NAME},
        {"namespace", required_argument, NULL, RW_OPT_NAMESPACE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *registry = NULL, *creds_text = NULL, *name = NULL, *namespace = NULL;
    char *line = NULL;
    creds_t creds = {0};
    fbuf_t userpass, config, encoded, manifest;
    ferry_err_t err = {0};
    int c, status = 2;
    fbuf_init(&userpass, 2 * CREDS_TEXT_MAX);
    fbuf_init(&config, 16 * CREDS_TEXT_MAX);
    fbuf_init(&encoded, 32 * CREDS_TEXT_MAX);
    fbuf_init(&manifest, 64 * CREDS_TEXT_MAX);
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case RW_OPT_REGISTRY:
            registry = optarg;
            break;
        case RW_OPT_CREDS:
            creds_text = optarg;
            break;
        case RW_OPT_NAME:
            name = optarg;
            break;
        case RW_OPT_NAMESPACE:
            namespace
            = optarg;
            break;
        case 'h':
            rw_usage(out);
            status = 0;
            goto out;
        default:
            rw_bad_option(errout, c, argv);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(errout, "ferry rewrite secret: unexpected argument %s (see --help)\n",
                argv[optind]);
        goto out;
    }
    if (!registry || !creds_text || !name) {
        fprintf(errout, "ferry rewrite secret: --registry, --creds and --name are required "
                        "(see --help)\n");
        goto out;
    }
    if (ref_validate_host(registry, &err) != 0) {
        fprintf(errout, "ferry rewrite secret: --registry: %s\n", err.message);
        goto out;
    }
    if (!rw_k8s_name(name, RW_K8S_NAME_MAX, true)) {
        fprintf(errout,
                "ferry rewrite secret: --name %s: not a Kubernetes name (lower-case "
                "letters, digits, '-' and '.')\n",
                name);
        goto out;
    }
    if (namespace && !rw_k8s_name(namespace, RW_K8S_LABEL_MAX, false)) {
        fprintf(errout,
                "ferry rewrite secret: --namespace %s: not a Kubernetes namespace "
                "(lower-case letters, digits and '-', at most %d)\n",
                namespace, RW_K8S_LABEL_MAX);
        goto out;
    }
    if (strcmp(creds_text, "-") == 0) {
        size_t size = CREDS_TEXT_MAX + 2;
        line = calloc(1, size);
        if (!line || !fgets(line, (int)size, stdin)) {
            fprintf(errout, "ferry rewrite secret: cannot read USER:PASSWORD from standard "
                            "input\n");
            status = 1;
            goto out;
        }
        line[strcspn(line, "\r\n")] = '\0';
        creds_text = line;
    }
    if (creds_parse_userpass(creds_text, &creds, &err) != 0) {
        fprintf(errout, "ferry rewrite secret: --creds: %s\n", err.message);
        goto out;
    }
    status = 1;
    int rc = fbuf_printf(&userpass, "%s:%s", creds.username, creds.password);
    if (!rc)
        rc = fbuf_puts(&config, "{\"auths\":{");
    if (!rc)
        rc = rw_json_string(&config, registry);
    if (!rc)
        rc = fbuf_puts(&config, ":{\"username\":");
    if (!rc)
        rc = rw_json_string(&config, creds.username);
    if (!rc)
        rc = fbuf_puts(&config, ",\"password\":");
    if (!rc)
        rc = rw_json_string(&config, creds.password);
    if (!rc)
        rc = fbuf_puts(&config, ",\"auth\":\"");
    if (!rc)
        rc = rw_base64(&config, (const unsigned char *)userpass.data, userpass.len);
    if (!rc)
        rc = fbuf_puts(&config, "\"}}}");
    if (!rc)
        rc = rw_base64(&encoded, (const unsigned char *)config.data, config.len);
    if (!rc)
        rc = fbuf_printf(&manifest,
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
    if (rc) {
        fprintf(errout, "ferry rewrite secret: out of memory\n");
        goto out;
    }
    if (fwrite(manifest.data, 1, manifest.len, out) != manifest.len || fflush(out) != 0) {
        fprintf(errout, "ferry rewrite secret: cannot write the Secret: %s\n", strerror(errno));
        goto out;
    }
    status = 0;
out:
    if (line) {
        explicit_bzero(line, CREDS_TEXT_MAX + 2);
        free(line);
    }
    creds_clear(&creds);
    rw_wipe(&userpass);
    rw_wipe(&config);
    rw_wipe(&encoded);
    rw_wipe(&manifest);
    return status;
}

/* ---------------------------------------------------------------------------
 * ferry rewrite */

int rewrite_run(int argc, char **argv, FILE *out, FILE *errout)
{
    static const struct option options[] = {
        {"report", required_argument, NULL, 'r'},
        {"map", required_argument, NULL, 'm'},
        {"write", no_argument, NULL, 'w'},
        {"pin-digests", no_argument, NULL, RW_OPT_PIN},
        {"pull-secret", required_argument, NULL, RW_OPT_PULL_SECRET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    rw_run_t run = {.out = out, .errout = errout};
    const char *report_path = NULL;
    ferry_err_t err = {0};
    int c, status = 2;

    if (argc >= 2 && strcmp(argv[1], "secret") == 0)
        return rw_secret_main(argc - 1, argv + 1, out, errout);
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":r:m:wh", options, NULL)) != -1) {
        switch (c) {
        case 'r':
            report_path = optarg;
            break;
        case 'm':
            if (rw_map_add(&run, optarg, &err) != 0) {
                fprintf(errout, "ferry rewrite: %s\n", err.message);
                goto out;
            }
            break;
        case 'w':
            run.write = true;
            break;
        case RW_OPT_PIN:
            run.pin_digests = true;
            break;
        case RW_OPT_PULL_SECRET:
            run.pull_secret = optarg;
            break;
        case 'h':
            rw_usage(out);
            status = 0;
            goto out;
        default:
            rw_bad_option(errout, c, argv);
            goto out;
        }
    }
    const char *problem = NULL;
    if (optind == argc)
        problem = "no PATH given";
    else if (!report_path && run.n_maps == 0)
        problem = "give --report REPORT.json or --map OLD=NEW";
    else if (report_path && run.n_maps > 0)
        problem = "--report and --map exclude each other";
    else if (run.pin_digests && !report_path)
        problem = "--pin-digests takes the digests from --report";
    if (problem) {
        fprintf(errout, "ferry rewrite: %s (see --help)\n", problem);
        goto out;
    }
    if (run.pull_secret && !rw_k8s_name(run.pull_secret, RW_K8S_NAME_MAX, true)) {
        fprintf(errout,
                "ferry rewrite: --pull-secret %s: not a Kubernetes name (lower-case "
                "letters, digits, '-' and '.')\n",
                run.pull_secret);
        goto out;
    }
    status = 1;
    if (report_path && rw_report_load(&run, report_path, &err) != 0) {
        rw_sanitize(err.message);
        fprintf(errout, "ferry rewrite: %s\n", err.message);
        goto out;
    }
    for (int i = optind; i < argc; i++)
        rw_visit(&run, argv[i], 0);
    fprintf(errout,
            "ferry rewrite: %zu references: %zu %s, %zu up to date, %zu left; %zu of %zu files %s",
            run.found, run.rewritten, run.write ? "rewritten" : "to rewrite", run.up_to_date,
            run.left, run.files_changed, run.files, run.write ? "changed" : "to change");
    if (run.files_failed)
        fprintf(errout, ", %zu failed", run.files_failed);
    fprintf(errout, "%s\n", run.write ? "" : " (dry run: --write applies the changes)");
    status = run.files_failed ? 1 : 0;
out:
    for (size_t i = 0; i < run.n_maps; i++) {
        free(run.maps[i].old_prefix);
        free(run.maps[i].new_prefix);
    }
    strmap_destroy(&run.by_tag, NULL);
    strmap_destroy(&run.by_digest, NULL);
    strmap_destroy(&run.target_names, NULL);
    report_destroy(&run.report);
    return status;
}

int rewrite_main(int argc, char **argv)
{
    return rewrite_run(argc, argv, stdout, stderr);
}
