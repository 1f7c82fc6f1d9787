/* Internal to libcloudstor: the client handle and the pieces the files share. */
#ifndef CLOUDSTOR_INTERNAL_H
#define CLOUDSTOR_INTERNAL_H

#include <stddef.h>
#include <curl/curl.h>
#include <protobuf-c/protobuf-c.h>

#include "cloudstor.h"
#include "cloudstor/v1/volume.pb-c.h"

#define CS_ERRMSG_MAX 1024

struct cloudstor_client {
    char *socket_path;
    long timeout_ms;
    CURL *curl;
    struct curl_slist *headers;
    /* Connection policy: how many requests one connection may carry (0: no
     * limit); 1 means a fresh connection per call. See transport.c. */
    unsigned max_uses;
    unsigned uses; /* requests carried by the current connection */
    int errcode;
    char errmsg[CS_ERRMSG_MAX];
};

struct cloudstor_volume {
    char *name;
    int backing;
    size_t n_options;
    char **keys;   /* sorted */
    char **values;
    int state;
    char *node;
    char *mountpoint;
    char *zone;
    char *cloud_id;
    unsigned mount_count;
    char *device;
    char *created_at;
};

struct cloudstor_volumes {
    size_t count;
    cloudstor_volume *items;
};

/* errors.c: records code and a printf-style message on the client; returns code. */
int cs_fail(cloudstor_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cs_ok(cloudstor_client *c);
int cs_code_from_grpc(long status);

/* transport.c: one unary gRPC call. path is "/package.Service/Method"; an
 * idempotent call may be replayed once on a new connection. On success *resp is
 * the unpacked answer (protobuf_c_message_free_unpacked). */
int cs_transport_init(cloudstor_client *c);
void cs_transport_free(cloudstor_client *c);
int cs_call(cloudstor_client *c, const char *path, int idempotent, const ProtobufCMessage *req,
            const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);

/* volume.c: deep copies of answers into the public objects. */
int cs_volume_fill(cloudstor_volume *dst, const Cloudstor__V1__Volume *src);
void cs_volume_clear(cloudstor_volume *v);

#endif
