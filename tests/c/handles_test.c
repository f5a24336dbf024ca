/*
 * C tests of libwxtoken's handles (wx_config_builder, wx_cache) and of its
 * log callback, driven case by case by tests/c/run.sh, which runs the mock,
 * makes the directories and checks the mock's counters and the files.
 *
 * Everything comes from the command line, nothing from the environment: the
 * suite runs these programs under `env -i`.
 *
 * Usage: handles_test CASE API_BASE DIR APPID SECRET; see main() for the
 * cases. Each exits non-zero on any failed check.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wxtoken.h"

static int failures;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            failures++;                                                         \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__,    \
                    #cond);                                                     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

extern char **environ;

static const char *api_base, *dir, *appid, *secret;

static const char *last_error(void)
{
    static char msg[1024];
    wx_last_error(msg, sizeof msg);
    return msg;
}

/* DIR/name, in a static buffer of its own per slot. */
static const char *path(int slot, const char *name)
{
    static char buf[8][4096];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", dir, name);
    return buf[slot];
}

static void set(wx_config_builder *b, const char *name, const char *value)
{
    int rc = wx_config_builder_set(b, name, value);
    CHECK(rc == WX_OK, "set %s: %s: %s", name, wx_status_name(rc), last_error());
}

/* A builder for APPID on API_BASE with cache files under DIR/sub (sub ""
 * means DIR itself); the secret only when `with_secret`. */
static wx_config_builder *builder(const char *sub, int with_secret)
{
    char t[4096], e[4096];
    wx_config_builder *b = wx_config_builder_new();
    CHECK(b != NULL, "wx_config_builder_new");
    snprintf(t, sizeof t, "%s/%s%stoken.txt", dir, sub, *sub ? "/" : "");
    snprintf(e, sizeof e, "%s/%s%sexpiry.txt", dir, sub, *sub ? "/" : "");
    set(b, "WX_APPID", appid);
    if (with_secret)
        set(b, "WX_APPSECRET", secret);
    set(b, "WX_API_BASE", api_base);
    set(b, "WX_TOKEN_FILE", t);
    set(b, "WX_EXPIRY_FILE", e);
    /* Generous: no case here tests the timeout itself. */
    set(b, "WX_HTTP_TIMEOUT", "300");
    return b;
}

static wx_cache *cache_of(wx_config_builder *b)
{
    wx_cache *c = (wx_cache *)1;
    int rc = wx_cache_new(b, &c);
    CHECK(rc == WX_OK && c != NULL, "wx_cache_new: %s: %s", wx_status_name(rc), last_error());
    return rc == WX_OK ? c : NULL;
}

static wx_cache *open_cache(const char *sub, int with_secret)
{
    wx_config_builder *b = builder(sub, with_secret);
    wx_cache *c = cache_of(b);
    wx_config_builder_free(b);
    return c;
}

static int get(wx_cache *c, char *out)
{
    return wx_cache_get_token(c, out, WX_TOKEN_BUF_LEN);
}

/* ------------------------------------------------------------- the log */

#define MAX_LOGGED 64
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logged[MAX_LOGGED][512];
static int logged_level[MAX_LOGGED];
static int n_logged;
static int log_tag = 42;

static void on_log(void *userdata, int level, const char *message)
{
    pthread_mutex_lock(&log_lock);
    CHECK(userdata == &log_tag, "userdata %p", userdata);
    if (n_logged < MAX_LOGGED) {
        snprintf(logged[n_logged], sizeof logged[n_logged], "%s", message);
        logged_level[n_logged] = level;
        n_logged++;
    }
    /* The whole suite's output is searched for the secret: print it all. */
    printf("log %d: %s\n", level, message);
    pthread_mutex_unlock(&log_lock);
}

/* How many messages of `level` mention `needle`. */
static int logged_with(int level, const char *needle)
{
    int i, n = 0;
    for (i = 0; i < n_logged; i++)
        if (logged_level[i] == level && strstr(logged[i], needle) != NULL)
            n++;
    return n;
}

