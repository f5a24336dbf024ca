/*
 * `make bench-c`: what a cache hit costs a C caller of wx_get_token(), next
 * to what the legacy approach (open, read and parse both files on every
 * call) costs in C. Prints figures; asserts nothing about speed.
 *
 * Needs no server: it writes a fresh token into a temporary directory, and a
 * hit never touches the network (WX_API_BASE points nowhere, to be sure).
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wxtoken.h"

#define THREADS 4

static char tfile[512], efile[512];
static double budget = 1.0; /* seconds per figure */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* The legacy script's read, in C: both files, every call. */
static int legacy_read(char *out, size_t len)
{
    char expiry[32];
    size_t n;
    FILE *f = fopen(efile, "r");
    if (f == NULL)
        return -1;
    n = fread(expiry, 1, sizeof expiry - 1, f);
    fclose(f);
    expiry[n] = '\0';
    if (time(NULL) >= atol(expiry))
        return -1;
    f = fopen(tfile, "r");
    if (f == NULL)
        return -1;
    n = fread(out, 1, len - 1, f);
    fclose(f);
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

static int hit(char *out, size_t len)
{
    return wx_get_token("wx_bench_appid", "bench_secret", tfile, efile, out, len);
}

/* The floor: what a hit cannot avoid, two fstat(2)s on the open files. */
static int tfd = -1, efd = -1;
static int floor_fstat(char *out, size_t len)
{
    struct stat a, b;
    (void)out;
    (void)len;
    return fstat(tfd, &a) | fstat(efd, &b);
}

/* Calls per second of `f` on one thread: the median of 5 rounds of about
 * budget/5 seconds each. */
#define ROUNDS 5
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double rate(int (*f)(char *, size_t))
{
    char out[WX_TOKEN_BUF_LEN];
    double rates[ROUNDS], start, elapsed;
    long calls;
    int i, r;
    for (i = 0; i < 1000; i++)
        if (f(out, sizeof out) != 0) {
            fprintf(stderr, "bench: call failed\n");
            exit(1);
        }
    for (r = 0; r < ROUNDS; r++) {
        calls = 0;
        start = now();
        do {
            for (i = 0; i < 1000; i++)
                f(out, sizeof out);
            calls += 1000;
            elapsed = now() - start;
        } while (elapsed < budget / ROUNDS);
        rates[r] = calls / elapsed;
    }
    qsort(rates, ROUNDS, sizeof rates[0], cmp_double);
    return rates[ROUNDS / 2];
}

static void *thread_rate(void *arg)
{
    *(double *)arg = rate(hit);
    return NULL;
}

static void report(const char *key, const char *name, double per_second)
{
    printf("%-52s %10.1f ns/call %12.0f calls/s\n", name, 1e9 / per_second,
           per_second);
    printf("RESULT %s %.1f\n", key, 1e9 / per_second);
}

int main(void)
{
    char dir[] = "/tmp/wxtoken-bench-c.XXXXXX", token[200], expiry[32];
    double single, legacy, floor_rate, rates[THREADS], total = 0;
    pthread_t t[THREADS];
    int i;
    if (getenv("BENCH_MS") != NULL)
        budget = atof(getenv("BENCH_MS")) / 1000;
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(tfile, sizeof tfile, "%s/token.txt", dir);
    snprintf(efile, sizeof efile, "%s/expiry.txt", dir);
    memset(token, 'T', 150);
    token[150] = '\0';
    snprintf(expiry, sizeof expiry, "%ld", (long)time(NULL) + 7200);
    write_file(tfile, token);
    write_file(efile, expiry);
    setenv("WX_API_BASE", "http://127.0.0.1:1", 1);
    /* Files changed within the last second are re-read on every call (their
     * timestamps may be too coarse to trust yet): measure the steady state. */
    sleep(2);

    single = rate(hit);
    legacy = rate(legacy_read);
    tfd = open(tfile, O_RDONLY);
    efd = open(efile, O_RDONLY);
    floor_rate = rate(floor_fstat);
    close(tfd);
    close(efd);
    for (i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, thread_rate, &rates[i]);
    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += rates[i];
    }
    report("c_hit", "C wx_get_token() hit, 1 thread", single);
    report("c_legacy", "C legacy-style read of both files, 1 thread", legacy);
    report("c_floor", "floor: two fstat(2) on the open files", floor_rate);
    printf("%-52s %10.0f calls/s in total\n", "C wx_get_token() hit, 4 threads", total);
    printf("wx_get_token() hit vs legacy read: %.1fx faster; %.2fx the floor\n",
           single / legacy, floor_rate / single);

    wx_reset();
    unlink(tfile);
    unlink(efile);
    {
        char lock[600];
        snprintf(lock, sizeof lock, "%s.lock", tfile);
        unlink(lock);
    }
    rmdir(dir);
    return 0;
}
