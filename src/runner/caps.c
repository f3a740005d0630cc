/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Capabilities and the user a command runs as.
 *
 * Bounding set: what systemd-nspawn keeps — except CAP_SYS_ADMIN for plain
 * commands.  nspawn keeps SYS_ADMIN because systemd as init mounts file
 * systems, and relies on seccomp and read-only mounts for the rest; but with
 * SYS_ADMIN a root process may mount any file system, remount, set the
 * hostname, use TIOCSTI on a foreign terminal, …  A command that is not an
 * init has no business doing any of that, so `run` drops it and `run --boot`
 * keeps it (systemd needs it).  `--capability=CAP_SYS_ADMIN` gives it back.
 */
#include <grp.h>
#include <pwd.h>
#include "src/runner/cap-dl.h"   /* libcap, loaded on first use */
#include <sys/prctl.h>

#include "src/runner/runner.h"

int runner_caps_apply(uint64_t keep, const char **step)
{
	int last = cap_max_bits() - 1;

	*step = "capability bounding set";
	for (int c = 0; c <= last && c < 64; c++)
		if (!(keep & (UINT64_C(1) << c)) && CAP_IS_SUPPORTED(c) && cap_drop_bound(c) < 0)
			return -errno;

	*step = "capabilities";
	cap_t caps = cap_get_proc();
	if (!caps)
		return -errno;
	for (int c = 0; c <= last && c < 64; c++) {
		if (keep & (UINT64_C(1) << c))
			continue;
		cap_value_t v = c;
		if (cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_CLEAR) < 0 ||
		    cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_CLEAR) < 0 ||
		    cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_CLEAR) < 0) {
			cap_free(caps);
			return -EINVAL;
		}
	}
	int r = cap_set_proc(caps) < 0 ? -errno : 0;
	cap_free(caps);
	if (r < 0)
		return r;
	/* Ambient capabilities would survive exec into a non-root user: none. */
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() < 0)
		return -errno;
	return 0;
}

/* The container's /etc/passwd, parsed by fgetpwent (no NSS modules of the host loaded into the container). */
static int lookup_user(const char *user, uid_t *uid, gid_t *gid, char **home, char **name)
{
	_cleanup_fclose_ FILE *f = fopen("/etc/passwd", "re");
	char *end;
	unsigned long n = strtoul(user, &end, 10);
	bool numeric = *user && !*end;
	struct passwd *pw;

	while (f && (pw = fgetpwent(f)))
		if (numeric ? pw->pw_uid == n : STREQ(pw->pw_name, user)) {
			*uid = pw->pw_uid;
			*gid = pw->pw_gid;
			*home = strdup(pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
			*name = strdup(pw->pw_name);
			return *home && *name ? 0 : -ENOMEM;
		}
	if (!numeric)
		return -ESRCH;
	*uid = *gid = (uid_t)n;
	*home = strdup("/");
	*name = strdup(user);
	return *home && *name ? 0 : -ENOMEM;
}

/* Supplementary groups of name from the container's /etc/group. */
static int user_groups(const char *name, gid_t gid, gid_t *groups, int max)
{
	_cleanup_fclose_ FILE *f = fopen("/etc/group", "re");
	struct group *gr;
	int n = 0;
	groups[n++] = gid;
	while (f && n < max && (gr = fgetgrent(f)))
		for (char **m = gr->gr_mem; m && *m; m++)
			if (STREQ(*m, name) && gr->gr_gid != gid) {
				groups[n++] = gr->gr_gid;
				break;
			}
	return n;
}

int runner_user_lookup(const char *user, struct runner_user *ret, const char **step)
{
	_cleanup_free_ char *name = NULL;
	int r;

	*ret = (struct runner_user){};
	*step = "user";
	if ((r = lookup_user(user, &ret->uid, &ret->gid, &ret->home, &name)) < 0)
		return r;
	ret->n_groups = user_groups(name, ret->gid, ret->groups, ELEMENTSOF(ret->groups));
	return 0;
}

/* System calls only: the command calls this while it shares the stub's memory (container.c). */
int runner_user_switch(const struct runner_user *u)
{
	if (setgroups(u->n_groups, u->groups) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0)
		return -errno;
	return 0;
}

int runner_switch_user(const char *user, char **ret_home, const char **step)
{
	struct runner_user u;
	int r = runner_user_lookup(user, &u, step);
	if (r < 0)
		return r;
	*ret_home = u.home;
	return runner_user_switch(&u);
}
