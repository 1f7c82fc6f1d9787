/*
 * Unary gRPC over HTTP/2 on a unix socket, with libcurl.
 *
 * Each call is a POST of one length-prefixed message (1 byte "compressed" flag,
 * 4 bytes big-endian length) to http://localhost/<package.Service>/<Method>
 * with content-type application/grpc and te: trailers. The answer is one such
 * message, then trailers with grpc-status and grpc-message; an error may come
 * as a trailers-only answer (the status in the headers). libcurl hands headers
 * and trailers alike to the header callback, so both are read there.
 *
 * Connections. libcurl 7.88 (Debian 12) cannot reliably reuse a connection it
 * opened with HTTP/2 prior knowledge, and sends a stray RST_STREAM per reused
 * request, which swift-nio-http2's rapid-reset guard answers with GOAWAY after
 * ~200 requests. So before libcurl 8 every call opens a fresh connection (a
 * unix-socket connect and the HTTP/2 preface: cheap); from 8 on, the client
 * keeps one connection (CLOUDSTOR_MAX_REQUESTS_PER_CONNECTION in the environment
 * overrides either: 1 is a fresh connection per call, 0 no limit). A call that
 * fails on a reused connection before any answer arrived (the daemon restarted
 * meanwhile) is retried once on a new one: an idempotent call always, Mount,
 * Unmount and Remove only when none of the request went out (a replayed Mount
 * would count a second hold).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define MAX_REQUEST (4u * 1024 * 1024)   /* grpc's default receive limit */
#define MAX_RESPONSE (64u * 1024 * 1024)
#define CONNECT_TIMEOUT_MS 5000L

struct call {
    unsigned char *body;
    size_t len, cap;
    int too_big;
    int answered;       /* any header or data arrived */
    long http_status;
    int have_grpc_status;
    long grpc_status;
    char grpc_message[512];
};

static size_t on_data(char *ptr, size_t size, size_t n, void *userdata) {
    struct call *st = userdata;
    size_t add = size * n;
    st->answered = 1;
    if (st->len + add > MAX_RESPONSE) {
        st->too_big = 1;
        return 0; /* aborts the transfer */
    }
    if (st->len + add > st->cap) {
        size_t cap = st->cap ? st->cap : 256;
        while (cap < st->len + add) cap *= 2;
        unsigned char *p = realloc(st->body, cap);
        if (!p) return 0;
        st->body = p;
        st->cap = cap;
    }
    memcpy(st->body + st->len, ptr, add);
    st->len += add;
    return add;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* grpc-message is percent-encoded (gRPC's HTTP/2 protocol spec). */
static void percent_decode(char *dst, size_t cap, const char *src, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        int hi, lo;
        if (src[i] == '%' && i + 2 < n && (hi = hexval(src[i + 1])) >= 0 && (lo = hexval(src[i + 2])) >= 0) {
            dst[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dst[o++] = src[i];
        }
    }
    dst[o] = '\0';
}

static size_t on_header(char *buf, size_t size, size_t n, void *userdata) {
    struct call *st = userdata;
    size_t len = size * n;
    st->answered = 1;
    while (len > 0 && (buf[len - 1] == '\r' || buf[len - 1] == '\n')) len--;
    if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* The line is not NUL-terminated (libcurl says so): read its three digits
           from a bounded copy. */
        const char *sp = memchr(buf, ' ', len);
        if (sp) {
            char num[4] = {0};
            size_t k = (size_t)(buf + len - (sp + 1));
            memcpy(num, sp + 1, k < 3 ? k : 3);
            st->http_status = strtol(num, NULL, 10);
        }
        return size * n;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon) return size * n;
    size_t name_len = (size_t)(colon - buf);
    const char *value = colon + 1;
    while (value < buf + len && (*value == ' ' || *value == '\t')) value++;
    size_t value_len = (size_t)(buf + len - value);
    if (name_len == 11 && strncasecmp(buf, "grpc-status", 11) == 0) {
        char num[16];
        size_t k = value_len < sizeof num - 1 ? value_len : sizeof num - 1;
        memcpy(num, value, k);
        num[k] = '\0';
        char *end;
        st->grpc_status = strtol(num, &end, 10);
        st->have_grpc_status = end != num;
    } else if (name_len == 12 && strncasecmp(buf, "grpc-message", 12) == 0) {
        percent_decode(st->grpc_message, sizeof st->grpc_message, value, value_len);
    }
    return size * n;
}

int cs_transport_init(cloudstor_client *c) {
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    if (!(info->features & CURL_VERSION_HTTP2))
        return cs_fail(c, CLOUDSTOR_EUNAVAILABLE, "libcurl %s was built without HTTP/2", info->version);
    c->max_uses = info->version_num >= 0x080000 ? 0 : 1;
    const char *knob = getenv("CLOUDSTOR_MAX_REQUESTS_PER_CONNECTION");
    if (knob && *knob) c->max_uses = (unsigned)strtoul(knob, NULL, 10);

    c->curl = curl_easy_init();
    if (!c->curl) return CLOUDSTOR_ENOMEM;
    static const char *const headers[] = {"content-type: application/grpc", "te: trailers", "Expect:", "Accept:"};
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        struct curl_slist *h = curl_slist_append(c->headers, headers[i]);
        if (!h) return CLOUDSTOR_ENOMEM;
        c->headers = h;
    }
    CURL *e = c->curl;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, c->socket_path) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "grpc-c-cloudstor/" CLOUDSTOR_VERSION) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
    if (bad) return cs_fail(c, CLOUDSTOR_EUNAVAILABLE, "libcurl %s refused an HTTP/2 option", info->version);
    return CLOUDSTOR_OK;
}

