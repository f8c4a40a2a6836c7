/* events — the two push-notification formats, reduced to (repository, tag). */
#include "coordinator/events.h"

#include <jansson.h>
#include <string.h>

#include "common/ref.h"

/* Media types of a manifest push (a blob push names a layer or config type). */
static const char *const events_manifest_types[] = {
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
};

static int events_is_manifest(const char *media_type)
{
    for (size_t i = 0; media_type && i < sizeof events_manifest_types / sizeof *events_manifest_types;
         i++)
        if (strcmp(media_type, events_manifest_types[i]) == 0)
            return 1;
    return 0;
}

/* Passes one push on when its names pass the grammar. */
static void events_emit(events_fn fn, void *ud, const char *repo, const char *tag, size_t *taken,
                        size_t *skipped)
{
    if (!repo || ref_validate_repository(repo, NULL) < 0 || (tag && ref_validate_tag(tag, NULL) < 0) ||
        *taken >= EVENTS_PER_BODY) {
        (*skipped)++;
        return;
    }
    (*taken)++;
    fn(ud, repo, tag);
}

/* The distribution registry's envelope: {"events": [{"action": "push",
 * "target": {"mediaType", "repository", "tag", "digest"}}]}. */
static void events_distribution(json_t *list, events_fn fn, void *ud, size_t *skipped)
{
    size_t taken = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        json_t *target = json_object_get(e, "target");
        const char *action = json_string_value(json_object_get(e, "action"));
        const char *type = json_string_value(json_object_get(target, "mediaType"));
        const char *tag = json_string_value(json_object_get(target, "tag"));
        if (!action || strcmp(action, "push") != 0 || (!tag && !events_is_manifest(type))) {
            (*skipped)++;
            continue;
        }
        events_emit(fn, ud, json_string_value(json_object_get(target, "repository")),
                    tag && *tag ? tag : NULL, &taken, skipped);
    }
}

/* Harbor's webhook: {"type": "PUSH_ARTIFACT", "event_data": {"repository":
 * {"repo_full_name"}, "resources": [{"tag", "digest"}]}}. */
static void events_harbor(json_t *doc, events_fn fn, void *ud, size_t *skipped)
{
    const char *type = json_string_value(json_object_get(doc, "type"));
    json_t *data = json_object_get(doc, "event_data");
    const char *repo =
        json_string_value(json_object_get(json_object_get(data, "repository"), "repo_full_name"));
    json_t *resources = json_object_get(data, "resources");
    if (!type || strcmp(type, "PUSH_ARTIFACT") != 0) {
        (*skipped)++;
        return;
    }
    size_t taken = 0;
    if (json_array_size(resources) == 0)
        events_emit(fn, ud, repo, NULL, &taken, skipped);
    for (size_t i = 0; i < json_array_size(resources); i++) {
        const char *tag = json_string_value(json_object_get(json_array_get(resources, i), "tag"));
        events_emit(fn, ud, repo, tag && *tag ? tag : NULL, &taken, skipped);
    }
}

int events_parse(const char *body, size_t len, events_fn fn, void *ud, size_t *skipped,
                 ferry_err_t *err)
{
    size_t skip_local = 0;
    if (!skipped)
        skipped = &skip_local;
    if (len > EVENTS_BODY_MAX)
        return ferry_err_set(err, FERRY_ETOOBIG, "event body larger than %d bytes",
                             EVENTS_BODY_MAX);
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!json_is_object(doc))
        rc = ferry_err_set(err, FERRY_EINVAL, "event body is not a JSON object (%s)", jerr.text);
    else if (json_is_array(json_object_get(doc, "events")))
        events_distribution(json_object_get(doc, "events"), fn, ud, skipped);
    else if (json_object_get(doc, "event_data"))
        events_harbor(doc, fn, ud, skipped);
    else
        rc = ferry_err_set(err, FERRY_EINVAL,
                           "not a registry notification (no \"events\") nor a Harbor webhook "
                           "(no \"event_data\")");
    json_decref(doc);
    return rc;
}
