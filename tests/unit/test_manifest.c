/* Unit tests of common/manifest: real-world-shaped manifests of every kind,
 * then hostile bodies that must fail with a precise error and never crash. */
#include "common/buf.h"
#include "common/manifest.h"
#include "testlib.h"

#include <stdlib.h>

#define DA "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define DB "sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define DC "sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
#define DD "sha256:18ac3e7343f016890c510e93f935261169d9e3f565436429830faf0934f4f8e4"
#define DE "sha256:3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"
#define DF "sha256:252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111"
#define D512                                                                                       \
    "sha512:"                                                                                      \
    "a4abd4448c49562d828115d13a1fccea927f52b4d5459297f8b43e42da89238bc13626e43dcb38ddb08248"       \
    "8927ec904fb42057443983e88585179d50551afe62"
/* The digest of "{}", the OCI 1.1 empty descriptor. */
#define D_EMPTY "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

#define CT_OCI_IMAGE   "application/vnd.oci.image.manifest.v1+json"
#define CT_OCI_INDEX   "application/vnd.oci.image.index.v1+json"
#define CT_DOCKER_V2   "application/vnd.docker.distribution.manifest.v2+json"
#define CT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* Building blocks for the hostile cases: an OCI image with given layers. */
#define CFG                                                                                        \
    "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" DA                 \
    "\",\"size\":1469}"
#define LAYER(digest, size)                                                                        \
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" digest          \
    "\",\"size\":" size "}"
#define OCI_IMG(layers)                                                                            \
    "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\",\"config\":" CFG                      \
    ",\"layers\":[" layers "]}"
#define OCI_IDX(entries)                                                                           \
    "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_INDEX "\",\"manifests\":[" entries "]}"

static int parse_str(manifest_t **m, const char *ct, const char *body, ferry_err_t *err)
{
    ferry_err_clear(err);
    return manifest_parse(m, ct, body, strlen(body), err);
}

