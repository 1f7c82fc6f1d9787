/* cloudstor_volume and cloudstor_volume_list: owned copies of the answers, and their accessors. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static char *dup_or_empty(const char *s, int *failed) {
    char *d = strdup(s ? s : "");
    if (!d) *failed = 1;
    return d;
}

static int by_key(const void *a, const void *b) {
    const Cloudstor__V1__Volume__OptionsEntry *x = *(Cloudstor__V1__Volume__OptionsEntry *const *)a;
    const Cloudstor__V1__Volume__OptionsEntry *y = *(Cloudstor__V1__Volume__OptionsEntry *const *)b;
    return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

int cs_volume_fill(cloudstor_volume *dst, const Cloudstor__V1__Volume *src) {
    int failed = 0;
    const Cloudstor__V1__VolumeStatus *st = src->status;
    memset(dst, 0, sizeof *dst);
    dst->name = dup_or_empty(src->name, &failed);
    dst->backing = (int)src->backing;
    dst->created_at = dup_or_empty(src->created_at, &failed);
    dst->state = st ? (int)st->state : CLOUDSTOR_STATE_UNSPECIFIED;
    dst->node = dup_or_empty(st ? st->node : NULL, &failed);
    dst->mountpoint = dup_or_empty(st ? st->mountpoint : NULL, &failed);
    dst->zone = dup_or_empty(st ? st->zone : NULL, &failed);
    dst->cloud_id = dup_or_empty(st ? st->cloud_id : NULL, &failed);
    dst->device = dup_or_empty(st ? st->device : NULL, &failed);
    dst->mount_count = st ? st->mount_count : 0;

    size_t n = src->n_options;
    Cloudstor__V1__Volume__OptionsEntry **sorted = malloc((n ? n : 1) * sizeof *sorted);
    dst->keys = calloc(n ? n : 1, sizeof *dst->keys);
    dst->values = calloc(n ? n : 1, sizeof *dst->values);
    if (!sorted || !dst->keys || !dst->values) failed = 1;
    if (!failed) {
        if (n) memcpy(sorted, src->options, n * sizeof *sorted);  /* protobuf-c leaves options NULL when empty */
        qsort(sorted, n, sizeof *sorted, by_key);
        for (size_t i = 0; i < n; i++) {
            dst->keys[i] = dup_or_empty(sorted[i]->key, &failed);
            dst->values[i] = dup_or_empty(sorted[i]->value, &failed);
        }
        dst->n_options = n;
    }
    free(sorted);
    if (failed) {
        dst->n_options = n; /* free every slot allocated so far */
        cs_volume_clear(dst);
        return CLOUDSTOR_ENOMEM;
    }
    return CLOUDSTOR_OK;
}

void cs_volume_clear(cloudstor_volume *v) {
    for (size_t i = 0; i < v->n_options && v->keys && v->values; i++) {
        free(v->keys[i]);
        free(v->values[i]);
    }
    free(v->keys);
    free(v->values);
    free(v->name);
    free(v->created_at);
    free(v->node);
    free(v->mountpoint);
    free(v->zone);
    free(v->cloud_id);
    free(v->device);
    memset(v, 0, sizeof *v);
}

void cloudstor_volume_free(cloudstor_volume *volume) {
    if (!volume) return;
    cs_volume_clear(volume);
    free(volume);
}

const char *cloudstor_volume_name(const cloudstor_volume *v) { return v ? v->name : NULL; }
int cloudstor_volume_backing(const cloudstor_volume *v) { return v ? v->backing : CLOUDSTOR_BACKING_UNSPECIFIED; }
int cloudstor_volume_state(const cloudstor_volume *v) { return v ? v->state : CLOUDSTOR_STATE_UNSPECIFIED; }
const char *cloudstor_volume_node(const cloudstor_volume *v) { return v ? v->node : NULL; }
const char *cloudstor_volume_mountpoint(const cloudstor_volume *v) { return v ? v->mountpoint : NULL; }
const char *cloudstor_volume_zone(const cloudstor_volume *v) { return v ? v->zone : NULL; }
const char *cloudstor_volume_cloud_id(const cloudstor_volume *v) { return v ? v->cloud_id : NULL; }
const char *cloudstor_volume_device(const cloudstor_volume *v) { return v ? v->device : NULL; }
unsigned cloudstor_volume_mount_count(const cloudstor_volume *v) { return v ? v->mount_count : 0; }
const char *cloudstor_volume_created_at(const cloudstor_volume *v) { return v ? v->created_at : NULL; }
size_t cloudstor_volume_option_count(const cloudstor_volume *v) { return v ? v->n_options : 0; }

const char *cloudstor_volume_option(const cloudstor_volume *v, const char *key) {
    if (!v || !key) return NULL;
    for (size_t i = 0; i < v->n_options; i++)
        if (strcmp(v->keys[i], key) == 0) return v->values[i];
    return NULL;
}

int cloudstor_volume_option_at(const char **key_out, const char **value_out, const cloudstor_volume *v,
                               size_t index) {
    if (key_out) *key_out = NULL;
    if (value_out) *value_out = NULL;
    if (!v || index >= v->n_options) return CLOUDSTOR_EMISUSE;
    if (key_out) *key_out = v->keys[index];
    if (value_out) *value_out = v->values[index];
    return CLOUDSTOR_OK;
}

void cloudstor_volumes_free(cloudstor_volumes *list) {
    if (!list) return;
    for (size_t i = 0; i < list->count; i++) cs_volume_clear(&list->items[i]);
    free(list->items);
    free(list);
}

size_t cloudstor_volumes_count(const cloudstor_volumes *list) { return list ? list->count : 0; }

const cloudstor_volume *cloudstor_volumes_at(const cloudstor_volumes *list, size_t index) {
    return list && index < list->count ? &list->items[index] : NULL;
}
