/*
 * The diff on a job's page. Pages are made by walking the change's files in
 * order: a page ends after DIFFVIEW_PAGE_FILES files or when the next file's
 * patch would pass DIFFVIEW_PAGE_BYTES, so page K is found by measuring the
 * files before it, one patch in memory at a time.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "diffview.h"
#include "mirror.h"
#include "pages.h"
#include "util.h"

/* One file of the change, measured (and read, unless too large). */
struct file {
	const git_diff_delta	*delta;
	git_patch		*patch;		/* NULL: not read */
	bool			 is_large;	/* a side over DIFFVIEW_BLOB_MAX */
	uint64_t		 blob_bytes;	/* the larger side's size */
	size_t			 bytes;		/* its patch text */
};

/* Where the walk is. */
struct walk {
	long long	 page;		/* the page being walked */
	size_t		 files, bytes;	/* on that page so far */
	size_t		 first, last;	/* the shown page's files [first, last) */
	bool		 has_more;	/* files after the shown page */
};

static int
open_diff(git_repository **repo, git_diff **diff,
    const struct diffview_req *dr, char *err, size_t errlen)
{
	git_oid base_oid, head_oid;
	git_commit *base_c = NULL, *head_c = NULL;
	git_tree *base_t = NULL, *head_t = NULL;
	git_diff_options opts;
	char *path = mirror_path(dr->data_dir, dr->clone_url);
	int rc = -1;

	if (git_repository_open_ext(repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH |
	    GIT_REPOSITORY_OPEN_BARE | GIT_REPOSITORY_OPEN_NO_DOTGIT,
	    NULL) < 0) {
		snprintf(err, errlen, "the repository's mirror is not there");
		*repo = NULL;
		goto out;
	}
	if (git_oid_fromstrn(&base_oid, dr->base, strlen(dr->base)) < 0 ||
	    git_oid_fromstrn(&head_oid, dr->head, strlen(dr->head)) < 0 ||
	    git_commit_lookup(&base_c, *repo, &base_oid) < 0 ||
	    git_commit_lookup(&head_c, *repo, &head_oid) < 0 ||
	    git_commit_tree(&base_t, base_c) < 0 ||
	    git_commit_tree(&head_t, head_c) < 0) {
		mirror_fail(err, errlen, "read the change's commits");
		goto out;
	}
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.max_size = DIFFVIEW_BLOB_MAX;
	opts.flags |= GIT_DIFF_INCLUDE_TYPECHANGE;
	if (git_diff_tree_to_tree(diff, *repo, base_t, head_t, &opts) < 0) {
		mirror_fail(err, errlen, "diff the change");
		goto out;
	}
	rc = 0;
out:
	git_tree_free(head_t);
	git_tree_free(base_t);
	git_commit_free(head_c);
	git_commit_free(base_c);
	free(path);
	return rc;
}

/* The size of the blob id names, 0 for none. */
static uint64_t
blob_bytes(git_odb *odb, const git_oid *id)
{
	git_object_t type;
	size_t len = 0;

	if (git_oid_is_zero(id) || git_odb_read_header(&len, &type, odb,
	    id) < 0)
		return 0;
	return len;
}

/* Measure file i of diff: its patch, unless a side is too large. */
static int
file_load(git_diff *diff, git_odb *odb, size_t i, struct file *f)
{
	uint64_t old_bytes, new_bytes;

	memset(f, 0, sizeof(*f));
	f->delta = git_diff_get_delta(diff, i);
	old_bytes = blob_bytes(odb, &f->delta->old_file.id);
	new_bytes = blob_bytes(odb, &f->delta->new_file.id);
	f->blob_bytes = old_bytes > new_bytes ? old_bytes : new_bytes;
	if ((f->is_large = f->blob_bytes > DIFFVIEW_BLOB_MAX))
		return 0;
	if (git_patch_from_diff(&f->patch, diff, i) < 0)
		return -1;
	if (f->patch != NULL) {
		f->delta = git_patch_get_delta(f->patch);
		f->bytes = git_patch_size(f->patch, 1, 1, 0);
	}
	return 0;
}

