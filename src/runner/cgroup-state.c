/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The runtime record of a running container's cgroups
 * (RUNTIME/children/NAME/cgroup: one line per hierarchy, "v2 MASK PATH" or
 * "v1 CONTROLLERS PATH", and "applied FILE=VALUE; ..."), which status,
 * set-property and exec read; and the statistics status and ps show.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "src/runner/runner.h"
#include "src/basic/fileio.h"
#include "src/basic/fsutil.h"

int runner_cgroups_state_write(const char *runtime, const char *name, const struct cgroups *cg, const char *applied)
{
	_cleanup_free_ char *dir = runner_state_dir(runtime, name), *text = NULL;
	size_t len = 0;
	if (!dir)
		return -ENOMEM;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < cg->n; i++) {
		/* A detached mount's path (/proc/self/fd/N/...) means nothing to another process. */
		if (strncmp(cg->dirs[i], "/proc/self/fd/", 14) == 0)
			continue;
		if (cg->v2_path && STREQ(cg->dirs[i], cg->v2_path))
			fprintf(f, "v2 %u %s\n", cg->v2_enabled, cg->dirs[i]);
		else
			fprintf(f, "v1 %s %s\n", cg->ctrls && cg->ctrls[i] && *cg->ctrls[i] ? cg->ctrls[i] : "-", cg->dirs[i]);
	}
	if (applied && *applied)
		fprintf(f, "applied %s\n", applied);
	fclose(f);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	/*
	 * Temp + rename (a reader sees the old or the new record) but no fsync:
	 * it describes a running container, which a crash of the machine ends
	 * anyway, and a sync on every run would cost the start milliseconds.
	 */
	return lc_write_atomic(dfd, "cgroup", text, len, 0644, false);
}

void runner_cgroups_state_clear(const char *runtime, const char *name)
{
	_cleanup_free_ char *dir = runner_state_dir(runtime, name), *path = NULL;
	if (dir && asprintf(&path, "%s/cgroup", dir) >= 0)
		unlink(path);
}

void runner_cgroups_state_free(struct cgroups *cg)
{
	for (size_t i = 0; i < cg->n; i++) {
		free(cg->dirs[i]);
		free(cg->ctrls[i]);
	}
	free(cg->dirs);
	free(cg->ctrls);
	free(cg->v2_path);
	*cg = (struct cgroups){ .v2_fd = -1 };
}

int runner_cgroups_state_read(const char *runtime, const char *name, struct cgroups *cg, char **applied)
{
	_cleanup_free_ char *dir = runner_state_dir(runtime, name), *path = NULL, *line = NULL;
	size_t len = 0;
	*cg = (struct cgroups){ .v2_fd = -1 };
	if (applied)
		*applied = NULL;
	if (!dir || asprintf(&path, "%s/cgroup", dir) < 0)
		return -ENOMEM;
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &len, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "applied ", 8) == 0) {
			if (applied && !*applied)
				*applied = strdup(line + 8);
			continue;
		}
		char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (!sp2 || sp2[1] != '/')
			continue;
		*sp1 = *sp2 = '\0';
		char **nd = realloc(cg->dirs, (cg->n + 1) * sizeof(char *));
		if (nd)
			cg->dirs = nd;
		char **nc = realloc(cg->ctrls, (cg->n + 1) * sizeof(char *));
		if (nc)
			cg->ctrls = nc;
		if (!nd || !nc)
			goto oom;
		bool v2 = STREQ(line, "v2");
		cg->dirs[cg->n] = strdup(sp2 + 1);
		cg->ctrls[cg->n] = strdup(v2 ? "" : sp1 + 1);
		cg->n++;
		if (!cg->dirs[cg->n - 1] || !cg->ctrls[cg->n - 1])
			goto oom;
		if (v2) {
			cg->v2_enabled = (unsigned)strtoul(sp1 + 1, NULL, 10);
			if (!(cg->v2_path = strdup(sp2 + 1)))
				goto oom;
		}
	}
	return 0;
oom:
	runner_cgroups_state_free(cg);
	return -ENOMEM;
}

/* ---- statistics ---- */

