/*
 * JSON Web Tokens for GitHub App authentication: RS256 over the App's
 * private key, as GitHub's "Generating a JWT for a GitHub App" describes.
 */
#ifndef HANDOFF_JWT_H
#define HANDOFF_JWT_H

#include <stddef.h>
#include <stdint.h>

/*
 * A JWT for GitHub App app_id (the App ID or the Client ID) signed with the
 * RSA key in pem (PKCS#1 or PKCS#8 PEM, unencrypted, pem_len bytes, no NUL
 * needed): iat now_s - 60, exp now_s + 540. Returns a new string the caller
 * frees (and should wipe), or NULL with the reason in err; err never holds
 * key material.
 */
char *jwt_github_app(const char *app_id, const char *pem, size_t pem_len,
    int64_t now_s, char *err, size_t errlen);

#endif