static const char *
status_name(git_delta_t status)
{
	switch (status) {
	case GIT_DELTA_ADDED: return "added";
	case GIT_DELTA_DELETED: return "deleted";
	case GIT_DELTA_RENAMED: return "renamed";
	case GIT_DELTA_COPIED: return "copied";
	case GIT_DELTA_TYPECHANGE: return "type changed";
	default: return "modified";
	}
}

/* One line of a hunk, without its newline; budget: patch bytes the page
 * may still show. Returns false once the budget is spent. */
static bool
render_line(struct evbuffer *b, const git_diff_line *l, size_t *budget)
{
	const char *cls, *sign;
	size_t len = l->content_len;

	switch (l->origin) {
	case GIT_DIFF_LINE_ADDITION: cls = "add"; sign = "+"; break;
	case GIT_DIFF_LINE_DELETION: cls = "del"; sign = "-"; break;
	case GIT_DIFF_LINE_CONTEXT: cls = "ctx"; sign = " "; break;
	default:	/* the "no newline at end of file" marks */
		evbuffer_add_printf(b, "<span class=\"ctx\">\\ No newline at"
		    " end of file</span>\n");
		return true;
	}
	if (len + 1 > *budget)
		return false;
	*budget -= len + 1;
	if (len > 0 && l->content[len - 1] == '\n')
		len--;
	evbuffer_add_printf(b, "<span class=\"%s\">%s", cls, sign);
	pages_escape_n(b, l->content, len);
	evbuffer_add_printf(b, "</span>\n");
	return true;
}

/* The hunks of f's patch, cut where the budget ends. */
static void
render_hunks(struct evbuffer *b, git_patch *patch, size_t budget)
{
	const git_diff_hunk *hunk;
	const git_diff_line *l;
	size_t h, nh = git_patch_num_hunks(patch), nl, i, hlen;
	size_t cut = 0;

	evbuffer_add_printf(b, "<pre>");
	for (h = 0; h < nh; h++) {
		if (git_patch_get_hunk(&hunk, &nl, patch, h) < 0)
			break;
		if (cut > 0) {
			cut += nl;
			continue;
		}
		hlen = strnlen(hunk->header, hunk->header_len);
		while (hlen > 0 && (hunk->header[hlen - 1] == '\n' ||
		    hunk->header[hlen - 1] == '\r'))
			hlen--;
		evbuffer_add_printf(b, "<span class=\"hunk\">");
		pages_escape_n(b, hunk->header, hlen);
		evbuffer_add_printf(b, "</span>\n");
		for (i = 0; i < nl; i++) {
			if (git_patch_get_line_in_hunk(&l, patch, h, i) < 0)
				break;
			if (!render_line(b, l, &budget)) {
				cut = nl - i;
				break;
			}
		}
	}
	evbuffer_add_printf(b, "</pre>\n");
	if (cut > 0)
		evbuffer_add_printf(b, "<p class=\"cut\">%zu more lines of this"
		    " file are not shown: its diff is larger than a page"
		    " (%d KiB).</p>\n", cut, DIFFVIEW_PAGE_BYTES / 1024);
}

static void
render_file(struct evbuffer *b, const struct file *f, size_t budget)
{
	const git_diff_delta *d = f->delta;
	size_t ctx = 0, adds = 0, dels = 0;

	evbuffer_add_printf(b, "<div class=\"file\">\n<h3><span class="
	    "\"status\">%s</span> <span class=\"name\">",
	    status_name(d->status));
	if (d->status == GIT_DELTA_RENAMED || d->status == GIT_DELTA_COPIED) {
		pages_escape(b, d->old_file.path);
		evbuffer_add_printf(b, " \xe2\x86\x92 ");
	}
	pages_escape(b, d->new_file.path ? d->new_file.path :
	    d->old_file.path);
	evbuffer_add_printf(b, "</span>");
	if (f->patch != NULL && !(d->flags & GIT_DIFF_FLAG_BINARY) &&
	    git_patch_line_stats(&ctx, &adds, &dels, f->patch) == 0)
		evbuffer_add_printf(b, " <span class=\"stat\">+%zu "
		    "\xe2\x88\x92%zu</span>", adds, dels);
	evbuffer_add_printf(b, "</h3>\n");
	if (f->is_large)
		evbuffer_add_printf(b, "<p class=\"note\">Not shown: %llu bytes,"
		    " larger than the %d MiB this page reads.</p>\n",
		    (unsigned long long)f->blob_bytes,
		    DIFFVIEW_BLOB_MAX / (1024 * 1024));
	else if (f->patch == NULL || (d->flags & GIT_DIFF_FLAG_BINARY))
		evbuffer_add_printf(b, "<p class=\"note\">A binary file.</p>\n");
	else if (git_patch_num_hunks(f->patch) == 0)
		evbuffer_add_printf(b, "<p class=\"note\">No change to its"
		    " text (its mode or type changed).</p>\n");
	else
		render_hunks(b, f->patch, budget);
	evbuffer_add_printf(b, "</div>\n");
}

