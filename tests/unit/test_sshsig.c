/*
 * sshsig.c and identity.c: keys ssh-keygen made are loaded and their
 * signatures verified by ssh-keygen -Y verify; every truncation and byte
 * flip of a key file is refused or loaded without harm; names and
 * addresses from outside are checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identity.h"
#include "sshsig.h"
#include "tap.h"
#include "util.h"

static char dir[] = "/tmp/test_sshsig.XXXXXX";

/* Run cmd (made with xasprintf) and free it. */
static int
sh(char *cmd)
{
	int rc = system(cmd);

	free(cmd);
	return rc;
}

/* The key file dir/name, or NULL. */
static char *
key_text(const char *name, size_t *len)
{
	char *path = xasprintf("%s/%s", dir, name), *text;

	text = util_read_file(path, 65536, len);
	free(path);
	return text;
}

/* Sign msg with dir/name and have ssh-keygen verify it (0: good). */
static int
sign_and_verify(const char *name, const char *msg)
{
	char err[256], *text, *sig, *path, *pub;
	struct sshsig_key *k;
	size_t len;
	FILE *f;
	int rc = -1;

	if ((text = key_text(name, &len)) == NULL)
		return -1;
	k = sshsig_key_load(text, len, err, sizeof(err));
	free(text);
	if (k == NULL) {
		printf("# %s: %s\n", name, err);
		return -1;
	}
	sig = sshsig_sign(k, "git", msg, strlen(msg), err, sizeof(err));
	pub = sshsig_public(k);
	path = xasprintf("%s/%s.sig", dir, name);
	if (sig != NULL && (f = fopen(path, "w")) != NULL) {
		fputs(sig, f);
		fclose(f);
		free(path);
		path = xasprintf("%s/allowed", dir);
		if ((f = fopen(path, "w")) != NULL) {
			fprintf(f, "t@t namespaces=\"git\" %s\n", pub);
			fclose(f);
			free(path);
			path = xasprintf("%s/msg", dir);
			if ((f = fopen(path, "w")) != NULL) {
				fputs(msg, f);
				fclose(f);
				rc = sh(xasprintf("ssh-keygen -Y verify -f"
				    " %s/allowed -I t@t -n git -s %s/%s.sig"
				    " < %s/msg >/dev/null 2>&1", dir, dir,
				    name, dir));
			}
		}
	}
	free(path);
	free(pub);
	free(sig);
	sshsig_key_free(k);
	return rc;
}

/* Every truncation of the file, and every byte of it flipped: never a
 * crash (ASan watches), and how many loaded. */
static void
mangle(const char *name)
{
	char err[256], *text;
	size_t len, i, loaded = 0;
	struct sshsig_key *k;

	if ((text = key_text(name, &len)) == NULL)
		return;
	/* Without its last newline it is whole (config.c drops that). */
	for (i = 0; i + 1 < len; i++) {
		k = sshsig_key_load(text, i, err, sizeof(err));
		loaded += k != NULL;
		sshsig_key_free(k);
	}
	is_int(loaded, 0, "%s: no truncation loads", name);
	k = sshsig_key_load(text, len - 1, err, sizeof(err));
	ok(k != NULL, "%s: the file without its last newline does", name);
	sshsig_key_free(k);
	for (i = 0; i < len; i++) {
		text[i] ^= 0x55;
		k = sshsig_key_load(text, len, err, sizeof(err));
		sshsig_key_free(k);
		text[i] ^= 0x55;
	}
	ok(1, "%s: every byte flipped, none crashed", name);
	free(text);
}

int
main(void)
{
	char err[256], *text;
	size_t len;
	struct sshsig_key *k;

	if (mkdtemp(dir) == NULL || system("command -v ssh-keygen"
	    " >/dev/null") != 0) {
		printf("Bail out! ssh-keygen (openssh-client) is needed\n");
		return 1;
	}
	sh(xasprintf("ssh-keygen -q -t ed25519 -N '' -f %s/ed", dir));
	sh(xasprintf("ssh-keygen -q -t rsa -b 2048 -N '' -f %s/rsa", dir));
	sh(xasprintf("ssh-keygen -q -t ed25519 -N pass -f %s/enc", dir));
	sh(xasprintf("ssh-keygen -q -t ecdsa -N '' -f %s/ecdsa", dir));

	is_int(sign_and_verify("ed", "tree 1\n\nmessage\n"), 0,
	    "an ed25519 signature verifies with ssh-keygen -Y verify");
	is_int(sign_and_verify("rsa", "tree 2\n\nmessage\n"), 0,
	    "an RSA (rsa-sha2-512) signature verifies too");

	text = key_text("enc", &len);
	k = sshsig_key_load(text, len, err, sizeof(err));
	ok(k == NULL && strstr(err, "encrypted") != NULL,
	    "an encrypted key is refused as encrypted");
	free(text);
	text = key_text("ecdsa", &len);
	k = sshsig_key_load(text, len, err, sizeof(err));
	ok(k == NULL && strstr(err, "type") != NULL,
	    "an ECDSA key is refused by its type");
	free(text);
	k = sshsig_key_load("-----BEGIN OPENSSH PRIVATE KEY-----\n!!\n"
	    "-----END OPENSSH PRIVATE KEY-----\n", 74, err, sizeof(err));
	ok(k == NULL, "bad base64 is refused");
	mangle("ed");
	mangle("rsa");

	ok(identity_name_ok("Ada Lovelace"), "a name");
	ok(identity_name_ok("Zoë Ångström"), "a name in UTF-8");
	ok(!identity_name_ok(""), "not an empty one");
	ok(!identity_name_ok("Mal\033[2Jlory"), "not one with an escape");
	ok(!identity_name_ok("a\nb"), "not two lines");
	ok(!identity_name_ok("x <y@z>"), "not one with angle brackets");
	ok(!identity_name_ok(" padded"), "not one with a space at its end");
	ok(!identity_name_ok("\xff\xfe"), "not one that is not UTF-8");
	text = xmalloc(IDENTITY_NAME_MAX + 2);
	memset(text, 'a', IDENTITY_NAME_MAX + 1);
	text[IDENTITY_NAME_MAX + 1] = '\0';
	ok(!identity_name_ok(text), "not one over 128 bytes");
	text[IDENTITY_NAME_MAX] = '\0';
	ok(identity_name_ok(text), "but one of 128");
	free(text);
	ok(identity_email_ok("41+handoff[bot]@users.noreply.github.com"),
	    "a no-reply address");
	ok(!identity_email_ok("not an address"), "not one with spaces");
	ok(!identity_email_ok("a@b@c"), "not one with two @");
	ok(!identity_email_ok("@b"), "not one with nothing before @");
	ok(!identity_email_ok("a@"), "not one with nothing after @");
	ok(!identity_email_ok("a@b>c"), "not one with '>'");
	ok(!identity_email_ok("a@b\033c"), "not one with an escape");
	ok(identity_check_email("a@b", 3) && !identity_check_email("a@b", 4),
	    "the config's check takes the length");

	sh(xasprintf("rm -rf %s", dir));
	return done_testing();
}
