/* test_rules — ferry's JSON rules, image-transfer's rule and security YAML:
 * real-looking files, then malformed and hostile ones, with exact codes and
 * the file, rule index or line in every message. */
#include "coordinator/rules.h"
#include "testlib.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/ferry-test-rules-XXXXXX";
static char path[sizeof dir + 64];

/* Writes text to a fresh file in the test directory; path holds its name. */
static const char *write_file(const char *name, const char *text)
{
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fwrite(text, 1, strlen(text), f);
    fclose(f);
    return path;
}

/* Loads JSON text expecting failure with code; returns the message. */
static const char *json_fails(const char *text, int code)
{
    static ferry_err_t err;
    ferry_err_clear(&err);
    rules_t *rules = (rules_t *)&err; /* must be reset to NULL */
    int rc = rules_load_json(write_file("bad.json", text), &rules, &err);
    CHECK_INT(rc, code);
    CHECK_INT(err.code, code);
    CHECK(rules == NULL);
    rules_destroy(&rules);
    return err.message;
}

static const char *yaml_fails(const char *text, int code)
{
    static ferry_err_t err;
    ferry_err_clear(&err);
    rules_t *rules = NULL;
    int rc = rules_load_yaml(write_file("bad.yaml", text), &rules, &err);
    CHECK_INT(rc, code);
    CHECK(rules == NULL);
    rules_destroy(&rules);
    return err.message;
}

static const char *security_fails(const char *text, int code)
{
    static ferry_err_t err;
    ferry_err_clear(&err);
    security_t *s = NULL;
    int rc = security_load_yaml(write_file("security.yaml", text), &s, &err);
    CHECK_INT(rc, code);
    CHECK(s == NULL);
    security_destroy(&s);
    return err.message;
}

static void test_json_good(void)
{
    ferry_err_t err = {0};
    rules_t *rules = NULL;
    const char *text =
        "{\n"
        "  \"rules\": [\n"
        "    {\"source\": \"ccr.ccs.tencentyun.com/team/app\",\n"
        "     \"target\": \"prod-tcr.tencentcloudcr.com/team/app\",\n"
        "     \"tags\": {\"include\": \"^v[0-9]\", \"exclude\": \"rc|beta\", \"latest\": 5},\n"
        "     \"platforms\": [\"linux/amd64\", \"linux/arm64/v8\"]},\n"
        "    {\"source\": \"127.0.0.1:5001/ns/tool\", \"target\": \"127.0.0.1:5002/mirror/tool\",\n"
        "     \"tags\": [\"1.0\", \"1.1\", \"latest\"]},\n"
        "    {\"source\": \"registry.example.com:5000\", \"target\": "
        "\"backup.example.com/mirror\"},\n"
        "    {\"source\": \"registry.example.com/base/alpine:3.19\", \"target\": "
        "\"tcr.example.com/base/alpine:3.19-mirror\"},\n"
        "    {\"source\": \"registry.example.com/one/img\", \"target\": "
        "\"tcr.example.com/one/img:stable\", \"tags\": [\"v2\"]}\n"
        "  ]\n"
        "}\n";
    int rc = rules_load_json(write_file("rules.json", text), &rules, &err);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "  %s\n", err.message);
        return;
    }
    CHECK_INT(rules->n, 5);
    rule_t *r = &rules->items[0];
    CHECK_STR(r->source, "ccr.ccs.tencentyun.com/team/app");
    CHECK_STR(r->target, "prod-tcr.tencentcloudcr.com/team/app");
    CHECK_STR(r->include, "^v[0-9]");
    CHECK_STR(r->exclude, "rc|beta");
    CHECK_INT(r->latest, 5);
    CHECK_INT(r->n_tags, 0);
    CHECK(r->tags == NULL);
    CHECK_INT(r->n_platforms, 2);
    CHECK_STR(r->platforms[1], "linux/arm64/v8");
    r = &rules->items[1];
    CHECK_INT(r->n_tags, 3);
    CHECK_STR(r->tags[0], "1.0");
    CHECK_STR(r->tags[2], "latest");
    CHECK(r->include == NULL && r->exclude == NULL);
    CHECK_INT(r->latest, 0);
    CHECK_INT(r->n_platforms, 0);
    CHECK_STR(rules->items[2].source, "registry.example.com:5000");
    CHECK_STR(rules->items[3].target, "tcr.example.com/base/alpine:3.19-mirror");
    rules_destroy(&rules);
    CHECK(rules == NULL);
    rules_destroy(&rules);
    rules_destroy(NULL);

    rc = rules_load_json(write_file("empty.json", "{\"rules\": []}"), &rules, &err);
    CHECK_INT(rc, 0);
    CHECK_INT(rules ? rules->n : 99, 0);
    rules_destroy(&rules);
}

