/*
 * cloudstor.h: the C client of cloudstord, the Cloudstor volume daemon.
 *
 * libcloudstor speaks the daemon's gRPC API (cloudstor.v1.Volumes and
 * grpc.health.v1.Health, see proto/cloudstor/v1/volume.proto) over its unix
 * socket. Link with `pkg-config --cflags --libs cloudstor`.
 *
 * Conventions (as in sqlite3, libcurl and libgit2):
 *  - every name starts with cloudstor_ / CLOUDSTOR_; handles are opaque;
 *  - functions that can fail return int: 0 on success, a negative CLOUDSTOR_E*
 *    code on failure; out-parameters come first and are set to NULL (or 0) on
 *    failure; cloudstor_errmsg(client) describes the client's last failure;
 *  - strings passed in are copied: the caller keeps ownership of its buffers;
 *  - strings returned by accessors are owned by the object they came from and
 *    live as long as it does; strings returned through char ** out-parameters
 *    are the caller's, to release with cloudstor_free();
 *  - every _free/_close function accepts NULL and then does nothing.
 *
 * Thread safety: a cloudstor_client must not be used by two threads at the same
 * time; the simplest rule is one client per thread. Distinct clients, and
 * volumes and lists (which are immutable once returned), may be used from any
 * thread. cloudstor_client_open() initialises libcurl (curl_global_init), which
 * is thread-safe on libcurl >= 7.84 built with threadsafe init (Debian's is);
 * on older libcurl open the first client before starting threads.
 */
#ifndef CLOUDSTOR_H
#define CLOUDSTOR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define CLOUDSTOR_EXTERN __attribute__((visibility("default")))
#else
#define CLOUDSTOR_EXTERN
#endif

/* 0xMMmmpp: major, minor, patch. */
#define CLOUDSTOR_VERSION "0.1.0"
#define CLOUDSTOR_VERSION_NUMBER 0x000100

/* The daemon's socket when cloudstor_client_open() is given NULL and the
 * CLOUDSTOR_SOCKET environment variable is unset or empty. */
#define CLOUDSTOR_DEFAULT_SOCKET "/run/cloudstor/cloudstor.sock"

/* Result codes. These numbers are part of the ABI: never renumbered, only added.
 * The gRPC status each one comes from is in brackets. */
#define CLOUDSTOR_OK              0
#define CLOUDSTOR_EINVAL         -1  /* the daemon refused a name or option [INVALID_ARGUMENT, OUT_OF_RANGE] */
#define CLOUDSTOR_EMISUSE        -2  /* bad use of the API: a NULL pointer, a request too large */
#define CLOUDSTOR_ENOTFOUND      -3  /* no such volume [NOT_FOUND] */
#define CLOUDSTOR_EEXISTS        -4  /* exists with other options [ALREADY_EXISTS] */
#define CLOUDSTOR_EBUSY          -5  /* in use, e.g. removing a mounted volume [FAILED_PRECONDITION, ABORTED] */
#define CLOUDSTOR_EUNAVAILABLE   -6  /* daemon down or busy: retry later [UNAVAILABLE, RESOURCE_EXHAUSTED] */
#define CLOUDSTOR_ETIMEDOUT      -7  /* the call's timeout passed [DEADLINE_EXCEEDED] */
#define CLOUDSTOR_EINTERNAL      -8  /* the daemon failed [INTERNAL, DATA_LOSS] */
#define CLOUDSTOR_ENOMEM         -9  /* out of memory */
#define CLOUDSTOR_EPROTO        -10  /* a malformed or unexpected answer */
#define CLOUDSTOR_EPERM         -11  /* [PERMISSION_DENIED, UNAUTHENTICATED]; a socket
                                        mode refusal is CLOUDSTOR_EUNAVAILABLE */
#define CLOUDSTOR_EUNIMPLEMENTED -12 /* the daemon lacks this call [UNIMPLEMENTED] */
#define CLOUDSTOR_ECANCELED     -13  /* [CANCELLED] */
#define CLOUDSTOR_EUNKNOWN      -14  /* [UNKNOWN] or a status this version does not know */