static void test_oci_image(void)
{
    /* As buildkit writes it, with annotations. */
    const char *body =
        "{\n"
        "  \"schemaVersion\": 2,\n"
        "  \"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n"
        "  \"config\": {\n"
        "    \"mediaType\": \"application/vnd.oci.image.config.v1+json\",\n"
        "    \"digest\": \"" DA "\",\n"
        "    \"size\": 1469\n"
        "  },\n"
        "  \"layers\": [\n"
        "    {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\",\n"
        "     \"digest\": \"" DB "\", \"size\": 3623807},\n"
        "    {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\",\n"
        "     \"digest\": \"" D512 "\", \"size\": 0}\n"
        "  ],\n"
        "  \"annotations\": {\"org.opencontainers.image.created\": \"2024-01-01T00:00:00Z\"},\n"
        "  \"someFutureField\": [1, {\"x\": null}]\n"
        "}\n";
    manifest_t *m = NULL;
    ferry_err_t err;
    CHECK_INT(parse_str(&m, CT_OCI_IMAGE "; charset=utf-8", body, &err), 0);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_INT(m->kind, MANIFEST_OCI_IMAGE);
    CHECK_STR(m->media_type, CT_OCI_IMAGE);
    CHECK(!manifest_is_index(m));
    CHECK_STR(m->config_media_type, "application/vnd.oci.image.config.v1+json");
    CHECK(m->artifact_type == NULL);
    CHECK(m->subject == NULL);
    CHECK_INT(m->n_blobs, 3);
    CHECK_INT(m->n_children, 0);
    CHECK(m->children == NULL);
    CHECK_STR(m->blobs[0].digest, DA);
    CHECK_INT(m->blobs[0].size, 1469);
    CHECK_STR(m->blobs[1].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
    CHECK_STR(m->blobs[1].digest, DB);
    CHECK_INT(m->blobs[1].size, 3623807);
    CHECK(!m->blobs[1].foreign);
    CHECK_STR(m->blobs[2].digest, D512);
    CHECK_INT(m->blobs[2].size, 0);
    CHECK(m->blobs[2].os == NULL);
    CHECK_INT(manifest_blob_bytes(m), 1469 + 3623807);
    manifest_destroy(&m);
    CHECK(m == NULL);
    manifest_destroy(&m);
    manifest_destroy(NULL);
}

static void test_oci_index(void)
{
    /* As buildx pushes a multi-platform image with provenance attestations. */
    const char *body =
        "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_INDEX "\",\"manifests\":["
        "{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DA "\",\"size\":673,"
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DB "\",\"size\":673,"
        "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\","
        "\"os.features\":[\"x\"]}},"
        "{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DC "\",\"size\":566,"
        "\"annotations\":{\"vnd.docker.reference.digest\":\"" DA "\","
        "\"vnd.docker.reference.type\":\"attestation-manifest\"},"
        "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}},"
        "{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DD "\",\"size\":100,"
        "\"artifactType\":\"application/spdx+json\"}"
        "],\"annotations\":{\"a\":\"b\"}}";
    manifest_t *m = NULL;
    ferry_err_t err;
    CHECK_INT(parse_str(&m, CT_OCI_INDEX, body, &err), 0);
    if (!m)
        return;
    CHECK_INT(m->kind, MANIFEST_OCI_INDEX);
    CHECK(manifest_is_index(m));
    CHECK_STR(m->media_type, CT_OCI_INDEX);
    CHECK_INT(m->n_blobs, 0);
    CHECK(m->blobs == NULL);
    CHECK(m->config_media_type == NULL);
    CHECK_INT(manifest_blob_bytes(m), 0);
    CHECK_INT(m->n_children, 4);
    CHECK_STR(m->children[0].os, "linux");
    CHECK_STR(m->children[0].arch, "amd64");
    CHECK(m->children[0].variant == NULL);
    CHECK_STR(m->children[1].digest, DB);
    CHECK_STR(m->children[1].arch, "arm64");
    CHECK_STR(m->children[1].variant, "v8");
    CHECK_STR(m->children[2].os, "unknown");
    CHECK_INT(m->children[2].size, 566);
    CHECK(m->children[3].os == NULL);
    CHECK_STR(m->children[3].artifact_type, "application/spdx+json");
    CHECK_STR(m->children[3].media_type, CT_OCI_IMAGE);
    manifest_destroy(&m);
}

static void test_docker_v2(void)
{
    /* A Windows image: its base layers are foreign, fetched from urls. */
    const char *body =
        "{\"schemaVersion\":2,\"mediaType\":\"" CT_DOCKER_V2 "\","
        "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
        "\"size\":7023,\"digest\":\"" DA "\"},"
        "\"layers\":["
        "{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
        "\"size\":1000000000,\"digest\":\"" DB "\","
        "\"urls\":[\"https://mcr.microsoft.com/v2/windows/blobs/" DB "\"]},"
        "{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
        "\"size\":20,\"digest\":\"" DC "\"},"
        "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
        "\"size\":32654,\"digest\":\"" DD "\"}]}";
    manifest_t *m = NULL;
    ferry_err_t err;
    CHECK_INT(parse_str(&m, CT_DOCKER_V2, body, &err), 0);
    if (!m)
        return;
    CHECK_INT(m->kind, MANIFEST_DOCKER_V2);
    CHECK_STR(m->media_type, CT_DOCKER_V2);
    CHECK_STR(m->config_media_type, "application/vnd.docker.container.image.v1+json");
    CHECK_INT(m->n_blobs, 4);
    CHECK(m->blobs[1].foreign);
    CHECK(!m->blobs[2].foreign); /* no urls: the registry holds it, copy it */
    CHECK(!m->blobs[3].foreign);
    CHECK_INT(manifest_blob_bytes(m), 7023 + 20 + 32654);
    manifest_destroy(&m);

    /* OCI non-distributable layers, likewise. */
    const char *oci =
        OCI_IMG("{\"mediaType\":\"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip\","
                "\"digest\":\"" DB "\",\"size\":5,\"urls\":[\"https://example.com/x\"]}");
    CHECK_INT(parse_str(&m, NULL, oci, &err), 0);
    CHECK(m && m->blobs[1].foreign);
    CHECK_INT(manifest_blob_bytes(m), 1469);
    manifest_destroy(&m);
    const char *no_urls =
        OCI_IMG("{\"mediaType\":\"application/vnd.oci.image.layer.nondistributable.v1.tar\","
                "\"digest\":\"" DB "\",\"size\":5,\"urls\":[]}");
    CHECK_INT(parse_str(&m, NULL, no_urls, &err), 0);
    CHECK(m && !m->blobs[1].foreign);
    CHECK_INT(manifest_blob_bytes(m), 1469 + 5);
    manifest_destroy(&m);
}

static void test_docker_list(void)
{
    const char *body =
        "{\"schemaVersion\":2,\"mediaType\":\"" CT_DOCKER_LIST "\",\"manifests\":["
        "{\"mediaType\":\"" CT_DOCKER_V2 "\",\"size\":528,\"digest\":\"" DA "\","
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"" CT_DOCKER_V2 "\",\"size\":528,\"digest\":\"" DB "\","
        "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
        "{\"mediaType\":\"" CT_DOCKER_V2 "\",\"size\":1357,\"digest\":\"" DC "\","
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\","
        "\"os.version\":\"10.0.17763.5458\"}}]}";
    manifest_t *m = NULL;
    ferry_err_t err;
    /* Docker Hub serves lists with exactly this content type. */
    CHECK_INT(parse_str(&m, CT_DOCKER_LIST, body, &err), 0);
    if (!m)
        return;
    CHECK_INT(m->kind, MANIFEST_DOCKER_LIST);
    CHECK(manifest_is_index(m));
    CHECK_STR(m->media_type, CT_DOCKER_LIST);
    CHECK_INT(m->n_children, 3);
    CHECK_STR(m->children[1].variant, "v7");
    CHECK_STR(m->children[2].os, "windows");
    CHECK_INT(m->children[2].size, 1357);
    manifest_destroy(&m);
}

static void test_artifacts(void)
{
    manifest_t *m = NULL;
    ferry_err_t err;

    /* A cosign signature pushed as a referrer (OCI 1.1 mode): a subject. */
    const char *cosign =
        "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
        "\"size\":233,\"digest\":\"" DA "\"},"
        "\"layers\":[{\"mediaType\":\"application/vnd.dev.cosign.simplesigning.v1+json\","
        "\"size\":244,\"digest\":\"" DB "\",\"annotations\":{"
        "\"dev.cosignproject.cosign/signature\":\"MEUCIQ...\"}}],"
        "\"subject\":{\"mediaType\":\"" CT_OCI_INDEX "\",\"size\":1609,\"digest\":\"" DC "\"}}";
    CHECK_INT(parse_str(&m, CT_OCI_IMAGE, cosign, &err), 0);
    CHECK(m && m->subject);
    if (m && m->subject) {
        CHECK_STR(m->subject->digest, DC);
        CHECK_STR(m->subject->media_type, CT_OCI_INDEX);
        CHECK_INT(m->subject->size, 1609);
        CHECK_INT(m->n_blobs, 2);
        CHECK_STR(m->blobs[1].media_type, "application/vnd.dev.cosign.simplesigning.v1+json");
    }
    manifest_destroy(&m);

    /* A Helm chart: arbitrary config type, and old helm omits mediaType. */
    const char *helm =
        "{\"schemaVersion\":2,"
        "\"config\":{\"mediaType\":\"application/vnd.cncf.helm.config.v1+json\","
        "\"digest\":\"" DA "\",\"size\":117},"
        "\"layers\":[{\"mediaType\":\"application/vnd.cncf.helm.chart.content.v1.tar+gzip\","
        "\"digest\":\"" DB "\",\"size\":3701}]}";
    CHECK_INT(parse_str(&m, CT_OCI_IMAGE, helm, &err), 0);
    CHECK(m && m->kind == MANIFEST_OCI_IMAGE);
    if (m) {
        CHECK_STR(m->config_media_type, "application/vnd.cncf.helm.config.v1+json");
        CHECK_INT(manifest_blob_bytes(m), 117 + 3701);
    }
    manifest_destroy(&m);

    /* A notation signature: OCI 1.1 artifactType, the empty config, a subject. */
    const char *notation =
        "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\","
        "\"artifactType\":\"application/vnd.cncf.notary.signature\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
        "\"digest\":\"" D_EMPTY "\",\"size\":2,\"data\":\"e30=\"},"
        "\"layers\":[{\"mediaType\":\"application/jose+json\",\"digest\":\"" DD "\","
        "\"size\":2010}],"
        "\"subject\":{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DE "\",\"size\":1024},"
        "\"annotations\":{\"io.cncf.notary.x509chain.thumbprint#S256\":\"[]\"}}";
    CHECK_INT(parse_str(&m, CT_OCI_IMAGE, notation, &err), 0);
    if (m) {
        CHECK_STR(m->artifact_type, "application/vnd.cncf.notary.signature");
        CHECK_STR(m->config_media_type, "application/vnd.oci.empty.v1+json");
        CHECK_STR(m->blobs[0].digest, D_EMPTY);
        CHECK(m->subject && strcmp(m->subject->digest, DE) == 0);
    }
    manifest_destroy(&m);

    /* An OCI 1.1 artifact with no layers at all, empty or absent. */
    const char *empty_layers = "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\","
                               "\"artifactType\":\"application/vnd.example.sbom\","
                               "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
                               "\"digest\":\"" D_EMPTY "\",\"size\":2},\"layers\":[]}";
    CHECK_INT(parse_str(&m, CT_OCI_IMAGE, empty_layers, &err), 0);
    CHECK(m && m->n_blobs == 1);
    manifest_destroy(&m);
    const char *no_layers = "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\","
                            "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
                            "\"digest\":\"" D_EMPTY "\",\"size\":2}}";
    CHECK_INT(parse_str(&m, CT_OCI_IMAGE, no_layers, &err), 0);
    CHECK(m && m->n_blobs == 1);
    manifest_destroy(&m);

    /* An index can have a subject and an artifactType too. */
    const char *index_subject =
        "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_INDEX "\","
        "\"artifactType\":\"application/vnd.example.bundle\",\"manifests\":[],"
        "\"subject\":{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DF "\",\"size\":7}}";
    CHECK_INT(parse_str(&m, NULL, index_subject, &err), 0);
    if (m) {
        CHECK_INT(m->kind, MANIFEST_OCI_INDEX);
        CHECK_INT(m->n_children, 0);
        CHECK(m->subject && strcmp(m->subject->digest, DF) == 0);
        CHECK_STR(m->artifact_type, "application/vnd.example.bundle");
    }
    manifest_destroy(&m);
}

/* Without mediaType, the content type decides, then the document's shape. */
static void test_kind_inference(void)
{
    manifest_t *m = NULL;
    ferry_err_t err;
    const char *image = "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[]}";
    const char *index = "{\"schemaVersion\":2,\"manifests\":[]}";

    CHECK_INT(parse_str(&m, "application/json", image, &err), 0);
    CHECK(m && m->kind == MANIFEST_OCI_IMAGE);
    manifest_destroy(&m);
    CHECK_INT(parse_str(&m, NULL, index, &err), 0);
    CHECK(m && m->kind == MANIFEST_OCI_INDEX);
    manifest_destroy(&m);
    CHECK_INT(
        parse_str(&m, " Application/VND.Docker.Distribution.Manifest.v2+JSON ;q=1", image, &err),
        0);
    CHECK(m && m->kind == MANIFEST_DOCKER_V2);
    manifest_destroy(&m);
    CHECK_INT(parse_str(&m, CT_DOCKER_LIST, index, &err), 0);
    CHECK(m && m->kind == MANIFEST_DOCKER_LIST);
    manifest_destroy(&m);

    /* The content type says index, the document is an image. */
    CHECK_INT(parse_str(&m, CT_OCI_INDEX, image, &err), FERRY_EINVAL);
    CHECK(m == NULL);
    CHECK_CONTAINS(err.message, "config");
    CHECK_INT(parse_str(&m, "text/plain", "{\"schemaVersion\":2,\"layers\":[]}", &err),
              FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "cannot tell the manifest type");
    CHECK_CONTAINS(err.message, "text/plain");

    /* Duplicated keys: the last one counts, as in jansson. */
    const char *dup = "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_INDEX "\","
                      "\"mediaType\":\"" CT_OCI_IMAGE "\",\"config\":" CFG ",\"layers\":[]}";
    CHECK_INT(parse_str(&m, NULL, dup, &err), 0);
    CHECK(m && m->kind == MANIFEST_OCI_IMAGE);
    manifest_destroy(&m);

    /* A NULL err is allowed. */
    CHECK_INT(manifest_parse(&m, NULL, index, strlen(index), NULL), 0);
    manifest_destroy(&m);
    CHECK_INT(manifest_parse(&m, NULL, "[]", 2, NULL), FERRY_EINVAL);
    CHECK_INT(manifest_parse(NULL, NULL, index, strlen(index), &err), FERRY_EINVAL);
}

static void test_kind_of(void)
{
    CHECK_INT(manifest_kind_of(CT_OCI_IMAGE), MANIFEST_OCI_IMAGE);
    CHECK_INT(manifest_kind_of(CT_OCI_INDEX "; charset=utf-8"), MANIFEST_OCI_INDEX);
    CHECK_INT(manifest_kind_of("\t" CT_DOCKER_V2 " "), MANIFEST_DOCKER_V2);
    CHECK_INT(manifest_kind_of("APPLICATION/VND.DOCKER.DISTRIBUTION.MANIFEST.LIST.V2+JSON"),
              MANIFEST_DOCKER_LIST);
    CHECK_INT(manifest_kind_of("application/vnd.docker.distribution.manifest.v1+prettyjws"),
              MANIFEST_SCHEMA1);
    CHECK_INT(manifest_kind_of("application/vnd.docker.distribution.manifest.v1+json"), -1);
    CHECK_INT(manifest_kind_of("application/json"), 0);
    CHECK_INT(manifest_kind_of(CT_OCI_IMAGE "x"), 0);
    CHECK_INT(manifest_kind_of(""), 0);
    CHECK_INT(manifest_kind_of(NULL), 0);
    CHECK_STR(manifest_kind_media_type(MANIFEST_DOCKER_LIST), CT_DOCKER_LIST);
    CHECK(manifest_kind_media_type(0) == NULL);
    CHECK(manifest_kind_media_type(-1) == NULL);
    CHECK(manifest_kind_media_type(99) == NULL);

    const char *accept = manifest_accept();
    const char *oci = strstr(accept, CT_OCI_IMAGE);
    const char *docker = strstr(accept, CT_DOCKER_V2);
    CHECK(oci && docker && oci < docker);
    CHECK_CONTAINS(accept, CT_OCI_INDEX);
    CHECK_CONTAINS(accept, CT_DOCKER_LIST);
    CHECK(!strstr(accept, "v1+prettyjws"));
    CHECK(!manifest_is_index(NULL));
    CHECK_INT(manifest_blob_bytes(NULL), 0);
}

struct bad_case {
    const char *content_type; /* served with */
    const char *body;         /* the document */
    int code;                 /* expected error */
    const char *message;      /* a substring of the expected message */
};

static const struct bad_case bad_cases[] = {
    /* Not JSON, or not an object. */
    {NULL, "{\"schemaVersion\":2,\"config\":", FERRY_EINVAL, "not valid JSON"},
    {NULL, "{\"schemaVersion\":2,\n\"config\":{", FERRY_EINVAL, "line 2"},
    {NULL, "{\"schemaVersion\":2,\"manifests\":[]} trailing", FERRY_EINVAL, "not valid JSON"},
    {NULL, "{\"schemaVersion\":2,\"manifests\":[]}{}", FERRY_EINVAL, "not valid JSON"},
    {NULL, "[]", FERRY_EINVAL, "must be a JSON object, got an array"},
    {NULL, "42", FERRY_EINVAL, "not valid JSON"},
    {NULL, "null", FERRY_EINVAL, "not valid JSON"},
    {NULL, "   ", FERRY_EINVAL, "not valid JSON"},
    {NULL, "{\"schemaVersion\":2,\"manifests\":[],\"x\":\"\xff\xfe\"}", FERRY_EINVAL,
     "not valid JSON"},
    {NULL, "{\"schemaVersion\":2,\"manifests\":[],\"x\":\"a\\u0000b\"}", FERRY_EINVAL,
     "not valid JSON"},
    {NULL, "{\"schemaVersion\":2,\"manifests\":[{\"size\":1e999}]}", FERRY_EINVAL,
     "not valid JSON"},
    {NULL, OCI_IMG(LAYER(DB, "99999999999999999999")), FERRY_EINVAL, "not valid JSON"},

    /* schemaVersion and the media type. */
    {NULL, "{\"mediaType\":\"" CT_OCI_INDEX "\",\"manifests\":[]}", FERRY_EINVAL,
     "schemaVersion: missing"},
    {NULL, "{\"schemaVersion\":\"2\",\"manifests\":[]}", FERRY_EINVAL,
     "schemaVersion: must be an integer, got a string"},
    {NULL, "{\"schemaVersion\":2.0,\"manifests\":[]}", FERRY_EINVAL,
     "schemaVersion: must be an integer, got a fraction"},
    {NULL, "{\"schemaVersion\":3,\"manifests\":[]}", FERRY_EUNSUPPORTED, "schemaVersion 3"},
    {NULL,
     "{\"schemaVersion\":1,\"name\":\"library/x\",\"tag\":\"latest\",\"architecture\":\"amd64\","
     "\"fsLayers\":[{\"blobSum\":\"" DA "\"}],\"history\":[],\"signatures\":[]}",
     FERRY_EUNSUPPORTED, "Docker schema 1 manifest"},
    {"application/vnd.docker.distribution.manifest.v1+prettyjws", "{\"schemaVersion\":1}",
     FERRY_EUNSUPPORTED, "push the image again with a current client"},
    {"application/vnd.docker.distribution.manifest.v1+json", "not even json", FERRY_EUNSUPPORTED,
     "schema 1"},
    {NULL,
     "{\"schemaVersion\":2,"
     "\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+prettyjws\"}",
     FERRY_EUNSUPPORTED, "schema 1"},
    {NULL,
     "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.artifact.manifest.v1+json\","
     "\"blobs\":[]}",
     FERRY_EUNSUPPORTED, "application/vnd.oci.artifact.manifest.v1+json"},
    {NULL, "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE " \",\"manifests\":[]}",
     FERRY_EUNSUPPORTED, "unknown manifest mediaType"},
    {NULL, "{\"schemaVersion\":2,\"mediaType\":7,\"manifests\":[]}", FERRY_EINVAL,
     "mediaType: must be a string, got an integer"},
    {CT_DOCKER_V2, OCI_IMG(""), FERRY_EINVAL, "contradicts Content-Type"},
    {CT_DOCKER_V2, OCI_IMG(""), FERRY_EINVAL, CT_OCI_IMAGE},
    {CT_DOCKER_V2 "; charset=utf-8", OCI_IMG(""), FERRY_EINVAL, CT_DOCKER_V2},
    {CT_OCI_INDEX, OCI_IMG(""), FERRY_EINVAL, "contradicts"},

    /* Documents that could be read as two things. */
    {NULL,
     "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\",\"config\":" CFG
     ",\"layers\":[],\"manifests\":[]}",
     FERRY_EINVAL, "ambiguous"},
    {NULL,
     "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_INDEX "\",\"manifests\":[],"
     "\"layers\":[]}",
     FERRY_EINVAL, "ambiguous"},

    /* Images: structure. */
    {NULL, "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\",\"layers\":[]}", FERRY_EINVAL,
     "config: missing"},
    {NULL, "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\",\"config\":[],\"layers\":[]}",
     FERRY_EINVAL, "config: must be an object, got an array"},
    {NULL, "{\"schemaVersion\":2,\"mediaType\":\"" CT_DOCKER_V2 "\",\"config\":" CFG "}",
     FERRY_EINVAL, "layers: missing"},
    {NULL,
     "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\",\"config\":" CFG ",\"layers\":{}}",
     FERRY_EINVAL, "layers: must be an array, got an object"},
    {NULL, OCI_IMG(LAYER(DB, "1") ",\"" DC "\""), FERRY_EINVAL,
     "layers[1]: must be an object, got a string"},

    /* Descriptors: every field. */
    {NULL, OCI_IMG(LAYER(DB, "1") "," LAYER(DC, "2") "," LAYER("sha256:abc", "3")), FERRY_EINVAL,
     "layers[2].digest: invalid digest"},
    {NULL,
     OCI_IMG(LAYER("sha256:CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB", "3")),
     FERRY_EINVAL, "layers[0].digest"},
    {NULL, OCI_IMG(LAYER("md5:0cc175b9c0f1b6a831c399e269772661", "3")), FERRY_EUNSUPPORTED,
     "layers[0].digest: unsupported digest algorithm"},
    {NULL, OCI_IMG(LAYER("", "3")), FERRY_EINVAL, "layers[0].digest: empty"},
    {NULL, OCI_IMG("{\"mediaType\":\"x/y\",\"size\":1}"), FERRY_EINVAL,
     "layers[0].digest: missing"},
    {NULL, OCI_IMG("{\"mediaType\":\"x/y\",\"size\":1,\"digest\":5}"), FERRY_EINVAL,
     "layers[0].digest: must be a string, got an integer"},
    {NULL, OCI_IMG(LAYER(DB, "-1")), FERRY_EINVAL, "layers[0].size: negative"},
    {NULL, OCI_IMG(LAYER(DB, "1.5")), FERRY_EINVAL, "layers[0].size: must be an integer"},
    {NULL, OCI_IMG(LAYER(DB, "1.0")), FERRY_EINVAL, "layers[0].size: must be an integer"},
    {NULL, OCI_IMG(LAYER(DB, "1e3")), FERRY_EINVAL, "layers[0].size: must be an integer"},
    {NULL, OCI_IMG(LAYER(DB, "\"12\"")), FERRY_EINVAL,
     "layers[0].size: must be an integer, got a string"},
    {NULL, OCI_IMG(LAYER(DB, "true")), FERRY_EINVAL, "got a boolean"},
    {NULL, OCI_IMG(LAYER(DB, "null")), FERRY_EINVAL, "layers[0].size: missing"},
    {NULL, OCI_IMG(LAYER(DB, "9007199254740992")), FERRY_EINVAL, "above 2^53-1"},
    {NULL, OCI_IMG(LAYER(DB, "9223372036854775807")), FERRY_EINVAL, "above 2^53-1"},
    {NULL, OCI_IMG("{\"digest\":\"" DB "\",\"size\":1}"), FERRY_EINVAL,
     "layers[0].mediaType: missing"},
    {NULL, OCI_IMG("{\"mediaType\":\"\",\"digest\":\"" DB "\",\"size\":1}"), FERRY_EINVAL,
     "layers[0].mediaType: empty"},
    {NULL, OCI_IMG("{\"mediaType\":[],\"digest\":\"" DB "\",\"size\":1}"), FERRY_EINVAL,
     "layers[0].mediaType: must be a string, got an array"},
    {NULL, OCI_IMG("{\"mediaType\":\"a/b\\u001b[31m\",\"digest\":\"" DB "\",\"size\":1}"),
     FERRY_EINVAL, "layers[0].mediaType: control character"},
    {NULL, OCI_IMG("{\"mediaType\":\"a/b\",\"digest\":\"" DB "\",\"size\":1,\"urls\":\"u\"}"),
     FERRY_EINVAL, "layers[0].urls: must be an array"},
    {NULL, OCI_IMG("{\"mediaType\":\"a/b\",\"digest\":\"" DB "\",\"size\":1,\"urls\":[1]}"),
     FERRY_EINVAL, "layers[0].urls[0]: must be a string"},
    {NULL,
     OCI_IMG("{\"mediaType\":\"a/b\",\"digest\":\"" DB "\",\"size\":1,"
             "\"artifactType\":{}}"),
     FERRY_EINVAL, "layers[0].artifactType: must be a string"},
    {NULL,
     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\",\"digest\":\"" DA "\"},"
     "\"layers\":[]}",
     FERRY_EINVAL, "config.size: missing"},
    {NULL, "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[],\"artifactType\":3}",
     FERRY_EINVAL, "artifactType: must be a string"},
    {NULL, "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[],\"subject\":\"" DA "\"}",
     FERRY_EINVAL, "subject: must be an object, got a string"},
    {NULL,
     "{\"schemaVersion\":2,\"config\":" CFG ",\"layers\":[],"
     "\"subject\":{\"mediaType\":\"a/b\",\"digest\":\"sha256:zz\",\"size\":1}}",
     FERRY_EINVAL, "subject.digest"},

    /* Indexes. */
    {NULL, "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_INDEX "\"}", FERRY_EINVAL,
     "manifests: missing"},
    {NULL, "{\"schemaVersion\":2,\"mediaType\":\"" CT_DOCKER_LIST "\",\"manifests\":{}}",
     FERRY_EINVAL, "manifests: must be an array"},
    {NULL, OCI_IDX("null"), FERRY_EINVAL, "manifests[0]: must be an object, got null"},
    {NULL,
     OCI_IDX("{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DA "\",\"size\":1},"
             "{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DB "\",\"size\":-5}"),
     FERRY_EINVAL, "manifests[1].size: negative"},
    {NULL,
     OCI_IDX("{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DA "\",\"size\":1,"
             "\"platform\":\"linux/amd64\"}"),
     FERRY_EINVAL, "manifests[0].platform: must be an object"},
    {NULL,
     OCI_IDX("{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DA "\",\"size\":1,"
             "\"platform\":{\"os\":\"linux\",\"architecture\":64}}"),
     FERRY_EINVAL, "manifests[0].platform.architecture: must be a string, got an integer"},
    {NULL,
     OCI_IDX("{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DA "\",\"size\":1,"
             "\"platform\":{\"os\":\"linux\",\"variant\":[\"v8\"]}}"),
     FERRY_EINVAL, "manifests[0].platform.variant"},
};

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        manifest_t *m = (manifest_t *)&bad_cases; /* must be overwritten with NULL */
        ferry_err_t err;
        int rc = parse_str(&m, c->content_type, c->body, &err);
        if (rc != c->code || !strstr(err.message, c->message))
            fprintf(stderr, "bad case %zu: rc %d, message \"%s\"\n", i, rc, err.message);
        CHECK_INT(rc, c->code);
        CHECK_INT(err.code, c->code);
        CHECK_CONTAINS(err.message, c->message);
        CHECK(m == NULL);
        if (rc == 0)
            manifest_destroy(&m);
    }
}

