/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resource limits: systemd's [Resources] names and value syntax (MemoryMax=,
 * CPUQuota=, TasksMax=, ...; see systemd.resource-control(5)), parsed here
 * and written into the container's cgroups (cgroup.c makes them).
 *
 * Where a limit goes (docs/runner.md, "Resource limits"):
 *   - cgroup2, when the controller is delegated to the container's leaf
 *     (pure v2 hosts): memory.max, memory.high, memory.swap.max, cpu.max,
 *     cpu.weight, pids.max, io.weight, io.max;
 *   - else the v1 hierarchy owning the controller (hybrid hosts):
 *     memory.limit_in_bytes, memory.soft_limit_in_bytes (High),
 *     memory.memsw.limit_in_bytes (Max + SwapMax), cpu.cfs_quota_us over
 *     cpu.cfs_period_us, cpu.shares (weight * 1024 / 100), pids.max,
 *     blkio.bfq.weight / blkio.weight, blkio.throttle.*_bps_device.
 * The limits are written before the container's first process enters the
 * cgroups, so nothing of the command ever runs unlimited.
 *
 * Hosts with systemd as PID 1 would rather have the limits on a transient
 * scope in machine.slice (Delegate=yes, over D-Bus), as systemd-nspawn does:
 * runner_limits_apply() is the one seam where that backend would go; it is
 * not written (no such host to test it on).
 */
#include <ctype.h>
#include <stdarg.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "src/runner/runner.h"
#include "src/basic/fileio.h"
#include "src/basic/fsutil.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static const char *const limit_names[LIMIT__MAX] = {
	[LIMIT_MEMORY_MAX] = "MemoryMax",
	[LIMIT_MEMORY_HIGH] = "MemoryHigh",
	[LIMIT_MEMORY_SWAP_MAX] = "MemorySwapMax",
	[LIMIT_CPU_QUOTA] = "CPUQuota",
	[LIMIT_CPU_WEIGHT] = "CPUWeight",
	[LIMIT_TASKS_MAX] = "TasksMax",
	[LIMIT_IO_WEIGHT] = "IOWeight",
	[LIMIT_IO_READ_BW] = "IOReadBandwidthMax",
	[LIMIT_IO_WRITE_BW] = "IOWriteBandwidthMax",
};

const char *runner_limit_name(enum limit_key k)
{
	return k < LIMIT__MAX ? limit_names[k] : "?";
}

/* "1.5G", "512M", "100" (base 1024 for memory, 1000 for bandwidth, as systemd's parse_size). */
static int parse_size(const char *v, uint64_t base, uint64_t *ret)
{
	static const char suffixes[] = "KMGTPE";
	char *end;
	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	unsigned long long whole = strtoull(v, &end, 10);
	if (errno)
		return -ERANGE;
	double frac = 0;
	if (*end == '.') {
		const char *f = end + 1;
		double scale = 0.1;
		if (!isdigit((unsigned char)*f))
			return -EINVAL;
		for (; isdigit((unsigned char)*f); f++, scale /= 10)
			frac += (*f - '0') * scale;
		end = (char *)f;
	}
	uint64_t mult = 1;
	if (*end) {
		const char *s = strchr(suffixes, toupper((unsigned char)*end));
		if (!s || !*s)
			return -EINVAL;
		for (const char *p = suffixes; p <= s; p++)
			mult *= base;
		end++;
		if (*end == 'B' || *end == 'b')
			end++;   /* "1KB" */
	}
	if (*end)
		return -EINVAL;
	if (whole > UINT64_MAX / mult)
		return -ERANGE;
	double total = (double)whole * mult + frac * mult;
	if (total >= 18446744073709551615.0)
		return -ERANGE;
	*ret = (uint64_t)total;
	return 0;
}

/* "20%", "12.5%": the percentage, > 0. */
static int parse_percent(const char *v, double *ret)
{
	char *end;
	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	double d = strtod(v, &end);
	if (end == v || !STREQ(end, "%") || !isfinite(d) || d <= 0)
		return -EINVAL;
	*ret = d;
	return 0;
}

