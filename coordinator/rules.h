/* rules — what to migrate where: ferry's JSON rules file, image-transfer's
 * --ruleFile YAML, and image-transfer's --securityFile YAML of credentials.
 *
 * Every file is input: it is size-capped, parsed with a real parser, and
 * each rule is validated, with errors naming the file and the rule index
 * (JSON) or line (YAML). Messages never contain a password. */
#ifndef FERRY_RULES_H
#define FERRY_RULES_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>

/* Largest rules or security file read. */
#define RULES_FILE_MAX (16 * 1024 * 1024)

typedef struct rule {
    char *source; /* "host[:port]/repo[:tag|@digest]" or a location "host[:port][/prefix]"; owned */
    char *target; /* "host[:port]/repo[:tag]" or a location; owned */
    char *include;      /* tag regex (POSIX ERE), NULL = all; owned */
    char *exclude;      /* tag regex, NULL = none; owned */
    char **tags;        /* explicit tags, NULL when n_tags is 0; owned */
    size_t n_tags;      /* entries in tags */
    int latest;         /* keep the N newest tags, 0 = all */
    char **platforms;   /* "os/arch[/variant]", NULL when n_platforms is 0 = all; owned */
    size_t n_platforms; /* entries in platforms */
    size_t line;        /* YAML: the line of its source; JSON: 0 */
} rule_t;

typedef struct rules {
    rule_t *items; /* n rules in file order; owned */
    size_t n;      /* may be 0: the caller decides whether no rule is an error */
} rules_t;

/* Loads ferry's JSON rules file:
 *   {"rules": [{"source": "...", "target": "...",
 *               "tags": {"include": "^v", "exclude": "rc", "latest": 5},
 *               "platforms": ["linux/amd64"]}]}
 * "tags" may instead be a list of explicit tag names. Only "source" and
 * "target" are required. Unknown or duplicate keys are errors. A source that
 * names a tag or digest takes no tag selection; a target may name a tag only
 * when the source selects exactly one image. On success *out is new and the
 * caller frees it with rules_destroy; on failure *out is NULL and the result
 * is FERRY_EIO ("cannot read FILE: ..."), FERRY_ETOOBIG, FERRY_EINVAL
 * ("FILE:LINE:COLUMN: ..." for JSON syntax, "FILE: rules[I].FIELD: ..." for a
 * bad rule), FERRY_EUNSUPPORTED (digest algorithm) or FERRY_ENOMEM. */
int rules_load_json(const char *path, rules_t **out, ferry_err_t *err);

/* Loads image-transfer's --ruleFile YAML: a mapping source → target, sources
 * "host/ns/repo", "host/ns/repo:tag" or "host/ns/repo:t1,t2"; targets
 * "host/ns/repo" or, for a single-tag source, "host/ns/repo:tag". A list of
 * tags becomes the rule's tags (the source keeps no tag); a single tag stays
 * in the source. Duplicate sources are errors. Ownership and codes as for
 * rules_load_json; messages read "FILE:LINE: ...". An empty file gives 0
 * rules. */
int rules_load_yaml(const char *path, rules_t **out, ferry_err_t *err);

/* Frees the rules; accepts NULL and a NULL *self_p, and nulls the pointer. */
void rules_destroy(rules_t **self_p);

typedef struct security_entry {
    char *key;      /* "host[:port]" or "host[:port]/namespace"; owned */
    char *username; /* NULL when absent; owned */
    char *password; /* NULL when absent; owned, wiped on destroy, never in messages */
    bool insecure;  /* plain HTTP or unverified TLS allowed */
} security_entry_t;

typedef struct security {
    security_entry_t *items; /* n entries in file order; owned */
    size_t n;
} security_t;

/* Loads image-transfer's --securityFile YAML: a mapping "host" or
 * "host/namespace" → {username, password, insecure}; insecure is a YAML
 * boolean (true/false, yes/no, on/off). Unknown fields and duplicate keys are
 * errors. Ownership and codes as for rules_load_yaml. */
int security_load_yaml(const char *path, security_t **out, ferry_err_t *err);

/* The entry for repository ("ns/sub/repo") on host: the longest
 * "host/namespace" key whose namespace is a whole-component prefix of the
 * repository, else the "host" key (hosts compare case-insensitively). NULL
 * when none. The result is borrowed from s. */
const security_entry_t *security_lookup(const security_t *s, const char *host,
                                        const char *repository);

/* Frees the entries, wiping passwords; accepts NULL and a NULL *self_p, and
 * nulls the pointer. */
void security_destroy(security_t **self_p);

/* Tencent Cloud API keys of both sides, as image-transfer's --secretFile
 * YAML holds them: {ccr: {secretId, secretKey}, tcr: {secretId, secretKey}};
 * either side may be absent. Every string is owned and wiped on clear. */
typedef struct api_keys {
    char *ccr_id, *ccr_key; /* the Personal Edition side, NULL when absent */
    char *tcr_id, *tcr_key; /* the Enterprise Edition side, NULL when absent */
} api_keys_t;

/* Loads a --secretFile into *out (cleared first). Unknown fields are errors
 * naming the file and line; no key ever appears in a message. 0,
 * FERRY_EINVAL, FERRY_EIO, FERRY_ETOOBIG, FERRY_ENOMEM. */
int api_keys_load_yaml(api_keys_t *out, const char *path, ferry_err_t *err);
/* Wipes and frees the keys; the struct is then empty. */
void api_keys_clear(api_keys_t *k);

#endif