static void test_limits(void)
{
    manifest_t *m = NULL;
    ferry_err_t err;

    ferry_err_clear(&err);
    CHECK_INT(manifest_parse(&m, NULL, "", 0, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "empty manifest");
    CHECK_INT(manifest_parse(&m, NULL, NULL, 0, &err), FERRY_EINVAL);
    CHECK_INT(manifest_parse(&m, NULL, NULL, 10, &err), FERRY_EINVAL);

    /* A valid manifest padded to exactly the limit parses; one byte more does not. */
    const char *index = "{\"schemaVersion\":2,\"manifests\":[]}";
    char *big = malloc(MANIFEST_MAX_SIZE + 1);
    CHECK(big != NULL);
    if (big) {
        memset(big, ' ', MANIFEST_MAX_SIZE + 1);
        memcpy(big, index, strlen(index));
        CHECK_INT(manifest_parse(&m, CT_OCI_INDEX, big, MANIFEST_MAX_SIZE, &err), 0);
        manifest_destroy(&m);
        CHECK_INT(manifest_parse(&m, CT_OCI_INDEX, big, MANIFEST_MAX_SIZE + 1, &err),
                  FERRY_ETOOBIG);
        CHECK_CONTAINS(err.message, "exceeds");
        CHECK(m == NULL);
        free(big);
    }

    /* Deep nesting stops at jansson's depth limit with an error, no crash. */
    size_t depth = 100000;
    fbuf_t b;
    fbuf_init(&b, MANIFEST_MAX_SIZE);
    int rc = fbuf_puts(&b, "{\"schemaVersion\":2,\"manifests\":[],\"x\":");
    for (size_t i = 0; i < depth && rc == 0; i++)
        rc = fbuf_puts(&b, i % 2 ? "{\"a\":" : "[");
    CHECK_INT(rc, 0);
    CHECK_INT(manifest_parse(&m, NULL, b.data, b.len, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "not valid JSON");
    CHECK(m == NULL);
    /* Deep but well-formed and inside the limit: unknown fields are ignored. */
    fbuf_reset(&b);
    rc = fbuf_puts(&b, "{\"schemaVersion\":2,\"manifests\":[],\"x\":");
    for (size_t i = 0; i < 1000 && rc == 0; i++)
        rc = fbuf_puts(&b, "[");
    for (size_t i = 0; i < 1000 && rc == 0; i++)
        rc = fbuf_puts(&b, "]");
    if (rc == 0)
        rc = fbuf_puts(&b, "}");
    CHECK_INT(rc, 0);
    CHECK_INT(manifest_parse(&m, NULL, b.data, b.len, &err), 0);
    manifest_destroy(&m);
    fbuf_free(&b);
}

/* Many entries are fine; the sum of sizes saturates instead of overflowing. */
static void test_huge_arrays(void)
{
    manifest_t *m = NULL;
    ferry_err_t err;
    fbuf_t b;
    size_t n = 20000;

    fbuf_init(&b, MANIFEST_MAX_SIZE);
    int rc = fbuf_puts(&b, "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\",\"config\":" CFG
                           ",\"layers\":[");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fbuf_printf(&b, "%s" LAYER(DB, "%zu"), i ? "," : "", i);
    if (rc == 0)
        rc = fbuf_puts(&b, "]}");
    CHECK_INT(rc, 0);
    CHECK_INT(manifest_parse(&m, NULL, b.data, b.len, &err), 0);
    if (m) {
        CHECK_INT(m->n_blobs, n + 1);
        CHECK_INT(m->blobs[n].size, n - 1);
        CHECK_INT(manifest_blob_bytes(m), 1469 + (int64_t)n * (int64_t)(n - 1) / 2);
    }
    manifest_destroy(&m);

    fbuf_reset(&b);
    rc = fbuf_puts(&b, "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_IMAGE "\",\"config\":" CFG
                       ",\"layers\":[");
    for (size_t i = 0; i < 1100 && rc == 0; i++)
        rc = fbuf_printf(&b, "%s" LAYER(DB, "9007199254740991"), i ? "," : "");
    if (rc == 0)
        rc = fbuf_puts(&b, "]}");
    CHECK_INT(manifest_parse(&m, NULL, b.data, b.len, &err), 0);
    CHECK_INT(manifest_blob_bytes(m), INT64_MAX);
    manifest_destroy(&m);

    fbuf_reset(&b);
    rc = fbuf_puts(&b, "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_INDEX "\",\"manifests\":[");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fbuf_printf(
            &b,
            "%s{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DC
            "\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"a%zu\"}}",
            i ? "," : "", i, i);
    if (rc == 0)
        rc = fbuf_puts(&b, "]}");
    CHECK_INT(rc, 0);
    CHECK_INT(manifest_parse(&m, NULL, b.data, b.len, &err), 0);
    if (m) {
        CHECK_INT(m->n_children, n);
        CHECK_STR(m->children[n - 1].arch, "a19999");
    }
    manifest_destroy(&m);

    /* A failure deep into a long list frees what was built before it. */
    fbuf_reset(&b);
    rc = fbuf_puts(&b, "{\"schemaVersion\":2,\"mediaType\":\"" CT_OCI_INDEX "\",\"manifests\":[");
    for (size_t i = 0; i < 500 && rc == 0; i++)
        rc = fbuf_printf(&b, "{\"mediaType\":\"" CT_OCI_IMAGE "\",\"digest\":\"" DC
                             "\",\"size\":1,\"platform\":{\"os\":\"linux\"}},");
    if (rc == 0)
        rc = fbuf_puts(&b, "{\"mediaType\":\"a/b\",\"digest\":\"" DC "\",\"size\":-1}]}");
    CHECK_INT(manifest_parse(&m, NULL, b.data, b.len, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "manifests[500].size");
    CHECK(m == NULL);
    fbuf_free(&b);
}

int main(void)
{
    test_oci_image();
    test_oci_index();
    test_docker_v2();
    test_docker_list();
    test_artifacts();
    test_kind_inference();
    test_kind_of();
    test_bad();
    test_limits();
    test_huge_arrays();
    return test_report();
}
