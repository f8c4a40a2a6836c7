/* verify — `ferry verify`: every selected tag's digest on both sides, the
 * signature tags that travel with each, and the tags only the target has. */
#include <stdio.h>
#include <string.h>

#include "coordinator/run.h"

/* Tags compared at once (two HEADs each). */
#define VERIFY_BATCH (RUN_INFLIGHT / 2)

enum verdict { V_SAME, V_DIFFERS, V_ABSENT };

typedef struct verify_item {
    reg_op_t *src, *dst; /* HEADs of the tag on both sides */
} verify_item_t;

/* Compares one image's answers; prints a line for a difference. A source
 * digest found adds the image's signature tags to compare after it. */
static int verify_one(mig_t *m, size_t image, verify_item_t *v)
{
    const run_image_t *img = &m->images[image];
    int src_rc = v->src ? reg_op_wait(v->src) : FERRY_ENOMEM;
    int dst_rc = v->dst ? reg_op_wait(v->dst) : FERRY_ENOMEM;
    char source[RUN_REF_TEXT_MAX], target[RUN_REF_TEXT_MAX];
    run_ref_text(source, sizeof source, m, img->src_ep, img->src_repo, img->ref);
    run_ref_text(target, sizeof target, m, img->dst_ep, img->dst_repo, img->dst_ref);
    const char *sd = src_rc == 0 ? reg_op_digest(v->src) : NULL;
    const char *dd = dst_rc == 0 ? reg_op_digest(v->dst) : NULL;
    int verdict = V_DIFFERS;
    if (src_rc == FERRY_ENOTFOUND && img->optional)
        verdict = V_ABSENT;
    else if (src_rc < 0)
        printf("error    %s: %s\n", source, v->src ? reg_op_error(v->src)->message : "out of memory");
    else if (dst_rc == FERRY_ENOTFOUND)
        printf("missing  %s (source %s)\n", target, sd ? sd : "?");
    else if (dst_rc < 0)
        printf("error    %s: %s\n", target, v->dst ? reg_op_error(v->dst)->message : "out of memory");
    else if (!sd || !dd || strcmp(sd, dd) != 0)
        printf("differs  %s %s != %s %s\n", source, sd ? sd : "?", target, dd ? dd : "?");
    else
        verdict = V_SAME;
    if (sd) {
        size_t first;
        inspect_signatures(m, img->repo, img->ref, sd, false, &first);
    }
    reg_op_destroy(&v->src);
    reg_op_destroy(&v->dst);
    return verdict;
}

/* Tags the target lists that the source does not (among those the
 * selection's regexes take), each printed; returns how many. */
static size_t verify_extra(const mig_t *m)
{
    size_t extra = 0;
    for (size_t i = 0; i < m->n_repos; i++) {
        const run_repo_t *r = &m->repos[i];
        if (r->ref || !r->listed || r->dst_state != DST_LISTED)
            continue;
        for (size_t j = 0; j < r->n_dst_listed; j++) {
            const char *tag = r->dst_listed[j];
            if (discover_listed(r, tag) || !select_match(r->sel, tag))
                continue;
            char target[RUN_REF_TEXT_MAX];
            run_ref_text(target, sizeof target, m, r->dst_ep, r->dst_repo, tag);
            printf("extra    %s (not at the source)\n", target);
            extra++;
        }
    }
    return extra;
}

int mig_verify(mig_t *m)
{
    m->list_targets = true;
    m->verifying = true;
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
    /* Images grow while comparing: signature tags join at the end. */
    for (size_t start = 0, end; start < m->n_images && !run_stopping(m); start = end) {
        end = start + VERIFY_BATCH < m->n_images ? start + VERIFY_BATCH : m->n_images;
        verify_item_t items[VERIFY_BATCH];
        for (size_t i = start; i < end; i++) {
            const run_image_t *img = &m->images[i];
            items[i - start].src =
                reg_manifest_head(m->eps[img->src_ep].reg, img->src_repo, img->ref, NULL, NULL);
            items[i - start].dst =
                reg_manifest_head(m->eps[img->dst_ep].reg, img->dst_repo, img->dst_ref, NULL, NULL);
        }
        for (size_t i = start; i < end; i++) {
            int verdict = verify_one(m, i, &items[i - start]);
            same += verdict == V_SAME;
            differences += verdict == V_DIFFERS;
        }
    }
    size_t extra = verify_extra(m);
    report_counts_t c;
    report_counts(m->report, &c);
    printf("verify: %zu tag(s) identical, %zu difference(s), %zu repository listing(s) failed, %zu "
           "extra at the target%s\n",
           same, differences, c.repo_failed, extra,
           m->opts.strict || !extra ? "" : " (not a difference without --strict)");
    return differences || c.repo_failed || (m->opts.strict && extra) || run_stopping(m) ? 1 : 0;
}
