/* walk — where image references sit: the containers, initContainers and
 * ephemeralContainers of every workload's pod spec (also inside a List), and
 * in Helm values every "image:" string and every mapping with "repository"
 * and "tag". Each one found goes to rw_reference (policy.c). */
#include "coordinator/rewrite/rw.h"

#include <string.h>

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
int rw_file_scan(rw_run_t *run, rw_file_t *f)
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