/* Walk the files, showing those of page dr->page. */
static int
walk_files(struct evbuffer *b, git_repository *repo, git_diff *diff,
    const struct diffview_req *dr, struct walk *w, char *err, size_t errlen)
{
	size_t i, n = git_diff_num_deltas(diff);
	git_odb *odb = NULL;
	struct file f;
	int rc = 0;

	memset(w, 0, sizeof(*w));
	w->page = 1;
	w->first = w->last = n;
	if (git_repository_odb(&odb, repo) < 0)
		return mirror_fail(err, errlen, "read the mirror's objects");
	for (i = 0; i < n; i++) {
		if (file_load(diff, odb, i, &f) == -1) {
			rc = mirror_fail(err, errlen, "diff the change");
			break;
		}
		if (w->files > 0 && (w->files == DIFFVIEW_PAGE_FILES ||
		    w->bytes + f.bytes > DIFFVIEW_PAGE_BYTES)) {
			w->page++;
			w->files = w->bytes = 0;
		}
		if (w->page > dr->page) {
			w->has_more = true;
			git_patch_free(f.patch);
			break;
		}
		if (w->page == dr->page) {
			if (w->files == 0)
				w->first = i;
			w->last = i + 1;
			render_file(b, &f, DIFFVIEW_PAGE_BYTES - w->bytes);
		}
		w->files++;
		w->bytes += f.bytes;
		git_patch_free(f.patch);
	}
	git_odb_free(odb);
	return rc;
}

static void
render_nav(struct evbuffer *b, const struct diffview_req *dr,
    const struct walk *w, size_t n)
{
	evbuffer_add_printf(b, "<nav class=\"pages\">");
	if (dr->page > 1) {
		evbuffer_add_printf(b, "<a rel=\"prev\" href=\"");
		pages_escape(b, dr->href);
		evbuffer_add_printf(b, "?diff=%lld#diff\">earlier files</a> ",
		    dr->page - 1);
	}
	if (w->first < w->last)
		evbuffer_add_printf(b, "<span>files %zu\xe2\x80\x93%zu of %zu"
		    "</span>", w->first + 1, w->last, n);
	else
		evbuffer_add_printf(b, "<span>no files on this page; the"
		    " change has %zu</span>", n);
	if (w->has_more) {
		evbuffer_add_printf(b, " <a rel=\"next\" href=\"");
		pages_escape(b, dr->href);
		evbuffer_add_printf(b, "?diff=%lld#diff\">more files</a>",
		    dr->page + 1);
	}
	evbuffer_add_printf(b, "</nav>\n");
}

int
diffview_render(struct evbuffer *b, const struct diffview_req *dr,
    char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_diff *diff = NULL;
	struct evbuffer *files = evbuffer_new();
	struct walk w;
	int rc = -1;

	if (open_diff(&repo, &diff, dr, err, errlen) == -1)
		goto out;
	if (walk_files(files, repo, diff, dr, &w, err, errlen) == -1)
		goto out;
	/* The links above and below the files: known once they are walked. */
	render_nav(b, dr, &w, git_diff_num_deltas(diff));
	evbuffer_add_buffer(b, files);
	if (w.first < w.last)
		render_nav(b, dr, &w, git_diff_num_deltas(diff));
	rc = 0;
out:
	evbuffer_free(files);
	git_diff_free(diff);
	git_repository_free(repo);
	return rc;
}
