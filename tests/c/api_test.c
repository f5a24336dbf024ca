/*
 * C tests of libwxtoken, driven case by case by tests/c/run.sh, which runs
 * the mock, sets up the files and the environment, and checks the mock's
 * counters. Each case checks what only the C side can see (return codes,
 * buffers, the thread's last error) and exits non-zero on any failed check.
 *
 * Environment: WX_APPID, WX_APPSECRET (passed as arguments), T_TOKEN_FILE and
 * T_EXPIRY_FILE (passed as the file arguments; unset means NULL), plus the
 * WX_* settings the library reads itself.
 *
 * Usage: api_test CASE [ARGS...]; see main() for the cases.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock(2) */

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
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

static const char *appid, *secret, *tfile, *efile;

/* The thread's last error message (static buffer: main thread only). */
static const char *last_error(void)
{
    static char msg[1024];
    wx_last_error(msg, sizeof msg);
    return msg;
}

/* No message may ever contain the secret (the configured one or the one
 * passed in: they differ in the bad-secret case). */
static void check_no_secret(const char *msg)
{
    const char *configured = "test_secret_0123456789";
    CHECK(strstr(msg, secret) == NULL, "message shows the secret: %s", msg);
    CHECK(strstr(msg, configured) == NULL, "message shows the secret: %s", msg);
}

static int get(char *out, size_t len)
{
    return wx_get_token(appid, secret, tfile, efile, out, len);
}

/* One token; prints it. */
static void case_get(void)
{
    char out[WX_TOKEN_BUF_LEN];
    int rc = get(out, sizeof out);
    CHECK(rc == WX_OK, "rc=%d (%s): %s", rc, wx_status_name(rc), last_error());
    CHECK(strlen(out) > 0, "empty token");
    CHECK(wx_last_error(NULL, 0) == 0, "last error not cleared: %s", last_error());
    CHECK(wx_last_errcode() == 0, "errcode %ld", wx_last_errcode());
    puts(out);
}

/* Two calls in one process give the same token; prints it. */
static void case_hit(void)
{
    char a[WX_TOKEN_BUF_LEN], b[WX_TOKEN_BUF_LEN];
    CHECK(get(a, sizeof a) == WX_OK, "%s", last_error());
    CHECK(get(b, sizeof b) == WX_OK, "%s", last_error());
    CHECK(strcmp(a, b) == 0, "%s != %s", a, b);
    puts(a);
}

/* A call that must fail with status NAME and WeChat errcode ERRCODE. */
static void case_expect(const char *want, long want_errcode)
{
    char out[WX_TOKEN_BUF_LEN];
    size_t n;
    int rc;
    memset(out, 'x', sizeof out);
    rc = get(out, sizeof out);
    CHECK(rc < 0, "rc=%d", rc);
    CHECK(strcmp(wx_status_name(rc), want) == 0, "got %s (%d), want %s: %s",
          wx_status_name(rc), rc, want, last_error());
    CHECK(out[0] == '\0', "out not emptied on failure");
    CHECK(wx_last_errcode() == want_errcode, "errcode %ld, want %ld: %s",
          wx_last_errcode(), want_errcode, last_error());
    n = wx_last_error(NULL, 0);
    CHECK(n > 0 && n == strlen(last_error()), "length %lu for \"%s\"",
          (unsigned long)n, last_error());
    check_no_secret(last_error());
    printf("%s: %s\n", wx_status_name(rc), last_error());
}

static void expect_status(int rc, int want, const char *mentions)
{
    CHECK(rc == want, "got %s (%d), want %s: %s", wx_status_name(rc), rc,
          wx_status_name(want), last_error());
    CHECK(strstr(last_error(), mentions) != NULL, "\"%s\" does not name %s",
          last_error(), mentions);
    check_no_secret(last_error());
}

