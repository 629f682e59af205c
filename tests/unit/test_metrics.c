/* metrics.c: label values as the text format takes them, whatever a model
 * or forge string holds. */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "tap.h"

static void
escapes(const char *in, const char *want, const char *what)
{
	char *got = metrics_escape(in);

	is_str(got, want, "%s", what);
	free(got);
}

int
main(void)
{
	escapes("claude-sonnet-4.5", "claude-sonnet-4.5", "a name as it is");
	escapes("", "", "empty");
	escapes("a\"b", "a\\\"b", "a double quote escaped");
	escapes("a\\b", "a\\\\b", "a backslash escaped");
	escapes("a\nb", "a\\nb", "a newline escaped");
	escapes("\\n", "\\\\n", "a backslash before n stays two characters");
	escapes("x\"} 1\nhandoff_fake_total 9\n#",
	    "x\\\"} 1\\nhandoff_fake_total 9\\n#",
	    "a value cannot end its label or add a line");
	escapes("a\tb", "a\tb", "a tab is allowed as it is");
	escapes("a\x1b" "[31mred\x7f", "a[31mred",
	    "terminal controls dropped (a terminal may show the exposition)");
	escapes("a\xe2\x80\xae" "b", "ab", "a bidirectional override dropped");
	escapes("\xff\xfe" "ok\xc3", "\xef\xbf\xbd\xef\xbf\xbd" "ok\xef\xbf\xbd",
	    "bytes that are not UTF-8 become U+FFFD");
	escapes("gpt-\xc3\xa9t\xc3\xa9", "gpt-\xc3\xa9t\xc3\xa9",
	    "UTF-8 kept");
	return done_testing();
}
