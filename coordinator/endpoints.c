/* endpoints — the registries of a run: credentials, TLS, the coordinator's
 * own client of each, and what a TASK says about them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "coordinator/run.h"

#define RUN_EPS_MAX 65535 /* endpoint indexes are 16 bits in the plan */

static char *read_small_file(const char *path, size_t max, ferry_err_t *err)
{
    char *text = NULL;
    size_t len;
    ferry_err_t why;
    int rc = fbuf_read_file(path, max, 0, &text, &len, &why);
    if (rc == FERRY_ETOOBIG)
        ferry_err_set(err, rc, "%s is larger than %zu bytes", path, max);
    else if (rc < 0)
        ferry_err_set(err, FERRY_EIO, "cannot read %s: %s", path, why.message);
    return text;
}

int mig_endpoint(mig_t *m, const mig_endpoint_opts_t *o, ferry_err_t *err)
{
    for (size_t i = 0; i < m->n_eps; i++)
        if (strcmp(m->eps[i].host, o->host) == 0)
            return (int)i;
    if (m->n_eps >= RUN_EPS_MAX)
        return ferry_err_set(err, FERRY_ETOOBIG, "too many registries");
    if (m->n_eps == m->cap_eps) {
        size_t cap = m->cap_eps ? m->cap_eps * 2 : 4;
        run_ep_t *eps = realloc(m->eps, cap * sizeof *eps);
        if (!eps)
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        m->eps = eps;
        m->cap_eps = cap;
    }
    run_ep_t *e = &m->eps[m->n_eps++];
    memset(e, 0, sizeof *e);
    e->host = strdup(o->host);
    e->plain_http = o->plain_http;
    e->tls_insecure = o->tls_insecure;
    e->qps = o->qps;
    e->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
    e->username = o->username ? strdup(o->username) : NULL;
    e->password = o->password ? strdup(o->password) : NULL;
    if (o->ca_file) {
        /* Agents get the CA as text: they may run on other machines. */
        e->ca_pem = read_small_file(o->ca_file, RUN_CA_MAX, err);
        if (!e->ca_pem)
            return err ? err->code : FERRY_EIO;
    }
    reg_opts_t ro = {0};
    ro.host = e->host;
    ro.plain_http = e->plain_http;
    ro.tls_insecure = e->tls_insecure;
    ro.ca_file = e->ca_file;
    ro.username = e->username;
    ro.password = e->password;
    ro.qps = e->qps;
    e->reg = reg_new(m->loop, &ro, err);
    if (!e->host || !e->reg)
        return err && err->code ? err->code : FERRY_ENOMEM;
    return (int)(m->n_eps - 1);
}

void endpoints_free(run_ep_t *e)
{
    reg_op_destroy(&e->catalog_op);
    reg_destroy(&e->reg);
    strmap_destroy(&e->catalog, NULL);
    free(e->host);
    free(e->ca_file);
    free(e->ca_pem);
    free(e->username);
    if (e->password) {
        memset(e->password, 0, strlen(e->password));
        free(e->password);
    }
}

int endpoints_fill(proto_endpoint_t *out, const run_ep_t *e, int agents)
{
    int rc = proto_str_set(&out->host, e->host);
    out->plain_http = e->plain_http;
    out->tls_verify = !e->tls_insecure;
    if (e->qps > 0) {
        double share = e->qps / (agents > 1 ? agents : 1);
        out->qps = share < 1 ? 1 : (uint32_t)share;
    }
    if (rc == 0 && e->ca_pem)
        rc = proto_str_set(&out->ca_pem, e->ca_pem);
    if (rc == 0 && e->username)
        rc = proto_str_set(&out->username, e->username);
    if (rc == 0 && e->password)
        rc = proto_str_set(&out->password, e->password);
    return rc;
}

void run_ref_text(char *out, size_t size, const mig_t *m, int ep, const char *repo,
                  const char *ref)
{
    snprintf(out, size, "%s/%s%s%s", m->eps[ep].host, repo,
             ref ? (strchr(ref, ':') ? "@" : ":") : "", ref ? ref : "");
}

bool run_stopping(const mig_t *m)
{
    return m->opts.stop && *m->opts.stop;
}
