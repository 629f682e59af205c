/*
 * What the configuration's unit tests share: a scratch directory, writing
 * a file there, loading a config from text, printing one, and a load that
 * must fail
 * with given words (and, when config_secrets names them, without any of
 * those). Each test defines CONFIG_TEST_DIR before including this.
 */
#ifndef HANDOFF_CONFIG_TEST_H
#define HANDOFF_CONFIG_TEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"
#include "tap.h"

static char dir[] = CONFIG_TEST_DIR;
static char err[1024];
/* Text no error may show (secrets' values), NULL-ended; none by default. */
static const char *const *config_secrets;

/* Write text to dir/name; returns the path (caller frees). */
static char *
write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return path;
}

/* Load text as dir/t.ini; err holds the reason on NULL. */
static struct config *
load(const char *text)
{
	char *path = write_file("t.ini", text);
	struct config *cfg;

	err[0] = '\0';
	cfg = config_load(path, err, sizeof(err));
	free(path);
	return cfg;
}

/* config_print into a new string; caller frees. */
static char *
printed(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	config_print(cfg, f);
	fclose(f);
	return buf;
}

/* text must fail with an error containing each of the NULL-ended strings
 * and none of config_secrets. */
static void
fails(const char *name, const char *text, ...)
{
	struct config *cfg = load(text);
	const char *want, *missing = NULL;
	const char *const *s;
	bool shows = false;
	va_list ap;

	va_start(ap, text);
	while ((want = va_arg(ap, const char *)) != NULL)
		if (missing == NULL && strstr(err, want) == NULL)
			missing = want;
	va_end(ap);
	for (s = config_secrets; s && *s; s++)
		shows |= strstr(err, *s) != NULL;
	if (!ok(cfg == NULL && missing == NULL && !shows, "error: %s", name))
		printf("#   got \"%s\"%s%s\n", cfg ? "(loaded)" : err,
		    missing ? ", missing " : "", missing ? missing : "");
	config_free(cfg);
}

#endif
