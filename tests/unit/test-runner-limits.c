/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resource limits (src/runner/limits.c): systemd's value syntax, and what
 * is written where, against a fake cgroup tree of plain files (a pure
 * cgroup2 host and a hybrid one; these machines are hybrid, so the v2 path
 * runs here only).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "src/basic/fsutil.h"
#include "src/runner/runner.h"
#include "src/store/settings.h"
#include "tests/unit/test.h"

static int parse(struct run_limits *l, const char *kv)
{
	return runner_limit_parse_assignment(l, kv, NULL);
}

TEST(limit_values_in_systemd_syntax)
{
	struct run_limits l = { 0 };
	CHECK_INT(parse(&l, "MemoryMax=64M"), 0);
	CHECK(l.value[LIMIT_MEMORY_MAX] == 64ULL << 20);
	CHECK_INT(parse(&l, "MemoryMax=1.5G"), 0);
	CHECK(l.value[LIMIT_MEMORY_MAX] == 3ULL << 29);
	CHECK_INT(parse(&l, "MemoryMax=4096"), 0);
	CHECK(l.value[LIMIT_MEMORY_MAX] == 4096);
	CHECK_INT(parse(&l, "MemoryMax=infinity"), 0);
	CHECK(l.value[LIMIT_MEMORY_MAX] == LIMIT_INFINITY);
	CHECK_INT(parse(&l, "MemoryMax=50%"), 0);
	CHECK(l.value[LIMIT_MEMORY_MAX] > 0 && l.value[LIMIT_MEMORY_MAX] != LIMIT_INFINITY);
	CHECK_INT(parse(&l, "MemorySwapMax=0"), 0);   /* no swap at all is a limit */
	CHECK_INT(parse(&l, "CPUQuota=20%"), 0);
	CHECK(l.value[LIMIT_CPU_QUOTA] == 200000);    /* usec per second */
	CHECK_INT(parse(&l, "CPUQuota=250%"), 0);
	CHECK(l.value[LIMIT_CPU_QUOTA] == 2500000);
	CHECK_INT(parse(&l, "TasksMax=infinity"), 0);
	CHECK_INT(parse(&l, "TasksMax=10%"), 0);
	CHECK(l.value[LIMIT_TASKS_MAX] >= 1 && l.value[LIMIT_TASKS_MAX] != LIMIT_INFINITY);
	CHECK_INT(parse(&l, "CPUWeight=10000"), 0);
	CHECK_INT(parse(&l, "IOWeight=1"), 0);
	CHECK(l.set & (1u << LIMIT_IO_WEIGHT));
	/* "Key=" resets */
	CHECK_INT(parse(&l, "IOWeight="), 0);
	CHECK(!(l.set & (1u << LIMIT_IO_WEIGHT)));

	static const char *const bad[] = {
		"MemoryMax=0", "MemoryMax=-1", "MemoryMax=12x", "MemoryMax=1.G", "MemoryMax=101%", "MemoryMax=99999999999999999999",
		"CPUQuota=20", "CPUQuota=0%", "CPUQuota=x%", "CPUWeight=0", "CPUWeight=10001", "CPUWeight=idle",
		"TasksMax=0", "TasksMax=1.5", "IOWeight=", "IOReadBandwidthMax=relative 1M", "IOReadBandwidthMax=/",
		"IOWriteBandwidthMax=/dev/null 1M", "MemoryMax",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct lc_err e = { "" };
		int r = runner_limit_parse_assignment(&l, bad[i], &e);
		if (STREQ(bad[i], "IOWeight="))
			continue;   /* a reset, fine */
		CHECK(r < 0);
		/* The error names the key. */
		char key[64];
		snprintf(key, sizeof(key), "%.*s", (int)strcspn(bad[i], "="), bad[i]);
		CHECK(strstr(e.msg, key) != NULL);
	}
	struct lc_err e = { "" };
	CHECK_INT(runner_limit_parse_assignment(&l, "MemoryMaks=1G", &e), -ENOENT);
	CHECK(strstr(e.msg, "MemoryMaks") != NULL);
}

TEST(resources_section_of_child_conf)
{
	static const char good[] = "[Resources]\nMemoryMax=32M\nTasksMax=5\nTasksMax=\n";
	static const char bad[] = "[Resources]\nMemoryMax=32M\nMemroyHigh=1G\n";
	struct settings *s = NULL;
	struct run_config c = { .log_fd = -1 };
	struct lc_err e = { "" };
	CHECK_INT(settings_parse(good, strlen(good), "child.conf", &s, NULL), 0);
	CHECK_INT(runner_config_from_settings(&c, s, &e), 0);
	CHECK(c.limits.set == (1u << LIMIT_MEMORY_MAX));   /* TasksMax= reset it */
	settings_free(s);
	runner_config_done(&c);
	CHECK_INT(settings_parse(bad, strlen(bad), "child.conf", &s, NULL), 0);
	CHECK_INT(runner_config_from_settings(&c, s, &e), -EINVAL);
	CHECK(strstr(e.msg, "MemroyHigh") != NULL);
	settings_free(s);
	runner_config_done(&c);
}

