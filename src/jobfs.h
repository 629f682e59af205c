/*
 * The job's own filesystem: everything the agent can write lives on one
 * filesystem with a hard size and inode count (an ext4 image on a loop
 * device as root, a tmpfs otherwise, in a user namespace of the job's
 * unless root),
 * mounted only in a mount namespace that a holder process keeps from the
 * agent's run to the end of collect. The host never sees the agent's files.
 */
#ifndef HANDOFF_JOBFS_H
#define HANDOFF_JOBFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Its layout, relative to the mount point. */
#define JOBFS_UPPER	"upper"		/* the workspace's writable layer */
#define JOBFS_WORK	"work"		/* overlayfs's work directory */
#define JOBFS_TMP	"tmp"		/* /tmp */
#define JOBFS_HOME	"home"		/* /home/agent */
#define JOBFS_VARTMP	"vartmp"	/* /var/tmp */
#define JOBFS_SHM	"shm"		/* /dev/shm */
#define JOBFS_SUMMARY	"summary.md"	/* /handoff/summary.md */
#define JOBFS_SETUP	"setup"		/* what set-up wrote in the workspace */
#define JOBFS_SETUP_HOME "setuphome"	/* and in its home */
#define JOBFS_HOME_WORK	"homework"	/* the home overlay's work directory */

struct jobfs {
	pid_t		 holder;	/* keeps it mounted; -1 when stopped */
	int		 ctl;		/* closing it ends the holder */
	int		 userns;	/* the holder's user namespace, or -1 */
	int		 mntns;		/* the holder's mount namespace */
	char		*mnt;		/* mount point, inside those namespaces */
	char		*image;		/* the image file, or NULL: a tmpfs */
	uint64_t	 bytes, inodes;
};

/* The inodes a filesystem of bytes gets (one per 16 KiB, as mke2fs). */
uint64_t jobfs_inodes(uint64_t bytes);

/* Mount the job's filesystem of bytes for the job directory dir and start
 * its holder. As root, the image dir/fs.img is made anew (its space
 * reserved) unless is_kept and it exists. Returns 0, or -1 with the reason
 * in err. Stop with jobfs_stop. */
int jobfs_start(struct jobfs *fs, const char *dir, uint64_t bytes,
    bool is_kept, char *err, size_t errlen);
/* End the holder (the filesystem goes with it, but an image stays on disk)
 * and free fs's strings. Safe on a stopped or zeroed fs. */
void jobfs_stop(struct jobfs *fs);
/* Whether dir holds an image from an earlier run (root only: a tmpfs
 * never outlives its holder). */
bool jobfs_has_image(const char *dir);
/* Remove dir's image, if any. */
void jobfs_discard(const char *dir);

/* In a launcher child (single-threaded, before exec): enter the holder's
 * namespaces, then take a mount and IPC namespace of its own. Returns 0,
 * or -1 with errno set and *what saying what failed. */
int jobfs_enter(const struct jobfs *fs, const char **what);

/* Free space and inodes left, for the disk limit. Returns 0 or -1. */
int jobfs_free(const struct jobfs *fs, uint64_t *free_bytes,
    uint64_t *free_inodes);

#endif
