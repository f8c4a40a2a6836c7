/* rw — what the files of coordinator/rewrite/ share, and nothing outside it
 * includes: the parsed file with its edits and notes, the run's options and
 * counts, and the functions one file of the module calls in another. */
#ifndef FERRY_REWRITE_RW_H
#define FERRY_REWRITE_RW_H

#include "common/buf.h"
#include "common/creds.h"
#include "common/err.h"
#include "common/strmap.h"
#include "coordinator/report.h"
#include "coordinator/rewrite/rewrite.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <yaml.h>

/* --map options. */
#define RW_MAPS_MAX 64

/* ---------------------------------------------------------------------------
 * The parsed file (yaml.c) */

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
    const char *root;   /* the real path of the searched directory the file must lie in
                           when written, or NULL (named itself, or --follow-symlinks);
                           borrowed */
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

/* ---------------------------------------------------------------------------
 * The run: options and counts */

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
    bool follow_symlinks;       /* --follow-symlinks */
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
    size_t links_refused;       /* symbolic links out of a searched directory, not followed */
    size_t found;               /* image references found */
    size_t rewritten;           /* references changed */
    size_t up_to_date;          /* references already naming the new registry */
    size_t left;                /* references left as they were, with a note */
} rw_run_t;

/* ---------------------------------------------------------------------------
 * util.c: memory and text */

/* Grows an array to hold need elements of size bytes. Returns the array, which
 * may have moved, or NULL when out of memory (the old array is untouched). */
void *rw_grow(void *array, size_t *cap, size_t need, size_t size);

/* A new string "a" "b" ... of the given parts, up to a NULL, or NULL when out
 * of memory. The caller frees it. */
char *rw_concat(const char *first, ...);

/* Replaces control characters by '?', so text from a report or a file
 * cannot drive the terminal. */
void rw_sanitize(char *text);

/* True when name is prefix or lies under it, '/' separating the parts:
 * "a.io/ns" holds "a.io/ns/app" but not "a.io/nsx"; "/" holds every absolute
 * path. */
bool rw_under(const char *name, const char *prefix);

/* ---------------------------------------------------------------------------
 * yaml.c: the file, its nodes, its edits and notes */

/* Reads path into f. 0; FERRY_EIO, FERRY_ETOOBIG, FERRY_EINVAL (not UTF-8),
 * FERRY_ENOMEM, with the message "PATH: ...". */
int rw_file_read(rw_file_t *f, const char *path, ferry_err_t *err);

/* Parses every document of f into f->docs. 0; FERRY_EINVAL ("PATH:L:C:
 * error: ..."), FERRY_ETOOBIG, FERRY_ENOMEM. */
int rw_file_parse(rw_file_t *f, ferry_err_t *err);

/* Frees what f holds and zeroes it. */
void rw_file_free(rw_file_t *f);

/* Adds a note about offset; the text is formatted and its control characters
 * replaced. 0 or FERRY_ENOMEM. */
