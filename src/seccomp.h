/*
 * The sandbox's seccomp filter, built with libseccomp and handed to
 * bubblewrap as BPF: default allow, with the calls that reach the host
 * kernel's riskier corners (debugging, namespaces, mounts, keyrings, bpf,
 * tty injection, module loading) refused.
 */
#ifndef HANDOFF_SECCOMP_H
#define HANDOFF_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

/* Build the filter into an anonymous file, rewound, for bwrap --seccomp.
 * With no_memfd, memfd_create and memfd_secret fail with ENOSYS (their
 * pages count against no rlimit). Returns the descriptor (caller closes),
 * or -1 with the reason in err. */
int seccomp_build(bool no_memfd, char *err, size_t errlen);

#endif