/* Every required pointer, NULL in turn. */
static void case_null_args(void)
{
    char out[WX_TOKEN_BUF_LEN];
    const char *tok = "some_token";
    memset(out, 'x', sizeof out);
    expect_status(wx_get_token(NULL, secret, tfile, efile, out, sizeof out),
                  WX_ERR_NULL_ARG, "appid");
    CHECK(out[0] == '\0', "out not emptied");
    /* A NULL secret is none given (passive readers need none): here the
     * environment's WX_APPSECRET stands in. */
    CHECK(wx_get_token(appid, NULL, tfile, efile, out, sizeof out) == WX_OK,
          "NULL secret: %s", last_error());
    expect_status(wx_get_token(appid, secret, tfile, efile, NULL, 10),
                  WX_ERR_NULL_ARG, "out");
    expect_status(wx_refresh(NULL, secret, tfile, efile, out, sizeof out),
                  WX_ERR_NULL_ARG, "appid");
    expect_status(wx_refresh(appid, secret, tfile, efile, NULL, 0),
                  WX_ERR_NULL_ARG, "out");
    CHECK(wx_invalidate(appid, NULL, tfile, efile, tok) == 0, "NULL secret: %s",
          last_error());
    expect_status(wx_invalidate(appid, secret, tfile, efile, NULL),
                  WX_ERR_NULL_ARG, "failed_token");
    CHECK(wx_last_errcode() == 0, "errcode %ld", wx_last_errcode());
    /* wx_last_error itself takes NULL. */
    CHECK(wx_last_error(NULL, 100) == strlen("failed_token is NULL"), "%s",
          last_error());
}

/* Invalid UTF-8 in each string argument. */
static void case_bad_utf8(void)
{
    char out[WX_TOKEN_BUF_LEN];
    const char *bad = "bad\xff\xfe";
    expect_status(wx_get_token(bad, secret, tfile, efile, out, sizeof out),
                  WX_ERR_INVALID_UTF8, "appid");
    expect_status(wx_get_token(appid, "sec\xc3", tfile, efile, out, sizeof out),
                  WX_ERR_INVALID_UTF8, "secret");
    CHECK(strstr(last_error(), "sec\xc3") == NULL, "shows the value: %s",
          last_error());
    expect_status(wx_get_token(appid, secret, bad, efile, out, sizeof out),
                  WX_ERR_INVALID_UTF8, "token_file");
    expect_status(wx_get_token(appid, secret, tfile, bad, out, sizeof out),
                  WX_ERR_INVALID_UTF8, "expiry_file");
    expect_status(wx_invalidate(appid, secret, tfile, efile, bad),
                  WX_ERR_INVALID_UTF8, "failed_token");
}

/* A small buffer is its own status and gets nothing partial. */
static void case_small_buffer(void)
{
    char small[16], big[WX_TOKEN_BUF_LEN];
    size_t len;
    memset(small, 'x', sizeof small);
    expect_status(get(small, 10), WX_ERR_BUFFER_TOO_SMALL, "WX_TOKEN_BUF_LEN");
    CHECK(small[0] == '\0' && small[1] == 'x', "partial write: %.16s", small);
    memset(small, 'x', sizeof small);
    expect_status(get(small, 0), WX_ERR_BUFFER_TOO_SMALL, "out_len is 0");
    CHECK(small[0] == 'x', "wrote into a zero-length buffer");
    /* The token fetched above stayed cached. */
    CHECK(get(big, sizeof big) == WX_OK, "%s", last_error());
    len = strlen(big);
    CHECK(len + 1 > 10, "token too short for this test: %s", big);
    CHECK(get(small, 0) != WX_OK, "zero");
    {
        char *exact = malloc(len + 1);
        CHECK(wx_get_token(appid, secret, tfile, efile, exact, len + 1) == WX_OK,
              "exact fit: %s", last_error());
        CHECK(strcmp(exact, big) == 0, "%s", exact);
        CHECK(wx_get_token(appid, secret, tfile, efile, exact, len) ==
                  WX_ERR_BUFFER_TOO_SMALL,
              "one byte short");
        free(exact);
    }
}

