/*
 * Times N sequential Get calls through libcloudstor, and a floor: a raw 64-byte
 * unix-socket echo round trip (the echo server is a thread of this program).
 *   bench SOCKET VOLUME N
 * Prints one tab-separated line per path: name, calls, p50 s, p99 s, calls/s.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cloudstor.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Same percentile rule as cloudstor-bench. */
static double percentile(const double *sorted, long n, double p) {
    long i = (long)(n * p + 0.999999) - 1;
    if (i > n - 1) i = n - 1;
    return sorted[i < 0 ? 0 : i];
}

static void report(const char *name, double *samples, long n, double wall) {
    qsort(samples, (size_t)n, sizeof *samples, by_value);
    printf("%s\t%ld\t%.9f\t%.9f\t%.1f\n", name, n, percentile(samples, n, 0.5), percentile(samples, n, 0.99),
           (double)n / wall);
}

static void *echo(void *arg) {
    int fd = *(int *)arg;
    char buf[64];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (write(fd, buf, (size_t)n) != n) break;
    return NULL;
}

static int full_read(int fd, char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SOCKET VOLUME N\n", argv[0]);
        return 64;
    }
    long n = atol(argv[3]);
    if (n <= 0) return 64;
    double *samples = malloc(sizeof *samples * (size_t)n * 4);
    if (!samples) return 1;

    int fds[2];
    pthread_t server;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0 || pthread_create(&server, NULL, echo, &fds[1]) != 0) return 1;
    char payload[64], reply[64];
    memset(payload, 'a', sizeof payload);
    long echoes = n * 4;
    double start = 0;
    for (long i = -100; i < echoes; i++) {
        if (i == 0) start = now();
        double t0 = now();
        if (write(fds[0], payload, sizeof payload) != (ssize_t)sizeof payload || full_read(fds[0], reply, sizeof reply))
            return 1;
        if (i >= 0) samples[i] = now() - t0;
    }
    report("raw unix-socket echo (floor)", samples, echoes, now() - start);
    close(fds[0]);
    pthread_join(server, NULL);
    close(fds[1]);

    cloudstor_client *client;
    int rc = cloudstor_client_open(&client, argv[1]);
    if (rc) {
        fprintf(stderr, "open: %s\n", cloudstor_strerror(rc));
        return 1;
    }
    for (long i = -100; i < n; i++) {
        if (i == 0) start = now();
        double t0 = now();
        cloudstor_volume *v;
        rc = cloudstor_volume_get(&v, client, argv[2]);
        if (rc) {
            fprintf(stderr, "Get: %s\n", cloudstor_errmsg(client));
            return 1;
        }
        cloudstor_volume_free(v);
        if (i >= 0) samples[i] = now() - t0;
    }
    report("gRPC Get (C libcloudstor)", samples, n, now() - start);
    cloudstor_client_close(client);
    free(samples);
    return 0;
}
