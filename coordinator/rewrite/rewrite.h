/* rewrite — `ferry rewrite`: after a migration, points the image references
 * of Kubernetes manifests and Helm values files at the new registry, editing
 * only the referenced text so everything else stays byte for byte; and
 * `ferry rewrite secret`, a kubernetes.io/dockerconfigjson pull Secret. */
#ifndef FERRY_REWRITE_H
#define FERRY_REWRITE_H

#include "common/buf.h"

#include <stddef.h>
#include <stdio.h>

/* Largest manifest or values file read. */
#define REWRITE_FILE_MAX (16 * 1024 * 1024)
/* Deepest YAML nesting accepted in a file. */
#define REWRITE_DEPTH_MAX 256
/* Most YAML nodes (scalars, mappings, sequences, aliases) in a file. */
#define REWRITE_NODES_MAX (1024 * 1024)

/* `ferry rewrite ...` and `ferry rewrite secret ...`, with argv[0] the word
 * "rewrite": the diff (or the Secret) on stdout, notes, errors and the
 * summary on stderr. Returns the exit status: 0; 1 when a file or the report
 * could not be read, parsed or written (such a file is left untouched), or a
 * symbolic link leading out of a searched directory was not followed (see
 * --follow-symlinks); 2 for a usage error. */
int rewrite_main(int argc, char **argv);

/* rewrite_main writing to out and errout instead of stdout and stderr. */
int rewrite_run(int argc, char **argv, FILE *out, FILE *errout);

/* Appends to out the unified diff turning old_text into new_text, as
 * `diff -u` writes it but with "--- a/PATH" and "+++ b/PATH" headers (a
 * leading "./" or "/" of path dropped): hunks "@@ -l,n +l,n @@" with 3 lines
 * of context, "\ No newline at end of file" after a last line without one.
 * Appends nothing when the texts are equal. 0, FERRY_ETOOBIG past out's cap,
 * FERRY_ENOMEM. */
int rewrite_diff(fbuf_t *out, const char *path, const char *old_text, size_t old_len,
                 const char *new_text, size_t new_len);

#endif