/* Compare-and-drop: only the stored token is dropped, once. */
static void case_invalidate(void)
{
    char first[WX_TOKEN_BUF_LEN], second[WX_TOKEN_BUF_LEN];
    int rc;
    CHECK(get(first, sizeof first) == WX_OK, "%s", last_error());
    rc = wx_invalidate(appid, secret, tfile, efile, "not_the_cached_token");
    CHECK(rc == 0, "foreign token: rc=%d %s", rc, last_error());
    rc = wx_invalidate(appid, secret, tfile, efile, "");
    CHECK(rc == 0, "empty token: rc=%d %s", rc, last_error());
    rc = wx_invalidate(appid, secret, tfile, efile, first);
    CHECK(rc == 1, "rc=%d %s", rc, last_error());
    rc = wx_invalidate(appid, secret, tfile, efile, first);
    CHECK(rc == 0, "dropped twice: rc=%d", rc);
    CHECK(get(second, sizeof second) == WX_OK, "%s", last_error());
    CHECK(strcmp(first, second) != 0, "same token after invalidate: %s", first);
    /* A newer token is kept when the old one is reported again. */
    rc = wx_invalidate(appid, secret, tfile, efile, first);
    CHECK(rc == 0, "newer token dropped: rc=%d", rc);
    puts(second);
}

/* A forced refresh replaces a fresh token. */
static void case_refresh(void)
{
    char a[WX_TOKEN_BUF_LEN], b[WX_TOKEN_BUF_LEN], c[WX_TOKEN_BUF_LEN];
    CHECK(get(a, sizeof a) == WX_OK, "%s", last_error());
    CHECK(wx_refresh(appid, secret, tfile, efile, b, sizeof b) == WX_OK, "%s",
          last_error());
    CHECK(strcmp(a, b) != 0, "refresh returned the old token");
    CHECK(get(c, sizeof c) == WX_OK && strcmp(b, c) == 0, "%s != %s", b, c);
    puts(c);
}

static void *other_thread_error(void *arg)
{
    size_t *len = arg;
    *len = wx_last_error(NULL, 0);
    return NULL;
}

/* wx_last_error(): snprintf-like, per thread, cleared by a success. */
static void case_last_error(void)
{
    char buf[8], out[WX_TOKEN_BUF_LEN];
    const char *msg = "appid is NULL";
    size_t other = 99;
    pthread_t t;
    CHECK(wx_last_error(NULL, 0) == 0, "not empty at start: %s", last_error());
    CHECK(wx_get_token(NULL, secret, tfile, efile, out, sizeof out) ==
              WX_ERR_NULL_ARG,
          "status");
    CHECK(wx_last_error(buf, 5) == strlen(msg), "length");
    CHECK(strcmp(buf, "appi") == 0, "truncated to \"%s\"", buf);
    memset(buf, 'x', sizeof buf);
    CHECK(wx_last_error(buf, 0) == strlen(msg) && buf[0] == 'x', "len 0 wrote");
    CHECK(wx_last_error(buf, 1) == strlen(msg) && buf[0] == '\0', "len 1");
    CHECK(strcmp(last_error(), msg) == 0, "\"%s\"", last_error());
    /* Another thread has its own (empty) last error. */
    CHECK(pthread_create(&t, NULL, other_thread_error, &other) == 0, "thread");
    pthread_join(t, NULL);
    CHECK(other == 0, "other thread sees %lu bytes", (unsigned long)other);
    /* A success clears it. */
    CHECK(get(out, sizeof out) == WX_OK, "%s", last_error());
    CHECK(wx_last_error(NULL, 0) == 0, "not cleared: %s", last_error());
}