/* ---- the fake tree ---- */

static char tree[] = "/tmp/layerctl-unit-cg.XXXXXX";

static void mkfile(const char *rel, const char *content)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, content, strlen(content)) < 0) {
			/* the CHECK on the contents says it */
		}
		close(fd);
	}
}

static char *slurp(const char *rel)
{
	static char buf[256];
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	int fd = open(p, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void mkdirs(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	mkdir_p(p, 0755);
}

static void warned(void *userdata, const char *msg)
{
	snprintf(userdata, 256, "%s", msg);
}

/* A pure cgroup2 host: controllers enabled top-down, every limit to the leaf's v2 files. */
TEST(pure_v2_delegates_top_down_and_writes_the_leaf)
{
	CHECK(mkdtemp(tree) != NULL);
	mkdirs("u/layerctl/S/c");
	static const char *const levels[] = { "u", "u/layerctl", "u/layerctl/S" };
	for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
		char f[128];
		snprintf(f, sizeof(f), "%s/cgroup.subtree_control", levels[i]);
		mkfile(f, "");
	}
	mkfile("u/layerctl/S/c/cgroup.subtree_control", "untouched");
	char own[512];
	snprintf(own, sizeof(own), "%s/u", tree);
	CHECK_INT(runner_cgroup_delegate(own, "layerctl/S/c", CG_MEMORY | CG_PIDS | CG_CPU | CG_IO, NULL), 0);
	CHECK_STREQ(slurp("u/cgroup.subtree_control"), "+memory +cpu +pids +io");
	CHECK_STREQ(slurp("u/layerctl/cgroup.subtree_control"), "+memory +cpu +pids +io");
	CHECK_STREQ(slurp("u/layerctl/S/cgroup.subtree_control"), "+memory +cpu +pids +io");
	CHECK_STREQ(slurp("u/layerctl/S/c/cgroup.subtree_control"), "untouched");   /* the leaf holds the processes */

	static const char *const files[] = { "memory.max", "memory.high", "memory.swap.max", "cpu.max", "cpu.weight",
					     "pids.max", "io.weight", "io.max" };
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		char f[128];
		snprintf(f, sizeof(f), "u/layerctl/S/c/%s", files[i]);
		mkfile(f, "");
	}
	char leaf[512];
	snprintf(leaf, sizeof(leaf), "%s/u/layerctl/S/c", tree);
	char *dirs[] = { leaf }, *ctrls[] = { "" };
	struct cgroups cg = { .dirs = dirs, .ctrls = ctrls, .n = 1, .v2_fd = -1, .v2_path = leaf,
			      .v2_enabled = CG_MEMORY | CG_PIDS | CG_CPU | CG_IO };
	struct run_limits l = { 0 };
	CHECK_INT(parse(&l, "MemoryMax=64M"), 0);
	CHECK_INT(parse(&l, "MemoryHigh=infinity"), 0);
	CHECK_INT(parse(&l, "MemorySwapMax=0"), 0);
	CHECK_INT(parse(&l, "CPUQuota=20%"), 0);
	CHECK_INT(parse(&l, "CPUWeight=50"), 0);
	CHECK_INT(parse(&l, "TasksMax=infinity"), 0);
	CHECK_INT(parse(&l, "IOWeight=300"), 0);
	l.set |= 1u << LIMIT_IO_READ_BW;   /* a device of our choosing: the parser wants a real one */
	l.value[LIMIT_IO_READ_BW] = 1000000;
	l.dev[LIMIT_IO_READ_BW] = makedev(254, 0);
	char *applied = NULL;
	CHECK_INT(runner_limits_apply(&l, &cg, NULL, &applied, NULL), 0);
	CHECK_STREQ(slurp("u/layerctl/S/c/memory.max"), "67108864");
	CHECK_STREQ(slurp("u/layerctl/S/c/memory.high"), "max");
	CHECK_STREQ(slurp("u/layerctl/S/c/memory.swap.max"), "0");
	CHECK_STREQ(slurp("u/layerctl/S/c/cpu.max"), "20000 100000");
	CHECK_STREQ(slurp("u/layerctl/S/c/cpu.weight"), "50");
	CHECK_STREQ(slurp("u/layerctl/S/c/pids.max"), "max");
	CHECK_STREQ(slurp("u/layerctl/S/c/io.weight"), "default 300");
	CHECK_STREQ(slurp("u/layerctl/S/c/io.max"), "254:0 rbps=1000000");
	CHECK(applied && strstr(applied, "memory.max=67108864") && strstr(applied, "cpu.max=20000 100000"));
	free(applied);
}