static void check_log_has_no_secret(void)
{
    int i;
    for (i = 0; i < n_logged; i++)
        CHECK(strstr(logged[i], secret) == NULL, "the log shows the secret: %s", logged[i]);
}

/* ------------------------------------------------------------- the cases */

/* Everything through the builder, in an empty environment: a token, then a
 * hit from the same handle; prints the token (run.sh compares it with the
 * file and counts one upstream call). */
static void case_get(void)
{
    char a[WX_TOKEN_BUF_LEN], b[WX_TOKEN_BUF_LEN];
    wx_cache *c;
    CHECK(environ == NULL || environ[0] == NULL, "the environment is not empty: %s", environ[0]);
    c = open_cache("", 1);
    CHECK(get(c, a) == WX_OK, "%s", last_error());
    CHECK(strlen(a) > 0, "empty token");
    CHECK(get(c, b) == WX_OK && strcmp(a, b) == 0, "second get: %s vs %s", b, a);
    wx_cache_free(c);
    puts(a);
}

/* Two handles, two directories: A fetches into DIR/a; B, passive on the
 * empty DIR/b, neither fetches nor sees A's token, until A's files are
 * copied into DIR/b, and then reads them without fetching. */
static void copy_file(const char *from, const char *to)
{
    char buf[4096];
    size_t n;
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    CHECK(in != NULL && out != NULL, "open %s or %s", from, to);
    if (in == NULL || out == NULL)
        return;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
}

static void case_two_dirs(void)
{
    char ta[WX_TOKEN_BUF_LEN], tb[WX_TOKEN_BUF_LEN];
    wx_config_builder *pb;
    wx_cache *a, *b;
    int rc;
    a = open_cache("a", 1);
    pb = builder("b", 0);
    set(pb, "WX_PASSIVE", "1");
    b = cache_of(pb);
    wx_config_builder_free(pb);

    CHECK(get(a, ta) == WX_OK, "active: %s", last_error());
    memset(tb, 'x', sizeof tb);
    rc = get(b, tb);
    CHECK(rc == WX_ERR_PASSIVE, "passive on an empty directory: %s: %s", wx_status_name(rc),
          last_error());
    CHECK(tb[0] == '\0', "out not emptied");
    CHECK(wx_cache_refresh(b, tb, sizeof tb) == WX_ERR_PASSIVE, "passive refresh: %s",
          last_error());
    CHECK(get(a, tb) == WX_OK && strcmp(ta, tb) == 0, "the active handle's token changed");

    copy_file(path(0, "a/token.txt"), path(1, "b/token.txt"));
    copy_file(path(0, "a/expiry.txt"), path(1, "b/expiry.txt"));
    CHECK(get(b, tb) == WX_OK, "passive after the copy: %s", last_error());
    CHECK(strcmp(ta, tb) == 0, "passive read %s, not %s", tb, ta);
    wx_cache_free(a);
    wx_cache_free(b);
    puts(ta);
}

/* Invalidate, then get: one refresh, to a new token, then hits. run.sh
 * counts two upstream calls. */
static void case_invalidate(void)
{
    char t1[WX_TOKEN_BUF_LEN], t2[WX_TOKEN_BUF_LEN], t3[WX_TOKEN_BUF_LEN];
    wx_cache *c = open_cache("", 1);
    int rc;
    CHECK(get(c, t1) == WX_OK, "%s", last_error());
    rc = wx_cache_invalidate(c, "not_the_cached_token");
    CHECK(rc == 0, "foreign token dropped: %d %s", rc, last_error());
    rc = wx_cache_invalidate(c, t1);
    CHECK(rc == 1, "rc=%d %s", rc, last_error());
    rc = wx_cache_invalidate(c, t1);
    CHECK(rc == 0, "dropped twice: %d", rc);
    CHECK(get(c, t2) == WX_OK, "%s", last_error());
    CHECK(strcmp(t1, t2) != 0, "the same token after invalidate: %s", t1);
    CHECK(get(c, t3) == WX_OK && strcmp(t2, t3) == 0, "no hit after the refresh: %s", t3);
    CHECK(wx_cache_invalidate(c, t1) == 0, "an old token dropped the new one");
    CHECK(wx_cache_invalidate(c, NULL) == WX_ERR_NULL_ARG, "NULL failed_token");
    CHECK(wx_cache_invalidate(NULL, t1) == WX_ERR_NULL_ARG, "NULL cache");
    wx_cache_free(c);
    puts(t3);
}