/* Version, status names, constants. */
static void case_misc(void)
{
    const char *v = wx_version();
    int codes[] = {WX_OK, WX_ERR_NULL_ARG, WX_ERR_INVALID_UTF8,
                   WX_ERR_BUFFER_TOO_SMALL, WX_ERR_CONFIG, WX_ERR_WECHAT,
                   WX_ERR_NETWORK, WX_ERR_STORE, WX_ERR_PASSIVE, WX_ERR_PANIC};
    size_t i;
    CHECK(v != NULL && v[0] >= '0' && v[0] <= '9', "version \"%s\"", v);
    CHECK(WX_TOKEN_BUF_LEN == 513, "%d", WX_TOKEN_BUF_LEN);
    CHECK(WX_OK == 0, "WX_OK");
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *name = wx_status_name(codes[i]);
        CHECK(strncmp(name, "WX_", 3) == 0, "%d -> %s", codes[i], name);
        CHECK(i == 0 || codes[i] < 0, "%s is not negative", name);
    }
    CHECK(strcmp(wx_status_name(WX_ERR_NETWORK), "WX_ERR_NETWORK") == 0, "name");
    CHECK(strcmp(wx_status_name(12345), "WX_UNKNOWN_STATUS") == 0, "unknown");
    CHECK(wx_reset() == WX_OK, "reset");
    printf("libwxtoken %s\n", v);
}

/* The environment is read once per settings, and again after wx_reset(). */
static void case_reset(void)
{
    char out[WX_TOKEN_BUF_LEN];
    CHECK(get(out, sizeof out) == WX_OK, "%s", last_error());
    setenv("WX_REFRESH_MARGIN", "soon", 1);
    CHECK(get(out, sizeof out) == WX_OK, "env re-read before wx_reset: %s",
          last_error());
    CHECK(wx_reset() == WX_OK, "reset");
    expect_status(get(out, sizeof out), WX_ERR_CONFIG, "WX_REFRESH_MARGIN");
    unsetenv("WX_REFRESH_MARGIN");
    CHECK(get(out, sizeof out) == WX_OK, "config error was kept: %s",
          last_error());
}

#define THREADS 16

struct racer {
    pthread_barrier_t *start;
    int rc;
    char token[WX_TOKEN_BUF_LEN];
    char error[256];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->start);
    r->rc = get(r->token, sizeof r->token);
    if (r->rc != WX_OK)
        wx_last_error(r->error, sizeof r->error);
    return NULL;
}

