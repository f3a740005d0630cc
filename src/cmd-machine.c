/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The commands that act on started children, as machinectl does on
 * machines: stop, exec, ps, and child_is_running() for the commands that
 * must leave a running child alone.  What a started child is, is its
 * runtime state (src/runner/state.c); run and start are src/cmd-run.c.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "src/cli.h"
#include "src/json.h"
#include "src/log.h"
#include "src/output.h"
#include "src/run-opts.h"
#include "src/runner/runner.h"

#define STOP_TIMEOUT_MAX 86400   /* a day: longer is a typo, not a shutdown */

static const char stop_help[] =
"Usage: layerctl stop CHILD [--timeout SECONDS]\n"
"\n"
"Ask a running child's init to power off (SIGRTMIN+3 for systemd, SIGUSR2\n"
"for busybox init, [Exec] KillSignal= to override; SIGTERM for a plain run)\n"
"and kill it when it is not gone after the timeout.\n"
"\n"
"  -t, --timeout SECONDS   wait this long before SIGKILL (default 10, at most\n"
"                          86400; fractions allowed)\n"
"  -h, --help              this help\n";

static const char exec_help[] =
"Usage: layerctl exec CHILD [OPTIONS] -- CMD [ARGS...]\n"
"\n"
"Run CMD inside a running child: join its namespaces (setns through a\n"
"pidfd), with the capability, no_new_privs, seccomp and environment rules\n"
"of a plain run.\n"
"\n"
"  -E, --setenv KEY=VALUE     set an environment variable\n"
"  -u, --user USER            run CMD as USER\n"
"      --chdir DIR            working directory inside (default /)\n"
"      --console MODE         auto, pty or pipe\n"
"  -h, --help                 this help\n";

static const char ps_help[] =
"Usage: layerctl ps [--json]\n"
"\n"
"List running children: name, PID of their init (host view), mode, uptime,\n"
"memory and tasks in use (\"-\" when its cgroups do not say: a run without\n"
"a memory or tasks limit on a cgroup v1 host).\n"
"\n"
"      --json      JSON output\n"
"  -h, --help      this help\n";

enum { OPT_JSON = 0x100 };

/* Load the state of a running child: 0, or an exit code after printing. */
static int running_state(struct ctx *ctx, const char *cmd, const char *name, struct run_state *st)
{
	int r;
	if ((r = cli_check_name(cmd, "child", name)) || (r = ctx_store(ctx, false)) ||
	    (r = run_opts_check_runtime_dir(ctx, cmd, name)))
		return r;
	if (runner_state_is_locked(ctx->store.runtime, name) <= 0) {
		_cleanup_free_ char *rel = NULL;
		if (asprintf(&rel, "children/%s", name) >= 0 && faccessat(ctx->store.root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT)
			return log_fail(EXIT_FAIL, "%s %s: no such child", cmd, name);
		return log_fail(EXIT_FAIL, "%s %s: the child is not running", cmd, name);
	}
	if ((r = runner_state_read(ctx->store.runtime, name, st)) < 0)
		return log_fail(EXIT_FAIL, "%s %s: runtime state: %s", cmd, name, strerror(-r));
	return 0;
}

static bool wait_unlocked(struct ctx *ctx, const char *name, long ms)
{
	for (long waited = 0; waited <= ms; waited += 20) {
		if (runner_state_is_locked(ctx->store.runtime, name) <= 0)
			return true;
		usleep(20000);
	}
	return false;
}

int cmd_stop(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' }, {}
	};
	struct run_state st;
	double timeout = 10;
	char *end;
	int ch, r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		if (ch == 't') {
			/* strtod takes "nan", "inf" and 1e300: none is a wait (and the ms conversion would overflow). */
			errno = 0;
			timeout = strtod(optarg, &end);
			if (end == optarg || *end || errno || !isfinite(timeout) || timeout < 0 || timeout > STOP_TIMEOUT_MAX)
				return usage_error("stop", "--timeout %s: a number of seconds from 0 to %d", optarg,
						   STOP_TIMEOUT_MAX);
		} else if (ch == 'h') {
			fputs(stop_help, stdout);
			return EXIT_OK;
		} else
			return option_error("stop", argc, argv, "t:h");
	}
	if ((ch = check_arg_count("stop", argc, argv, 1, 1, "needs exactly one CHILD")))
		return ch;
	const char *name = argv[optind];
	if ((r = running_state(ctx, "stop", name, &st)))
		return r;
	_cleanup_close_ int pidfd = runner_state_open_pid(&st);
	if (pidfd < 0)
		return wait_unlocked(ctx, name, 2000) ? EXIT_OK : log_fail(EXIT_FAIL, "stop %s: pid %d: %s", name, st.pid, strerror(-pidfd));
	if (syscall(SYS_pidfd_send_signal, pidfd, st.kill_signal ? st.kill_signal : SIGTERM, NULL, 0) < 0 && errno != ESRCH)
		return log_fail(EXIT_FAIL, "stop %s: signal: %m", name);
	if (!wait_unlocked(ctx, name, (long)(timeout * 1000))) {
		log_warning("stop %s: still running after %gs; killing it", name, timeout);
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		if (!wait_unlocked(ctx, name, 10000))
			return log_fail(EXIT_FAIL, "stop %s: the monitor (pid %d) did not finish", name, st.monitor);
	}
	log_info("Stopped %s.", name);
	return EXIT_OK;
}

