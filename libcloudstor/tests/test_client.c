/*
 * Exercises every libcloudstor call against a live cloudstord, error paths and
 * hostile input included. Driven by tests/test_libcloudstor.py:
 *   test_client all SOCKET N        every call, then N sequential Gets on one client
 *   test_client restart SOCKET      calls around a daemon restart and outage,
 *                                   synchronised over stdin/stdout
 *   test_client down SOCKET         a daemon that is not there
 *   test_client timeout SOCKET      a peer that accepts but never answers
 *   test_client list SOCKET         prints the volume names, one a line
 *   test_client create SOCKET NAME  / remove SOCKET NAME
 * Exits 0 when every check held; prints the first failed check otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cloudstor.h>

static cloudstor_client *client;

#define CHECK(cond)                                                                                     \
    do {                                                                                                \
        if (!(cond)) {                                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s (last: %d %s)\n", __FILE__, __LINE__, #cond,       \
                    cloudstor_errcode(client), client ? cloudstor_errmsg(client) : "");                 \
            exit(1);                                                                                    \
        }                                                                                               \
    } while (0)
#define CHECK_RC(expr, want)                                                                            \
    do {                                                                                                \
        int rc_ = (expr);                                                                               \
        if (rc_ != (want)) {                                                                            \
            fprintf(stderr, "%s:%d: %s returned %d (%s), wanted %d: %s\n", __FILE__, __LINE__, #expr, rc_, \
                    cloudstor_strerror(rc_), (want), client ? cloudstor_errmsg(client) : "");           \
            exit(1);                                                                                    \
        }                                                                                               \
    } while (0)
#define OK(expr) CHECK_RC(expr, CLOUDSTOR_OK)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int has_volume(const char *name) {
    cloudstor_volumes *list;
    OK(cloudstor_volume_list(&list, client));
    int found = 0;
    for (size_t i = 0; i < cloudstor_volumes_count(list); i++)
        if (strcmp(cloudstor_volume_name(cloudstor_volumes_at(list, i)), name) == 0) found = 1;
    CHECK(cloudstor_volumes_at(list, cloudstor_volumes_count(list)) == NULL);
    cloudstor_volumes_free(list);
    return found;
}

static void test_library(void) {
    CHECK(strcmp(cloudstor_version(), CLOUDSTOR_VERSION) == 0);
    CHECK(cloudstor_version_number() == CLOUDSTOR_VERSION_NUMBER);
    for (int a = CLOUDSTOR_EUNKNOWN; a <= CLOUDSTOR_OK; a++)
        for (int b = CLOUDSTOR_EUNKNOWN; b < a; b++) CHECK(strcmp(cloudstor_strerror(a), cloudstor_strerror(b)) != 0);
    CHECK(strcmp(cloudstor_strerror(-999), "unknown error") == 0);
    CHECK(strcmp(cloudstor_strerror(CLOUDSTOR_ENOTFOUND), "volume not found") == 0);
}

static void test_calls(void) {
    int status = -1;
    OK(cloudstor_health(&status, client, NULL));
    CHECK(status == CLOUDSTOR_HEALTH_SERVING);
    OK(cloudstor_health(&status, client, ""));
    CHECK(status == CLOUDSTOR_HEALTH_SERVING);
    char *scope;
    OK(cloudstor_capabilities(&scope, client));
    CHECK(strcmp(scope, "global") == 0 || strcmp(scope, "local") == 0);
    cloudstor_free(scope);

    /* create, idempotent create, and its refusals */
    const cloudstor_option rel[] = {{"backing", "relocatable"}, {"size", "1"}};
    cloudstor_volume *v;
    OK(cloudstor_volume_create(&v, client, "c-rel", rel, 2));
    CHECK(strcmp(cloudstor_errmsg(client), "") == 0 && cloudstor_errcode(client) == 0);
    CHECK(strcmp(cloudstor_volume_name(v), "c-rel") == 0);
    CHECK(cloudstor_volume_backing(v) == CLOUDSTOR_BACKING_RELOCATABLE);
    CHECK(strcmp(cloudstor_volume_option(v, "size"), "1") == 0);
    CHECK(cloudstor_volume_option(v, "nope") == NULL && cloudstor_volume_option(v, NULL) == NULL);
    CHECK(cloudstor_volume_option_count(v) >= 2);
    const char *key, *value, *prev = "";
    for (size_t i = 0; i < cloudstor_volume_option_count(v); i++) {
        OK(cloudstor_volume_option_at(&key, &value, v, i));
        CHECK(strcmp(prev, key) < 0 && value != NULL);
        prev = key;
    }
    CHECK_RC(cloudstor_volume_option_at(&key, &value, v, cloudstor_volume_option_count(v)), CLOUDSTOR_EMISUSE);
    CHECK(key == NULL && value == NULL);
    CHECK(cloudstor_volume_state(v) == CLOUDSTOR_STATE_CREATED);
    CHECK(strlen(cloudstor_volume_created_at(v)) >= 20);
    CHECK(strcmp(cloudstor_volume_mountpoint(v), "") == 0 && cloudstor_volume_mount_count(v) == 0);
    CHECK(cloudstor_volume_cloud_id(v) && cloudstor_volume_zone(v) && cloudstor_volume_node(v) &&
          cloudstor_volume_device(v));
    cloudstor_volume_free(v);
    OK(cloudstor_volume_create(NULL, client, "c-rel", rel, 2)); /* idempotent; out may be NULL */
    const cloudstor_option bigger[] = {{"backing", "relocatable"}, {"size", "2"}};
    CHECK_RC(cloudstor_volume_create(&v, client, "c-rel", bigger, 2), CLOUDSTOR_EEXISTS);
    CHECK(v == NULL && strstr(cloudstor_errmsg(client), "c-rel") != NULL);
    CHECK(cloudstor_errcode(client) == CLOUDSTOR_EEXISTS);
    const cloudstor_option bogus[] = {{"bogus", "1"}};
    CHECK_RC(cloudstor_volume_create(&v, client, "c-bad", bogus, 1), CLOUDSTOR_EINVAL);
    CHECK(strstr(cloudstor_errmsg(client), "bogus") != NULL);
    const cloudstor_option misplaced[] = {{"backing", "shared"}, {"size", "1"}};
    CHECK_RC(cloudstor_volume_create(NULL, client, "c-bad", misplaced, 2), CLOUDSTOR_EINVAL);
    CHECK(strstr(cloudstor_errmsg(client), "size") != NULL);
    const cloudstor_option shared[] = {{"backing", "shared"}};
    OK(cloudstor_volume_create(NULL, client, "c-sh", shared, 1));

    /* get, list, path */
    OK(cloudstor_volume_get(&v, client, "c-sh"));
    CHECK(cloudstor_volume_backing(v) == CLOUDSTOR_BACKING_SHARED);
    cloudstor_volume_free(v);
    CHECK_RC(cloudstor_volume_get(&v, client, "nope"), CLOUDSTOR_ENOTFOUND);
    CHECK(v == NULL && strstr(cloudstor_errmsg(client), "nope") != NULL);
    CHECK(has_volume("c-rel") && has_volume("c-sh") && !has_volume("c-bad"));
    char *path;
    OK(cloudstor_volume_path(&path, client, "c-rel"));
    CHECK(strcmp(path, "") == 0);
    cloudstor_free(path);
    CHECK_RC(cloudstor_volume_path(&path, client, "nope"), CLOUDSTOR_ENOTFOUND);
    CHECK(path == NULL);

    /* mount, in use, unmount */
    char *mp;
    OK(cloudstor_volume_mount(&mp, client, "c-rel", "holder-a"));
    CHECK(mp[0] == '/');
    OK(cloudstor_volume_path(&path, client, "c-rel"));
    CHECK(strcmp(path, mp) == 0);
    cloudstor_free(path);
    OK(cloudstor_volume_get(&v, client, "c-rel"));
    CHECK(cloudstor_volume_state(v) == CLOUDSTOR_STATE_MOUNTED && cloudstor_volume_mount_count(v) == 1);
    CHECK(strcmp(cloudstor_volume_mountpoint(v), mp) == 0 && strcmp(cloudstor_volume_node(v), "test-node") == 0);
    cloudstor_volume_free(v);
    CHECK_RC(cloudstor_volume_remove(client, "c-rel"), CLOUDSTOR_EBUSY);
    CHECK(strstr(cloudstor_errmsg(client), "c-rel") != NULL);
    OK(cloudstor_volume_unmount(client, "c-rel", "holder-a"));
    cloudstor_free(mp);
    CHECK_RC(cloudstor_volume_mount(&mp, client, "nope", "a"), CLOUDSTOR_ENOTFOUND);
    CHECK(mp == NULL);
    CHECK_RC(cloudstor_volume_unmount(client, "nope", "a"), CLOUDSTOR_ENOTFOUND);

    /* remove */
    OK(cloudstor_volume_remove(client, "c-rel"));
    OK(cloudstor_volume_remove(client, "c-sh"));
    CHECK_RC(cloudstor_volume_get(&v, client, "c-rel"), CLOUDSTOR_ENOTFOUND);
    CHECK_RC(cloudstor_volume_remove(client, "c-rel"), CLOUDSTOR_ENOTFOUND);
    CHECK(!has_volume("c-rel") && !has_volume("c-sh"));
}

