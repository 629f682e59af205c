/*
 * SSH signatures for commits, as OpenSSH's PROTOCOL.sshsig describes them
 * and git checks them (gpg.format=ssh): the signed data is "SSHSIG", the
 * namespace, an empty reserved string, "sha512" and SHA-512 of the
 * message; the blob carries the public key and the signature; armored as
 * "-----BEGIN SSH SIGNATURE-----". Keys come from openssh-key-v1 files
 * (PROTOCOL.key), unencrypted only: handoff asks no one for a passphrase.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "sshsig.h"
#include "util.h"

#define BEGIN_KEY	"-----BEGIN OPENSSH PRIVATE KEY-----"
#define END_KEY		"-----END OPENSSH PRIVATE KEY-----"
#define KEY_MAGIC	"openssh-key-v1"	/* and a NUL */
#define SIG_MAGIC	"SSHSIG"
#define SIG_VERSION	1
#define ARMOR_WIDTH	70
#define MAX_KEY_TEXT	(64 * 1024)
#define MIN_RSA_BITS	2048
#define MAX_RSA_BITS	16384

struct sshsig_key {
	EVP_PKEY	*pkey;
	bool		 is_rsa;
	unsigned char	*pub;		/* the public key blob */
	size_t		 npub;
};

/* A bounded reader of SSH wire data. */
struct rd {
	const unsigned char	*p;
	size_t			 n;
	bool			 is_bad;
};

static uint32_t
get_u32(struct rd *r)
{
	uint32_t v;

	if (r->is_bad || r->n < 4) {
		r->is_bad = true;
		return 0;
	}
	v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->n -= 4;
	return v;
}

/* A string's bytes (in r's buffer) and length. */
static const unsigned char *
get_str(struct rd *r, size_t *len)
{
	const unsigned char *s;
	uint32_t n = get_u32(r);

	*len = 0;
	if (r->is_bad || n > r->n) {
		r->is_bad = true;
		return NULL;
	}
	s = r->p;
	r->p += n;
	r->n -= n;
	*len = n;
	return s;
}

static bool
get_is(struct rd *r, const char *want)
{
	size_t n;
	const unsigned char *s = get_str(r, &n);

	return s != NULL && n == strlen(want) && memcmp(s, want, n) == 0;
}

/* An mpint as a BIGNUM (positive only); caller frees. */
static BIGNUM *
get_bn(struct rd *r)
{
	size_t n;
	const unsigned char *s = get_str(r, &n);

	if (s == NULL || n == 0 || n > MAX_RSA_BITS / 8 + 1 || (s[0] & 0x80)) {
		r->is_bad = true;
		return NULL;
	}
	return BN_bin2bn(s, (int)n, NULL);
}

/* A growing buffer of SSH wire data. */
struct wr {
	unsigned char	*p;
	size_t		 n;
};

static void
put(struct wr *w, const void *data, size_t n)
{
	w->p = xrealloc(w->p, w->n + n + 1);
	if (n > 0)
		memcpy(w->p + w->n, data, n);
	w->n += n;
}

static void
put_u32(struct wr *w, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };

	put(w, b, 4);
}

static void
put_str(struct wr *w, const void *s, size_t n)
{
	put_u32(w, (uint32_t)n);
	put(w, s, n);
}

static void
put_cstr(struct wr *w, const char *s)
{
	put_str(w, s, strlen(s));
}

/* b as an mpint: big-endian, a zero byte before a high bit. */
static void
put_bn(struct wr *w, const BIGNUM *b)
{
	size_t n = (size_t)BN_num_bytes(b);
	unsigned char *bin = xmalloc(n + 1);

	bin[0] = 0;
	BN_bn2bin(b, bin + 1);
	if (n > 0 && (bin[1] & 0x80))
		put_str(w, bin, n + 1);
	else
		put_str(w, bin + 1, n);
	free(bin);
}

/* The base64 between the armor lines, whitespace dropped; caller frees
 * (as a secret). */
static unsigned char *
unarmor(const char *text, size_t len, size_t *out)
{
	const char *b, *e;
	char *copy, *body;
	unsigned char *bin = NULL;
	size_t n = 0;

	*out = 0;
	if (len > MAX_KEY_TEXT || memchr(text, '\0', len) != NULL)
		return NULL;
	/* Only the len bytes given: text need not end there. */
	copy = xstrndup(text, len);
	if ((b = strstr(copy, BEGIN_KEY)) == NULL ||
	    (e = strstr(b, END_KEY)) == NULL)
		goto out;
	b += strlen(BEGIN_KEY);
	body = xmalloc((size_t)(e - b) + 1);
	for (; b < e; b++)
		if (!isspace((unsigned char)*b))
			body[n++] = *b;
	body[n] = '\0';
	bin = util_base64_decode(body, n, out);
	explicit_bzero(body, n);
	free(body);
out:
	explicit_bzero(copy, len);
	free(copy);
	return bin;
}

