#ifndef CLINUX_H
#define CLINUX_H

#include <stddef.h>

/* Binds and listens on a unix stream socket at path, created with the given
 * permission bits. Returns the listening descriptor, or -errno. A stale socket
 * file is not removed here: the caller decides (after taking its lock). */
int clinux_listen_unix(const char *path, unsigned int mode, int backlog);

/* Connects a unix stream socket to path. Returns the descriptor, or -errno. */
int clinux_connect_unix(const char *path);

/* Attaches the image file at path to a free loop device, with autoclear set so the
 * kernel releases the device when its last user (the mount) goes away. Writes
 * "/dev/loopN" into dev. Returns an open descriptor on the device that keeps it
 * attached until closed, or -errno. */
int clinux_loop_attach(const char *path, char *dev, size_t devlen);

/* As clinux_loop_attach, for the file name inside the directory open as dir,
 * never through a symbolic link; path is what the device reports as its file. */
int clinux_loop_attach_at(int dir, const char *name, const char *path, char *dev, size_t devlen);

/* Finds the loop device backed by the file at path (same device and inode).
 * Writes "/dev/loopN" into dev and returns 1 if found, 0 if not, -errno. */
int clinux_loop_find(const char *path, char *dev, size_t devlen);

/* Whether the loop device at dev is backed by the file at path: 1 if so, 0 if
 * not (or dev is not attached, or does not exist), -errno. One open and one ioctl,
 * where clinux_loop_find opens every loop device. */
int clinux_loop_backs(const char *dev, const char *path);

/* Detaches the loop device at dev. Returns 0, or -errno (-ENXIO: not attached). */
int clinux_loop_detach(const char *dev);

/* Probes the device for any filesystem, RAID member or partition table
 * signature in process, as `blkid -p` does (libblkid's safe probe). Returns 1 and
 * writes the type ("ext4", "xfs", "gpt", …) into type if one is found, 0 if the
 * device holds none, -EUCLEAN if signatures disagree, or -errno. */
int clinux_probe_signature(const char *device, char *type, size_t typelen);

/* Whether the file at path has the ext2/3/4 superblock magic (0xEF53 at byte
 * 1080): 1 if so, 0 if not, -errno. One open and one pread. */
int clinux_has_ext4_magic(const char *path);

/* The sizes in bytes of the ext2/3/4 filesystem on a device or image (from its
 * superblock) and of the device or image itself. Returns 0, -EINVAL if there is
 * no ext superblock, or -errno. */
int clinux_ext4_sizes(const char *path, unsigned long long *fs_bytes, unsigned long long *device_bytes);

/* Flushes the filesystem mounted at path (the directory), and only that one, as
 * syncfs(2) does. Returns 0 or -errno. */
int clinux_syncfs(const char *path);

/* Gives the heap's free memory back to the kernel (malloc_trim(0)): after a
 * large transient allocation, idle memory is then what is in use. */
void clinux_trim_heap(void);

#endif