/* Bad settings are refused, the error naming the setting, never the secret. */
static void case_config_errors(void)
{
    wx_config_builder *b = builder("", 1);
    wx_cache *c = (wx_cache *)1;
    char out[WX_TOKEN_BUF_LEN];
    int rc;

    rc = wx_config_builder_set(b, "WX_NO_SUCH_SETTING", "1");
    CHECK(rc == WX_ERR_CONFIG, "unknown name: %s", wx_status_name(rc));
    CHECK(strstr(last_error(), "WX_NO_SUCH_SETTING") != NULL, "not named: %s", last_error());
    /* Name and value swapped: the "name" is not echoed. */
    rc = wx_config_builder_set(b, secret, "WX_APPSECRET");
    CHECK(rc == WX_ERR_CONFIG, "secret as a name: %s", wx_status_name(rc));
    CHECK(strstr(last_error(), secret) == NULL, "echoed the secret: %s", last_error());
    CHECK(wx_config_builder_set(b, NULL, "x") == WX_ERR_NULL_ARG, "NULL name");
    CHECK(wx_config_builder_set(NULL, "WX_APPID", "x") == WX_ERR_NULL_ARG, "NULL builder");
    CHECK(wx_config_builder_set(b, "WX_APPID", "bad\xff") == WX_ERR_INVALID_UTF8, "UTF-8");

    /* A bad value is accepted by set and refused by wx_cache_new. */
    set(b, "WX_HTTP_TIMEOUT", "abc");
    rc = wx_cache_new(b, &c);
    CHECK(rc == WX_ERR_CONFIG, "WX_HTTP_TIMEOUT=abc: %s", wx_status_name(rc));
    CHECK(c == NULL, "*out not NULL on failure");
    CHECK(strstr(last_error(), "WX_HTTP_TIMEOUT") != NULL, "not named: %s", last_error());
    CHECK(strstr(last_error(), secret) == NULL, "shows the secret: %s", last_error());
    printf("WX_HTTP_TIMEOUT=abc: %s\n", last_error());

    /* Unset again (NULL value): the default is fine. */
    set(b, "WX_HTTP_TIMEOUT", NULL);
    c = cache_of(b);
    CHECK(c != NULL && get(c, out) == WX_OK, "after unsetting: %s", last_error());
    wx_cache_free(c);

    set(b, "WX_REFRESH_MARGIN", "soon");
    CHECK(wx_cache_new(b, &c) == WX_ERR_CONFIG && strstr(last_error(), "WX_REFRESH_MARGIN"),
          "WX_REFRESH_MARGIN=soon: %s", last_error());
    set(b, "WX_REFRESH_MARGIN", "");
    set(b, "WX_APPID", NULL);
    CHECK(wx_cache_new(b, &c) == WX_ERR_CONFIG && strstr(last_error(), "WX_APPID"),
          "no app id: %s", last_error());
    CHECK(wx_cache_new(NULL, &c) == WX_ERR_NULL_ARG, "NULL builder");
    CHECK(wx_cache_new(b, NULL) == WX_ERR_NULL_ARG, "NULL out");
    CHECK(wx_cache_get_token(NULL, out, sizeof out) == WX_ERR_NULL_ARG, "NULL cache");
    wx_config_builder_free(b);
    wx_config_builder_free(NULL);
    wx_cache_free(NULL);
}