static void test_json_bad(void)
{
    const char *m;
    m = json_fails("{\"rules\": [\n  {\"source\": \"a.io/x\",\n   \"target\": \"b.io/x\",,}\n]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.json:3:");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\"}]", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.json:1:");
    m = json_fails("", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.json:");
    m = json_fails("[1, 2]", FERRY_EINVAL);
    CHECK_CONTAINS(m, "expected an object");
    m = json_fails("{\"rule\": []}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "unknown key 'rule'");
    m = json_fails("{\"rules\": {}}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "\"rules\" must be a list");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\"}, "
                   "{\"source\": \"a.io/y\", \"taget\": \"b.io/y\"}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.json: rules[1]: unknown key 'taget'");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\", \"tags\": "
                   "{\"latets\": 3}}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "rules[0]: unknown key 'tags.latets'");
    m = json_fails(
        "{\"rules\": [{\"source\": \"a.io/x\", \"source\": \"a.io/y\", \"target\": \"b.io/x\"}]}",
        FERRY_EINVAL);
    CHECK_CONTAINS(m, "duplicate");
    m = json_fails("{\"rules\": [{\"target\": \"b.io/x\"}]}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "rules[0]: missing 'source'");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\"}]}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "rules[0]: missing 'target'");
    m = json_fails("{\"rules\": [{\"source\": 5, \"target\": \"b.io/x\"}]}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "rules[0]: source: must be a string");
    m = json_fails("{\"rules\": [\"a.io/x\"]}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "rules[0]: must be an object");
    /* References are validated with the reference grammar. */
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\"}, "
                   "{\"source\": \"a.io/Upper/Case\", \"target\": \"b.io/x\"}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.json: rules[1]: source:");
    m = json_fails("{\"rules\": [{\"source\": \"alpine\", \"target\": \"b.io/x\"}]}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "rules[0]: source:");
    CHECK_CONTAINS(m, "no registry host");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x@sha256:"
                   "0000000000000000000000000000000000000000000000000000000000000000\"}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "rules[0]: target:");
    CHECK_CONTAINS(m, "must not name a digest");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\", \"tags\": "
                   "{\"include\": \"v(\"}}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "rules[0]: tags: invalid include regex 'v('");
    CHECK_CONTAINS(m, "Unmatched");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\", \"tags\": "
                   "{\"latest\": -1}}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "tags.latest: must be 0 (all)");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\", \"tags\": "
                   "{\"latest\": 99999999999}}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "tags.latest");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\", \"tags\": "
                   "{\"latest\": 2.5}}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "tags.latest: must be an integer");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\", \"tags\": "
                   "[\"ok\", \"bad tag\"]}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "rules[0]: tags[1]:");
    m = json_fails(
        "{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\", \"tags\": [\"a\", \"a\"]}]}",
        FERRY_EINVAL);
    CHECK_CONTAINS(m, "listed twice");
    m = json_fails(
        "{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\", \"tags\": \"v1\"}]}",
        FERRY_EINVAL);
    CHECK_CONTAINS(m, "tags: must be an object");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\", \"platforms\": "
                   "[\"linux\"]}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "rules[0]: platforms[0]: invalid platform 'linux'");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x\", \"platforms\": "
                   "\"linux/amd64\"}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "platforms: must be a list of strings");
    /* Contradictions. */
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x:1.0\", \"target\": \"b.io/x\", \"tags\": "
                   "{\"latest\": 3}}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "already names one image");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x:1.0\", \"tags\": "
                   "[\"a\", \"b\"]}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(
        m, "rules[0]: target: 'b.io/x:1.0' names a tag, but the source selects several tags");
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/x:1.0\"}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "names a tag");
    /* NUL through an escape is refused by the parser. */
    m = json_fails("{\"rules\": [{\"source\": \"a.io/x\\u0000evil\", \"target\": \"b.io/x\"}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.json:1:");
}

static void test_files(void)
{
    ferry_err_t err = {0};
    rules_t *rules = NULL;
    char missing[sizeof path];
    snprintf(missing, sizeof missing, "%s/nope.json", dir);
    CHECK_INT(rules_load_json(missing, &rules, &err), FERRY_EIO);
    CHECK_CONTAINS(err.message, "cannot read ");
    CHECK_CONTAINS(err.message, "nope.json: No such file or directory");
    CHECK_INT(rules_load_yaml(missing, &rules, &err), FERRY_EIO);
    CHECK_CONTAINS(err.message, "No such file");
    security_t *s = NULL;
    CHECK_INT(security_load_yaml(missing, &s, &err), FERRY_EIO);
    CHECK_INT(rules_load_json(dir, &rules, &err), FERRY_EIO);
    CHECK_CONTAINS(err.message, "not a regular file");

    /* Past the cap: a sparse file, so the test stays cheap. */
    snprintf(path, sizeof path, "%s/huge.json", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK_INT(ftruncate(fileno(f), RULES_FILE_MAX + 1), 0);
        fclose(f);
    }
    CHECK_INT(rules_load_json(path, &rules, &err), FERRY_ETOOBIG);
    CHECK_CONTAINS(err.message, "huge.json is larger than 16777216 bytes");
    CHECK_INT(rules_load_yaml(path, &rules, &err), FERRY_ETOOBIG);
    CHECK(rules == NULL);
    unlink(path);

    /* A NULL err is allowed. */
    CHECK_INT(rules_load_json(missing, &rules, NULL), FERRY_EIO);
}

static void test_yaml_good(void)
{
    ferry_err_t err = {0};
    rules_t *rules = NULL;
    const char *text = "# image-transfer rules\n"
                       "ccr.ccs.tencentyun.com/team/app: prod-tcr.tencentcloudcr.com/team/app\n"
                       "ccr.ccs.tencentyun.com/team/web:1.0: prod-tcr.tencentcloudcr.com/team/web\n"
                       "\"ccr.ccs.tencentyun.com/team/api:1.0,1.1, latest\": "
                       "prod-tcr.tencentcloudcr.com/team/api\n"
                       "127.0.0.1:5001/ns/single:v1: '127.0.0.1:5002/ns/single:v1-copy'\n"
                       "127.0.0.1:5001/ns/one:v1,v2: 127.0.0.1:5002/ns/one\n";
    int rc = rules_load_yaml(write_file("rules.yaml", text), &rules, &err);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "  %s\n", err.message);
        return;
    }
    CHECK_INT(rules->n, 5);
    CHECK_STR(rules->items[0].source, "ccr.ccs.tencentyun.com/team/app");
    CHECK_STR(rules->items[0].target, "prod-tcr.tencentcloudcr.com/team/app");
    CHECK_INT(rules->items[0].n_tags, 0);
    CHECK_STR(rules->items[1].source, "ccr.ccs.tencentyun.com/team/web:1.0");
    CHECK_INT(rules->items[1].n_tags, 0);
    rule_t *r = &rules->items[2];
    CHECK_STR(r->source, "ccr.ccs.tencentyun.com/team/api");
    CHECK_INT(r->n_tags, 3);
    if (r->n_tags == 3) {
        CHECK_STR(r->tags[0], "1.0");
        CHECK_STR(r->tags[1], "1.1");
        CHECK_STR(r->tags[2], "latest");
    }
    CHECK_STR(rules->items[3].source, "127.0.0.1:5001/ns/single:v1");
    CHECK_STR(rules->items[3].target, "127.0.0.1:5002/ns/single:v1-copy");
    CHECK_STR(rules->items[4].source, "127.0.0.1:5001/ns/one");
    CHECK_INT(rules->items[4].n_tags, 2);
    rules_destroy(&rules);

    CHECK_INT(rules_load_yaml(write_file("empty.yaml", ""), &rules, &err), 0);
    CHECK_INT(rules ? rules->n : 99, 0);
    rules_destroy(&rules);
    /* Aliases are fine where they resolve to a string. */
    CHECK_INT(rules_load_yaml(write_file("alias.yaml", "a.io/ns/x: &t b.io/ns/x\na.io/ns/y: *t\n"),
                              &rules, &err),
              0);
    CHECK_STR(rules && rules->n == 2 ? rules->items[1].target : NULL, "b.io/ns/x");
    rules_destroy(&rules);
    CHECK_INT(rules_load_yaml(write_file("comment.yaml", "# nothing yet\n"), &rules, &err), 0);
    CHECK_INT(rules ? rules->n : 99, 0);
    rules_destroy(&rules);
}

static void test_yaml_bad(void)
{
    const char *m;
    m = yaml_fails("a.io/ns/x: b.io/ns/x\na.io/ns/y: [b.io/ns/y\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:3:");
    m = yaml_fails("a.io/ns/x: b.io/ns/x\n  bad: indent\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:2:");
    m = yaml_fails("a.io/ns/x: b.io/ns/x\n\ta.io/ns/y: b.io/ns/y\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:2:");
    m = yaml_fails("- a.io/ns/x\n- b.io/ns/x\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:1: expected a mapping of source to target");
    m = yaml_fails("a.io/ns/x: b.io/ns/x\n---\nc.io/ns/x: d.io/ns/x\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "more than one YAML document");
    m = yaml_fails("a.io/ns/x: b.io/ns/x\nc.io/ns/y:\n  target: d.io/ns/y\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:3: a target must be a plain string");
    m = yaml_fails("a.io/ns/x: b.io/ns/x\na.io/ns/y:\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:2: source 'a.io/ns/y' has no target");
    m = yaml_fails("a.io/ns/x: b.io/ns/x\n\na.io/ns/x: c.io/ns/x\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:3: source 'a.io/ns/x' is already mapped on line 1");
    m = yaml_fails("a.io/ns/x: b.io/ns/x\nA.io/NS/x: b.io/ns/y\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:2: source:");
    m = yaml_fails("a.io/ns/x: b.io/ns/x\n\"a.io/ns/y:v1,,v2\": b.io/ns/y\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:2: tags[1]:");
    m = yaml_fails("\"a.io/ns/y:v1,v2\": b.io/ns/y:v3\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:1: target:");
    m = yaml_fails("\"a.io/ns/x\\0evil\": b.io/ns/x\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:1: a source contains a NUL character");
    m = yaml_fails("a.io/ns/x: b.io/ns/x\nbad\x01: x\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:2:");
    m = yaml_fails("just a scalar\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "expected a mapping");
    /* Aliases resolve to their node; one aliasing a mapping is no target. */
    m = yaml_fails("x: &m {a: b}\na.io/ns/x: *m\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:1: a target must be a plain string");
    /* Deep flow nesting (which libyaml handles in quadratic time) is
     * refused at once. */
    size_t depth = 1 << 20;
    char *deep = malloc(depth + 8);
    memcpy(deep, "a: ", 3);
    memset(deep + 3, '[', depth);
    deep[depth + 3] = '\0';
    time_t before = time(NULL);
    m = yaml_fails(deep, FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.yaml:1: nested deeper than 16 levels");
    CHECK(time(NULL) - before < 5);
    free(deep);
}

static void test_security(void)
{
    ferry_err_t err = {0};
    security_t *s = NULL;
    const char *text = "ccr.ccs.tencentyun.com:\n"
                       "  username: \"100012345678\"\n"
                       "  password: \"s3cr3t:with:colons\"\n"
                       "ccr.ccs.tencentyun.com/team:\n"
                       "  username: team-robot\n"
                       "  password: team-pass\n"
                       "ccr.ccs.tencentyun.com/team/sub:\n"
                       "  username: sub-robot\n"
                       "  password: sub-pass\n"
                       "127.0.0.1:5001:\n"
                       "  insecure: true\n"
                       "public.example.com:\n";
    int rc = security_load_yaml(write_file("security.yaml", text), &s, &err);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "  %s\n", err.message);
        return;
    }
    CHECK_INT(s->n, 5);
    CHECK_STR(s->items[0].username, "100012345678");
    CHECK_STR(s->items[0].password, "s3cr3t:with:colons");
    CHECK(!s->items[0].insecure);
    CHECK(s->items[3].insecure);
    CHECK(s->items[3].username == NULL && s->items[3].password == NULL);
    CHECK(s->items[4].username == NULL);

    const security_entry_t *e = security_lookup(s, "ccr.ccs.tencentyun.com", "team/app");
    CHECK_STR(e ? e->username : NULL, "team-robot");
    e = security_lookup(s, "CCR.ccs.tencentyun.com", "team/sub/app");
    CHECK_STR(e ? e->username : NULL, "sub-robot");
    e = security_lookup(s, "ccr.ccs.tencentyun.com", "teamx/app");
    CHECK_STR(e ? e->username : NULL, "100012345678");
    e = security_lookup(s, "ccr.ccs.tencentyun.com", "team");
    CHECK_STR(e ? e->username : NULL, "100012345678");
    e = security_lookup(s, "ccr.ccs.tencentyun.com", NULL);
    CHECK_STR(e ? e->username : NULL, "100012345678");
    CHECK(security_lookup(s, "127.0.0.1:5001", "x/y") == &s->items[3]);
    CHECK(security_lookup(s, "127.0.0.1", "x/y") == NULL);
    CHECK(security_lookup(s, "127.0.0.1:50011", "x/y") == NULL);
    CHECK(security_lookup(s, "other.io", "x") == NULL);
    CHECK(security_lookup(NULL, "other.io", "x") == NULL);
    security_destroy(&s);
    CHECK(s == NULL);
    security_destroy(&s);

    const char *m;
    m = security_fails("a.io:\n  username: u\n  pasword: hunter2\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "security.yaml:3: unknown field 'pasword'");
    CHECK(strstr(m, "hunter2") == NULL);
    m = security_fails("a.io:\n  username: u\n  password: [hunter2]\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "security.yaml:3: password must be a plain string");
    CHECK(strstr(m, "hunter2") == NULL);
    m = security_fails("a.io:\n  password: \"hunter2\\0x\"\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "password contains a NUL");
    CHECK(strstr(m, "hunter2") == NULL);
    m = security_fails("a.io:\n  password: \"hunter2\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "security.yaml:");
    CHECK(strstr(m, "hunter2") == NULL);
    m = security_fails("a.io:\n  insecure: maybe\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "security.yaml:2: insecure must be true or false, not 'maybe'");
    m = security_fails("a.io:\n  username: u\n  username: v\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "security.yaml:3: field 'username' appears twice");
    m = security_fails("a.io:\n  username: u\nA.IO:\n  username: v\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "security.yaml:3: registry 'A.IO' is listed twice");
    m = security_fails("bad host!:\n  username: u\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "security.yaml:1:");
    m = security_fails("a.io/Bad_NS:\n  username: u\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "security.yaml:1:");
    m = security_fails("a.io: user:pass\n", FERRY_EINVAL);
    CHECK_CONTAINS(m, "security.yaml:1: 'a.io' must map to {username, password, insecure}");
    CHECK(strstr(m, "pass\"") == NULL);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_json_good();
    test_json_bad();
    test_files();
    test_yaml_good();
    test_yaml_bad();
    test_security();
    const char *names[] = {"rules.json",   "empty.json", "bad.json", "rules.yaml",   "empty.yaml",
                           "comment.yaml", "alias.yaml", "bad.yaml", "security.yaml"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return test_report();
}