int rw_note(rw_file_t *f, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints f's notes in the order of the places they are about, each as
 * "PATH:LINE:COL: text". */
void rw_print_notes(rw_file_t *f, FILE *errout);

/* Adds the edit [start, end) → text (copied). 0 or FERRY_ENOMEM. */
int rw_edit(rw_file_t *f, size_t start, size_t end, const char *text);

/* Adds the edit turning scalar node (spliceable: see rw_scalar_span) into
 * value, written in the node's quoting style; a plain scalar becomes double
 * quoted only when value could not stay plain. 0, FERRY_EINVAL when the node
 * is no scalar the splicer edits, FERRY_ENOMEM. */
int rw_edit_scalar(rw_file_t *f, const rw_node_t *node, const char *value);

/* The text of f with its edits applied, appended to out. 0, FERRY_EINVAL
 * when two edits overlap (a bug: the message says so), FERRY_ENOMEM. */
int rw_file_apply(rw_file_t *f, fbuf_t *out, ferry_err_t *err);

/* True for a scalar whose value holds no NUL and, when value is not NULL,
 * equals value. */
bool rw_is_scalar(const rw_node_t *node, const char *value);

/* The value of key in a mapping (the first, should a key repeat), or NULL;
 * the key itself goes to *key_out when not NULL. */
rw_node_t *rw_get(const rw_node_t *mapping, const char *key, rw_node_t **key_out);

/* Where the raw text of a scalar starts, in *start, when it is one the
 * splicer edits: a plain, single- or double-quoted scalar on one line whose
 * text holds no escape. */
bool rw_scalar_span(const rw_file_t *f, const rw_node_t *node, size_t *start);

/* The offset just past the last character of a node's content (a block
 * collection's end mark lies past trailing comments and blank lines). */
size_t rw_content_end(const rw_node_t *node);

/* The offset where the line holding offset starts. */
size_t rw_line_start(const rw_file_t *f, size_t offset);

/* The offset just past the line ending of the line holding offset, or the end
 * of the text. */
size_t rw_line_next(const rw_file_t *f, size_t offset);

/* True when only spaces stand between the start of offset's line and offset. */
bool rw_line_indented_to(const rw_file_t *f, size_t offset);

/* ---------------------------------------------------------------------------
 * policy.c: which references change, and to what */

/* Indexes the image items of the report at path into run. 0; FERRY_EINVAL
 * when it has none; the errors of report_load_json; FERRY_ENOMEM. */
int rw_report_load(rw_run_t *run, const char *path, ferry_err_t *err);

/* Parses OLD=NEW into run->maps. 0 or FERRY_EINVAL with a message. */
int rw_map_add(rw_run_t *run, const char *arg, ferry_err_t *err);

/* One image reference found: the scalar of an "image:" field, or the
 * registry (optional), repository and tag scalars of a Helm values mapping.
 * Counts it, decides it, and adds its edits or a note. *rewritten is set when
 * it changed. 0 or FERRY_ENOMEM. */
int rw_reference(rw_run_t *run, rw_file_t *f, const rw_node_t *image, const rw_node_t *registry,
                 const rw_node_t *repository, const rw_node_t *tag, bool *rewritten);

/* ---------------------------------------------------------------------------
 * walk.c: the image references of Kubernetes objects and Helm values */

/* Every document of f: an object with apiVersion and kind is read as
 * Kubernetes, anything else as Helm values. 0 or FERRY_ENOMEM. */
int rw_file_scan(rw_run_t *run, rw_file_t *f);

/* ---------------------------------------------------------------------------
 * secret.c: pull secrets */

/* Sets imagePullSecrets of a pod spec mapping to [{name: run->pull_secret}],
 * or adds a note where it cannot. 0 or FERRY_ENOMEM. */
int rw_pull_secret(const rw_run_t *run, rw_file_t *f, const rw_node_t *spec);

/* Writes to out a kubernetes.io/dockerconfigjson Secret named name (in
 * namespace, when not NULL) holding creds for registry. Every copy of the
 * credentials is wiped. 0; FERRY_ENOMEM, FERRY_ETOOBIG or FERRY_EIO with a
 * message that holds no secret. */
int rw_secret_write(FILE *out, const char *registry, const creds_t *creds, const char *name,
                    const char *namespace, ferry_err_t *err);

/* ---------------------------------------------------------------------------
 * diff.c: showing and applying a file's changes */

/* Shows the change from f's text to fresh (f's text with its edits applied)
 * as a unified diff on run->out and, with --write, replaces the file. Sets
 * *changed when the texts differ. 0 or an error with "PATH: error: ...". */
int rw_file_commit(const rw_run_t *run, const rw_file_t *f, const fbuf_t *fresh, bool *changed,
                   ferry_err_t *err);

/* ---------------------------------------------------------------------------
 * files.c: the PATHs */

/* A PATH of the command line: a file, or a directory searched for YAML
 * files. Errors are printed and counted in run. */
void rw_path_run(rw_run_t *run, const char *path);

#endif