/* The log callback: a failed refresh with its errcode, once, never the
 * secret (the handle is given a wrong secret: SECRET here is wrong). */
static void case_log_failure(void)
{
    char out[WX_TOKEN_BUF_LEN];
    wx_cache *c;
    int i, rc;
    wx_set_log_callback(on_log, &log_tag);
    c = open_cache("", 1);
    for (i = 0; i < 3; i++) {
        rc = get(c, out);
        CHECK(rc == WX_ERR_CONFIG && wx_last_errcode() == 40125, "call %d: %s (%ld): %s", i,
              wx_status_name(rc), wx_last_errcode(), last_error());
    }
    CHECK(logged_with(WX_LOG_ERROR, "40125") == 1, "%d messages with 40125 (want 1)",
          logged_with(WX_LOG_ERROR, "40125"));
    CHECK(logged_with(WX_LOG_ERROR, appid) == 1, "the message does not name the app");
    check_log_has_no_secret();
    /* The per-arguments calls report too (they read the API base from the
     * environment, empty until now). */
    setenv("WX_API_BASE", api_base, 1);
    rc = wx_get_token(appid, secret, path(0, "legacy-token.txt"), path(1, "legacy-expiry.txt"),
                      out, sizeof out);
    CHECK(rc == WX_ERR_CONFIG, "wx_get_token: %s", wx_status_name(rc));
    CHECK(logged_with(WX_LOG_ERROR, "40125") == 2, "wx_get_token's failure not logged");
    /* Removed: nothing more is passed. */
    wx_set_log_callback(NULL, NULL);
    wx_cache_refresh(c, out, sizeof out);
    CHECK(n_logged == 2, "%d messages after removing the callback", n_logged);
    check_log_has_no_secret();
    wx_cache_free(c);
}

/* A degraded cache (DIR is not writable: the token is kept in memory only)
 * is a warning, once however many calls see it. */
static void case_log_warning(void)
{
    char a[WX_TOKEN_BUF_LEN], b[WX_TOKEN_BUF_LEN];
    wx_cache *c;
    int i;
    wx_set_log_callback(on_log, &log_tag);
    c = open_cache("", 1);
    for (i = 0; i < 3; i++)
        CHECK(get(c, i ? b : a) == WX_OK && (i == 0 || strcmp(a, b) == 0), "call %d: %s", i,
              last_error());
    CHECK(n_logged == 1 && logged_level[0] == WX_LOG_WARNING, "%d messages, the first at %d",
          n_logged, n_logged ? logged_level[0] : -1);
    CHECK(logged_with(WX_LOG_WARNING, "not cached") == 1, "no warning saying so");
    CHECK(strstr(logged[0], a) == NULL, "the log shows the token: %s", logged[0]);
    check_log_has_no_secret();
    wx_cache_free(c);
}

/* Handles with equal settings share one in-process cache: on an unwritable
 * DIR the token lives only in that cache's memory, so the second handle
 * gets it without an upstream call (run.sh counts one). */
static void case_share(void)
{
    char a[WX_TOKEN_BUF_LEN], b[WX_TOKEN_BUF_LEN];
    wx_cache *x = open_cache("", 1), *y = open_cache("", 1);
    CHECK(get(x, a) == WX_OK, "%s", last_error());
    CHECK(get(y, b) == WX_OK, "%s", last_error());
    CHECK(strcmp(a, b) == 0, "%s != %s", a, b);
    wx_cache_free(x);
    CHECK(get(y, b) == WX_OK && strcmp(a, b) == 0, "after freeing the other: %s", last_error());
    wx_cache_free(y);
    puts(a);
}