static EVP_PKEY *
ed25519_key(struct rd *r, struct wr *pub)
{
	size_t npk, nsk;
	const unsigned char *pk = get_str(r, &npk), *sk = get_str(r, &nsk);

	/* The private part is the seed and the public key again. */
	if (r->is_bad || npk != 32 || nsk != 64 ||
	    memcmp(sk + 32, pk, 32) != 0)
		return NULL;
	put_cstr(pub, "ssh-ed25519");
	put_str(pub, pk, npk);
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
}

/* n, e, d, iqmp, p, q as PROTOCOL.key lists them; OpenSSL wants the
 * exponents mod p-1 and q-1 as well. */
static EVP_PKEY *
rsa_key(struct rd *r, struct wr *pub)
{
	BIGNUM *n = get_bn(r), *e = get_bn(r), *d = get_bn(r);
	BIGNUM *iqmp = get_bn(r), *p = get_bn(r), *q = get_bn(r);
	BIGNUM *dp = BN_new(), *dq = BN_new(), *t = BN_new();
	BN_CTX *ctx = BN_CTX_new();
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	int bits;

	if (r->is_bad || n == NULL || e == NULL || d == NULL || iqmp == NULL ||
	    p == NULL || q == NULL || dp == NULL || dq == NULL || t == NULL ||
	    ctx == NULL)
		goto out;
	bits = BN_num_bits(n);
	if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS ||
	    !BN_sub(t, p, BN_value_one()) || !BN_mod(dp, d, t, ctx) ||
	    !BN_sub(t, q, BN_value_one()) || !BN_mod(dq, d, t, ctx))
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	    iqmp) || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pctx) <= 0 ||
	    EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0) {
		pkey = NULL;
		goto out;
	}
	/* The public blob: e, then n, each an mpint. */
	put_cstr(pub, "ssh-rsa");
	put_bn(pub, e);
	put_bn(pub, n);
out:
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_CTX_free(ctx);
	BN_free(t);
	BN_free(dq);
	BN_free(dp);
	BN_clear_free(q);
	BN_clear_free(p);
	BN_clear_free(iqmp);
	BN_clear_free(d);
	BN_free(e);
	BN_free(n);
	return pkey;
}

struct sshsig_key *
sshsig_key_load(const char *text, size_t len, char *err, size_t errlen)
{
	struct sshsig_key *k = NULL;
	struct wr pub = { 0 };
	struct rd r, priv;
	unsigned char *bin;
	const unsigned char *outer, *s;
	size_t nbin, nouter, n;

	if ((bin = unarmor(text, len, &nbin)) == NULL) {
		snprintf(err, errlen, "not an OpenSSH private key (\"%s\")",
		    BEGIN_KEY);
		return NULL;
	}
	r = (struct rd){ bin, nbin, false };
	if (nbin < sizeof(KEY_MAGIC) ||
	    memcmp(bin, KEY_MAGIC, sizeof(KEY_MAGIC)) != 0) {
		snprintf(err, errlen, "not an openssh-key-v1 private key");
		goto out;
	}
	r.p += sizeof(KEY_MAGIC);
	r.n -= sizeof(KEY_MAGIC);
	if (!get_is(&r, "none") || !get_is(&r, "none")) {
		snprintf(err, errlen, "the key is encrypted: handoff needs one"
		    " without a passphrase (ssh-keygen -p -N '')");
		goto out;
	}
	get_str(&r, &n);			/* kdf options */
	if (get_u32(&r) != 1 || r.is_bad) {
		snprintf(err, errlen, "the file must hold exactly one key");
		goto out;
	}
	outer = get_str(&r, &nouter);
	s = get_str(&r, &n);
	priv = (struct rd){ s, n, r.is_bad };
	/* Unencrypted, the two check numbers are equal. */
	if (priv.is_bad || get_u32(&priv) != get_u32(&priv) || priv.is_bad) {
		snprintf(err, errlen, "the key file is damaged");
		goto out;
	}
	k = xcalloc(1, sizeof(*k));
	s = get_str(&priv, &n);
	if (s != NULL && n == 11 && memcmp(s, "ssh-ed25519", 11) == 0)
		k->pkey = ed25519_key(&priv, &pub);
	else if (s != NULL && n == 7 && memcmp(s, "ssh-rsa", 7) == 0) {
		k->is_rsa = true;
		k->pkey = rsa_key(&priv, &pub);
	} else {
		snprintf(err, errlen, "the key's type is not ssh-ed25519 or"
		    " ssh-rsa");
		goto fail;
	}
	if (k->pkey == NULL || pub.n != nouter ||
	    memcmp(pub.p, outer, nouter) != 0) {
		snprintf(err, errlen, "the %s key is damaged%s", k->is_rsa ?
		    "ssh-rsa" : "ssh-ed25519", k->is_rsa ? " or under 2048"
		    " bits" : "");
		goto fail;
	}
	k->pub = pub.p;
	k->npub = pub.n;
	pub.p = NULL;
	goto out;
fail:
	sshsig_key_free(k);
	k = NULL;
out:
	free(pub.p);
	explicit_bzero(bin, nbin);
	free(bin);
	return k;
}

