/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the runner's pure parts: config parsing, caps, signals, escape, state lock. */
#include <fcntl.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "src/runner/runner.h"
#include "src/store/settings.h"
#include "tests/unit/test.h"

TEST(bind_parse_forms)
{
	struct bind_spec b;
	CHECK_INT(runner_bind_parse("/a", false, &b), 0);
	CHECK_STREQ(b.src, "/a");
	CHECK_STREQ(b.dst, "/a");
	CHECK(!b.ro);
	free(b.src), free(b.dst);
	CHECK_INT(runner_bind_parse("/a:/b:ro", false, &b), 0);
	CHECK_STREQ(b.dst, "/b");
	CHECK(b.ro);
	free(b.src), free(b.dst);
	CHECK_INT(runner_bind_parse("/a:/b", true, &b), 0);
	CHECK(b.ro);
	free(b.src), free(b.dst);
	CHECK_INT(runner_bind_parse("/a::rw", false, &b), 0);
	CHECK_STREQ(b.dst, "/a");
	free(b.src), free(b.dst);
	CHECK_INT(runner_bind_parse("rel", false, &b), -EINVAL);
	CHECK_INT(runner_bind_parse("/a:rel", false, &b), -EINVAL);
	CHECK_INT(runner_bind_parse("/a:/b/../../etc", false, &b), -EINVAL);
	CHECK_INT(runner_bind_parse("/a:/b:bogus", false, &b), -EINVAL);
	/* ".." only as a whole component */
	CHECK_INT(runner_bind_parse("/a..b:/c..", false, &b), 0);
	free(b.src), free(b.dst);
}

TEST(tmpfs_parse_forms)
{
	struct tmpfs_spec t;
	CHECK_INT(runner_tmpfs_parse("/x", &t), 0);
	CHECK_STREQ(t.dst, "/x");
	CHECK(t.opts == NULL);
	free(t.dst);
	CHECK_INT(runner_tmpfs_parse("/x:size=1m,mode=0700", &t), 0);
	CHECK_STREQ(t.opts, "size=1m,mode=0700");
	free(t.dst), free(t.opts);
	CHECK_INT(runner_tmpfs_parse("/", &t), -EINVAL);
	CHECK_INT(runner_tmpfs_parse("x", &t), -EINVAL);
}

TEST(env_assignments)
{
	CHECK(runner_env_assignment_ok("A=1"));
	CHECK(runner_env_assignment_ok("_x9="));
	CHECK(!runner_env_assignment_ok("=1"));
	CHECK(!runner_env_assignment_ok("A"));
	CHECK(!runner_env_assignment_ok("9A=1"));
	CHECK(!runner_env_assignment_ok("A-B=1"));
}

TEST(capability_names)
{
	uint64_t m;
	CHECK_INT(runner_caps_parse("CAP_SYS_ADMIN", &m), 0);
	CHECK(m == (UINT64_C(1) << CAP_SYS_ADMIN));
	CHECK_INT(runner_caps_parse("sys_admin,CAP_MKNOD net_raw", &m), 0);
	CHECK(m == ((UINT64_C(1) << CAP_SYS_ADMIN) | (UINT64_C(1) << CAP_MKNOD) | (UINT64_C(1) << CAP_NET_RAW)));
	CHECK_INT(runner_caps_parse("all", &m), 0);
	CHECK(m == ~UINT64_C(0));
	CHECK_INT(runner_caps_parse("CAP_NOPE", &m), -EINVAL);
}

TEST(bounding_sets)
{
	struct run_config c = { .log_fd = -1 };
	uint64_t sysadmin = UINT64_C(1) << CAP_SYS_ADMIN;
	/* nspawn's list of 26 capabilities. */
	CHECK_INT(runner_caps_nspawn_default(), 0xfdecafff);
	CHECK(!(runner_config_caps(&c) & sysadmin));
	c.boot = true;
	CHECK(runner_config_caps(&c) & sysadmin);
	c.boot = false;
	c.caps_add = sysadmin;
	CHECK(runner_config_caps(&c) & sysadmin);
	c.caps_drop = sysadmin;
	CHECK(!(runner_config_caps(&c) & sysadmin));
	CHECK(!(runner_caps_nspawn_default() & (UINT64_C(1) << CAP_SYS_MODULE)));
	CHECK(!(runner_caps_nspawn_default() & (UINT64_C(1) << CAP_SYS_RAWIO)));
}