/* The JS-SDK ticket: fetched once with the cached token, then a hit. */
static void case_ticket(void)
{
    char token[WX_TOKEN_BUF_LEN], t1[WX_TOKEN_BUF_LEN], t2[WX_TOKEN_BUF_LEN];
    wx_cache *c = open_cache("", 1);
    int rc;
    CHECK(get(c, token) == WX_OK, "%s", last_error());
    rc = wx_cache_get_ticket(c, "jsapi", t1, sizeof t1);
    CHECK(rc == WX_OK && strlen(t1) > 0, "jsapi: %s: %s", wx_status_name(rc), last_error());
    CHECK(strcmp(t1, token) != 0, "the ticket is the token");
    CHECK(wx_cache_get_ticket(c, "jsapi", t2, sizeof t2) == WX_OK && strcmp(t1, t2) == 0,
          "second call: %s", last_error());
    memset(t2, 'x', sizeof t2);
    rc = wx_cache_get_ticket(c, "no_such_type", t2, sizeof t2);
    CHECK(rc == WX_ERR_CONFIG && strstr(last_error(), "jsapi"), "bad type: %s: %s",
          wx_status_name(rc), last_error());
    CHECK(t2[0] == '\0', "out not emptied");
    CHECK(wx_cache_get_ticket(c, NULL, t2, sizeof t2) == WX_ERR_NULL_ARG, "NULL type");
    CHECK(wx_cache_get_ticket(c, "jsapi", t2, 4) == WX_ERR_BUFFER_TOO_SMALL, "small buffer");
    wx_cache_free(c);
    puts(t1);
}

/* A WeCom app, set up through the builder like any other setting: APPID is
 * the corp id, SECRET the app's; the token and both tickets, each a hit the
 * second time. Prints the token, the corp ticket and the agent ticket. */
static void case_wecom(void)
{
    char token[WX_TOKEN_BUF_LEN], corp[WX_TOKEN_BUF_LEN], agent[WX_TOKEN_BUF_LEN];
    char again[WX_TOKEN_BUF_LEN];
    wx_config_builder *b = builder("", 1);
    wx_cache *c;
    int rc;
    set(b, "WX_PLATFORM", "wecom");
    set(b, "WX_AGENTID", "1000002");
    c = cache_of(b);
    wx_config_builder_free(b);
    CHECK(c && get(c, token) == WX_OK, "token: %s", last_error());
    rc = wx_cache_get_ticket(c, "corp", corp, sizeof corp);
    CHECK(rc == WX_OK && strlen(corp) > 0, "corp: %s: %s", wx_status_name(rc), last_error());
    rc = wx_cache_get_ticket(c, "agent", agent, sizeof agent);
    CHECK(rc == WX_OK && strcmp(agent, corp) != 0, "agent: %s: %s", wx_status_name(rc),
          last_error());
    CHECK(wx_cache_get_ticket(c, "agent", again, sizeof again) == WX_OK && strcmp(again, agent) == 0,
          "agent again: %s", last_error());
    CHECK(wx_cache_get_ticket(c, "wx_card", again, sizeof again) == WX_ERR_CONFIG,
          "an official account's ticket on WeCom");
    wx_cache_free(c);
    printf("%s\n%s\n%s\n", token, corp, agent);
}

/* fork(2) while other threads are inside the handle calls (making and
 * freeing handles, which takes the handle table's lock, and getting tokens
 * through a shared one): every child can use the inherited handle and make
 * a new one (a lock held at the fork would hang it). */
static volatile int fork_stop;
static wx_cache *fork_shared;

static void *fork_spinner(void *arg)
{
    char out[WX_TOKEN_BUF_LEN];
    (void)arg;
    while (!fork_stop) {
        wx_cache *c = open_cache("", 1);
        if (c != NULL)
            wx_cache_get_token(c, out, sizeof out);
        wx_cache_free(c);
        wx_cache_get_token(fork_shared, out, sizeof out);
    }
    return NULL;
}