/* How a volume is stored (cloudstor.v1.Backing). */
#define CLOUDSTOR_BACKING_UNSPECIFIED 0
#define CLOUDSTOR_BACKING_RELOCATABLE 1 /* one block device, moved to the node that uses it */
#define CLOUDSTOR_BACKING_SHARED      2 /* a directory of a shared file system */

/* Where a volume stands, seen from the answering node (cloudstor.v1.VolumeState). */
#define CLOUDSTOR_STATE_UNSPECIFIED 0
#define CLOUDSTOR_STATE_CREATED     1
#define CLOUDSTOR_STATE_ATTACHED    2
#define CLOUDSTOR_STATE_MOUNTED     3

/* grpc.health.v1.HealthCheckResponse.ServingStatus. */
#define CLOUDSTOR_HEALTH_UNKNOWN         0
#define CLOUDSTOR_HEALTH_SERVING         1
#define CLOUDSTOR_HEALTH_NOT_SERVING     2
#define CLOUDSTOR_HEALTH_SERVICE_UNKNOWN 3

typedef struct cloudstor_client cloudstor_client;
typedef struct cloudstor_volume cloudstor_volume;
typedef struct cloudstor_volumes cloudstor_volumes;

/* One volume option, e.g. {"size", "10"}. */
typedef struct cloudstor_option {
    const char *key;
    const char *value;
} cloudstor_option;

/* Library version: "0.1.0" and CLOUDSTOR_VERSION_NUMBER of the linked library. */
CLOUDSTOR_EXTERN const char *cloudstor_version(void);
CLOUDSTOR_EXTERN int cloudstor_version_number(void);

/* A static English description of a result code ("unknown error" for others). */
CLOUDSTOR_EXTERN const char *cloudstor_strerror(int code);

/* Frees a string the library returned through a char ** out-parameter. */
CLOUDSTOR_EXTERN void cloudstor_free(void *ptr);

/* ---- client ------------------------------------------------------------ */

/* Opens a client for the daemon at socket_path (NULL: $CLOUDSTOR_SOCKET, else
 * CLOUDSTOR_DEFAULT_SOCKET). Connects lazily: a daemon that is down shows as
 * CLOUDSTOR_EUNAVAILABLE from the first call. *out is NULL on failure:
 * CLOUDSTOR_EINVAL for an empty path or one too long for a unix socket.
 *
 * With libcurl >= 8 a client keeps one HTTP/2 connection for all its calls;
 * libcurl 7.x cannot reuse an HTTP/2 prior-knowledge connection, so there each
 * call opens its own (about 1 ms on a unix socket). The environment variable
 * CLOUDSTOR_MAX_REQUESTS_PER_CONNECTION, read here, overrides this (1: a new
 * connection per call; 0: no limit). A call that finds its pooled connection
 * dead (the daemon restarted) is retried once on a new one when that is safe. */
CLOUDSTOR_EXTERN int cloudstor_client_open(cloudstor_client **out, const char *socket_path);
CLOUDSTOR_EXTERN void cloudstor_client_close(cloudstor_client *client);

/* Bounds every later call on this client, connection included, to timeout_ms
 * milliseconds (0: no bound). The default is 130000 (Docker allows Mount 120 s).
 * Connecting is always bounded by min(timeout_ms, 5000). */
CLOUDSTOR_EXTERN int cloudstor_client_set_timeout(cloudstor_client *client, long timeout_ms);

/* The message of the client's last failed call ("" after a success); with the
 * daemon's own words when it refused the call. Valid until the next call on the
 * client. Never NULL. */
CLOUDSTOR_EXTERN const char *cloudstor_errmsg(const cloudstor_client *client);

/* The code of the client's last call (0 after a success). */
CLOUDSTOR_EXTERN int cloudstor_errcode(const cloudstor_client *client);

/* ---- calls ------------------------------------------------------------- */

/* Creates a volume; idempotent when it exists with the same options.
 * options may be NULL when n_options is 0. out may be NULL; otherwise it receives
 * the volume as created, to release with cloudstor_volume_free(). */
CLOUDSTOR_EXTERN int cloudstor_volume_create(cloudstor_volume **out, cloudstor_client *client, const char *name,
                                             const cloudstor_option *options, size_t n_options);

/* Removes a volume; CLOUDSTOR_EBUSY while it is mounted anywhere. */
CLOUDSTOR_EXTERN int cloudstor_volume_remove(cloudstor_client *client, const char *name);