/* 16 threads released at once on an expired cache: one token for all. */
static void case_threads(void)
{
    pthread_t t[THREADS];
    struct racer r[THREADS];
    pthread_barrier_t start;
    int i;
    pthread_barrier_init(&start, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        r[i].start = &start;
        r[i].error[0] = '\0';
        CHECK(pthread_create(&t[i], NULL, race, &r[i]) == 0, "thread %d", i);
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    for (i = 0; i < THREADS; i++) {
        CHECK(r[i].rc == WX_OK, "thread %d: %s", i, r[i].error);
        CHECK(strcmp(r[i].token, r[0].token) == 0, "thread %d got %s, not %s", i,
              r[i].token, r[0].token);
    }
    puts(r[0].token);
}

/* fork(2) while other threads are inside wx_get_token(): every child must
 * be able to call it too (a lock held at the fork would hang it). */
static volatile int fork_stop;
static void *fork_spinner(void *arg)
{
    char out[WX_TOKEN_BUF_LEN];
    (void)arg;
    while (!fork_stop)
        wx_get_token(appid, secret, tfile, efile, out, sizeof out);
    return NULL;
}

static void case_fork(int children)
{
    pthread_t t[4];
    char out[WX_TOKEN_BUF_LEN];
    int i, hung = 0, failed = 0;
    CHECK(wx_get_token(appid, secret, tfile, efile, out, sizeof out) == WX_OK, "first call");
    for (i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, fork_spinner, NULL);
    for (i = 0; i < children; i++) {
        int status = 0;
        pid_t pid = fork();
        if (pid == 0) {
            char mine[WX_TOKEN_BUF_LEN];
            alarm(120); /* a hang ends as SIGALRM, not as a stuck test */
            _exit(wx_get_token(appid, secret, tfile, efile, mine, sizeof mine) == WX_OK &&
                          strcmp(mine, out) == 0
                      ? 0
                      : 1);
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
    CHECK(hung == 0 && failed == 0, "%d of %d children hung, %d failed", hung, children, failed);
    printf("%d children\n", children);
}

/* fork(2) while another thread is in the middle of a refresh (the mock
 * answers slowly): the child's own miss must not wait for that thread, which
 * does not exist in the child. It gets the token the parent's refresh
 * stores, and run.sh checks that one upstream call served both. */
static void *refresher(void *arg)
{
    char *out = arg;
    if (wx_get_token(appid, secret, tfile, efile, out, WX_TOKEN_BUF_LEN) != WX_OK)
        out[0] = '\0';
    return NULL;
}

/* Whether anyone holds the cache's lock (the token file's ".lock"). */
static int lock_held(void)
{
    char path[4096];
    int fd, held;
    snprintf(path, sizeof path, "%s.lock", tfile);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    held = flock(fd, LOCK_EX | LOCK_NB) != 0;
    close(fd); /* releases it if we took it */
    return held;
}

static void case_fork_mid_refresh(void)
{
    pthread_t t;
    char theirs[WX_TOKEN_BUF_LEN] = "", mine[WX_TOKEN_BUF_LEN] = "";
    struct timespec pause = {0, 10 * 1000 * 1000};
    int fds[2], status = 0, i, mid;
    size_t got = 0;
    pid_t pid;
    pthread_create(&t, NULL, refresher, theirs);
    for (i = 0; i < 12000 && !lock_held(); i++) /* up to 2 minutes */
        nanosleep(&pause, NULL);
    mid = lock_held();
    CHECK(pipe(fds) == 0, "pipe");
    pid = fork();
    if (pid == 0) {
        int rc;
        alarm(120); /* a hang ends as SIGALRM, not as a stuck test */
        close(fds[0]);
        rc = wx_get_token(appid, secret, tfile, efile, mine, sizeof mine);
        if (rc == WX_OK)
            (void)!write(fds[1], mine, strlen(mine));
        else
            fprintf(stderr, "child: %d %s\n", rc, last_error());
        _exit(rc == WX_OK ? 0 : 1);
    }
    CHECK(pid > 0, "fork");
    close(fds[1]);
    for (;;) {
        ssize_t n = read(fds[0], mine + got, sizeof mine - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    mine[got] = '\0';
    waitpid(pid, &status, 0);
    pthread_join(t, NULL);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed or hung (status %d)",
          status);
    CHECK(theirs[0] != '\0' && strcmp(mine, theirs) == 0, "child \"%s\", parent \"%s\"", mine,
          theirs);
    printf("%s\n%s\n", mid ? "forked mid-refresh" : "forked after the refresh", theirs);
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    appid = getenv("WX_APPID");
    secret = getenv("WX_APPSECRET");
    tfile = getenv("T_TOKEN_FILE");
    efile = getenv("T_EXPIRY_FILE");
    if (appid == NULL || secret == NULL) {
        fprintf(stderr, "set WX_APPID and WX_APPSECRET\n");
        return 2;
    }

    if (strcmp(c, "get") == 0)
        case_get();
    else if (strcmp(c, "fork") == 0)
        case_fork(200);
    else if (strcmp(c, "fork-mid-refresh") == 0)
        case_fork_mid_refresh();
    else if (strcmp(c, "hit") == 0)
        case_hit();
    else if (strcmp(c, "expect") == 0 && argc == 4)
        case_expect(argv[2], atol(argv[3]));
    else if (strcmp(c, "null-args") == 0)
        case_null_args();
    else if (strcmp(c, "bad-utf8") == 0)
        case_bad_utf8();
    else if (strcmp(c, "small-buffer") == 0)
        case_small_buffer();
    else if (strcmp(c, "invalidate") == 0)
        case_invalidate();
    else if (strcmp(c, "refresh") == 0)
        case_refresh();
    else if (strcmp(c, "last-error") == 0)
        case_last_error();
    else if (strcmp(c, "misc") == 0)
        case_misc();
    else if (strcmp(c, "reset") == 0)
        case_reset();
    else if (strcmp(c, "threads") == 0)
        case_threads();
    else {
        fprintf(stderr, "unknown case \"%s\"\n", c);
        return 2;
    }
    /* Frees the caches and their HTTP client thread: valgrind sees no leak. */
    wx_reset();
    return failures == 0 ? 0 : 1;
}
