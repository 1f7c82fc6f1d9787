#define _GNU_SOURCE
#include "clinux.h"

#include <blkid/blkid.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Fills addr for path; -ENAMETOOLONG if it does not fit. */
static int unix_address(const char *path, struct sockaddr_un *addr) {
    if (strlen(path) >= sizeof(addr->sun_path)) return -ENAMETOOLONG;
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    strcpy(addr->sun_path, path);
    return 0;
}

int clinux_listen_unix(const char *path, unsigned int mode, int backlog) {
    struct sockaddr_un addr;
    int bad = unix_address(path, &addr);
    if (bad) return bad;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    /* The mode is applied by umask at bind so the socket is never wider than asked. */
    mode_t old = umask(~mode & 0777);
    int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    int err = errno;
    umask(old);
    if (rc != 0 || listen(fd, backlog) != 0) {
        if (rc == 0) err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int clinux_connect_unix(const char *path) {
    struct sockaddr_un addr;
    int bad = unix_address(path, &addr);
    if (bad) return bad;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int clinux_loop_attach(const char *path, char *dev, size_t devlen) {
    return clinux_loop_attach_at(AT_FDCWD, path, path, dev, devlen);
}

int clinux_loop_attach_at(int dir, const char *name, const char *path, char *dev, size_t devlen) {
    int file = openat(dir, name, O_RDWR | O_CLOEXEC | (dir == AT_FDCWD ? 0 : O_NOFOLLOW));
    if (file < 0) return -errno;
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) {
        int err = errno;
        close(file);
        return -err;
    }
    /* Another process may take the free device between GET_FREE and CONFIGURE:
     * EBUSY then, and we ask again. */
    for (int attempt = 0; attempt < 64; attempt++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0) break;
        snprintf(dev, devlen, "/dev/loop%d", n);
        int loop = open(dev, O_RDWR | O_CLOEXEC);
        if (loop < 0) {
            if (errno == ENOENT) continue; /* udev has not made the node yet */
            break;
        }
        struct loop_config config;
        memset(&config, 0, sizeof(config));
        config.fd = (unsigned int)file;
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        strncpy((char *)config.info.lo_file_name, path, LO_NAME_SIZE - 1);
        if (ioctl(loop, LOOP_CONFIGURE, &config) == 0) {
            close(ctl);
            close(file);
            return loop;
        }
        int err = errno;
        close(loop);
        if (err != EBUSY) {
            close(ctl);
            close(file);
            return -err;
        }
    }
    int err = errno ? errno : EBUSY;
    close(ctl);
    close(file);
    return -err;
}

int clinux_loop_find(const char *path, char *dev, size_t devlen) {
    struct stat want;
    if (stat(path, &want) != 0) return -errno;
    DIR *dir = opendir("/sys/block");
    if (!dir) return -errno;
    int found = 0;
    struct dirent *entry;
    while (!found && (entry = readdir(dir)) != NULL) {
        if (strncmp(entry->d_name, "loop", 4) != 0) continue;
        /* Only a bound loop device has /sys/block/loopN/loop: the unbound ones
         * (most, on a busy host) are passed over without opening their device. */
        char bound[300];
        snprintf(bound, sizeof(bound), "%s/loop", entry->d_name);
        if (faccessat(dirfd(dir), bound, F_OK, 0) != 0) continue;
        char candidate[64];
        snprintf(candidate, sizeof(candidate), "/dev/%s", entry->d_name);
        int fd = open(candidate, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        struct loop_info64 info;
        if (ioctl(fd, LOOP_GET_STATUS64, &info) == 0 &&
            info.lo_device == want.st_dev && info.lo_inode == want.st_ino) {
            snprintf(dev, devlen, "%s", candidate);
            found = 1;
        }
        close(fd);
    }
    closedir(dir);
    return found;
}

int clinux_loop_backs(const char *dev, const char *path) {
    struct stat want;
    if (stat(path, &want) != 0) return -errno;
    int fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ENXIO ? 0 : -errno;
    struct loop_info64 info;
    int rc = ioctl(fd, LOOP_GET_STATUS64, &info);
    int err = errno;
    close(fd);
    if (rc != 0) return err == ENXIO ? 0 : -err;
    return info.lo_device == want.st_dev && info.lo_inode == want.st_ino;
}

int clinux_loop_detach(const char *dev) {
    int fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = ioctl(fd, LOOP_CLR_FD, 0);
    int err = errno;
    close(fd);
    return rc == 0 ? 0 : -err;
}

int clinux_probe_signature(const char *device, char *type, size_t typelen) {
    if (typelen > 0) type[0] = '\0';
    errno = 0;
    blkid_probe probe = blkid_new_probe_from_filename(device);
    if (!probe) return errno ? -errno : -EIO;
    blkid_probe_enable_superblocks(probe, 1);
    blkid_probe_set_superblocks_flags(probe, BLKID_SUBLKS_TYPE);
    blkid_probe_enable_partitions(probe, 1);
    blkid_probe_set_partitions_flags(probe, BLKID_PARTS_MAGIC);
    int rc = blkid_do_safeprobe(probe);
    int result;
    const char *value = NULL;
    if (rc == 0) {
        if (blkid_probe_lookup_value(probe, "TYPE", &value, NULL) != 0 &&
            blkid_probe_lookup_value(probe, "PTTYPE", &value, NULL) != 0)
            value = "unknown";
        snprintf(type, typelen, "%s", value);
        result = 1;
    } else if (rc == 1) {
        result = 0;
    } else if (rc == -2) {
        snprintf(type, typelen, "%s", "ambivalent");
        result = -EUCLEAN;
    } else {
        result = errno ? -errno : -EIO;
    }
    blkid_free_probe(probe);
    return result;
}

int clinux_has_ext4_magic(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    unsigned char magic[2];
    ssize_t n = pread(fd, magic, sizeof(magic), 1080);
    int err = errno;
    close(fd);
    if (n < 0) return -err;
    return n == 2 && magic[0] == 0x53 && magic[1] == 0xEF;
}

static unsigned long long le(const unsigned char *p, int n) {
    unsigned long long v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

int clinux_ext4_sizes(const char *path, unsigned long long *fs_bytes, unsigned long long *device_bytes) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    unsigned char sb[1024];
    int rc = 0;
    struct stat st;
    ssize_t n = pread(fd, sb, sizeof(sb), 1024);
    if (n < 0 || fstat(fd, &st) != 0) {
        rc = -errno;
    } else if (n != (ssize_t)sizeof(sb) || sb[56] != 0x53 || sb[57] != 0xEF || le(sb + 24, 4) > 16) {
        rc = -EINVAL;
    } else {
        /* s_blocks_count_lo (4), s_log_block_size (24), s_feature_incompat (96):
         * INCOMPAT_64BIT (0x80) adds s_blocks_count_hi (336). */
        unsigned long long blocks = le(sb + 4, 4);
        if (le(sb + 96, 4) & 0x80) blocks |= le(sb + 336, 4) << 32;
        *fs_bytes = blocks << (10 + le(sb + 24, 4));
        if (S_ISBLK(st.st_mode)) {
            if (ioctl(fd, BLKGETSIZE64, device_bytes) != 0) rc = -errno;
        } else {
            *device_bytes = (unsigned long long)st.st_size;
        }
    }
    close(fd);
    return rc;
}

int clinux_syncfs(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = syncfs(fd);
    int err = errno;
    close(fd);
    return rc == 0 ? 0 : -err;
}

void clinux_trim_heap(void) {
    malloc_trim(0);
}
