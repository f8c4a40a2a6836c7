/* policy — which image references `ferry rewrite` changes, and to what:
 * references parsed as a container runtime reads them, decided against the
 * migration report (its migrated and skipped images, by tag or by digest) or
 * against the --map prefixes; each decision becomes edits or a note. */
#include "coordinator/rewrite/rw.h"

#include "common/ref.h"

#include <stdlib.h>
#include <string.h>

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
int rw_reference(rw_run_t *run, rw_file_t *f, const rw_node_t *image, const rw_node_t *registry,
                 const rw_node_t *repository, const rw_node_t *tag, bool *rewritten)
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

/* Indexes the image items of the report at path. 0; FERRY_EINVAL when it has
 * none; the errors of report_load_json; FERRY_ENOMEM. */
int rw_report_load(rw_run_t *run, const char *path, ferry_err_t *err)
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

/* Parses OLD=NEW into run->maps. 0 or FERRY_EINVAL with a message. */
int rw_map_add(rw_run_t *run, const char *arg, ferry_err_t *err)
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
