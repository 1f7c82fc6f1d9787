/*
 * libcloudstor's reading of the daemon's answers: what libcurl hands its
 * callbacks (header and trailer lines: the HTTP status, grpc-status, the
 * percent-encoded grpc-message; DATA bytes: the length-prefixed gRPC message)
 * and what cs_call makes of them (status mapping, the 5-byte framing check,
 * protobuf-c unpacking), then each public call's copy of the answer
 * (cs_volume_fill, option sorting, the accessors).
 *
 * transport.c is compiled into this file so that libcurl's transfer can be
 * replaced: curl_easy_perform feeds the fuzz input to the callbacks libcloudstor
 * registered, as libcurl would (each header line whole, ending in CRLF, not
 * NUL-terminated; data in chunks). Everything else is libcloudstor's own code,
 * and the real libcurl and libprotobuf-c.
 *
 * Input: byte 0 = the call (Get, List, Create, Mount, Path, Capabilities,
 * Health, Remove, Unmount); then per transfer one byte for its result
 * (< 0xF0: CURLE_OK), then records of [kind, length, bytes...]: kind 0 is the
 * status line, which libcurl writes itself for HTTP/2 ("HTTP/2 %03d \r\n", from
 * the first 3 bytes as digits), another even kind a header or trailer line (as
 * nghttp2 lets through: a name in lower case), an odd kind a chunk of data, and
 * 0xFF ends the transfer.
 *
 * CLOUDSTOR_FUZZ_RAW_LINES=1 passes every line as the input has it, status lines
 * too: the contract libcurl documents (any bytes, not NUL-terminated), stricter
 * than what its HTTP/2 code sends. See regressions/libcloudstor_reply.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static CURLcode fuzz_perform(CURL *e);
static CURLcode fuzz_setopt(CURL *e, CURLoption option, ...);
#define curl_easy_perform fuzz_perform
#undef curl_easy_setopt
#define curl_easy_setopt fuzz_setopt
#include "../../libcloudstor/src/transport.c"
#undef curl_easy_setopt
#undef curl_easy_perform

static const uint8_t *input;
static size_t input_len, cursor;
static void *write_data, *header_data;
static int raw_lines;

/* Records what the transfer's callbacks get, and passes every option on to libcurl. */
static CURLcode fuzz_setopt(CURL *e, CURLoption option, ...) {
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT) {
        long value = va_arg(ap, long);
        rc = curl_easy_setopt(e, option, value);
    } else if (option < CURLOPTTYPE_OFF_T) {
        void *value = va_arg(ap, void *);
        if (option == CURLOPT_WRITEDATA) write_data = value;
        if (option == CURLOPT_HEADERDATA) header_data = value;
        rc = curl_easy_setopt(e, option, value);
    } else if (option < CURLOPTTYPE_BLOB) {
        curl_off_t value = va_arg(ap, curl_off_t);
        rc = curl_easy_setopt(e, option, value);
    } else {
        void *value = va_arg(ap, void *);
        rc = curl_easy_setopt(e, option, value);
    }
    va_end(ap);
    return rc;
}

static int next_byte(void) { return cursor < input_len ? input[cursor++] : -1; }

/* One transfer: the daemon's answer as the input scripts it. */
static CURLcode fuzz_perform(CURL *e) {
    (void)e;
    int result = next_byte();
    if (result < 0) return CURLE_COULDNT_CONNECT;
    static const CURLcode failures[] = {CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_RECV_ERROR,
                                        CURLE_SEND_ERROR,      CURLE_HTTP2_STREAM,       CURLE_GOT_NOTHING,
                                        CURLE_OUT_OF_MEMORY,   CURLE_PARTIAL_FILE};
    CURLcode rc = result < 0xF0 ? CURLE_OK : failures[result % 8];
    for (;;) {
        int kind = next_byte(), len = next_byte();
        if (kind < 0 || len < 0 || kind == 0xFF) break;
        size_t record = (size_t)len <= input_len - cursor ? (size_t)len : input_len - cursor;
        const uint8_t *bytes = input + cursor;
        cursor += record;
        if (kind % 2 == 0) {
            /* libcurl passes the line with its CRLF and no terminating NUL. */
            char status[16];
            const char *text = (const char *)bytes;
            size_t n = record;
            if (!raw_lines && kind == 0) {
                char digits[4] = "000";
                for (size_t i = 0; i < 3 && i < record; i++) digits[i] = (char)('0' + bytes[i] % 10);
                n = (size_t)snprintf(status, sizeof status, "HTTP/2 %s ", digits);
                text = status;
            }
            char *line = malloc(n + 2);
            memcpy(line, text, n);
            if (!raw_lines && kind != 0 && n >= 1 && line[0] == 'H')
                line[0] = 'h'; /* HTTP/2 header names are lower case: none starts "HTTP/" */
            line[n] = '\r';
            line[n + 1] = '\n';
            size_t taken = on_header(line, 1, n + 2, header_data);
            free(line);
            if (taken != n + 2) return CURLE_WRITE_ERROR;
        } else {
            char *chunk = malloc(record ? record : 1);
            memcpy(chunk, bytes, record);
            size_t taken = record ? on_data(chunk, 1, record, write_data) : 0;
            free(chunk);
            if (taken != record) return CURLE_WRITE_ERROR;
        }
    }
    return rc;
}

