/* endpoints — the registries of a run: credentials, TLS, the coordinator's
 * own client of each, and what a TASK says about them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
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

/* The endpoint's options as a registry client's. */
static void endpoint_reg_opts(const run_ep_t *e, reg_opts_t *ro)
{
    memset(ro, 0, sizeof *ro);
    ro->host = e->host;
    ro->plain_http = e->plain_http;
    ro->tls_insecure = e->tls_insecure;
    ro->ca_file = e->ca_file;
    ro->username = e->username;
    ro->password = e->password;
    ro->qps = e->qps;
}

/* (Re)creates the coordinator's client of e. 0, or a FERRY_E* code. */
static int endpoint_client(mig_t *m, run_ep_t *e, ferry_err_t *err)
{
    reg_opts_t ro;
    endpoint_reg_opts(e, &ro);
    reg_destroy(&e->reg);
    e->reg = reg_new(m->loop, &ro, err);
    return e->reg ? 0 : FERRY_ENOMEM;
}

int mig_endpoint(mig_t *m, const mig_endpoint_opts_t *o, ferry_err_t *err)
{
    for (size_t i = 0; i < m->n_eps; i++)
        if (strcmp(m->eps[i].host, o->host) == 0)
            return (int)i;
    if (m->n_eps >= RUN_EPS_MAX)
        return ferry_err_set(err, FERRY_ETOOBIG, "too many registries");
    run_ep_t *eps = array_grow(m->eps, m->n_eps, &m->cap_eps, sizeof *eps);
    if (!eps)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    m->eps = eps;
    run_ep_t *e = &m->eps[m->n_eps++];
    memset(e, 0, sizeof *e);
    e->host = strdup(o->host);
    e->plain_http = o->plain_http;
    e->tls_insecure = o->tls_insecure || o->insecure;
    e->insecure = o->insecure;
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
    if (!e->host || endpoint_client(m, e, err) < 0)
        return err && err->code ? err->code : FERRY_ENOMEM;
    return (int)(m->n_eps - 1);
}

#define RENEW_MARGIN_MAX 300  /* seconds before expiry a login is renewed, at most */
#define RENEW_PAUSE_MS   5000 /* between two renewals of one login */

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void mig_endpoint_expires(mig_t *m, int ep, double expires, mig_renew_fn renew, void *ud)
{
    run_ep_t *e = &m->eps[ep];
    e->renew = renew;
    e->renew_ud = ud;
    e->expires = expires;
    e->lifetime = expires > 0 ? expires - wall_s() : 0;
}

bool endpoints_renew(mig_t *m, int ep, bool now)
{
    run_ep_t *e = &m->eps[ep];
    if (!e->renew || (e->renewed_ms && http_now_ms() - e->renewed_ms < RENEW_PAUSE_MS))
        return false;
    double margin = e->lifetime / 4 < RENEW_MARGIN_MAX ? e->lifetime / 4 : RENEW_MARGIN_MAX;
    if (!now && (e->expires <= 0 || wall_s() < e->expires - margin))
        return false;
    e->renewed_ms = http_now_ms();
    char *user = NULL, *pass = NULL;
    double expires = 0;
    if (e->renew(e->renew_ud, &user, &pass, &expires) < 0 || !user || !pass) {
        log_warn("%s: the temporary login could not be renewed", e->host);
        free(user);
        free(pass);
        return false;
    }
    if (e->password) {
        explicit_bzero(e->password, strlen(e->password));
        free(e->password);
    }
    free(e->username);
    e->username = user;
    e->password = pass;
    e->expires = expires;
    e->lifetime = expires > 0 ? expires - wall_s() : 0;
    reg_set_credentials(e->reg, user, pass);
    log_info("%s: renewed the temporary login (valid for %.0f s more)", e->host, e->lifetime);
    return true;
}