void cs_transport_free(cloudstor_client *c) {
    if (c->curl) curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    c->curl = NULL;
    c->headers = NULL;
}

/* The status gRPC derives from an HTTP status when grpc-status is missing. */
static long grpc_from_http(long http) {
    switch (http) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 429: case 502: case 503: case 504: return 14;
    default: return 2;
    }
}

/* Runs one transfer; returns the curl result. */
static CURLcode perform(cloudstor_client *c, struct call *st, char *errbuf, int fresh, int *last_use) {
    long timeout = c->timeout_ms;
    long connect_timeout = timeout > 0 && timeout < CONNECT_TIMEOUT_MS ? timeout : CONNECT_TIMEOUT_MS;
    *last_use = c->max_uses != 0 && c->uses + 1 >= c->max_uses;
    fresh = fresh || c->max_uses == 1;
    errbuf[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, st);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
    curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, (long)fresh);
    curl_easy_setopt(c->curl, CURLOPT_FORBID_REUSE, (long)*last_use);
    return curl_easy_perform(c->curl);
}

/* Whether the last transfer got connected (so a timeout is the call's own). */
static int started(cloudstor_client *c) {
    curl_off_t t = 0;
    return curl_easy_getinfo(c->curl, CURLINFO_PRETRANSFER_TIME_T, &t) == CURLE_OK && t > 0;
}

/* Whether any of the last request went out. */
static int sent(cloudstor_client *c) {
    long n = 0;
    return curl_easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE, &n) != CURLE_OK || n > 0;
}

/* curl names host and port even for a unix socket; the errno says more. */
static const char *connect_error(cloudstor_client *c, CURLcode rc, const char *why, char *text, size_t cap) {
    long err = 0;
    if (rc != CURLE_COULDNT_CONNECT || curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &err) != CURLE_OK || err == 0 ||
        strerror_r((int)err, text, cap) != 0)
        return why;
    return text;
}

static void reset_call(struct call *st) {
    free(st->body);
    memset(st, 0, sizeof *st);
}

