/*
 * Delivery authentication for both forges: GitHub's X-Hub-Signature-256,
 * GitLab's X-Gitlab-Token and its Standard Webhooks signing token. Every
 * comparison is constant-time (CRYPTO_memcmp after a length check).
 */
#ifndef HANDOFF_SIGNATURE_H
#define HANDOFF_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

#define SIG_TOLERANCE_S	300	/* Standard Webhooks timestamp window, either way */

/* "sha256=<64 lowercase hex>" of body under secret into out (>= 72 bytes). */
void sig_github_sign(const char *secret, size_t secretlen,
    const void *body, size_t bodylen, char *out, size_t outlen);
/* 0 when header is a valid X-Hub-Signature-256 for body, else -1. */
int sig_github_verify(const char *secret, size_t secretlen,
    const void *body, size_t bodylen, const char *header);

/* 0 when the X-Gitlab-Token header equals token, else -1. */
int sig_gitlab_token_verify(const char *token, size_t tokenlen, const char *header);

/* Decode a "whsec_<base64>" signing secret. Returns a new key buffer and its
 * length, or NULL when malformed; caller frees. */
unsigned char *sig_whsec_key(const char *secret, size_t *keylen);
/* "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" into a new string; caller frees. */
char *sig_standard_sign(const unsigned char *key, size_t keylen, const char *id,
    const char *timestamp, const void *body, size_t bodylen);
/* Verify Standard Webhooks headers against key at time now (unix seconds):
 * timestamp within SIG_TOLERANCE_S, any of the space-separated "v1,..."
 * signatures matching. Returns 0, or -1 with a short reason in *why. */
int sig_standard_verify(const unsigned char *key, size_t keylen, const char *id,
    const char *timestamp, const char *signatures, const void *body,
    size_t bodylen, int64_t now, const char **why);

#endif