int cmd_exec(struct ctx *ctx, int argc, char **argv)
{
	struct run_opts o = {};
	struct run_config c = { .log_fd = -1 };
	struct child_info ci = {};
	struct run_state st;
	char **cmdv;
	_cleanup_close_ int pidfd = -1;
	int r, ret;

	argc = run_opts_split_command(argc, argv, &cmdv);
	if ((r = run_opts_parse("exec", argc, argv, &o, true, exec_help)))
		return r < 0 ? EXIT_OK : r;
	if (argc - optind != 1 || !cmdv || !cmdv[0]) {
		run_opts_done(&o);
		return usage_error("exec", "needs CHILD -- CMD [ARGS...]");
	}
	const char *name = argv[optind];
	if ((ret = running_state(ctx, "exec", name, &st)) || (ret = run_opts_load_child(ctx, "exec", name, &ci, &c)))
		goto out;
	c.boot = false;   /* exec'd commands get the plain profile, even in a booted child */
	if ((ret = run_opts_apply("exec", &c, &o, cmdv)))
		goto out;
	ret = EXIT_FAIL;
	pidfd = runner_state_open_pid(&st);
	if (pidfd < 0) {
		log_error("exec %s: pid %d: %s", name, st.pid, pidfd == -ESRCH ? "the child is not running" : strerror(-pidfd));
		goto out;
	}
	struct container ct;
	char errbuf[600];
	/* Into the child's cgroups, so that its limits hold the command too. */
	if ((r = runner_cgroups_open_state(ctx->store.runtime, name, &c.cgroups)) < 0) {
		log_error("%s %s: runtime state: cgroup: %s", "exec", name, strerror(-r));
		goto out;
	}
	r = runner_container_enter(&c, pidfd, st.private_network, &ct, errbuf, sizeof(errbuf), &ret);
	free(c.cgroups.procs);
	c.cgroups.procs = NULL;
	if (r < 0) {
		log_error("exec %s: %s", name, errbuf);
		goto out;
	}
	ret = runner_container_wait(&c, &ct);
	runner_container_done(&ct);
out:
	run_opts_done(&o);
	runner_config_done(&c);
	child_info_done(&ci);
	return ret;
}

int cmd_ps(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON }, { "help", no_argument, NULL, 'h' }, {}
	};
	bool json = false;
	char **names = NULL;
	size_t n = 0;
	int ch, r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == OPT_JSON)
			json = true;
		else if (ch == 'h') {
			fputs(ps_help, stdout);
			return EXIT_OK;
		} else
			return option_error("ps", argc, argv, "h");
	}
	if (optind != argc)
		return usage_error("ps", "unexpected argument '%s'", argv[optind]);
	bool empty;
	if ((r = ctx_store_or_empty(ctx, &empty)))
		return r;
	if (!empty && (r = store_list_children(&ctx->store, &names, &n)) < 0)
		return log_fail(EXIT_FAIL, "ps: %s", strerror(-r));
	struct json j;
	if (json) {
		json_init(&j, stdout);
		json_begin_array(&j);
	} else
		printf("%-24s %8s %-5s %8s %9s %6s\n", "NAME", "PID", "MODE", "UPTIME", "MEMORY", "TASKS");
	long long now = time(NULL);
	for (size_t i = 0; i < n; i++) {
		struct run_state st;
		if (runner_state_is_locked(ctx->store.runtime, names[i]) <= 0 || runner_state_read(ctx->store.runtime, names[i], &st) < 0)
			continue;
		struct cgroups cg;
		struct cgroup_stats cs = { 0 };
		if (runner_cgroups_state_read(ctx->store.runtime, names[i], &cg, NULL) == 0) {
			runner_cgroup_stats(&cg, &cs);
			runner_cgroups_state_free(&cg);
		}
		if (json) {
			json_begin_object(&j);
			json_kv_string(&j, "name", names[i]);
			json_kv_int(&j, "pid", st.pid);
			json_kv_int(&j, "monitor", st.monitor);
			json_kv_string(&j, "mode", st.boot ? "boot" : "run");
			json_kv_int(&j, "started", st.started);
			if (cs.have & CG_MEMORY)
				json_kv_uint(&j, "memory_current", cs.memory_current);
			if (cs.have & CG_PIDS)
				json_kv_uint(&j, "tasks_current", cs.tasks_current);
			json_end_object(&j);
		} else {
			char mem[32] = "-", tasks[32] = "-", up[32];
			if (cs.have & CG_MEMORY)
				output_format_bytes(cs.memory_current, mem, sizeof(mem));
			if (cs.have & CG_PIDS)
				snprintf(tasks, sizeof(tasks), "%llu", (unsigned long long)cs.tasks_current);
			snprintf(up, sizeof(up), "%llds", now - st.started);
			printf("%-24s %8d %-5s %8s %9s %6s\n", names[i], (int)st.pid, st.boot ? "boot" : "run", up, mem, tasks);
		}
	}
	if (json) {
		json_end_array(&j);
		json_done(&j);
	}
	strv_free(names);
	return EXIT_OK;
}

int child_is_running(struct ctx *ctx, const char *name)
{
	if (!ctx->store_open)
		return 0;
	return runner_state_is_locked(ctx->store.runtime, name) > 0;
}
