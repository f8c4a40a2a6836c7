/* Unit test of events: both push-notification formats, and what they may not carry. */
#include <stdio.h>
#include <string.h>

#include "coordinator/events.h"
#include "testlib.h"

static char seen[1024];

static void note(void *ud, const char *repo, const char *tag)
{
    (void)ud;
    size_t n = strlen(seen);
    snprintf(seen + n, sizeof seen - n, "%s:%s;", repo, tag ? tag : "*");
}

static int parse(const char *body, size_t *skipped)
{
    seen[0] = '\0';
    return events_parse(body, strlen(body), note, NULL, skipped, NULL);
}

static void test_distribution(void)
{
    size_t skipped = 0;
    const char *body =
        "{\"events\": ["
        "{\"action\": \"push\", \"target\": {\"mediaType\": "
        "\"application/vnd.docker.image.rootfs.diff.tar.gzip\", \"repository\": \"ns/app\", "
        "\"digest\": \"sha256:aa\"}},"
        "{\"action\": \"push\", \"target\": {\"mediaType\": "
        "\"application/vnd.oci.image.manifest.v1+json\", \"repository\": \"ns/app\", \"tag\": "
        "\"v1\"}},"
        "{\"action\": \"pull\", \"target\": {\"repository\": \"ns/app\", \"tag\": \"v1\"}},"
        "{\"action\": \"push\", \"target\": {\"mediaType\": "
        "\"application/vnd.oci.image.index.v1+json\", \"repository\": \"ns/multi\"}},"
        "{\"action\": \"push\", \"target\": {\"repository\": \"x/../../victim\", \"tag\": "
        "\"prod\"}},"
        "{\"action\": \"push\", \"target\": {\"repository\": \"ns/app\", \"tag\": \"v1/../x\"}}"
        "]}";
    CHECK_INT(parse(body, &skipped), 0);
    CHECK_STR(seen, "ns/app:v1;ns/multi:*;");
    CHECK_INT(skipped, 4);
}

static void test_harbor(void)
{
    size_t skipped = 0;
    const char *body = "{\"type\": \"PUSH_ARTIFACT\", \"occur_at\": 1700000000, \"operator\": "
                       "\"admin\", \"event_data\": {\"resources\": [{\"digest\": \"sha256:bb\", "
                       "\"tag\": \"2.0\", \"resource_url\": \"tcr.example/team/web:2.0\"}], "
                       "\"repository\": {\"name\": \"web\", \"namespace\": \"team\", "
                       "\"repo_full_name\": \"team/web\", \"repo_type\": \"private\"}}}";
    CHECK_INT(parse(body, &skipped), 0);
    CHECK_STR(seen, "team/web:2.0;");
    CHECK_INT(parse("{\"type\": \"DELETE_ARTIFACT\", \"event_data\": {}}", &skipped), 0);
    CHECK_STR(seen, "");
}

static void test_refused(void)
{
    ferry_err_t err;
    seen[0] = '\0';
    CHECK_INT(events_parse("[1,2]", 5, note, NULL, NULL, &err), FERRY_EINVAL);
    CHECK_INT(events_parse("{\"hello\": 1}", 12, note, NULL, NULL, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "not a registry notification");
    CHECK_INT(events_parse("{}", EVENTS_BODY_MAX + 1, note, NULL, NULL, &err), FERRY_ETOOBIG);
    CHECK_INT(events_parse("{\"events\": [], \"events\": []}", 28, note, NULL, NULL, &err),
              FERRY_EINVAL);
}

int main(void)
{
    test_distribution();
    test_harbor();
    test_refused();
    return test_report();
}
