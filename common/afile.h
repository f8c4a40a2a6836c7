/* afile — replacing a file's contents all at once: readers see the old file
 * or the new one, never half of one, and a crash leaves one of them. */
#ifndef FERRY_AFILE_H
#define FERRY_AFILE_H

#include <stddef.h>

#include "common/err.h"

/* Keep the mode of the file being replaced (0644 for a new one). */
#define AFILE_KEEP_MODE (-1)

/* Writes len bytes of data to path through a temporary file created
 * exclusively beside it (a random name, O_EXCL: a planted file or symbolic
 * link there is never followed or reused), fsyncs it, renames it over path
 * and fsyncs the directory. mode is the new file's permission bits, or
 * AFILE_KEEP_MODE. On failure the temporary file is removed and path is as
 * it was. 0, or FERRY_EIO (the message names the file and the reason). */
int afile_replace(const char *path, const void *data, size_t len, int mode, ferry_err_t *err);

#endif