void endpoints_keep_fresh(mig_t *m)
{
    for (size_t i = 0; i < m->n_eps; i++)
        if (m->eps[i].renew)
            endpoints_renew(m, (int)i, false);
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

int endpoints_fill(proto_endpoint_t *out, const run_ep_t *e, int agents, bool with_creds)
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
    if (rc == 0 && with_creds && e->username)
        rc = proto_str_set(&out->username, e->username);
    if (rc == 0 && with_creds && e->password)
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

/* ------------------------------------------------------------ preflight */

/* One quick try, and one more: a typo'd host must not take half a minute. */
static const retry_policy_t preflight_policy = {2, 200, 1000, 3000};

enum { ROLE_SOURCE = 1, ROLE_TARGET = 2 };

/* What the run asks of endpoint ep: read (a source), push (a target). */
static int endpoint_roles(const mig_t *m, int ep)
{
    int roles = 0;
    for (size_t i = 0; i < m->n_repos; i++)
        roles |= (m->repos[i].src_ep == ep ? ROLE_SOURCE : 0) |
                 (m->repos[i].dst_ep == ep ? ROLE_TARGET : 0);
    for (size_t i = 0; i < m->n_catalogs; i++)
        roles |= (m->catalogs[i].src_ep == ep ? ROLE_SOURCE : 0) |
                 (m->catalogs[i].dst_ep == ep ? ROLE_TARGET : 0);
    return roles;
}

/* The answer of a plain-HTTP server to a TLS client. */
static bool speaks_plain(const ferry_err_t *err)
{
    return strstr(err->message, "wrong version number") || strstr(err->message, "record layer") ||
           strstr(err->message, "packet length too long");
}

/* One line naming what to fix, for a registry that did not answer GET /v2/. */
static void ping_problem(const run_ep_t *e, int roles, const ferry_err_t *err)
{
    const char *msg = err->message;
    const char *creds = roles & ROLE_TARGET ? (roles & ROLE_SOURCE ? "--src-creds/--dst-creds"
                                                                   : "--dst-creds")
                                            : "--src-creds";
    if (speaks_plain(err))
        log_error("%s speaks plain HTTP, not TLS: give --insecure %s", e->host, e->host);
    else if (strstr(msg, "HTTP request to an HTTPS server") ||
             (err->http_status == 400 && e->plain_http))
        log_error("%s speaks TLS: drop --insecure %s (or keep it for TLS without verification)",
                  e->host, e->host);
    else if (strstr(msg, "certificate") || strstr(msg, "SSL") || strstr(msg, "TLS"))
        log_error("%s: its TLS certificate is not trusted (%s): give --ca-file with its CA, or "
                  "--insecure %s to skip verification",
                  e->host, msg, e->host);
    else if (err->code == FERRY_EAUTH)
        log_error("%s refused the credentials (%s): check %s or the --auth-file entry for it",
                  e->host, msg, creds);
    else
        log_error("%s cannot be reached: %s", e->host, msg);
}

int endpoints_check(mig_t *m)
{
    ferry_err_t err;
    reg_t **regs = calloc(m->n_eps ? m->n_eps : 1, sizeof *regs);
    reg_op_t **ops = calloc(m->n_eps ? m->n_eps : 1, sizeof *ops);
    int problems = 0;
    if (!regs || !ops) {
        log_error("out of memory");
        problems = 1;
        goto out;
    }
    for (size_t i = 0; i < m->n_eps; i++) {
        reg_opts_t ro;
        endpoint_reg_opts(&m->eps[i], &ro);
        ro.retry = &preflight_policy;
        if ((regs[i] = reg_new(m->loop, &ro, &err)))
            ops[i] = reg_ping(regs[i], NULL, NULL);
    }
    bool waiting = true;
    while (waiting && !run_stopping(m)) {
        waiting = false;
        for (size_t i = 0; i < m->n_eps; i++)
            waiting |= ops[i] && !reg_op_finished(ops[i]);
        if (waiting)
            http_loop_run(m->loop, RUN_TICK_MS, NULL, 0);
    }
    for (size_t i = 0; i < m->n_eps && !run_stopping(m); i++) {
        run_ep_t *e = &m->eps[i];
        if (ops[i] && reg_op_result(ops[i]) < 0 && e->insecure && !e->plain_http &&
            speaks_plain(reg_op_error(ops[i]))) {
            /* --insecure and no TLS there: plain HTTP, asked again. */
            e->plain_http = true;
            reg_op_destroy(&ops[i]);
            reg_destroy(&regs[i]);
            if (endpoint_client(m, e, &err) == 0) {
                reg_opts_t ro;
                endpoint_reg_opts(e, &ro);
                ro.retry = &preflight_policy;
                if ((regs[i] = reg_new(m->loop, &ro, &err)))
                    ops[i] = reg_ping(regs[i], NULL, NULL);
                while (ops[i] && !reg_op_finished(ops[i]) && !run_stopping(m))
                    http_loop_run(m->loop, RUN_TICK_MS, NULL, 0);
            }
        }
        if (!ops[i]) {
            log_error("%s: cannot start a request", e->host);
            problems++;
        } else if (reg_op_result(ops[i]) < 0) {
            ping_problem(e, endpoint_roles(m, (int)i), reg_op_error(ops[i]));
            problems++;
        }
    }
out:
    for (size_t i = 0; ops && i < m->n_eps; i++) {
        reg_op_destroy(&ops[i]);
        reg_destroy(&regs[i]);
    }
    free(ops);
    free(regs);
    return problems;
}

int endpoints_check_push(mig_t *m, int ep, const char *repo)
{
    run_ep_t *e = &m->eps[ep];
    if (e->push_state != PUSH_UNKNOWN)
        return e->push_state == PUSH_REFUSED ? FERRY_EAUTH : 0;
    reg_op_t *op = reg_upload_start(e->reg, repo, NULL, NULL);
    while (op && !reg_op_finished(op) && !run_stopping(m))
        http_loop_run(m->loop, RUN_TICK_MS, NULL, 0);
    int rc = op && reg_op_finished(op) ? reg_op_result(op) : 0;
    e->push_state = rc == FERRY_EAUTH ? PUSH_REFUSED : PUSH_ALLOWED;
    if (rc == FERRY_EAUTH) {
        log_error("%s refuses to let these credentials push to %s (%s): check --dst-creds or "
                  "the --auth-file entry for it",
                  e->host, repo, reg_op_error(op)->message);
    } else if (rc == 0 && reg_op_location(op)) {
        /* Nothing stays behind: the upload is cancelled at once. */
        reg_op_t *cancel = reg_upload_cancel(e->reg, repo, reg_op_location(op), NULL, NULL);
        while (cancel && !reg_op_finished(cancel) && !run_stopping(m))
            http_loop_run(m->loop, RUN_TICK_MS, NULL, 0);
        reg_op_destroy(&cancel);
    }
    reg_op_destroy(&op);
    return e->push_state == PUSH_REFUSED ? FERRY_EAUTH : 0;
}