static uint64_t physical_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* The kernel's ceiling on tasks, which TasksMax=N% is a share of (systemd: min of pid_max and threads-max). */
static uint64_t system_tasks_max(void)
{
	static const char *const files[] = { "/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max" };
	uint64_t m = UINT64_MAX;
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_fclose_ FILE *f = fopen(files[i], "re");
		unsigned long long v;
		if (f && fscanf(f, "%llu", &v) == 1 && v < m)
			m = v;
	}
	return m == UINT64_MAX ? 4194304 : m;
}

static int parse_memory(const char *v, bool zero_ok, uint64_t *ret, const char **why)
{
	double pct;
	if (STREQ(v, "infinity")) {
		*ret = LIMIT_INFINITY;
		return 0;
	}
	if (strchr(v, '%')) {
		if (parse_percent(v, &pct) < 0 || pct > 100) {
			*why = "a percentage must be above 0 and at most 100%";
			return -EINVAL;
		}
		*ret = (uint64_t)(physical_memory() * (pct / 100));
		return 0;
	}
	if (parse_size(v, 1024, ret) < 0) {
		*why = "needs bytes (K, M, G, T suffixes to the base 1024), a percentage of RAM, or infinity";
		return -EINVAL;
	}
	if (*ret == 0 && !zero_ok) {
		*why = "must be above 0";
		return -EINVAL;
	}
	return 0;
}

static int parse_weight(const char *v, uint64_t *ret, const char **why)
{
	char *end;
	errno = 0;
	unsigned long long w = isdigit((unsigned char)*v) ? strtoull(v, &end, 10) : 0;
	if (!isdigit((unsigned char)*v) || *end || errno || w < 1 || w > 10000) {
		*why = "needs a weight from 1 to 10000";
		return -EINVAL;
	}
	*ret = w;
	return 0;
}

static int parse_tasks(const char *v, uint64_t *ret, const char **why)
{
	double pct;
	char *end;
	if (STREQ(v, "infinity")) {
		*ret = LIMIT_INFINITY;
		return 0;
	}
	if (strchr(v, '%')) {
		if (parse_percent(v, &pct) < 0 || pct > 100) {
			*why = "a percentage must be above 0 and at most 100%";
			return -EINVAL;
		}
		*ret = (uint64_t)(system_tasks_max() * (pct / 100));
		if (*ret == 0)
			*ret = 1;
		return 0;
	}
	errno = 0;
	unsigned long long n = isdigit((unsigned char)*v) ? strtoull(v, &end, 10) : 0;
	if (!isdigit((unsigned char)*v) || *end || errno || n < 1) {
		*why = "needs a number of tasks above 0, a percentage, or infinity";
		return -EINVAL;
	}
	*ret = n;
	return 0;
}

/*
 * The disk a path is on (or the block device node itself), as the whole
 * disk: blkio and io refuse partitions.
 */
static int whole_disk_of(const char *path, dev_t *ret)
{
	struct stat st;
	char sys[128], buf[64];
	if (stat(path, &st) < 0)
		return -errno;
	dev_t d = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
	if (major(d) == 0)
		return -ENOTBLK;   /* tmpfs, overlayfs, ... */
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/partition", major(d), minor(d));
	if (access(sys, F_OK) == 0) {
		snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/../dev", major(d), minor(d));
		_cleanup_fclose_ FILE *f = fopen(sys, "re");
		unsigned ma, mi;
		if (f && fgets(buf, sizeof(buf), f) && sscanf(buf, "%u:%u", &ma, &mi) == 2)
			d = makedev(ma, mi);
	}
	*ret = d;
	return 0;
}

