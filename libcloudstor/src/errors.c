/* Result codes, their descriptions, the per-client last error, the version. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

const char *cloudstor_version(void) { return CLOUDSTOR_VERSION; }

int cloudstor_version_number(void) { return CLOUDSTOR_VERSION_NUMBER; }

void cloudstor_free(void *ptr) { free(ptr); }

const char *cloudstor_strerror(int code) {
    switch (code) {
    case CLOUDSTOR_OK: return "success";
    case CLOUDSTOR_EINVAL: return "invalid argument";
    case CLOUDSTOR_EMISUSE: return "library misuse";
    case CLOUDSTOR_ENOTFOUND: return "volume not found";
    case CLOUDSTOR_EEXISTS: return "volume exists with other options";
    case CLOUDSTOR_EBUSY: return "volume in use";
    case CLOUDSTOR_EUNAVAILABLE: return "daemon unavailable";
    case CLOUDSTOR_ETIMEDOUT: return "timed out";
    case CLOUDSTOR_EINTERNAL: return "daemon internal error";
    case CLOUDSTOR_ENOMEM: return "out of memory";
    case CLOUDSTOR_EPROTO: return "protocol error";
    case CLOUDSTOR_EPERM: return "permission denied";
    case CLOUDSTOR_EUNIMPLEMENTED: return "not implemented by the daemon";
    case CLOUDSTOR_ECANCELED: return "canceled";
    case CLOUDSTOR_EUNKNOWN: return "unknown error";
    default: return "unknown error";
    }
}

/* gRPC status codes (grpc/status.h) to ours. */
int cs_code_from_grpc(long status) {
    switch (status) {
    case 0: return CLOUDSTOR_OK;
    case 1: return CLOUDSTOR_ECANCELED;
    case 2: return CLOUDSTOR_EUNKNOWN;
    case 3: return CLOUDSTOR_EINVAL;       /* INVALID_ARGUMENT */
    case 4: return CLOUDSTOR_ETIMEDOUT;    /* DEADLINE_EXCEEDED */
    case 5: return CLOUDSTOR_ENOTFOUND;
    case 6: return CLOUDSTOR_EEXISTS;      /* ALREADY_EXISTS */
    case 7: return CLOUDSTOR_EPERM;        /* PERMISSION_DENIED */
    case 8: return CLOUDSTOR_EUNAVAILABLE; /* RESOURCE_EXHAUSTED */
    case 9: return CLOUDSTOR_EBUSY;        /* FAILED_PRECONDITION */
    case 10: return CLOUDSTOR_EBUSY;       /* ABORTED */
    case 11: return CLOUDSTOR_EINVAL;      /* OUT_OF_RANGE */
    case 12: return CLOUDSTOR_EUNIMPLEMENTED;
    case 13: return CLOUDSTOR_EINTERNAL;
    case 14: return CLOUDSTOR_EUNAVAILABLE;
    case 15: return CLOUDSTOR_EINTERNAL;   /* DATA_LOSS */
    case 16: return CLOUDSTOR_EPERM;       /* UNAUTHENTICATED */
    default: return CLOUDSTOR_EUNKNOWN;
    }
}

int cs_fail(cloudstor_client *c, int code, const char *fmt, ...) {
    if (c) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
        va_end(ap);
        c->errcode = code;
    }
    return code;
}

int cs_ok(cloudstor_client *c) {
    c->errmsg[0] = '\0';
    c->errcode = CLOUDSTOR_OK;
    return CLOUDSTOR_OK;
}

const char *cloudstor_errmsg(const cloudstor_client *client) {
    if (!client) return "client is NULL";
    return client->errmsg;
}

int cloudstor_errcode(const cloudstor_client *client) {
    return client ? client->errcode : CLOUDSTOR_EMISUSE;
}