CLOUDSTOR_EXTERN int cloudstor_volume_get(cloudstor_volume **out, cloudstor_client *client, const char *name);

/* Every volume of this stack. */
CLOUDSTOR_EXTERN int cloudstor_volume_list(cloudstor_volumes **out, cloudstor_client *client);

/* Mounts the volume on this node for holder id (each Mount needs one Unmount
 * with the same id); *mountpoint_out receives the path, to cloudstor_free(). */
CLOUDSTOR_EXTERN int cloudstor_volume_mount(char **mountpoint_out, cloudstor_client *client, const char *name,
                                            const char *id);
CLOUDSTOR_EXTERN int cloudstor_volume_unmount(cloudstor_client *client, const char *name, const char *id);

/* The mount point on this node, "" when not mounted here; to cloudstor_free(). */
CLOUDSTOR_EXTERN int cloudstor_volume_path(char **mountpoint_out, cloudstor_client *client, const char *name);

/* The scope of volumes: "global" or "local"; to cloudstor_free(). */
CLOUDSTOR_EXTERN int cloudstor_capabilities(char **scope_out, cloudstor_client *client);

/* grpc.health.v1.Health/Check for service (NULL or "": the whole daemon);
 * *status_out receives a CLOUDSTOR_HEALTH_* value. */
CLOUDSTOR_EXTERN int cloudstor_health(int *status_out, cloudstor_client *client, const char *service);

/* ---- volumes (immutable; NULL volume: NULL or 0 results) ---------------- */

CLOUDSTOR_EXTERN void cloudstor_volume_free(cloudstor_volume *volume);
CLOUDSTOR_EXTERN const char *cloudstor_volume_name(const cloudstor_volume *volume);
CLOUDSTOR_EXTERN int cloudstor_volume_backing(const cloudstor_volume *volume);    /* CLOUDSTOR_BACKING_* */
CLOUDSTOR_EXTERN int cloudstor_volume_state(const cloudstor_volume *volume);      /* CLOUDSTOR_STATE_* */
/* Node it is attached to or mounted on; "" when neither. */
CLOUDSTOR_EXTERN const char *cloudstor_volume_node(const cloudstor_volume *volume);
/* Mount point on the answering node; "" when not mounted there. */
CLOUDSTOR_EXTERN const char *cloudstor_volume_mountpoint(const cloudstor_volume *volume);
CLOUDSTOR_EXTERN const char *cloudstor_volume_zone(const cloudstor_volume *volume);
/* The provider's id: an EBS volume id, an image file, a directory. */
CLOUDSTOR_EXTERN const char *cloudstor_volume_cloud_id(const cloudstor_volume *volume);
/* The block device when attached, else "". */
CLOUDSTOR_EXTERN const char *cloudstor_volume_device(const cloudstor_volume *volume);
CLOUDSTOR_EXTERN unsigned cloudstor_volume_mount_count(const cloudstor_volume *volume);
/* RFC 3339, UTC. */
CLOUDSTOR_EXTERN const char *cloudstor_volume_created_at(const cloudstor_volume *volume);

/* Options in force (defaults applied), sorted by key. */
CLOUDSTOR_EXTERN const char *cloudstor_volume_option(const cloudstor_volume *volume, const char *key); /* NULL: absent */
CLOUDSTOR_EXTERN size_t cloudstor_volume_option_count(const cloudstor_volume *volume);
/* The index-th option; CLOUDSTOR_EMISUSE when index >= count. */
CLOUDSTOR_EXTERN int cloudstor_volume_option_at(const char **key_out, const char **value_out,
                                                const cloudstor_volume *volume, size_t index);

/* ---- lists ------------------------------------------------------------- */

CLOUDSTOR_EXTERN void cloudstor_volumes_free(cloudstor_volumes *list);
CLOUDSTOR_EXTERN size_t cloudstor_volumes_count(const cloudstor_volumes *list);
/* Borrowed from the list (do not free); NULL when index >= count. */
CLOUDSTOR_EXTERN const cloudstor_volume *cloudstor_volumes_at(const cloudstor_volumes *list, size_t index);

#ifdef __cplusplus
}
#endif

#endif /* CLOUDSTOR_H */