TEST(settings_keys)
{
	static const char conf[] =
		"[Child]\nBase=bb\n"
		"[Exec]\nBoot=yes\nHostname=h\nUser=u\nWorkingDirectory=/w\n"
		"Environment=A=1\nEnvironment=B=2\nCapability=CAP_SYS_TIME\nDropCapability=CAP_CHOWN\n"
		"Parameters=--log-level=debug  quiet\nKillSignal=SIGRTMIN+4\n"
		"[Files]\nBind=/s:/d\nBindReadOnly=/r\nTemporaryFileSystem=/t:size=1m\n";
	struct settings *s = NULL;
	struct run_config c = { .log_fd = -1 };
	struct lc_err err = { "" };
	CHECK_INT(settings_parse(conf, strlen(conf), "t", &s, NULL), 0);
	CHECK_INT(runner_config_from_settings(&c, s, &err), 0);
	CHECK(c.boot);
	CHECK_STREQ(c.hostname, "h");
	CHECK_STREQ(c.user, "u");
	CHECK_STREQ(c.chdir, "/w");
	CHECK_STREQ(c.env[0], "A=1");
	CHECK_STREQ(c.env[1], "B=2");
	CHECK(c.env[2] == NULL);
	CHECK(c.caps_add == (UINT64_C(1) << CAP_SYS_TIME));
	CHECK(c.caps_drop == (UINT64_C(1) << CAP_CHOWN));
	CHECK_STREQ(c.argv[0], "--log-level=debug");
	CHECK_STREQ(c.argv[1], "quiet");
	CHECK(c.argv[2] == NULL);
	CHECK_INT(c.kill_signal, SIGRTMIN + 4);
	CHECK_INT(c.n_binds, 2);
	CHECK_STREQ(c.binds[0].dst, "/d");
	CHECK(!c.binds[0].ro);
	CHECK(c.binds[1].ro);
	CHECK_INT(c.n_tmpfs, 1);
	CHECK_STREQ(c.tmpfs[0].opts, "size=1m");
	runner_config_done(&c);
	settings_free(s);
}