/* "PATH BYTES": a device node or a path on the disk (the store's), then bytes per second (base 1000) or infinity. */
static int parse_bandwidth(const char *v, uint64_t *ret, dev_t *dev, const char **why)
{
	const char *sp = v + strcspn(v, " \t");
	_cleanup_free_ char *path = strndup(v, sp - v);
	while (*sp == ' ' || *sp == '\t')
		sp++;
	if (!path)
		return -ENOMEM;
	if (path[0] != '/' || !*sp) {
		*why = "needs an absolute device or file path and a bandwidth (bytes per second, K/M/G to the base 1000)";
		return -EINVAL;
	}
	int r = whole_disk_of(path, dev);
	if (r < 0) {
		*why = r == -ENOTBLK ? "the path is on no block device" : "the path cannot be looked at";
		return -EINVAL;
	}
	if (STREQ(sp, "infinity")) {
		*ret = LIMIT_INFINITY;
		return 0;
	}
	if (parse_size(sp, 1000, ret) < 0 || *ret == 0) {
		*why = "needs a bandwidth above 0 (bytes per second, K/M/G to the base 1000) or infinity";
		return -EINVAL;
	}
	return 0;
}

int runner_limit_parse(struct run_limits *l, const char *key, const char *value, struct lc_err *err)
{
	const char *why = "invalid value";
	double pct;
	int k, r = -EINVAL;
	for (k = 0; k < LIMIT__MAX; k++)
		if (STREQ(key, limit_names[k]))
			break;
	if (k == LIMIT__MAX)
		return lc_err_ret(err, -ENOENT, "%s: unknown resource property (known: MemoryMax, MemoryHigh, "
				  "MemorySwapMax, CPUQuota, CPUWeight, TasksMax, IOWeight, IOReadBandwidthMax, "
				  "IOWriteBandwidthMax)", key);
	if (!*value) {   /* "Key=" resets, as in unit files */
		l->set &= ~(1u << k);
		return 0;
	}
	uint64_t *v = &l->value[k];
	switch (k) {
	case LIMIT_MEMORY_MAX:
	case LIMIT_MEMORY_HIGH:
	case LIMIT_MEMORY_SWAP_MAX:
		r = parse_memory(value, k == LIMIT_MEMORY_SWAP_MAX, v, &why);
		break;
	case LIMIT_CPU_QUOTA:
		if ((r = parse_percent(value, &pct)) < 0 || pct > 100000)
			why = "needs a percentage above 0 (100% is one whole CPU)", r = -EINVAL;
		else
			*v = (uint64_t)(pct * 10000);   /* usec of CPU time per second */
		break;
	case LIMIT_CPU_WEIGHT:
	case LIMIT_IO_WEIGHT:
		r = parse_weight(value, v, &why);
		break;
	case LIMIT_TASKS_MAX:
		r = parse_tasks(value, v, &why);
		break;
	case LIMIT_IO_READ_BW:
	case LIMIT_IO_WRITE_BW:
		r = parse_bandwidth(value, v, &l->dev[k], &why);
		break;
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return lc_err_ret(err, -EINVAL, "%s=%s: %s", key, value, why);
	l->set |= 1u << k;
	return 0;
}

int runner_limit_parse_reset(struct run_limits *l, const char *key, struct lc_err *err)
{
	int k;
	for (k = 0; k < LIMIT__MAX; k++)
		if (STREQ(key, limit_names[k]))
			break;
	if (k == LIMIT__MAX)
		return runner_limit_parse(l, key, "", err);   /* names the unknown key */
	if (k == LIMIT_IO_READ_BW || k == LIMIT_IO_WRITE_BW)
		return lc_err_ret(err, -EINVAL, "%s=: on a running child name the device: %s=PATH infinity", key, key);
	/* The kernel's "no limit"; a weight back to the default share. */
	l->value[k] = k == LIMIT_CPU_WEIGHT || k == LIMIT_IO_WEIGHT ? 100 : LIMIT_INFINITY;
	l->set |= 1u << k;
	return 0;
}

int runner_limit_parse_assignment(struct run_limits *l, const char *kv, struct lc_err *err)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return lc_err_ret(err, -EINVAL, "%s: needs KEY=VALUE", kv);
	_cleanup_free_ char *key = strndup(kv, eq - kv);
	if (!key)
		return -ENOMEM;
	return runner_limit_parse(l, key, eq + 1, err);
}

