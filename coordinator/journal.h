/* journal — a crash-safe, append-only record of finished work (blobs and
 * manifests), so a restarted migration does not redo it.
 *
 * The file is text, one record a line: "<crc32c of key, 8 hex> <key>\n",
 * each appended with a single write(2). The first record is a header
 * "ferry-journal v1 <run key>" naming the migration the journal belongs to.
 * A process killed at any moment leaves at most one torn record, at the end,
 * which the next open drops. Not thread safe; one process at a time (the
 * file is locked while open). */
#ifndef FERRY_JOURNAL_H
#define FERRY_JOURNAL_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest key of a record. */
#define JOURNAL_KEY_MAX 4096
/* Longest run key. */
#define JOURNAL_RUN_KEY_MAX 256
/* Largest journal file read on open. */
#define JOURNAL_FILE_MAX (1024L * 1024 * 1024)

typedef struct journal journal_t;

/* Opens the journal at path, creating it (mode 0644) when absent, and replays
 * its records. A torn or corrupt last record is dropped and cut off the file
 * (counted by journal_torn), so new records never merge with it. run_key
 * (printable, no spaces, 1-JOURNAL_RUN_KEY_MAX characters; a hash of the
 * migration's arguments) must match the journal's latest header; with force,
 * a mismatching journal is adopted: its records are kept and a new header is
 * appended. Returns a new journal the caller closes with journal_close, or
 * NULL with err set: FERRY_EINVAL for a corrupt record before the last one
 * ("journal FILE: line N is corrupt (...)"), a file that is not a journal, a
 * journal of another migration ("journal FILE belongs to another migration
 * (...)") or a bad run key; FERRY_EEXIST when another process holds the
 * journal open; FERRY_ETOOBIG past JOURNAL_FILE_MAX; FERRY_EIO; FERRY_ENOMEM. */
journal_t *journal_open(const char *path, const char *run_key, bool force, ferry_err_t *err);

/* Flushes pending records to disk (fdatasync), closes the file and frees the
 * journal; accepts NULL and a NULL *self_p, and nulls the pointer. Use
 * journal_sync first to learn whether the flush failed. */
void journal_close(journal_t **self_p);

/* Has key been recorded (in this run or an earlier one)? */
bool journal_has(const journal_t *j, const char *key);

/* Records key, e.g. "blob 127.0.0.1:5001/ns/repo@sha256:...", with one
 * write(2) of its whole line: once this returns 0 the record survives the
 * process being killed, and survives a power loss after the next fdatasync
 * (at most a second later, and at journal_sync and journal_close). Recording
 * a key already present does nothing. FERRY_EINVAL for an empty key, one
 * longer than JOURNAL_KEY_MAX, or holding a newline or starting with
 * "ferry-journal "; FERRY_EIO when the write fails (the partial line is cut
 * off again; if even that fails the journal refuses further records);
 * FERRY_ENOMEM. */
int journal_record(journal_t *j, const char *key, ferry_err_t *err);

/* Forces records written so far to disk. 0 or FERRY_EIO. */
int journal_sync(journal_t *j, ferry_err_t *err);

/* Records in the journal, headers not counted. */
size_t journal_count(const journal_t *j);

/* Torn or corrupt trailing records dropped on open: 0 or 1. */
size_t journal_torn(const journal_t *j);

#endif
