/* Unit tests of common/creds: USER:PASSWORD text and Docker config files. */
#include "common/creds.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char test_dir[64];
static char config_path[128];

static void write_config(const char *text)
{
    FILE *f = fopen(config_path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

/* Looks host up in a config holding `json`; expects success with user/pass. */
static void expect_config(const char *json, const char *host, const char *user,
                          const char *password)
{
    write_config(json);
    creds_t c = {0};
    ferry_err_t err = {0};
    int rc = creds_from_docker_config(config_path, host, &c, &err);
    CHECK_INT(rc, 0);
    if (rc)
        fprintf(stderr, "  host '%s': %s\n", host, err.message);
    CHECK_STR(c.username, user);
    CHECK_STR(c.password, password);
    creds_clear(&c);
    CHECK(c.username == NULL && c.password == NULL);
}

/* Expects a failure with code and needle in the message, and no secret
 * (any of the NULL-terminated list) in it. */
static void expect_config_error(const char *json, const char *host, int code, const char *needle,
                                const char *secret)
{
    if (json)
        write_config(json);
    creds_t c = {(char *)"junk", (char *)"junk"};
    ferry_err_t err = {0};
    CHECK_INT(creds_from_docker_config(config_path, host, &c, &err), code);
    CHECK_INT(err.code, code);
    CHECK_CONTAINS(err.message, needle);
    if (secret)
        CHECK(strstr(err.message, secret) == NULL);
    CHECK(c.username == NULL && c.password == NULL);
}

static void test_userpass(void)
{
    creds_t c = {0};
    ferry_err_t err = {0};
    CHECK_INT(creds_parse_userpass("alice:s3cr3t", &c, &err), 0);
    CHECK_STR(c.username, "alice");
    CHECK_STR(c.password, "s3cr3t");
    creds_t copy = {0};
    CHECK_INT(creds_copy(&copy, &c), 0);
    CHECK_STR(copy.username, "alice");
    CHECK_STR(copy.password, "s3cr3t");
    CHECK(copy.password != c.password);
    creds_clear(&copy);
    creds_clear(&c);

    CHECK_INT(creds_parse_userpass("bob:pa:ss:word", &c, &err), 0);
    CHECK_STR(c.username, "bob");
    CHECK_STR(c.password, "pa:ss:word");
    creds_clear(&c);

    CHECK_INT(creds_parse_userpass("carol:", &c, &err), 0);
    CHECK_STR(c.username, "carol");
    CHECK_STR(c.password, "");
    creds_clear(&c);

    CHECK_INT(creds_parse_userpass("s3cr3tpassword", &c, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "expected USER:PASSWORD, found no ':'");
    CHECK(strstr(err.message, "s3cr3t") == NULL);
    CHECK(c.username == NULL && c.password == NULL);

    CHECK_INT(creds_parse_userpass(":s3cr3t", &c, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "empty user name");
    CHECK(strstr(err.message, "s3cr3t") == NULL);

    CHECK_INT(creds_parse_userpass("ev\nil:s3cr3t", &c, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "user name contains a control character");
    CHECK(strstr(err.message, "s3cr3t") == NULL);

    CHECK_INT(creds_parse_userpass(NULL, &c, &err), FERRY_EINVAL);
    CHECK_INT(creds_parse_userpass("", &c, &err), FERRY_EINVAL);

    char *big = malloc(CREDS_TEXT_MAX + 2);
    memset(big, 'p', CREDS_TEXT_MAX + 1);
    memcpy(big, "u:", 2);
    big[CREDS_TEXT_MAX + 1] = '\0';
    CHECK_INT(creds_parse_userpass(big, &c, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "longer than 16384 bytes");
    big[CREDS_TEXT_MAX] = '\0';
    CHECK_INT(creds_parse_userpass(big, &c, &err), 0);
    CHECK_INT(strlen(c.password), CREDS_TEXT_MAX - 2);
    creds_clear(&c);
    free(big);

    char long_user[CREDS_TEXT_MAX];
    memset(long_user, 'u', 2000);
    memcpy(long_user + 2000, ":pw", 4);
    CHECK_INT(creds_parse_userpass(long_user, &c, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "user name is longer than 1024 bytes");

    /* Anonymous copies and clears. */
    creds_t anon = {0}, anon_copy = {(char *)"junk", (char *)"junk"};
    CHECK_INT(creds_copy(&anon_copy, &anon), 0);
    CHECK(anon_copy.username == NULL && anon_copy.password == NULL);
    CHECK_INT(creds_copy(&anon_copy, NULL), 0);
    creds_clear(&anon);
    creds_clear(NULL);
}

static void test_docker_config(void)
{
    const char *alice = "\"auth\":\"YWxpY2U6czNjcjN0\"";
    char json[1024];

    snprintf(json, sizeof json, "{\"auths\":{\"r.example.com\":{%s}}}", alice);
    expect_config(json, "r.example.com", "alice", "s3cr3t");
    expect_config(json, "R.Example.COM", "alice", "s3cr3t");
    snprintf(json, sizeof json, "{\"auths\":{\"https://r.example.com\":{%s}}}", alice);
    expect_config(json, "r.example.com", "alice", "s3cr3t");
    snprintf(json, sizeof json, "{\"auths\":{\"http://r.example.com/\":{%s}}}", alice);
    expect_config(json, "r.example.com", "alice", "s3cr3t");
    snprintf(json, sizeof json, "{\"auths\":{\"https://index.docker.io/v1/\":{%s}}}", alice);
    expect_config(json, "index.docker.io", "alice", "s3cr3t");
    expect_config(json, "docker.io", "alice", "s3cr3t");
    expect_config(json, "registry-1.docker.io", "alice", "s3cr3t");
    snprintf(json, sizeof json, "{\"auths\":{\"r.example.com/team\":{%s}}}", alice);
    expect_config(json, "r.example.com", "alice", "s3cr3t");
    snprintf(json, sizeof json, "{\"auths\":{\"localhost:5000\":{%s}}}", alice);
    expect_config(json, "localhost:5000", "alice", "s3cr3t");
    /* The port is part of the host: no match on another port. */
    expect_config_error(NULL, "localhost:5001", FERRY_ENOTFOUND,
                        "no credentials for 'localhost:5001'", NULL);
    expect_config_error(NULL, "localhost", FERRY_ENOTFOUND, "no credentials", NULL);
    /* A longer host sharing a prefix does not match. */
    snprintf(json, sizeof json, "{\"auths\":{\"r.example.com.evil\":{%s}}}", alice);
    expect_config_error(json, "r.example.com", FERRY_ENOTFOUND, "no credentials", NULL);
    /* An exact key wins over a URL form listed first. */
    snprintf(json, sizeof json,
             "{\"auths\":{\"https://r.io/v1/\":{\"auth\":\"YWI6Yw==\"},\"r.io\":{%s}}}", alice);
    expect_config(json, "r.io", "alice", "s3cr3t");
    /* username/password fields; passwords with ':'; unpadded base64. */
    expect_config("{\"auths\":{\"r.io\":{\"username\":\"u\",\"password\":\"p:w\"}}}", "r.io", "u",
                  "p:w");
    expect_config("{\"auths\":{\"r.io\":{\"auth\":\"Ym9iOnBhOnNzOndvcmQ=\"}}}", "r.io", "bob",
                  "pa:ss:word");
    expect_config("{\"auths\":{\"r.io\":{\"auth\":\"YWI6Y2Q\"}}}", "r.io", "ab", "cd");
    expect_config("{\"auths\":{\"r.io\":{\"auth\":\"YWI6Yw\"}}}", "r.io", "ab", "c");
    expect_config("{\"auths\":{\"r.io\":{\"auth\":\"Y2Fyb2w6\"}}}", "r.io", "carol", "");
    /* An empty auth falls back to username/password. */
    expect_config("{\"auths\":{\"r.io\":{\"auth\":\"\",\"username\":\"u\",\"password\":\"p\"}}}",
                  "r.io", "u", "p");

    /* Malformed entries: EINVAL, never the secret in the message. */
    expect_config_error("{\"auths\":{\"r.io\":{\"auth\":\"bm9jb2xvbg==\"}}}", "r.io", FERRY_EINVAL,
                        "expected USER:PASSWORD, found no ':'", "nocolon");
    expect_config_error("{\"auths\":{\"r.io\":{\"auth\":\"Om5vdXNlcg==\"}}}", "r.io", FERRY_EINVAL,
                        "empty user name", "nouser");
    expect_config_error("{\"auths\":{\"r.io\":{\"auth\":\"ZGF2ZTp4AHk=\"}}}", "r.io", FERRY_EINVAL,
                        "password contains a NUL byte", NULL);
    expect_config_error("{\"auths\":{\"r.io\":{\"auth\":\"ZXZlCng6cHc=\"}}}", "r.io", FERRY_EINVAL,
                        "control character", NULL);
    const char *bad_base64[] = {"YWxpY2U6czNjcjN0!",   "YWxp Y2U6", "YWxpY2U6c", "YW=xpY2U6",
                                "YWxpY2U6czNjcjN0===", "=",         "YWI6Yw=",   "YWI6Y2Q=="};
    for (size_t i = 0; i < sizeof bad_base64 / sizeof bad_base64[0]; i++) {
        snprintf(json, sizeof json, "{\"auths\":{\"r.io\":{\"auth\":\"%s\"}}}", bad_base64[i]);
        expect_config_error(json, "r.io", FERRY_EINVAL, "is not valid base64", bad_base64[i]);
    }
    expect_config_error("{\"auths\":{\"r.io\":{\"auth\":42}}}", "r.io", FERRY_EINVAL,
                        "is not a string", NULL);
    expect_config_error("{\"auths\":{\"r.io\":\"YWxpY2U6czNjcjN0\"}}", "r.io", FERRY_EINVAL,
                        "is not an object", "YWxp");
    expect_config_error("{\"auths\":{\"r.io\":{\"username\":\"u\"}}}", "r.io", FERRY_EINVAL,
                        "has a username but no password", NULL);
    expect_config_error("{\"auths\":[]}", "r.io", FERRY_EINVAL, "\"auths\" is not an object", NULL);
    expect_config_error("[]", "r.io", FERRY_EINVAL, "is not a JSON object", NULL);
    expect_config_error("{\"auths\":{\"r.io\":{\"auth\":\"s3cr3t-unterminated", "r.io",
                        FERRY_EINVAL, "is not valid JSON (line 1, column", "s3cr3t");
    expect_config_error("", "r.io", FERRY_EINVAL, "is not valid JSON", NULL);
    expect_config_error("{\"auths\":{}}\0", "r.io", FERRY_ENOTFOUND, "no credentials", NULL);

    /* Not found: no entry, empty entry, helpers and identity tokens named. */
    expect_config_error("{}", "r.io", FERRY_ENOTFOUND, "no credentials for 'r.io' in Docker config",
                        NULL);
    expect_config_error("{\"auths\":{\"r.io\":{}},\"credsStore\":\"desktop\"}", "r.io",
                        FERRY_ENOTFOUND, "no user name and password for 'r.io' in Docker config",
                        NULL);
    expect_config_error(NULL, "r.io", FERRY_ENOTFOUND,
                        "credential helper 'docker-credential-desktop' is not supported", NULL);
    expect_config_error(
        "{\"credHelpers\":{\"https://r.io\":\"ecr-login\"},\"credsStore\":\"pass\"}", "r.io",
        FERRY_ENOTFOUND, "'docker-credential-ecr-login' is not supported", NULL);
    expect_config_error("{\"credsStore\":\"$(rm -rf /)\"}", "r.io", FERRY_ENOTFOUND,
                        "no credentials for 'r.io' in Docker config", "rm -rf");
    expect_config_error("{\"auths\":{\"r.io\":{\"identitytoken\":\"t0ken-secret\"}}}", "r.io",
                        FERRY_ENOTFOUND, "only an identity token (not supported)", "t0ken");

    /* Missing file, bad arguments, a directory. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope.json", test_dir);
    creds_t c = {0};
    ferry_err_t err = {0};
    CHECK_INT(creds_from_docker_config(missing, "r.io", &c, &err), FERRY_ENOTFOUND);
    CHECK_CONTAINS(err.message, "does not exist");
    CHECK_CONTAINS(err.message, "nope.json");
    CHECK_INT(creds_from_docker_config(config_path, "", &c, &err), FERRY_EINVAL);
    CHECK_INT(creds_from_docker_config(NULL, "r.io", &c, &err), FERRY_EINVAL);
    CHECK_INT(creds_from_docker_config(test_dir, "r.io", &c, &err), FERRY_EIO);
    CHECK_CONTAINS(err.message, "cannot read Docker config");

    /* Over 4 MiB: refused; exactly at the limit: read. */
    char *big = malloc(CREDS_CONFIG_MAX + 2);
    memset(big, ' ', CREDS_CONFIG_MAX + 1);
    big[CREDS_CONFIG_MAX + 1] = '\0';
    memcpy(big, "{}", 2);
    write_config(big);
    CHECK_INT(creds_from_docker_config(config_path, "r.io", &c, &err), FERRY_ETOOBIG);
    CHECK_CONTAINS(err.message, "is larger than 4194304 bytes");
    big[CREDS_CONFIG_MAX] = '\0';
    write_config(big);
    CHECK_INT(creds_from_docker_config(config_path, "r.io", &c, &err), FERRY_ENOTFOUND);
    free(big);
}

static void test_default_path(void)
{
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    char *saved_dc = getenv("DOCKER_CONFIG") ? strdup(getenv("DOCKER_CONFIG")) : NULL;
    setenv("DOCKER_CONFIG", "/etc/dc", 1);
    setenv("HOME", "/home/u", 1);
    char *path = creds_default_config_path();
    CHECK_STR(path, "/etc/dc/config.json");
    free(path);
    setenv("DOCKER_CONFIG", "", 1);
    path = creds_default_config_path();
    CHECK_STR(path, "/home/u/.docker/config.json");
    free(path);
    unsetenv("DOCKER_CONFIG");
    path = creds_default_config_path();
    CHECK_STR(path, "/home/u/.docker/config.json");
    free(path);
    unsetenv("HOME");
    CHECK(creds_default_config_path() == NULL);
    if (saved_home)
        setenv("HOME", saved_home, 1);
    if (saved_dc)
        setenv("DOCKER_CONFIG", saved_dc, 1);
    free(saved_home);
    free(saved_dc);
}

int main(void)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/ferry-test-creds-XXXXXX");
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(config_path, sizeof config_path, "%s/config.json", test_dir);
    test_userpass();
    test_docker_config();
    test_default_path();
    unlink(config_path);
    rmdir(test_dir);
    return test_report();
}
