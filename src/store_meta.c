/*
 * Small facts the store keeps between runners under a key of the meta
 * table: what a forge said about the account handoff commits as.
 */
#include <stdlib.h>

#include "store_sqlite.h"
#include "util.h"

int
store_meta_get(struct store *st, const char *key, char **value)
{
	sqlite3_stmt *s;
	int rc;

	*value = NULL;
	if ((s = store_prepare(st, "SELECT value FROM meta WHERE key = ?1")) ==
	    NULL)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*value = store_column_dup(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, "read meta");
	return 0;
}

int
store_meta_set(struct store *st, const char *key, const char *value)
{
	sqlite3_stmt *s;

	if ((s = store_prepare(st, "INSERT INTO meta (key, value) VALUES"
	    " (?1, ?2) ON CONFLICT (key) DO UPDATE SET value ="
	    " excluded.value")) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_TRANSIENT);
	return store_run(st, s, "write meta");
}