static unsigned controller_of(enum limit_key k)
{
	switch (k) {
	case LIMIT_MEMORY_MAX:
	case LIMIT_MEMORY_HIGH:
	case LIMIT_MEMORY_SWAP_MAX:
		return CG_MEMORY;
	case LIMIT_CPU_QUOTA:
	case LIMIT_CPU_WEIGHT:
		return CG_CPU;
	case LIMIT_TASKS_MAX:
		return CG_PIDS;
	default:
		return CG_IO;
	}
}

unsigned runner_limits_controllers(const struct run_limits *l)
{
	unsigned m = 0;
	for (int k = 0; k < LIMIT__MAX; k++)
		if (l->set & (1u << k))
			m |= controller_of(k);
	return m;
}

/* ---- writing ---- */

static const char *v1_name(unsigned ctrl)
{
	return ctrl == CG_MEMORY ? "memory" : ctrl == CG_CPU ? "cpu" : ctrl == CG_PIDS ? "pids" : "blkio";
}

/* Does a hierarchy's controller list ("cpu,cpuacct") hold name? */
bool runner_cgroup_list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, ", ");
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p += len;
		p += strspn(p, ", ");
	}
	return false;
}

const char *runner_cgroups_dir_for(const struct cgroups *cg, unsigned ctrl, bool *v2)
{
	*v2 = cg->v2_enabled & ctrl;
	if (*v2)
		return cg->v2_path;
	for (size_t i = 0; i < cg->n && cg->ctrls; i++)
		if (cg->ctrls[i] && runner_cgroup_list_has(cg->ctrls[i], v1_name(ctrl)))
			return cg->dirs[i];
	return NULL;
}

static int write_file(const char *dir, const char *file, const char *value)
{
	_cleanup_free_ char *p = NULL;
	if (asprintf(&p, "%s/%s", dir, file) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, value, strlen(value));
	if (n < 0)
		return -errno;
	return 0;
}

struct applier {
	const struct cgroups *cg;
	const struct run_limits *l;
	FILE *applied_f;    /* "file=value; ..." of what was written */
};

