/* test_plan_memory — the coordinator's heap per planned tag on a synthetic
 * migration of 100,000 tags in 1,000 repositories: each tag a manifest task,
 * two blobs every image shares and one of its own, plus the per-image
 * bookkeeping mig.c keeps beside the plan (its image record, the "selected"
 * set, the listed tag names). Prints `plan: N bytes per tag` and fails at
 * 2048 or more. Heap growth is read with mallinfo2 (or, under
 * AddressSanitizer, its allocator's count of live bytes). */
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/strmap.h"
#include "coordinator/plan.h"
#include "coordinator/report.h"
#include "proto/proto.h"
#include "testlib.h"

#if defined(__SANITIZE_ADDRESS__)
#define PM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PM_ASAN 1
#endif
#endif
#ifdef PM_ASAN
/* From the sanitizer runtime (sanitizer/allocator_interface.h, not always installed). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define PM_REPOS         1000
#define PM_TAGS_PER_REPO 100
#define PM_TAGS          (PM_REPOS * PM_TAGS_PER_REPO)
#define PM_LIMIT         2048

/* The same fields as mig.c's private image record, so the figure counts what
 * the coordinator really keeps per image. */
typedef struct pm_image {
    uint16_t src_ep, dst_ep;
    const char *src_repo, *dst_repo;
    const char *ref;
    const char *digest;
    uint8_t status;
    uint8_t fail_kind;
    bool skip_note;
    char *error;
    plan_task_t *root;
} pm_image_t;

/* Bytes of heap in use now. */
static size_t heap_in_use(void)
{
#ifdef PM_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

static void digest_of(const char *what, size_t a, size_t b, char out[DIGEST_STR_MAX])
{
    char text[128];
    int n = snprintf(text, sizeof text, "%s|%zu|%zu", what, a, b);
    digest_sha256(text, (size_t)n, out);
}

int main(void)
{
    char shared[2][DIGEST_STR_MAX];
    digest_of("shared-base", 0, 0, shared[0]);
    digest_of("shared-runtime", 0, 0, shared[1]);

    size_t start = heap_in_use();
    plan_t *p = plan_new();
    strmap_t *selected = strmap_new();
    pm_image_t *images = NULL;
    size_t n_images = 0, cap_images = 0;
    char **tag_names[PM_REPOS] = {0};
    CHECK(p != NULL);
    CHECK(selected != NULL);
    if (!p || !selected)
        return test_report();

    bool ok = true;
    for (size_t r = 0; r < PM_REPOS && ok; r++) {
        char repo[64];
        snprintf(repo, sizeof repo, "team%03zu/service-%03zu", r / 10, r);
        /* The tag list of the repository, as expand_tags keeps it. */
        tag_names[r] = calloc(PM_TAGS_PER_REPO, sizeof *tag_names[r]);
        ok = tag_names[r] != NULL;
        for (size_t t = 0; t < PM_TAGS_PER_REPO && ok; t++) {
            char tag[32], key[128], manifest[DIGEST_STR_MAX], own[DIGEST_STR_MAX];
            snprintf(tag, sizeof tag, "v1.%zu.%zu", r % 7, t);
            ok = (tag_names[r][t] = strdup(tag)) != NULL;
            /* image_add: the selected set and the image record. */
            snprintf(key, sizeof key, "%zu|%s", r, tag);
            ok = ok && strmap_put(selected, key, NULL, NULL) == 0;
            if (ok && n_images == cap_images) {
                size_t cap = cap_images ? cap_images * 2 : 256;
                pm_image_t *im = realloc(images, cap * sizeof *im);
                ok = im != NULL;
                if (ok) {
                    images = im;
                    cap_images = cap;
                }
            }
            if (!ok)
                break;
            pm_image_t *img = &images[n_images++];
            memset(img, 0, sizeof *img);
            img->dst_ep = 1;
            img->src_repo = plan_intern(p, repo);
            img->dst_repo = plan_intern(p, repo);
            img->ref = plan_intern(p, tag);
            digest_of("manifest", r, t, manifest);
            img->digest = plan_intern(p, manifest);
            /* fetch_plan: the manifest task waits for its blobs. */
            plan_task_t *m = plan_manifest(p, 0, repo, 1, repo, manifest,
                                           "application/vnd.oci.image.manifest.v1+json", tag, 1500);
            ok = m && img->src_repo && img->dst_repo && img->ref && img->digest;
            img->root = m;
            for (int b = 0; b < 3 && ok; b++) {
                if (b == 2)
                    digest_of("layer", r, t, own);
                plan_task_t *blob = plan_blob(p, 0, repo, 1, repo, b < 2 ? shared[b] : own,
                                              b < 2 ? 30 << 20 : 4 << 20);
                ok = blob && plan_depend(p, m, blob) == 0;
            }
        }
    }
    CHECK(ok);
    plan_seal(p);
    size_t planned = heap_in_use();

    /* What finish_images adds at the end: one report item per image. */
    report_t *report = report_new();
    CHECK(report != NULL);
    for (size_t i = 0; report && i < n_images; i++) {
        char source[256], target[256];
        snprintf(source, sizeof source, "src.example.com/%s:%s", images[i].src_repo, images[i].ref);
        snprintf(target, sizeof target, "dst.example.com/%s:%s", images[i].dst_repo, images[i].ref);
        if (report_add(report, "image", source, target, images[i].digest, REPORT_MIGRATED, NULL) !=
            0) {
            CHECK(0);
            break;
        }
    }
    size_t reported = heap_in_use();

    CHECK_INT(n_images, PM_TAGS);
    /* Per tag: a manifest task and its own blob; per repository: a copy or a
     * mount of each shared blob. */
    CHECK_INT(plan_task_count(p), 2 * PM_TAGS + 2 * PM_REPOS);
    size_t copies = 0, mounts = 0;
    for (size_t i = 0; i < plan_task_count(p); i++) {
        const plan_task_t *t = plan_task_at(p, i);
        copies += t->kind == PROTO_KIND_COPY_BLOB;
        mounts += t->kind == PROTO_KIND_MOUNT_BLOB;
    }
    CHECK_INT(copies, PM_TAGS + 2);
    CHECK_INT(mounts, 2 * (PM_REPOS - 1));

    size_t per_tag = planned > start ? (planned - start) / PM_TAGS : 0;
    size_t with_report = reported > start ? (reported - start) / PM_TAGS : 0;
    printf("plan: %zu bytes per tag\n", per_tag);
    printf("plan: %zu tasks, plan_memory() estimate %zu bytes per tag; %zu bytes per tag with "
           "the final report's items\n",
           plan_task_count(p), plan_memory(p) / PM_TAGS, with_report);
    fflush(stdout);
    CHECK(per_tag > 0);
    CHECK(per_tag < PM_LIMIT);

    report_destroy(&report);
    free(images);
    for (size_t r = 0; r < PM_REPOS; r++) {
        for (size_t t = 0; tag_names[r] && t < PM_TAGS_PER_REPO; t++)
            free(tag_names[r][t]);
        free(tag_names[r]);
    }
    strmap_destroy(&selected, NULL);
    plan_destroy(&p);
    return test_report();
}