void
sshsig_key_free(struct sshsig_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->pub);
	free(k);
}

int
sshsig_check_key(const char *text, size_t len)
{
	char err[256];
	struct sshsig_key *k = sshsig_key_load(text, len, err, sizeof(err));

	sshsig_key_free(k);
	return k != NULL;
}

char *
sshsig_public(const struct sshsig_key *k)
{
	char *b64 = util_base64_encode(k->pub, k->npub), *s;

	s = xasprintf("%s %s", k->is_rsa ? "ssh-rsa" : "ssh-ed25519", b64);
	free(b64);
	return s;
}

/* The signature of data: SSH's encoding (its algorithm, its bytes). */
static int
sign_raw(const struct sshsig_key *k, const struct wr *data, struct wr *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t n = 0;
	int rc = -1;

	/* Ed25519 hashes for itself; RSA is rsa-sha2-512 (PKCS#1 v1.5). */
	if (md == NULL || EVP_DigestSignInit(md, NULL, k->is_rsa ?
	    EVP_sha512() : NULL, NULL, k->pkey) <= 0 ||
	    EVP_DigestSign(md, NULL, &n, data->p, data->n) <= 0)
		goto out;
	sig = xmalloc(n);
	if (EVP_DigestSign(md, sig, &n, data->p, data->n) <= 0)
		goto out;
	put_cstr(out, k->is_rsa ? "rsa-sha2-512" : "ssh-ed25519");
	put_str(out, sig, n);
	rc = 0;
out:
	free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

char *
sshsig_sign(const struct sshsig_key *k, const char *ns, const void *msg,
    size_t len, char *err, size_t errlen)
{
	struct wr data = { 0 }, sig = { 0 }, blob = { 0 };
	unsigned char hash[64];
	unsigned int nhash = 0;
	char *b64 = NULL, *out = NULL, *p;
	size_t n, i;

	if (EVP_Digest(msg, len, hash, &nhash, EVP_sha512(), NULL) != 1) {
		snprintf(err, errlen, "SHA-512 failed");
		return NULL;
	}
	put(&data, SIG_MAGIC, 6);
	put_cstr(&data, ns);
	put_cstr(&data, "");
	put_cstr(&data, "sha512");
	put_str(&data, hash, nhash);
	if (sign_raw(k, &data, &sig) == -1) {
		snprintf(err, errlen, "signing with the %s key failed",
		    k->is_rsa ? "ssh-rsa" : "ssh-ed25519");
		goto out;
	}
	put(&blob, SIG_MAGIC, 6);
	put_u32(&blob, SIG_VERSION);
	put_str(&blob, k->pub, k->npub);
	put_cstr(&blob, ns);
	put_cstr(&blob, "");
	put_cstr(&blob, "sha512");
	put_str(&blob, sig.p, sig.n);
	b64 = util_base64_encode(blob.p, blob.n);
	n = strlen(b64);
	out = xmalloc(n + n / ARMOR_WIDTH + 128);
	p = out + sprintf(out, "-----BEGIN SSH SIGNATURE-----\n");
	for (i = 0; i < n; i += ARMOR_WIDTH)
		p += sprintf(p, "%.*s\n", ARMOR_WIDTH, b64 + i);
	sprintf(p, "-----END SSH SIGNATURE-----\n");
out:
	free(b64);
	free(blob.p);
	free(sig.p);
	free(data.p);
	return out;
}
