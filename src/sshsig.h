/*
 * SSH signatures (OpenSSH's PROTOCOL.sshsig) as git writes them with
 * gpg.format=ssh: an unencrypted openssh-key-v1 private key (ssh-ed25519
 * or ssh-rsa), an SSHSIG blob over SHA-512 of the message, armored.
 */
#ifndef HANDOFF_SSHSIG_H
#define HANDOFF_SSHSIG_H

#include <stddef.h>

struct sshsig_key;

/* The key in text (the file's contents, len bytes), or NULL with the
 * reason in err (never any of the key's bytes). Free with
 * sshsig_key_free. */
struct sshsig_key *sshsig_key_load(const char *text, size_t len, char *err,
    size_t errlen);
void sshsig_key_free(struct sshsig_key *k);
/* Whether text is a key sshsig_key_load takes (config.c's check). */
int sshsig_check_key(const char *text, size_t len);
/* The public key as an authorized_keys line ("ssh-ed25519 AAAA..."); caller
 * frees. */
char *sshsig_public(const struct sshsig_key *k);
/* The armored signature ("-----BEGIN SSH SIGNATURE-----" ... END line and
 * a newline) of msg in namespace ns, or NULL with the reason in err.
 * Caller frees. */
char *sshsig_sign(const struct sshsig_key *k, const char *ns,
    const void *msg, size_t len, char *err, size_t errlen);

#endif