static void case_fork(int children)
{
    pthread_t t[4];
    char out[WX_TOKEN_BUF_LEN];
    int i, hung = 0, failed = 0;
    fork_shared = open_cache("", 1);
    CHECK(get(fork_shared, out) == WX_OK, "first call: %s", last_error());
    for (i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, fork_spinner, NULL);
    for (i = 0; i < children; i++) {
        int status = 0;
        pid_t pid = fork();
        if (pid == 0) {
            char mine[WX_TOKEN_BUF_LEN], fresh[WX_TOKEN_BUF_LEN];
            wx_cache *c;
            int ok;
            alarm(120); /* a hang ends as SIGALRM, not as a stuck test */
            c = open_cache("", 1);
            ok = get(fork_shared, mine) == WX_OK && strcmp(mine, out) == 0 && c != NULL &&
                 get(c, fresh) == WX_OK && strcmp(fresh, out) == 0;
            wx_cache_free(c);
            _exit(ok ? 0 : 1);
        }
        CHECK(pid > 0, "fork");
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
            hung++;
        else if (WEXITSTATUS(status) != 0)
            failed++;
    }
    fork_stop = 1;
    for (i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    wx_cache_free(fork_shared);
    CHECK(hung == 0 && failed == 0, "%d of %d children hung, %d failed", hung, children, failed);
    printf("%d children\n", children);
}

/* new/get/free cycles with everything the API allocates, for valgrind:
 * builders, handles (shared and not), a failed set, a failed new, a ticket,
 * the log callback. */
static void case_cycles(int n)
{
    char out[WX_TOKEN_BUF_LEN];
    int i;
    wx_set_log_callback(on_log, &log_tag);
    for (i = 0; i < n; i++) {
        wx_config_builder *b = builder("", 1);
        wx_cache *c = cache_of(b), *d = cache_of(b), *bad = NULL;
        CHECK(wx_config_builder_set(b, "WX_NOPE", "1") == WX_ERR_CONFIG, "unknown");
        set(b, "WX_HTTP_TIMEOUT", "abc");
        CHECK(wx_cache_new(b, &bad) == WX_ERR_CONFIG && bad == NULL, "bad value");
        CHECK(c && get(c, out) == WX_OK, "cycle %d: %s", i, last_error());
        CHECK(d && get(d, out) == WX_OK, "cycle %d: %s", i, last_error());
        CHECK(c && wx_cache_get_ticket(c, "jsapi", out, sizeof out) == WX_OK, "ticket: %s",
              last_error());
        wx_cache_free(c);
        wx_cache_free(d);
        wx_config_builder_free(b);
    }
    wx_set_log_callback(NULL, NULL);
    printf("%d cycles\n", n);
}

int main(int argc, char **argv)
{
    const char *c;
    if (argc < 6) {
        fprintf(stderr, "usage: %s CASE API_BASE DIR APPID SECRET [N]\n", argv[0]);
        return 2;
    }
    c = argv[1];
    api_base = argv[2];
    dir = argv[3];
    appid = argv[4];
    secret = argv[5];

    if (strcmp(c, "get") == 0)
        case_get();
    else if (strcmp(c, "two-dirs") == 0)
        case_two_dirs();
    else if (strcmp(c, "invalidate") == 0)
        case_invalidate();
    else if (strcmp(c, "config-errors") == 0)
        case_config_errors();
    else if (strcmp(c, "log-failure") == 0)
        case_log_failure();
    else if (strcmp(c, "log-warning") == 0)
        case_log_warning();
    else if (strcmp(c, "share") == 0)
        case_share();
    else if (strcmp(c, "ticket") == 0)
        case_ticket();
    else if (strcmp(c, "wecom") == 0)
        case_wecom();
    else if (strcmp(c, "fork") == 0)
        case_fork(100);
    else if (strcmp(c, "cycles") == 0)
        case_cycles(argc > 6 ? atoi(argv[6]) : 10);
    else {
        fprintf(stderr, "unknown case \"%s\"\n", c);
        return 2;
    }
    wx_reset();
    return failures == 0 ? 0 : 1;
}