static int put(struct applier *a, const char *dir, const char *file, const char *fmt, ...) _printf_(4, 5);
static int put(struct applier *a, const char *dir, const char *file, const char *fmt, ...)
{
	char value[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	int r = write_file(dir, file, value);
	if (r == 0 && a->applied_f)
		fprintf(a->applied_f, "%s%s=%s", ftell(a->applied_f) ? "; " : "", file, value);
	return r;
}

static bool has(const struct run_limits *l, enum limit_key k)
{
	return l->set & (1u << k);
}

#define V2_MAX(v, fmt) ((v) == LIMIT_INFINITY ? "max" : (snprintf(buf, sizeof(buf), fmt, (unsigned long long)(v)), buf))

static int apply_memory(struct applier *a, const char *dir, bool v2, const char **what)
{
	const struct run_limits *l = a->l;
	char buf[32];
	int r;
	if (v2) {
		if (has(l, LIMIT_MEMORY_MAX) && (r = put(a, dir, *what = "memory.max", "%s", V2_MAX(l->value[LIMIT_MEMORY_MAX], "%llu"))) < 0)
			return r;
		if (has(l, LIMIT_MEMORY_HIGH) && (r = put(a, dir, *what = "memory.high", "%s", V2_MAX(l->value[LIMIT_MEMORY_HIGH], "%llu"))) < 0)
			return r;
		if (has(l, LIMIT_MEMORY_SWAP_MAX) &&
		    (r = put(a, dir, *what = "memory.swap.max", "%s", V2_MAX(l->value[LIMIT_MEMORY_SWAP_MAX], "%llu"))) < 0)
			return r;
		return 0;
	}
	/* v1: memsw is memory + swap, and must never be below limit_in_bytes: raise it first, lower it last. */
	long long max = !has(l, LIMIT_MEMORY_MAX) || l->value[LIMIT_MEMORY_MAX] == LIMIT_INFINITY ? -1 : (long long)l->value[LIMIT_MEMORY_MAX];
	long long memsw = -1;
	if (has(l, LIMIT_MEMORY_SWAP_MAX) && l->value[LIMIT_MEMORY_SWAP_MAX] != LIMIT_INFINITY) {
		if (max < 0) {
			*what = "memory.memsw.limit_in_bytes (MemorySwapMax= needs MemoryMax= on cgroup v1)";
			return -EINVAL;
		}
		memsw = max + (long long)l->value[LIMIT_MEMORY_SWAP_MAX];
	}
	bool swap_file = has(l, LIMIT_MEMORY_SWAP_MAX);
	if (has(l, LIMIT_MEMORY_MAX)) {
		r = put(a, dir, *what = "memory.limit_in_bytes", "%lld", max);
		if (r == -EINVAL && swap_file) {   /* above the old memsw: that one first */
			if ((r = put(a, dir, *what = "memory.memsw.limit_in_bytes", "%lld", memsw)) < 0)
				return r;
			swap_file = false;
			r = put(a, dir, *what = "memory.limit_in_bytes", "%lld", max);
		}
		if (r < 0)
			return r;
	}
	if (swap_file && (r = put(a, dir, *what = "memory.memsw.limit_in_bytes", "%lld", memsw)) < 0)
		return r;
	if (has(l, LIMIT_MEMORY_HIGH)) {
		uint64_t h = l->value[LIMIT_MEMORY_HIGH];
		if ((r = put(a, dir, *what = "memory.soft_limit_in_bytes", "%lld", h == LIMIT_INFINITY ? -1 : (long long)h)) < 0)
			return r;
	}
	return 0;
}

/* systemd's period: 100 ms; the kernel's smallest quota is 1 ms. */
#define CFS_PERIOD_USEC 100000

static int apply_cpu(struct applier *a, const char *dir, bool v2, const char **what)
{
	const struct run_limits *l = a->l;
	int r;
	if (has(l, LIMIT_CPU_QUOTA)) {
		bool none = l->value[LIMIT_CPU_QUOTA] == LIMIT_INFINITY;   /* set-property CPUQuota= */
		uint64_t q = none ? 0 : l->value[LIMIT_CPU_QUOTA] * CFS_PERIOD_USEC / 1000000;
		if (!none && q < 1000)
			q = 1000;
		char qs[32] = "max";
		if (!none)
			snprintf(qs, sizeof(qs), "%llu", (unsigned long long)q);
		if (v2)
			r = put(a, dir, *what = "cpu.max", "%s %u", qs, CFS_PERIOD_USEC);
		else if ((r = put(a, dir, *what = "cpu.cfs_period_us", "%u", CFS_PERIOD_USEC)) == 0)
			r = put(a, dir, *what = "cpu.cfs_quota_us", "%s", none ? "-1" : qs);
		if (r < 0)
			return r;
	}
	if (has(l, LIMIT_CPU_WEIGHT)) {
		uint64_t w = l->value[LIMIT_CPU_WEIGHT];
		if (v2)
			r = put(a, dir, *what = "cpu.weight", "%llu", (unsigned long long)w);
		else   /* systemd's weight-to-shares: 100 (the default weight) is 1024 shares */
			r = put(a, dir, *what = "cpu.shares", "%llu", (unsigned long long)MAX(2u, MIN(262144u, w * 1024 / 100)));
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_pids(struct applier *a, const char *dir, bool v2, const char **what)
{
	char buf[32];
	return put(a, dir, *what = "pids.max", "%s", V2_MAX(a->l->value[LIMIT_TASKS_MAX], "%llu"));
}

static int apply_io(struct applier *a, const char *dir, bool v2, const char **what)
{
	const struct run_limits *l = a->l;
	char buf[32];
	int r;
	if (has(l, LIMIT_IO_WEIGHT)) {
		uint64_t w = l->value[LIMIT_IO_WEIGHT];
		if (v2)
			r = put(a, dir, *what = "io.weight", "default %llu", (unsigned long long)w);
		else {   /* systemd's io-to-blkio weight: 100 is 500, within 10..1000; bfq's file, or cfq's */
			unsigned long long b = MAX(10u, MIN(1000u, w * 500 / 100));
			r = put(a, dir, *what = "blkio.bfq.weight", "%llu", b);
			if (r == -ENOENT)
				r = put(a, dir, *what = "blkio.weight", "%llu", b);
		}
		if (r < 0)
			return r;
	}
	for (int k = LIMIT_IO_READ_BW; k <= LIMIT_IO_WRITE_BW; k++) {
		if (!has(l, k))
			continue;
		unsigned ma = major(l->dev[k]), mi = minor(l->dev[k]);
		uint64_t v = l->value[k];
		bool rd = k == LIMIT_IO_READ_BW;
		if (v2)
			r = put(a, dir, *what = "io.max", "%u:%u %s=%s", ma, mi, rd ? "rbps" : "wbps", V2_MAX(v, "%llu"));
		else   /* v1: 0 removes the rule */
			r = put(a, dir, *what = rd ? "blkio.throttle.read_bps_device" : "blkio.throttle.write_bps_device",
				"%u:%u %llu", ma, mi, v == LIMIT_INFINITY ? 0ULL : (unsigned long long)v);
		if (r < 0)
			return r;
	}
	return 0;
}

int runner_limits_apply(const struct run_limits *l, const struct cgroups *cg, const struct lc_warn *warn, char **applied,
			struct lc_err *err)
{
	static const struct {
		unsigned ctrl;
		int (*fn)(struct applier *a, const char *dir, bool v2, const char **what);
		unsigned keys;
	} steps[] = {
		{ CG_MEMORY, apply_memory, 1u << LIMIT_MEMORY_MAX | 1u << LIMIT_MEMORY_HIGH | 1u << LIMIT_MEMORY_SWAP_MAX },
		{ CG_CPU, apply_cpu, 1u << LIMIT_CPU_QUOTA | 1u << LIMIT_CPU_WEIGHT },
		{ CG_PIDS, apply_pids, 1u << LIMIT_TASKS_MAX },
		{ CG_IO, apply_io, 1u << LIMIT_IO_WEIGHT | 1u << LIMIT_IO_READ_BW | 1u << LIMIT_IO_WRITE_BW },
	};
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct applier a = { .cg = cg, .l = l, .applied_f = open_memstream(&text, &len) };
	int ret = 0;
	if (!a.applied_f)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(steps) && ret == 0; i++) {
		if (!(l->set & steps[i].keys))
			continue;
		bool v2;
		const char *what = v1_name(steps[i].ctrl);
		const char *dir = runner_cgroups_dir_for(cg, steps[i].ctrl, &v2);
		int r = dir ? steps[i].fn(&a, dir, v2, &what) : -ENOENT;
		if (r >= 0)
			continue;
		char msg[512];
		if (!dir)
			snprintf(msg, sizeof(msg), "%s: no %s controller for the container (neither delegated in cgroup2 "
				 "nor a v1 hierarchy of it)", steps[i].ctrl == CG_IO ? "IO limits" : v1_name(steps[i].ctrl),
				 steps[i].ctrl == CG_IO ? "io/blkio" : v1_name(steps[i].ctrl));
		else
			snprintf(msg, sizeof(msg), "%s/%s: %s", dir, what, r == -ENOENT ? "not offered by this kernel" : strerror(-r));
		if (l->best_effort)
			lc_warn(warn, "limit not applied: %s", msg);
		else
			ret = lc_err_ret(err, r == -ENOMEM ? r : r == -ENOENT ? -EOPNOTSUPP : r, "%s", msg);
	}
	fclose(a.applied_f);
	if (ret == 0 && applied)
		*applied = TAKE_PTR(text);
	return ret;
}

static const struct runner_cgroup_backend cgroupfs_backend = {
	.name = "cgroupfs",
	.make = runner_cgroups_make,
	.apply = runner_limits_apply,
};

const struct runner_cgroup_backend *runner_cgroup_backend(void)
{
	/*
	 * With systemd as PID 1 (/run/systemd/system exists) a "systemd"
	 * backend would be picked here.  Until it exists cgroupfs serves
	 * there too: it writes below layerctl's own cgroup, which systemd
	 * leaves alone only when that cgroup is delegated (a scope of
	 * systemd-run --scope -p Delegate=yes).
	 */
	return &cgroupfs_backend;
}