static void use_volume(const cloudstor_volume *v) {
    if (!v) return;
    size_t total = strlen(cloudstor_volume_name(v)) + strlen(cloudstor_volume_node(v)) +
                   strlen(cloudstor_volume_mountpoint(v)) + strlen(cloudstor_volume_zone(v)) +
                   strlen(cloudstor_volume_cloud_id(v)) + strlen(cloudstor_volume_device(v)) +
                   strlen(cloudstor_volume_created_at(v));
    (void)cloudstor_volume_backing(v);
    (void)cloudstor_volume_state(v);
    (void)cloudstor_volume_mount_count(v);
    for (size_t i = 0; i < cloudstor_volume_option_count(v); i++) {
        const char *key, *value;
        if (cloudstor_volume_option_at(&key, &value, v, i) == CLOUDSTOR_OK) {
            total += strlen(key) + strlen(value);
            if (cloudstor_volume_option(v, key) == NULL) abort(); /* a key listed must be found */
        }
    }
    (void)total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static cloudstor_client *client;
    if (!client) {
        if (cloudstor_client_open(&client, "/nonexistent/cloudstor-fuzz.sock") != CLOUDSTOR_OK) abort();
        const char *raw = getenv("CLOUDSTOR_FUZZ_RAW_LINES");
        raw_lines = raw && strcmp(raw, "1") == 0;
    }
    if (size < 1) return 0;
    input = data;
    input_len = size;
    cursor = 1;
    client->uses = 0;

    int rc = CLOUDSTOR_OK;
    switch (data[0] % 9) {
    case 0: {
        cloudstor_volume *v = NULL;
        rc = cloudstor_volume_get(&v, client, "data");
        use_volume(v);
        cloudstor_volume_free(v);
        break;
    }
    case 1: {
        cloudstor_volumes *list = NULL;
        rc = cloudstor_volume_list(&list, client);
        for (size_t i = 0; i < cloudstor_volumes_count(list); i++) use_volume(cloudstor_volumes_at(list, i));
        cloudstor_volumes_free(list);
        break;
    }
    case 2: {
        cloudstor_volume *v = NULL;
        cloudstor_option options[] = {{"size", "1"}};
        rc = cloudstor_volume_create(&v, client, "data", options, 1);
        use_volume(v);
        cloudstor_volume_free(v);
        break;
    }
    case 3: {
        char *mountpoint = NULL;
        rc = cloudstor_volume_mount(&mountpoint, client, "data", "container-1");
        if (mountpoint) (void)strlen(mountpoint);
        cloudstor_free(mountpoint);
        break;
    }
    case 4: {
        char *mountpoint = NULL;
        rc = cloudstor_volume_path(&mountpoint, client, "data");
        if (mountpoint) (void)strlen(mountpoint);
        cloudstor_free(mountpoint);
        break;
    }
    case 5: {
        char *scope = NULL;
        rc = cloudstor_capabilities(&scope, client);
        if (scope) (void)strlen(scope);
        cloudstor_free(scope);
        break;
    }
    case 6: {
        int status;
        rc = cloudstor_health(&status, client, "");
        break;
    }
    case 7:
        rc = cloudstor_volume_remove(client, "data");
        break;
    default:
        rc = cloudstor_volume_unmount(client, "data", "container-1");
        break;
    }
    /* Every outcome is a documented code with a message to show. */
    if (rc > 0) abort();
    if (rc != CLOUDSTOR_OK && strlen(cloudstor_errmsg(client)) == 0 && rc != CLOUDSTOR_ENOMEM) abort();
    (void)cloudstor_strerror(rc);
    return 0;
}