/* A hybrid host: v1 files in the hierarchy owning each controller; a missing one is an error or a warning. */
TEST(hybrid_writes_v1_files_and_a_missing_controller_is_an_error)
{
	mkdirs("memory/c");
	mkdirs("cpu,cpuacct/c");
	mkdirs("v2/c");
	static const char *const files[] = { "memory/c/memory.limit_in_bytes", "memory/c/memory.soft_limit_in_bytes",
					     "memory/c/memory.memsw.limit_in_bytes", "cpu,cpuacct/c/cpu.cfs_quota_us",
					     "cpu,cpuacct/c/cpu.cfs_period_us", "cpu,cpuacct/c/cpu.shares" };
	for (size_t i = 0; i < ELEMENTSOF(files); i++)
		mkfile(files[i], "");
	char mem[512], cpu[512], v2[512];
	snprintf(mem, sizeof(mem), "%s/memory/c", tree);
	snprintf(cpu, sizeof(cpu), "%s/cpu,cpuacct/c", tree);
	snprintf(v2, sizeof(v2), "%s/v2/c", tree);
	char *dirs[] = { v2, mem, cpu }, *ctrls[] = { "", "memory", "cpu,cpuacct" };
	struct cgroups cg = { .dirs = dirs, .ctrls = ctrls, .n = 3, .v2_fd = -1, .v2_path = v2 };
	struct run_limits l = { 0 };
	CHECK_INT(parse(&l, "MemoryMax=64M"), 0);
	CHECK_INT(parse(&l, "MemorySwapMax=16M"), 0);
	CHECK_INT(parse(&l, "MemoryHigh=32M"), 0);
	CHECK_INT(parse(&l, "CPUQuota=20%"), 0);
	CHECK_INT(parse(&l, "CPUWeight=200"), 0);
	CHECK_INT(runner_limits_apply(&l, &cg, NULL, NULL, NULL), 0);
	CHECK_STREQ(slurp("memory/c/memory.limit_in_bytes"), "67108864");
	CHECK_STREQ(slurp("memory/c/memory.memsw.limit_in_bytes"), "83886080");   /* memory + swap */
	CHECK_STREQ(slurp("memory/c/memory.soft_limit_in_bytes"), "33554432");
	CHECK_STREQ(slurp("cpu,cpuacct/c/cpu.cfs_period_us"), "100000");
	CHECK_STREQ(slurp("cpu,cpuacct/c/cpu.cfs_quota_us"), "20000");
	CHECK_STREQ(slurp("cpu,cpuacct/c/cpu.shares"), "2048");

	/* TasksMax= with no pids hierarchy joined: an error naming it, nothing claimed. */
	struct run_limits t = { 0 };
	struct lc_err e = { "" };
	char *applied = NULL;
	CHECK_INT(parse(&t, "TasksMax=5"), 0);
	CHECK(runner_limits_apply(&t, &cg, NULL, &applied, &e) < 0);
	CHECK(strstr(e.msg, "pids") != NULL);
	CHECK(applied == NULL);
	/* --limits=best-effort: a warning, and the rest still applied. */
	char warning[256] = "";
	struct lc_warn w = { warned, warning };
	t.best_effort = true;
	CHECK_INT(parse(&t, "MemoryMax=1G"), 0);
	CHECK_INT(runner_limits_apply(&t, &cg, &w, &applied, NULL), 0);
	CHECK(strstr(warning, "pids") != NULL);
	CHECK_STREQ(slurp("memory/c/memory.limit_in_bytes"), "1073741824");
	CHECK(applied && strstr(applied, "memory.limit_in_bytes=1073741824") && !strstr(applied, "pids"));
	free(applied);
	/* MemorySwapMax= alone means nothing to v1's memsw (memory + swap): refused. */
	struct run_limits s = { 0 };
	CHECK_INT(parse(&s, "MemorySwapMax=1G"), 0);
	CHECK(runner_limits_apply(&s, &cg, NULL, NULL, &e) < 0);
	CHECK(strstr(e.msg, "MemoryMax") != NULL);
	rm_rf_at(AT_FDCWD, tree);
}

TEST_MAIN()