int cs_call(cloudstor_client *c, const char *path, int idempotent, const ProtobufCMessage *req,
            const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp) {
    *resp = NULL;
    size_t size = protobuf_c_message_get_packed_size(req);
    if (size > MAX_REQUEST - 5)
        return cs_fail(c, CLOUDSTOR_EINVAL, "request too large: %zu bytes (the daemon accepts %u)", size,
                       MAX_REQUEST - 5);
    unsigned char *frame = malloc(size + 5);
    if (!frame) return cs_fail(c, CLOUDSTOR_ENOMEM, "out of memory");
    frame[0] = 0;
    frame[1] = (unsigned char)(size >> 24);
    frame[2] = (unsigned char)(size >> 16);
    frame[3] = (unsigned char)(size >> 8);
    frame[4] = (unsigned char)size;
    protobuf_c_message_pack(req, frame + 5);

    char url[256];
    snprintf(url, sizeof url, "http://localhost%s", path);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, (const char *)frame);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(size + 5));

    struct call st;
    memset(&st, 0, sizeof st);
    char errbuf[CURL_ERROR_SIZE];
    int last_use = 0;
    CURLcode rc = perform(c, &st, errbuf, 0, &last_use);
    long connects = 0;
    curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &connects);
    if (rc != CURLE_OK && connects == 0 && !st.answered && rc != CURLE_OUT_OF_MEMORY &&
        rc != CURLE_OPERATION_TIMEDOUT && (idempotent || !sent(c))) {
        /* A pooled connection that died unseen: retry once on a new one. */
        reset_call(&st);
        rc = perform(c, &st, errbuf, 1, &last_use);
        curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &connects);
    }
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL); /* no pointers to this frame's buffers linger */
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
    free(frame);
    if (rc != CURLE_OK || last_use) c->uses = 0;
    else c->uses = connects > 0 ? 1 : c->uses + 1;

    int code;
    if (rc != CURLE_OK) {
        const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        char text[128];
        if (st.too_big)
            code = cs_fail(c, CLOUDSTOR_EPROTO, "answer larger than %u bytes", MAX_RESPONSE);
        else if (rc == CURLE_OUT_OF_MEMORY || rc == CURLE_WRITE_ERROR) /* our buffer's realloc */
            code = cs_fail(c, CLOUDSTOR_ENOMEM, "out of memory");
        else if (rc == CURLE_OPERATION_TIMEDOUT && (st.answered || started(c)))
            code = cs_fail(c, CLOUDSTOR_ETIMEDOUT, "%s timed out after %ld ms", path, c->timeout_ms);
        else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT)
            code = cs_fail(c, CLOUDSTOR_EUNAVAILABLE, "cannot reach cloudstord at %s: %s", c->socket_path,
                           connect_error(c, rc, why, text, sizeof text));
        else
            code = cs_fail(c, CLOUDSTOR_EUNAVAILABLE, "connection to cloudstord at %s lost: %s", c->socket_path,
                           why);
        reset_call(&st);
        return code;
    }

    if (!st.have_grpc_status) {
        long status = st.http_status == 200 ? 13 : grpc_from_http(st.http_status);
        code = cs_fail(c, cs_code_from_grpc(status), "%s: HTTP status %ld without grpc-status", path,
                       st.http_status);
    } else if (st.grpc_status != 0) {
        code = cs_fail(c, cs_code_from_grpc(st.grpc_status), "%s",
                       st.grpc_message[0] ? st.grpc_message : "the daemon refused the call");
    } else if (st.len < 5 || st.body[0] != 0) {
        code = cs_fail(c, CLOUDSTOR_EPROTO, "%s: %s", path,
                       st.len < 5 ? "answer without a message" : "compressed answer (none was asked for)");
    } else {
        size_t n = (size_t)st.body[1] << 24 | (size_t)st.body[2] << 16 | (size_t)st.body[3] << 8 | st.body[4];
        if (n != st.len - 5) {
            code = cs_fail(c, CLOUDSTOR_EPROTO, "%s: answer framed as %zu bytes, %zu arrived", path, n,
                           st.len - 5);
        } else {
            *resp = protobuf_c_message_unpack(resp_desc, NULL, n, st.body + 5);
            code = *resp ? cs_ok(c) : cs_fail(c, CLOUDSTOR_EPROTO, "%s: undecodable answer", path);
        }
    }
    reset_call(&st);
    return code;
}
