/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Picking a child's UID/GID range for user-namespace mode (uidrange.h).
 *
 * Like nspawn's --private-users=pick: a 65536-aligned range inside
 * 0x80000..0x6FFF0000, first tried from a hash of the child's name (so the
 * same name tends to get the same range in every store), checked against
 * what else hands out IDs.  Unlike nspawn the choice is recorded in
 * child.conf and never changes: the upper dir's files are stored in that
 * range on disk, so a new range would mean re-chowning them.
 */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <sys/file.h>
#include <xxhash.h>

#include "src/store/uidrange.h"

int uid_range_parse(const char *s, struct uid_range *ret)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	unsigned long long base = strtoull(s, &end, 10), count = UID_RANGE_SIZE;
	if (errno || end == s)
		return -EINVAL;
	if (*end == ':') {
		const char *c = end + 1;
		if (!*c || *c == '-' || *c == '+')
			return -EINVAL;
		count = strtoull(c, &end, 10);
		if (errno || end == c)
			return -EINVAL;
	}
	if (*end || count == 0 || base + count > UINT32_MAX)   /* (uid_t)-1 is never a valid ID */
		return -EINVAL;
	*ret = (struct uid_range){ (uint32_t)base, (uint32_t)count };
	return 0;
}

bool uid_range_overlaps(struct uid_range a, struct uid_range b)
{
	if (!a.count || !b.count)
		return false;
	return (uint64_t)a.base < (uint64_t)b.base + b.count && (uint64_t)b.base < (uint64_t)a.base + a.count;
}

uint32_t uid_range_candidate(const char *name, unsigned attempt)
{
	/* The attempt is the seed: attempt 0 is the name's own hash, the next ones scatter. */
	uint64_t h = XXH3_64bits_withSeed(name, strlen(name), attempt);
	uint32_t slots = (UID_RANGE_PICK_MAX - UID_RANGE_PICK_MIN) / UID_RANGE_SIZE;
	return UID_RANGE_PICK_MIN + (uint32_t)(h % slots) * UID_RANGE_SIZE;
}

int uid_range_in_subid_file(const char *path, struct uid_range r)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t len = 0;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (getline(&line, &len, f) > 0) {
		unsigned long long start, count;
		char *colon = strchr(line, ':');
		if (!colon || sscanf(colon + 1, "%llu:%llu", &start, &count) != 2)
			continue;
		struct uid_range sub = { (uint32_t)start, (uint32_t)(count > UINT32_MAX ? UINT32_MAX : count) };
		if (start <= UINT32_MAX && uid_range_overlaps(sub, r))
			return 1;
	}
	return 0;
}

/* The ranges other children hold: recorded by pick, or fixed by PrivateUsers=N[:COUNT]. */
static int other_ranges(struct store *s, const char *self, struct uid_range **ret, size_t *ret_n)
{
	char **children = NULL;
	size_t n = 0, k = 0;
	int r = store_list_children(s, &children, &n);
	if (r < 0)
		return r;
	struct uid_range *v = calloc(2 * n + 1, sizeof(*v));
	if (!v) {
		strv_free(children);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (STREQ(children[i], self))
			continue;
		_cleanup_free_ char *dir = NULL;
		if (asprintf(&dir, "children/%s", children[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		_cleanup_close_ int fd = openat(s->root_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		_cleanup_settings_ struct settings *conf = NULL;
		if (fd < 0 || settings_load(fd, "child.conf", &conf, NULL) < 0)
			continue;   /* a broken child.conf holds no range we could honour */
		if (uid_range_parse(settings_get(conf, "Child", "UIDRange"), &v[k]) == 0)
			k++;
		if (uid_range_parse(settings_get(conf, "Exec", "PrivateUsers"), &v[k]) == 0)
			k++;
	}
	strv_free(children);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = k;
	return 0;
}

/* Is r free: no other child's range, no subordinate IDs, no host user or group at its base? */
static int range_is_free(struct uid_range r, const struct uid_range *taken, size_t n, const char *subid_dir)
{
	for (size_t i = 0; i < n; i++)
		if (uid_range_overlaps(r, taken[i]))
			return 0;
	for (const char *const *f = (const char *const[]){ "subuid", "subgid", NULL }; *f; f++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", subid_dir ? subid_dir : "/etc", *f);
		int k = uid_range_in_subid_file(path, r);
		if (k != 0)
			return k < 0 ? k : 0;
	}
	/* nspawn's check: the base ID must not be someone's on the host. */
	if (getpwuid(r.base) || getgrgid(r.base))
		return 0;
	return 1;
}

int store_uid_range_pick(struct store *s, struct child_info *c, const char *subid_dir, struct uid_range *ret,
			 struct lc_err *err)
{
	const char *have = settings_get(c->conf, "Child", "UIDRange");
	if (have) {
		if (uid_range_parse(have, ret) < 0)
			return lc_err_ret(err, -EBADMSG, "child.conf: Child.UIDRange=%s: not BASE:COUNT", have);
		return 0;
	}
	/* One picker at a time in the whole store: two children never get one range. */
	_cleanup_close_ int lock = openat(s->root_fd, "locks/uid-ranges", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		return lc_err_ret(err, -errno, "locks/uid-ranges: %s", strerror(errno));
	_cleanup_free_ struct uid_range *taken = NULL;
	size_t n = 0;
	int r = other_ranges(s, c->name, &taken, &n);
	if (r < 0)
		return lc_err_ret(err, r, "the other children's ranges: %s", strerror(-r));
	struct uid_range cand = { 0, 0 };
	for (unsigned attempt = 0; attempt < 1024 && r == 0; attempt++) {
		struct uid_range try = { uid_range_candidate(c->name, attempt), UID_RANGE_SIZE };
		r = range_is_free(try, taken, n, subid_dir);
		if (r > 0)
			cand = try;
	}
	if (r < 0)
		return lc_err_ret(err, r, "picking a UID range: %s", strerror(-r));
	if (!cand.count)
		return lc_err_ret(err, -ENOSPC, "no free UID range found after 1024 tries");
	char val[32];
	snprintf(val, sizeof(val), "%" PRIu32 ":%" PRIu32, cand.base, cand.count);
	if ((r = settings_set(c->conf, "Child", "UIDRange", val)) < 0 ||
	    (r = store_child_save_conf(s, c->name, c->conf)) < 0)
		return lc_err_ret(err, r, "recording the UID range: %s", strerror(-r));
	*ret = cand;
	return 0;
}

int store_child_upper_shift(const struct child_info *c, struct uid_range *ret)
{
	const char *v = settings_get(c->conf, "Child", "UpperShift");
	*ret = (struct uid_range){ 0, 0 };
	if (!v)
		return 0;
	return uid_range_parse(v, ret) < 0 ? -EBADMSG : 0;
}
