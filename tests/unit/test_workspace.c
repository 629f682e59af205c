/* harvest.c's protected-path patterns, sandbox.c's figures for people,
 * and util_rmtree on what an agent can leave behind. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"
#include "tap.h"
#include "util.h"
#include "harvest.h"

int
main(void)
{
	char buf[32], dir[] = "/tmp/handoff-unit-XXXXXX", *p, *q;
	struct stat sb;

	ok(harvest_path_matches(".github/workflows/**", ".github/workflows/ci.yml"),
	    "** matches a file in the directory");
	ok(harvest_path_matches(".github/workflows/**", ".github/workflows/a/b.yml"),
	    "** matches deeper files");
	ok(!harvest_path_matches(".github/workflows/**", ".github/ci.yml"),
	    "** stays under its directory");
	ok(!harvest_path_matches(".github/workflows/**", "x/.github/workflows/c"),
	    "patterns are anchored at the top");
	ok(harvest_path_matches("*.lock", "yarn.lock"), "* within a segment");
	ok(!harvest_path_matches("*.lock", "a/yarn.lock"), "* does not cross /");
	ok(harvest_path_matches("**/*.pem", "keys/deep/server.pem"),
	    "**/ matches any depth");
	ok(harvest_path_matches("**/*.pem", "server.pem"), "**/ matches no depth");
	ok(harvest_path_matches("secret?.txt", "secret1.txt"), "? one character");
	ok(!harvest_path_matches("secret?.txt", "secret/.txt"), "? is not /");
	ok(harvest_path_matches("Makefile", "Makefile"), "a plain name");
	ok(!harvest_path_matches("Makefile", "Makefile.am"), "exactly");

	sandbox_fmt_duration(30 * 60 * 1000, buf, sizeof(buf));
	ok(strcmp(buf, "30m") == 0, "30m");
	sandbox_fmt_duration(20 * 1000, buf, sizeof(buf));
	ok(strcmp(buf, "20s") == 0, "20s");
	sandbox_fmt_duration(2 * 3600 * 1000, buf, sizeof(buf));
	ok(strcmp(buf, "2h") == 0, "2h");
	sandbox_fmt_duration(1500, buf, sizeof(buf));
	ok(strcmp(buf, "1500ms") == 0, "1500ms");
	sandbox_fmt_size(4ull << 30, buf, sizeof(buf));
	ok(strcmp(buf, "4G") == 0, "4G");
	sandbox_fmt_size(256u << 20, buf, sizeof(buf));
	ok(strcmp(buf, "256M") == 0, "256M");
	sandbox_fmt_size(1000, buf, sizeof(buf));
	ok(strcmp(buf, "1000") == 0, "bytes");

	/* An unreadable directory and a symlink out of the tree: removed,
	 * and the link's target untouched. */
	ok(mkdtemp(dir) != NULL, "scratch directory");
	p = xasprintf("%s/tree/locked/inner", dir);
	ok(util_mkdirs(p, 0755) == 0, "make a tree");
	free(p);
	p = xasprintf("%s/target", dir);
	ok(util_write_file(p, "keep", 4, 0644) == 0, "a file outside");
	q = xasprintf("%s/tree/link", dir);
	ok(symlink(p, q) == 0, "a symlink to it");
	free(q);
	q = xasprintf("%s/tree/locked", dir);
	chmod(q, 0);
	free(q);
	q = xasprintf("%s/tree", dir);
	ok(util_rmtree(q) == 0, "rmtree succeeds");
	ok(stat(q, &sb) == -1, "the tree is gone");
	ok(stat(p, &sb) == 0 && sb.st_size == 4, "the link's target is kept");
	ok(util_rmtree(q) == 0, "a missing tree is fine");
	free(q);
	unlink(p);
	free(p);
	rmdir(dir);
	return done_testing();
}
