/* The client handle and the calls: build each request, run it, copy the answer out. */
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "internal.h"
#include "grpc/health/v1/health.pb-c.h"

#define DEFAULT_TIMEOUT_MS 130000L
#define VOLUMES "/cloudstor.v1.Volumes/"

int cloudstor_client_open(cloudstor_client **out, const char *socket_path) {
    if (!out) return CLOUDSTOR_EMISUSE;
    *out = NULL;
    if (!socket_path) {
        socket_path = getenv("CLOUDSTOR_SOCKET");
        if (!socket_path || !*socket_path) socket_path = CLOUDSTOR_DEFAULT_SOCKET;
    }
    if (!*socket_path || strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return CLOUDSTOR_EINVAL; /* empty, or longer than a unix socket path can be */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return CLOUDSTOR_ENOMEM;
    cloudstor_client *c = calloc(1, sizeof *c);
    if (!c || !(c->socket_path = strdup(socket_path))) {
        free(c);
        curl_global_cleanup();
        return CLOUDSTOR_ENOMEM;
    }
    c->timeout_ms = DEFAULT_TIMEOUT_MS;
    int rc = cs_transport_init(c);
    if (rc != CLOUDSTOR_OK) {
        cloudstor_client_close(c);
        return rc;
    }
    *out = c;
    return CLOUDSTOR_OK;
}

void cloudstor_client_close(cloudstor_client *client) {
    if (!client) return;
    cs_transport_free(client);
    free(client->socket_path);
    free(client);
    curl_global_cleanup();
}

int cloudstor_client_set_timeout(cloudstor_client *client, long timeout_ms) {
    if (!client) return CLOUDSTOR_EMISUSE;
    if (timeout_ms < 0) return cs_fail(client, CLOUDSTOR_EMISUSE, "timeout must not be negative");
    client->timeout_ms = timeout_ms;
    return cs_ok(client);
}

/* Refuses a NULL client, and a NULL pointer argument naming it in the message. */
static int require(cloudstor_client *c, const void *arg, const char *what) {
    if (!c) return CLOUDSTOR_EMISUSE;
    return arg ? CLOUDSTOR_OK : cs_fail(c, CLOUDSTOR_EMISUSE, "%s must not be NULL", what);
}

#define CALL(c, method, idempotent, req, type, resp) \
    cs_call((c), VOLUMES method, (idempotent), &(req).base, &cloudstor__v1__##type##__descriptor, (ProtobufCMessage **)(resp))

/* Moves a volume out of an answer into a new cloudstor_volume. */
static int take_volume(cloudstor_volume **out, cloudstor_client *c, const Cloudstor__V1__Volume *v) {
    if (!v) return cs_fail(c, CLOUDSTOR_EPROTO, "the answer holds no volume");
    cloudstor_volume *vol = calloc(1, sizeof *vol);
    if (!vol || cs_volume_fill(vol, v) != CLOUDSTOR_OK) {
        cloudstor_volume_free(vol);
        return cs_fail(c, CLOUDSTOR_ENOMEM, "out of memory");
    }
    *out = vol;
    return CLOUDSTOR_OK;
}

int cloudstor_volume_create(cloudstor_volume **out, cloudstor_client *client, const char *name,
                            const cloudstor_option *options, size_t n_options) {
    if (out) *out = NULL; /* out may be NULL: the caller needs no copy */
    int rc = require(client, name, "name");
    if (rc) return rc;
    if (!options && n_options) return cs_fail(client, CLOUDSTOR_EMISUSE, "options is NULL but n_options is %zu", n_options);
    for (size_t i = 0; i < n_options; i++)
        if (!options[i].key || !options[i].value)
            return cs_fail(client, CLOUDSTOR_EMISUSE, "option %zu has a NULL %s", i, options[i].key ? "value" : "key");

    Cloudstor__V1__CreateRequest req = CLOUDSTOR__V1__CREATE_REQUEST__INIT;
    Cloudstor__V1__CreateRequest__OptionsEntry *entries = calloc(n_options ? n_options : 1, sizeof *entries);
    Cloudstor__V1__CreateRequest__OptionsEntry **ptrs = calloc(n_options ? n_options : 1, sizeof *ptrs);
    if (!entries || !ptrs) {
        free(entries);
        free(ptrs);
        return cs_fail(client, CLOUDSTOR_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n_options; i++) {
        cloudstor__v1__create_request__options_entry__init(&entries[i]);
        entries[i].key = (char *)options[i].key; /* only read by the packer */
        entries[i].value = (char *)options[i].value;
        ptrs[i] = &entries[i];
    }
    req.name = (char *)name;
    req.n_options = n_options;
    req.options = ptrs;
    Cloudstor__V1__CreateResponse *resp;
    rc = CALL(client, "Create", 1, req, create_response, &resp);
    free(entries);
    free(ptrs);
    if (rc) return rc;
    if (out) rc = take_volume(out, client, resp->volume);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cloudstor_volume_remove(cloudstor_client *client, const char *name) {
    int rc = require(client, name, "name");
    if (rc) return rc;
    Cloudstor__V1__RemoveRequest req = CLOUDSTOR__V1__REMOVE_REQUEST__INIT;
    req.name = (char *)name;
    Cloudstor__V1__RemoveResponse *resp;
    rc = CALL(client, "Remove", 0, req, remove_response, &resp);
    if (resp) protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cloudstor_volume_get(cloudstor_volume **out, cloudstor_client *client, const char *name) {
    if (out) *out = NULL;
    int rc = require(client, out, "out");
    if (!rc) rc = require(client, name, "name");
    if (rc) return rc;
    Cloudstor__V1__GetRequest req = CLOUDSTOR__V1__GET_REQUEST__INIT;
    req.name = (char *)name;
    Cloudstor__V1__GetResponse *resp;
    rc = CALL(client, "Get", 1, req, get_response, &resp);
    if (rc) return rc;
    rc = take_volume(out, client, resp->volume);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cloudstor_volume_list(cloudstor_volumes **out, cloudstor_client *client) {
    if (out) *out = NULL;
    int rc = require(client, out, "out");
    if (rc) return rc;
    Cloudstor__V1__ListRequest req = CLOUDSTOR__V1__LIST_REQUEST__INIT;
    Cloudstor__V1__ListResponse *resp;
    rc = CALL(client, "List", 1, req, list_response, &resp);
    if (rc) return rc;
    cloudstor_volumes *list = calloc(1, sizeof *list);
    if (list) list->items = calloc(resp->n_volumes ? resp->n_volumes : 1, sizeof *list->items);
    if (!list || !list->items) rc = CLOUDSTOR_ENOMEM;
    for (size_t i = 0; rc == CLOUDSTOR_OK && i < resp->n_volumes; i++) {
        rc = cs_volume_fill(&list->items[i], resp->volumes[i]);
        if (rc == CLOUDSTOR_OK) list->count++;
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (rc) {
        cloudstor_volumes_free(list);
        return cs_fail(client, rc, "out of memory");
    }
    *out = list;
    return CLOUDSTOR_OK;
}

/* Copies an answer's string into a new malloc'd one for the caller. */
static int give_string(char **out, cloudstor_client *c, const char *s) {
    *out = strdup(s ? s : "");
    return *out ? CLOUDSTOR_OK : cs_fail(c, CLOUDSTOR_ENOMEM, "out of memory");
}

int cloudstor_volume_mount(char **mountpoint_out, cloudstor_client *client, const char *name, const char *id) {
    if (mountpoint_out) *mountpoint_out = NULL;
    int rc = require(client, mountpoint_out, "mountpoint_out");
    if (!rc) rc = require(client, name, "name");
    if (!rc) rc = require(client, id, "id");
    if (rc) return rc;
    Cloudstor__V1__MountRequest req = CLOUDSTOR__V1__MOUNT_REQUEST__INIT;
    req.name = (char *)name;
    req.id = (char *)id;
    Cloudstor__V1__MountResponse *resp;
    rc = CALL(client, "Mount", 0, req, mount_response, &resp);
    if (rc) return rc;
    rc = give_string(mountpoint_out, client, resp->mountpoint);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cloudstor_volume_unmount(cloudstor_client *client, const char *name, const char *id) {
    int rc = require(client, name, "name");
    if (!rc) rc = require(client, id, "id");
    if (rc) return rc;
    Cloudstor__V1__UnmountRequest req = CLOUDSTOR__V1__UNMOUNT_REQUEST__INIT;
    req.name = (char *)name;
    req.id = (char *)id;
    Cloudstor__V1__UnmountResponse *resp;
    rc = CALL(client, "Unmount", 0, req, unmount_response, &resp);
    if (resp) protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cloudstor_volume_path(char **mountpoint_out, cloudstor_client *client, const char *name) {
    if (mountpoint_out) *mountpoint_out = NULL;
    int rc = require(client, mountpoint_out, "mountpoint_out");
    if (!rc) rc = require(client, name, "name");
    if (rc) return rc;
    Cloudstor__V1__PathRequest req = CLOUDSTOR__V1__PATH_REQUEST__INIT;
    req.name = (char *)name;
    Cloudstor__V1__PathResponse *resp;
    rc = CALL(client, "Path", 1, req, path_response, &resp);
    if (rc) return rc;
    rc = give_string(mountpoint_out, client, resp->mountpoint);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cloudstor_capabilities(char **scope_out, cloudstor_client *client) {
    if (scope_out) *scope_out = NULL;
    int rc = require(client, scope_out, "scope_out");
    if (rc) return rc;
    Cloudstor__V1__CapabilitiesRequest req = CLOUDSTOR__V1__CAPABILITIES_REQUEST__INIT;
    Cloudstor__V1__CapabilitiesResponse *resp;
    rc = CALL(client, "Capabilities", 1, req, capabilities_response, &resp);
    if (rc) return rc;
    rc = give_string(scope_out, client, resp->scope);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int cloudstor_health(int *status_out, cloudstor_client *client, const char *service) {
    if (status_out) *status_out = CLOUDSTOR_HEALTH_UNKNOWN;
    int rc = require(client, status_out, "status_out");
    if (rc) return rc;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)(service ? service : "");
    Grpc__Health__V1__HealthCheckResponse *resp;
    rc = cs_call(client, "/grpc.health.v1.Health/Check", 1, &req.base,
                 &grpc__health__v1__health_check_response__descriptor, (ProtobufCMessage **)&resp);
    if (rc) return rc;
    *status_out = (int)resp->status;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return CLOUDSTOR_OK;
}