static void test_hostile(void) {
    cloudstor_volume *v = (cloudstor_volume *)1;
    cloudstor_volumes *list;
    char *s;
    int status;
    /* NULL handles and out-parameters */
    CHECK_RC(cloudstor_client_open(NULL, "/tmp/x.sock"), CLOUDSTOR_EMISUSE);
    cloudstor_client *other = (cloudstor_client *)1;
    CHECK_RC(cloudstor_client_open(&other, ""), CLOUDSTOR_EINVAL);
    CHECK(other == NULL);
    char long_path[300];
    memset(long_path, 'x', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    CHECK_RC(cloudstor_client_open(&other, long_path), CLOUDSTOR_EINVAL);
    cloudstor_client_close(NULL);
    CHECK_RC(cloudstor_client_set_timeout(NULL, 10), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_client_set_timeout(client, -1), CLOUDSTOR_EMISUSE);
    CHECK(cloudstor_errmsg(NULL) != NULL && cloudstor_errcode(NULL) == CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_get(&v, NULL, "x"), CLOUDSTOR_EMISUSE);
    CHECK(v == NULL);
    CHECK_RC(cloudstor_volume_get(NULL, client, "x"), CLOUDSTOR_EMISUSE);
    CHECK(strstr(cloudstor_errmsg(client), "NULL") != NULL);
    CHECK_RC(cloudstor_volume_get(&v, client, NULL), CLOUDSTOR_EMISUSE);
    CHECK(strstr(cloudstor_errmsg(client), "name") != NULL);
    CHECK_RC(cloudstor_volume_list(NULL, client), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_list(&list, NULL), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_create(NULL, NULL, "x", NULL, 0), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_create(NULL, client, NULL, NULL, 0), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_create(NULL, client, "x", NULL, 1), CLOUDSTOR_EMISUSE);
    const cloudstor_option null_key[] = {{"backing", "shared"}, {NULL, "1"}};
    CHECK_RC(cloudstor_volume_create(NULL, client, "x", null_key, 2), CLOUDSTOR_EMISUSE);
    CHECK(strstr(cloudstor_errmsg(client), "option 1 has a NULL key") != NULL);
    const cloudstor_option null_value[] = {{"backing", NULL}};
    CHECK_RC(cloudstor_volume_create(NULL, client, "x", null_value, 1), CLOUDSTOR_EMISUSE);
    CHECK(strstr(cloudstor_errmsg(client), "NULL value") != NULL);
    CHECK_RC(cloudstor_volume_remove(NULL, "x"), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_remove(client, NULL), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_mount(NULL, client, "x", "a"), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_mount(&s, client, NULL, "a"), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_mount(&s, client, "x", NULL), CLOUDSTOR_EMISUSE);
    CHECK(strstr(cloudstor_errmsg(client), "id") != NULL);
    CHECK_RC(cloudstor_volume_unmount(client, "x", NULL), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_unmount(NULL, "x", "a"), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_path(NULL, client, "x"), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_volume_path(&s, client, NULL), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_capabilities(NULL, client), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_capabilities(&s, NULL), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_health(NULL, client, NULL), CLOUDSTOR_EMISUSE);
    CHECK_RC(cloudstor_health(&status, NULL, NULL), CLOUDSTOR_EMISUSE);
    /* accessors and frees of NULL */
    CHECK(cloudstor_volume_name(NULL) == NULL && cloudstor_volume_option(NULL, "size") == NULL);
    CHECK(cloudstor_volume_backing(NULL) == 0 && cloudstor_volume_state(NULL) == 0);
    CHECK(cloudstor_volume_mountpoint(NULL) == NULL && cloudstor_volume_created_at(NULL) == NULL);
    CHECK(cloudstor_volume_mount_count(NULL) == 0 && cloudstor_volume_option_count(NULL) == 0);
    CHECK_RC(cloudstor_volume_option_at(NULL, NULL, NULL, 0), CLOUDSTOR_EMISUSE);
    CHECK(cloudstor_volumes_count(NULL) == 0 && cloudstor_volumes_at(NULL, 0) == NULL);
    cloudstor_volume_free(NULL);
    cloudstor_volumes_free(NULL);
    cloudstor_free(NULL);
    /* names the daemon must refuse: empty, too long, not Docker's alphabet */
    CHECK_RC(cloudstor_volume_get(&v, client, ""), CLOUDSTOR_EINVAL);
    CHECK_RC(cloudstor_volume_create(NULL, client, "", NULL, 0), CLOUDSTOR_EINVAL);
    CHECK_RC(cloudstor_volume_create(NULL, client, "../etc", NULL, 0), CLOUDSTOR_EINVAL);
    CHECK_RC(cloudstor_volume_create(NULL, client, "a\nb", NULL, 0), CLOUDSTOR_EINVAL);
    size_t sizes[] = {256, 100000, 5u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *huge = malloc(sizes[i] + 1);
        CHECK(huge != NULL);
        memset(huge, 'a', sizes[i]);
        huge[sizes[i]] = '\0';
        CHECK_RC(cloudstor_volume_create(NULL, client, huge, NULL, 0), CLOUDSTOR_EINVAL);
        CHECK_RC(cloudstor_volume_get(&v, client, huge), CLOUDSTOR_EINVAL);
        const cloudstor_option huge_option[] = {{"backing", "shared"}, {huge, huge}};
        CHECK_RC(cloudstor_volume_create(NULL, client, "x", huge_option, 2), CLOUDSTOR_EINVAL);
        free(huge);
    }
    /* still usable after all that */
    OK(cloudstor_health(&status, client, NULL));
    CHECK(status == CLOUDSTOR_HEALTH_SERVING);
}

static void test_sequential(long n) {
    const cloudstor_option opts[] = {{"backing", "shared"}};
    OK(cloudstor_volume_create(NULL, client, "c-loop", opts, 1));
    double start = now();
    for (long i = 0; i < n; i++) {
        cloudstor_volume *v;
        OK(cloudstor_volume_get(&v, client, "c-loop"));
        CHECK(strcmp(cloudstor_volume_name(v), "c-loop") == 0);
        cloudstor_volume_free(v);
    }
    double took = now() - start;
    OK(cloudstor_volume_remove(client, "c-loop"));
    printf("%ld sequential Get calls in %.2f s (%.3f ms each)\n", n, took, n ? took * 1000 / (double)n : 0);
}

static void await(const char *what) {
    char line[64];
    printf("%s\n", what);
    fflush(stdout);
    CHECK(fgets(line, sizeof line, stdin) != NULL);
}

static void test_restart(void) {
    cloudstor_volume *v;
    const cloudstor_option opts[] = {{"backing", "shared"}};
    OK(cloudstor_volume_create(NULL, client, "c-restart", opts, 1));
    for (int i = 0; i < 5; i++) {
        OK(cloudstor_volume_get(&v, client, "c-restart"));
        cloudstor_volume_free(v);
    }
    await("restart"); /* the daemon restarts: the next call must still succeed */
    OK(cloudstor_volume_get(&v, client, "c-restart"));
    cloudstor_volume_free(v);
    OK(cloudstor_volume_get(&v, client, "c-restart"));
    cloudstor_volume_free(v);
    await("stop"); /* the daemon is down: quick EUNAVAILABLE, no hang */
    double start = now();
    CHECK_RC(cloudstor_volume_get(&v, client, "c-restart"), CLOUDSTOR_EUNAVAILABLE);
    CHECK(now() - start < 2.0 && v == NULL);
    CHECK(strstr(cloudstor_errmsg(client), "cloudstord") != NULL);
    int status;
    CHECK_RC(cloudstor_health(&status, client, NULL), CLOUDSTOR_EUNAVAILABLE);
    await("start"); /* back: the same client works again */
    OK(cloudstor_volume_get(&v, client, "c-restart"));
    cloudstor_volume_free(v);
    OK(cloudstor_volume_remove(client, "c-restart"));
    printf("restart ok\n");
}

static void test_down(void) {
    double start = now();
    cloudstor_volume *v;
    CHECK_RC(cloudstor_volume_get(&v, client, "x"), CLOUDSTOR_EUNAVAILABLE);
    CHECK_RC(cloudstor_volume_create(NULL, client, "x", NULL, 0), CLOUDSTOR_EUNAVAILABLE);
    int status;
    CHECK_RC(cloudstor_health(&status, client, NULL), CLOUDSTOR_EUNAVAILABLE);
    CHECK(now() - start < 2.0);
    CHECK(strstr(cloudstor_errmsg(client), "cannot reach cloudstord") != NULL);
    printf("down ok: %s\n", cloudstor_errmsg(client));
}

static void test_timeout(void) {
    OK(cloudstor_client_set_timeout(client, 300));
    double start = now();
    cloudstor_volume *v;
    CHECK_RC(cloudstor_volume_get(&v, client, "x"), CLOUDSTOR_ETIMEDOUT);
    double took = now() - start;
    CHECK(took >= 0.29 && took < 2.0 && v == NULL);
    CHECK(strstr(cloudstor_errmsg(client), "timed out after 300 ms") != NULL);
    printf("timeout ok: %s\n", cloudstor_errmsg(client));
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s all|restart|down|timeout|list|create|remove SOCKET [N|NAME]\n", argv[0]);
        return 64;
    }
    const char *mode = argv[1];
    OK(cloudstor_client_open(&client, argv[2]));
    OK(cloudstor_client_set_timeout(client, 30000));
    if (strcmp(mode, "all") == 0) {
        test_library();
        test_calls();
        test_hostile();
        test_sequential(argc > 3 ? atol(argv[3]) : 1000);
    } else if (strcmp(mode, "restart") == 0) {
        test_restart();
    } else if (strcmp(mode, "down") == 0) {
        test_down();
    } else if (strcmp(mode, "timeout") == 0) {
        test_timeout();
    } else if (strcmp(mode, "list") == 0) {
        cloudstor_volumes *list;
        OK(cloudstor_volume_list(&list, client));
        for (size_t i = 0; i < cloudstor_volumes_count(list); i++)
            printf("%s\n", cloudstor_volume_name(cloudstor_volumes_at(list, i)));
        cloudstor_volumes_free(list);
    } else if (strcmp(mode, "create") == 0 && argc > 3) {
        const cloudstor_option opts[] = {{"backing", "shared"}};
        OK(cloudstor_volume_create(NULL, client, argv[3], opts, 1));
    } else if (strcmp(mode, "remove") == 0 && argc > 3) {
        OK(cloudstor_volume_remove(client, argv[3]));
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 64;
    }
    cloudstor_client_close(client);
    printf("%s ok\n", mode);
    return 0;
}
