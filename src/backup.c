/*
 * `handoff backup FILE`: a copy of the store that opens on its own, made
 * while serve and its runners go on writing.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backup.h"
#include "store.h"

int
backup_main(const struct config *cfg, int argc, char **argv)
{
	struct store *st;
	const char *file = NULL;
	char err[1024];
	bool is_force = false;
	int i, rc;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 && !is_force)
			is_force = true;
		else if (file == NULL && argv[i][0] != '-' && argv[i][0] != '\0')
			file = argv[i];
		else {
			fprintf(stderr, "handoff: backup: unexpected argument "
			    "\"%s\"\nusage: handoff backup [--force] FILE\n",
			    argv[i]);
			return 2;
		}
	}
	if (file == NULL) {
		fprintf(stderr, "usage: handoff backup [--force] FILE\n");
		return 2;
	}
	if (!store_exists(cfg->data_dir)) {
		fprintf(stderr, "handoff: backup: no store in %s\n",
		    cfg->data_dir);
		return 1;
	}
	if ((st = store_open(cfg->data_dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "handoff: backup: %s\n", err);
		return 1;
	}
	rc = store_backup(st, file, is_force, err, sizeof(err));
	store_close(st);
	if (rc == -1) {
		fprintf(stderr, "handoff: backup: %s\n", err);
		return 1;
	}
	printf("%s\n", file);
	return 0;
}
