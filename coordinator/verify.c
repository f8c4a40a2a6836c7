/* verify — `ferry verify`: every selected tag's digest on both sides. */
#include <stdio.h>
#include <string.h>

#include "coordinator/run.h"

/* Tags compared at once (two HEADs each). */
#define VERIFY_BATCH (RUN_INFLIGHT / 2)

typedef struct verify_item {
    reg_op_t *src, *dst; /* HEADs of the tag on both sides */
} verify_item_t;

/* Compares one image's answers; prints a line for a difference and returns
 * true when both sides hold the same digest. */
static bool verify_one(const mig_t *m, const run_image_t *img, verify_item_t *v)
{
    int src_rc = v->src ? reg_op_wait(v->src) : FERRY_ENOMEM;
    int dst_rc = v->dst ? reg_op_wait(v->dst) : FERRY_ENOMEM;
    char source[RUN_REF_TEXT_MAX], target[RUN_REF_TEXT_MAX];
    run_ref_text(source, sizeof source, m, img->src_ep, img->src_repo, img->ref);
    run_ref_text(target, sizeof target, m, img->dst_ep, img->dst_repo, img->ref);
    const char *sd = src_rc == 0 ? reg_op_digest(v->src) : NULL;
    const char *dd = dst_rc == 0 ? reg_op_digest(v->dst) : NULL;
    bool same = false;
    if (src_rc < 0)
        printf("error    %s: %s\n", source, v->src ? reg_op_error(v->src)->message : "out of memory");
    else if (dst_rc == FERRY_ENOTFOUND)
        printf("missing  %s (source %s)\n", target, sd ? sd : "?");
    else if (dst_rc < 0)
        printf("error    %s: %s\n", target, v->dst ? reg_op_error(v->dst)->message : "out of memory");
    else if (!sd || !dd || strcmp(sd, dd) != 0)
        printf("differs  %s %s != %s %s\n", source, sd ? sd : "?", target, dd ? dd : "?");
    else
        same = true;
    reg_op_destroy(&v->src);
    reg_op_destroy(&v->dst);
    return same;
}

int mig_verify(mig_t *m)
{
    int rc = run_prepare(m);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->n_repos; i++) {
        run_repo_t *r = &m->repos[i];
        if (r->ref)
            inspect_image_add(m, i, r->ref);
        for (size_t j = 0; j < r->n_tags; j++)
            inspect_image_add(m, i, r->tags[j].name);
    }
    size_t differences = 0, same = 0;
    for (size_t start = 0; start < m->n_images && !run_stopping(m); start += VERIFY_BATCH) {
        size_t end = start + VERIFY_BATCH < m->n_images ? start + VERIFY_BATCH : m->n_images;
        verify_item_t items[VERIFY_BATCH];
        for (size_t i = start; i < end; i++) {
            const run_image_t *img = &m->images[i];
            items[i - start].src =
                reg_manifest_head(m->eps[img->src_ep].reg, img->src_repo, img->ref, NULL, NULL);
            items[i - start].dst =
                reg_manifest_head(m->eps[img->dst_ep].reg, img->dst_repo, img->ref, NULL, NULL);
        }
        for (size_t i = start; i < end; i++) {
            if (verify_one(m, &m->images[i], &items[i - start]))
                same++;
            else
                differences++;
        }
    }
    report_counts_t c;
    report_counts(m->report, &c);
    printf("verify: %zu tag(s) identical, %zu difference(s), %zu repository listing(s) failed\n",
           same, differences, c.repo_failed);
    return differences || c.repo_failed || run_stopping(m) ? 1 : 0;
}