static bool read_u64(const char *dir, const char *file, uint64_t *ret)
{
	_cleanup_free_ char *p = NULL;
	char buf[64];
	if (!dir || asprintf(&p, "%s/%s", dir, file) < 0)
		return false;
	_cleanup_fclose_ FILE *f = fopen(p, "re");
	if (!f || !fgets(buf, sizeof(buf), f))
		return false;
	if (strncmp(buf, "max", 3) == 0) {
		*ret = LIMIT_INFINITY;
		return true;
	}
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno || end == buf)
		return false;
	/* v1 says "no limit" with the largest page-aligned number (9223372036854771712) or -1 */
	*ret = v < 0 || v >= (INT64_MAX & ~4095LL) ? LIMIT_INFINITY : (uint64_t)v;
	return true;
}

/* usage_usec of a v2 cpu.stat (present in every cgroup2 cgroup, with or without the cpu controller). */
static bool read_cpu_stat(const char *dir, uint64_t *ret)
{
	_cleanup_free_ char *p = NULL, *line = NULL;
	size_t len = 0;
	if (!dir || asprintf(&p, "%s/cpu.stat", dir) < 0)
		return false;
	_cleanup_fclose_ FILE *f = fopen(p, "re");
	unsigned long long v;
	while (f && getline(&line, &len, f) > 0)
		if (sscanf(line, "usage_usec %llu", &v) == 1) {
			*ret = v;
			return true;
		}
	return false;
}

void runner_cgroup_stats(const struct cgroups *cg, struct cgroup_stats *st)
{
	bool v2;
	*st = (struct cgroup_stats){ 0 };
	const char *mem = runner_cgroups_dir_for(cg, CG_MEMORY, &v2);
	if (mem && read_u64(mem, v2 ? "memory.current" : "memory.usage_in_bytes", &st->memory_current) &&
	    read_u64(mem, v2 ? "memory.max" : "memory.limit_in_bytes", &st->memory_max))
		st->have |= CG_MEMORY;
	const char *pids = runner_cgroups_dir_for(cg, CG_PIDS, &v2);
	if (pids && read_u64(pids, "pids.current", &st->tasks_current) && read_u64(pids, "pids.max", &st->tasks_max))
		st->have |= CG_PIDS;
	if (read_cpu_stat(cg->v2_path, &st->cpu_usec))
		st->have |= CG_CPU;
	else {   /* v1 cpuacct, nanoseconds */
		for (size_t i = 0; i < cg->n && cg->ctrls; i++)
			if (cg->ctrls[i] && runner_cgroup_list_has(cg->ctrls[i], "cpuacct") &&
			    read_u64(cg->dirs[i], "cpuacct.usage", &st->cpu_usec)) {
				st->cpu_usec /= 1000;
				st->have |= CG_CPU;
				break;
			}
	}
}

/*
 * exec, shell, login: a process entering a running container goes into its
 * cgroups too, so that its limits hold it (TasksMax= would otherwise not
 * count it, nor MemoryMax= its memory).  The v2 one through
 * CLONE_INTO_CGROUP, the v1 ones by writing "0" to their `tasks` (cgroup.c says why)
 * (runner_cgroups_join); cg->dirs stays empty, nothing is removed after.
 */
int runner_cgroups_open_state(const char *runtime, const char *name, struct cgroups *cg)
{
	struct cgroups rec;
	int r = runner_cgroups_state_read(runtime, name, &rec, NULL);
	*cg = (struct cgroups){ .v2_fd = -1 };
	if (r < 0)
		return r == -ENOENT ? 0 : r;   /* started by an older layerctl: its cgroups are unknown */
	cg->procs = calloc(rec.n + 1, sizeof(int));
	if (!cg->procs) {
		runner_cgroups_state_free(&rec);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rec.n && r == 0; i++) {
		_cleanup_free_ char *p = NULL;
		bool v2 = rec.v2_path && STREQ(rec.dirs[i], rec.v2_path);
		if (asprintf(&p, "%s%s", rec.dirs[i], v2 ? "" : "/tasks") < 0) {
			r = -ENOMEM;
			break;
		}
		int fd = open(p, (v2 ? O_RDONLY | O_DIRECTORY : O_WRONLY) | O_CLOEXEC);
		if (fd < 0)
			r = -errno;
		else if (v2)
			cg->v2_fd = fd;
		else
			cg->procs[cg->n_procs++] = fd;
	}
	runner_cgroups_state_free(&rec);
	if (r < 0)
		runner_cgroups_close(cg);
	return r;
}