TEST(settings_errors_name_the_key)
{
	static const char *const bad[][2] = {
		{ "[Exec]\nBoot=maybe\n", "Exec.Boot=maybe" },
		{ "[Exec]\nEnvironment=novalue\n", "Exec.Environment=novalue" },
		{ "[Exec]\nDropCapability=CAP_X\n", "Exec.DropCapability=CAP_X" },
		{ "[Exec]\nWorkingDirectory=rel\n", "Exec.WorkingDirectory=rel" },
		{ "[Exec]\nKillSignal=SIGFOO\n", "Exec.KillSignal=SIGFOO" },
		{ "[Files]\nBind=rel\n", "Files.Bind=rel" },
		{ "[Files]\nTemporaryFileSystem=/\n", "Files.TemporaryFileSystem=/" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct settings *s = NULL;
		struct run_config c = { .log_fd = -1 };
		struct lc_err err = { "" };
		CHECK_INT(settings_parse(bad[i][0], strlen(bad[i][0]), "t", &s, NULL), 0);
		CHECK_INT(runner_config_from_settings(&c, s, &err), -EINVAL);
		CHECK(strncmp(err.msg, bad[i][1], strlen(bad[i][1])) == 0);
		runner_config_done(&c);
		settings_free(s);
	}
}

TEST(signal_names)
{
	CHECK_INT(runner_signal_from_name("SIGTERM"), SIGTERM);
	CHECK_INT(runner_signal_from_name("usr2"), SIGUSR2);
	CHECK_INT(runner_signal_from_name("RTMIN+3"), SIGRTMIN + 3);
	CHECK_INT(runner_signal_from_name("9"), 9);
	CHECK_INT(runner_signal_from_name("SIGBOGUS"), -EINVAL);
	CHECK_INT(runner_signal_from_name("RTMIN+99"), -EINVAL);
}

TEST(stop_signal_per_init)
{
	char dir[] = "/tmp/test-runner.XXXXXX";
	char p[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(p, sizeof(p), "%s/sbin", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/sbin/init", dir);
	CHECK_INT(symlink("../bin/busybox", p), 0);
	CHECK_INT(runner_kill_signal_for_init(dir, "/sbin/init"), SIGUSR2);
	unlink(p);
	CHECK_INT(symlink("/lib/systemd/systemd", p), 0);
	CHECK_INT(runner_kill_signal_for_init(dir, "/sbin/init"), SIGRTMIN + 3);
	unlink(p);
	CHECK_INT(runner_kill_signal_for_init(dir, "/lib/systemd/systemd"), SIGRTMIN + 3);
	snprintf(p, sizeof(p), "%s/sbin", dir);
	rmdir(p);
	rmdir(dir);
}

TEST(escape_sequence)
{
	struct escape_state st = {};
	CHECK(!runner_escape_feed(&st, "\x1d\x1d", 2, 1000));
	CHECK(runner_escape_feed(&st, "\x1d", 1, 2000));
	/* interrupted by another key */
	st = (struct escape_state){};
	CHECK(!runner_escape_feed(&st, "\x1d\x1dx\x1d", 4, 1000));
	/* too slow: more than a second between the first and the third */
	st = (struct escape_state){};
	CHECK(!runner_escape_feed(&st, "\x1d\x1d", 2, 1000));
	CHECK(!runner_escape_feed(&st, "\x1d", 1, 1000 + 1500000));
	CHECK(!runner_escape_feed(&st, "\x1d", 1, 1000 + 1600000));
	CHECK(runner_escape_feed(&st, "\x1d", 1, 1000 + 1700000));
}

TEST(console_plan_per_mode)
{
	/* stdin from /dev/null (no terminal) for the test; stdout/stderr as they are. */
	int saved = dup(STDIN_FILENO), null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(saved >= 0 && null >= 0);
	dup2(null, STDIN_FILENO);
	unsigned out_ttys = (isatty(1) ? 2u : 0) | (isatty(2) ? 4u : 0);
	struct run_config c = { .console = CONSOLE_PIPE };
	runner_console_plan(&c);
	CHECK_INT(c.pty_fds, 0);
	c = (struct run_config){ .console = CONSOLE_AUTO };
	runner_console_plan(&c);
	CHECK_INT(c.pty_fds, out_ttys);   /* only what is a terminal */
	CHECK(!c.pty_input);
	c = (struct run_config){ .console = CONSOLE_AUTO, .boot = true };
	runner_console_plan(&c);
	CHECK_INT(c.pty_fds, 7);          /* an init always gets its console … */
	CHECK(!c.pty_input);              /* … read-only without a terminal */
	c = (struct run_config){ .console = CONSOLE_PTY };
	runner_console_plan(&c);
	CHECK_INT(c.pty_fds, 7);
	CHECK(c.pty_input && c.pty_no_echo);   /* fed by a pipe: no echo */
	c = (struct run_config){ .console = CONSOLE_LOG, .log_fd = 1 };
	runner_console_plan(&c);
	CHECK_INT(c.pty_fds, 7);
	CHECK(!c.pty_input);
	dup2(saved, STDIN_FILENO);
	close(saved);
	close(null);
}

TEST(exit_status)
{
	CHECK_INT(runner_exit_status_of(0), 0);
	CHECK_INT(runner_exit_status_of(7 << 8), 7);
	CHECK_INT(runner_exit_status_of(SIGTERM), 128 + SIGTERM);
	CHECK_INT(runner_exit_status_of(SIGKILL), 137);
}

TEST(run_lock_is_exclusive_and_testable)
{
	char dir[] = "/tmp/test-runner.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(runner_state_is_locked(dir, "c"), 0);
	int fd = runner_state_lock(dir, "c");
	CHECK(fd >= 0);
	/* OFD locks conflict within one process too. */
	CHECK_INT(runner_state_lock(dir, "c"), -EBUSY);
	CHECK_INT(runner_state_is_locked(dir, "c"), 1);
	struct run_state st = { .pid = 42, .monitor = 41, .boot = true, .kill_signal = 12, .started = 5, .pidns = 77 }, back;
	CHECK_INT(runner_state_write(dir, "c", &st), 0);
	CHECK_INT(runner_state_read(dir, "c", &back), 0);
	CHECK_INT(back.pid, 42);
	CHECK_INT(back.monitor, 41);
	CHECK(back.boot);
	CHECK_INT(back.kill_signal, 12);
	CHECK_INT(back.started, 5);
	CHECK_INT(back.pidns, 77);
	/* A forked child holds the same lock (start's monitor). */
	pid_t p = fork();
	if (p == 0) {
		close(fd);
		_exit(runner_state_is_locked(dir, "c") == 1 ? 0 : 1);
	}
	int ws;
	waitpid(p, &ws, 0);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	close(fd);
	CHECK_INT(runner_state_is_locked(dir, "c"), 0);
	runner_state_clear(dir, "c");
	CHECK(runner_state_read(dir, "c", &back) < 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

TEST(pid_checked_against_its_namespace)
{
	struct run_state st = { .pid = getpid(), .pidns = runner_pidns_of(getpid()) };
	CHECK(st.pidns != 0);
	int fd = runner_state_open_pid(&st);
	CHECK(fd >= 0);
	close(fd);
	st.pidns += 1;   /* a recycled pid lives in another namespace */
	CHECK_INT(runner_state_open_pid(&st), -ESRCH);
}

TEST_MAIN()
