/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * status and set-property, as machinectl status and systemctl set-property
 * do for a machine: what a child is and uses (state, base, cgroup, memory,
 * tasks, CPU time, addresses, the end of its console log), and changing the
 * resource limits of a running one (src/runner/limits.c writes them).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "src/cli.h"
#include "src/json.h"
#include "src/log.h"
#include "src/output.h"
#include "src/run-opts.h"
#include "src/runner/runner.h"
#include "src/store/settings.h"

static const char status_help[] =
"Usage: layerctl status CHILD [--json]\n"
"\n"
"Show CHILD like machinectl status: state, base and generation, mounted (or\n"
"its last run's overlay kept for the next run), PID of its init (or stub\n"
"init), uptime, cgroup, memory and tasks (current and limit), CPU time, the\n"
"limits applied, addresses and forwarded ports, and the last ten lines of a\n"
"started child's console log.\n"
"\n"
"      --json      JSON output\n"
"  -h, --help      this help\n";

static const char set_property_help[] =
"Usage: layerctl set-property [--persist] CHILD KEY=VALUE...\n"
"\n"
"Change resource limits (MemoryMax=, MemoryHigh=, MemorySwapMax=, CPUQuota=,\n"
"CPUWeight=, TasksMax=, IOWeight=, IOReadBandwidthMax=, IOWriteBandwidthMax=)\n"
"of a running child at once.  A limit whose controller the child's cgroups\n"
"lack (a run started without any limit of that kind) cannot be set.  KEY=\n"
"(empty) removes a limit (a weight goes back to 100).\n"
"\n"
"      --persist   also write them to [Resources] in child.conf (under the\n"
"                  child lock, atomically); the child need not be running\n"
"  -h, --help      this help\n";

enum { OPT_JSON = 0x100, OPT_PERSIST };

/* ---- status ---- */

/* The last n lines of a file (the console log): a malloc'd string, or NULL. */
static char *tail_lines(const char *path, int n)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f || fseeko(f, 0, SEEK_END) < 0)
		return NULL;
	off_t size = ftello(f), start = size > 65536 ? size - 65536 : 0;
	size_t len = (size_t)(size - start);
	char *buf = malloc(len + 1);
	if (!buf || fseeko(f, start, SEEK_SET) < 0 || fread(buf, 1, len, f) != len) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	char *p = buf + len;
	if (p > buf && p[-1] == '\n')
		p--;
	for (int seen = 0; p > buf; p--)
		if (p[-1] == '\n' && ++seen == n)
			break;
	memmove(buf, p, strlen(p) + 1);
	return buf;
}

static void print_bytes_pair(const char *label, uint64_t cur, uint64_t max)
{
	char a[32], b[32];
	output_format_bytes(cur, a, sizeof(a));
	if (max == LIMIT_INFINITY)
		snprintf(b, sizeof(b), "no limit");
	else
		output_format_bytes(max, b, sizeof(b));
	printf("%14s: %s (limit: %s)\n", label, a, b);
}

struct status {
	const char *name;
	struct child_info ci;
	int mounted;
	bool running;
	bool kept;   /* not mounted, but the last run's overlay is kept for the next run (store/linger.c) */
	struct run_state st;
	struct cgroups cg;
	char *applied;
	struct cgroup_stats stats;
	struct runner_network_state net;   /* mode[0] == 0: no private network */
	char *log_tail;
};

static void status_print_text(const struct status *s)
{
	printf("%s\n", s->name);
	printf("%14s: %s\n", "State", s->running ? (s->st.boot ? "running (boot)" : "running (run)") : "stopped");
	printf("%14s: %s, generation %u\n", "Base", s->ci.base ? s->ci.base : "?", s->ci.gen);
	/* A running child's overlay lives in its container's mount namespace; the host's is another matter. */
	printf("%14s: %s\n", "Mounted", s->mounted > 0 ? (s->running ? "yes, on the host (and in the container)" : "yes")
					 : s->running ? "in the container's mount namespace only"
					 : s->kept ? "no (the last run's overlay is kept for the next run)" : "no");
	if (!s->running)
		return;
	printf("%14s: %d (monitor %d)\n", "Leader", (int)s->st.pid, (int)s->st.monitor);
	printf("%14s: %llds\n", "Uptime", (long long)time(NULL) - s->st.started);
	for (size_t i = 0; i < s->cg.n; i++)
		printf("%14s  %s (%s)\n", i ? "" : "CGroup:", s->cg.dirs[i], *s->cg.ctrls[i] ? s->cg.ctrls[i] : "cgroup2");
	if (s->stats.have & CG_MEMORY)
		print_bytes_pair("Memory", s->stats.memory_current, s->stats.memory_max);
	if (s->stats.have & CG_PIDS) {
		char max[32] = "no limit";
		if (s->stats.tasks_max != LIMIT_INFINITY)
			snprintf(max, sizeof(max), "%llu", (unsigned long long)s->stats.tasks_max);
		printf("%14s: %llu (limit: %s)\n", "Tasks", (unsigned long long)s->stats.tasks_current, max);
	}
	if (s->stats.have & CG_CPU)
		printf("%14s: %.3fs\n", "CPU", s->stats.cpu_usec / 1e6);
	printf("%14s: %s\n", "Limits", s->applied ? s->applied : "none");
	if (s->net.mode[0])
		printf("%14s: %s (%s inside, %s outside%s%s)\n", "Network", s->net.mode, s->net.interface,
		       s->net.host_interface, s->net.bridge[0] ? ", bridge " : "", s->net.bridge);
	if (s->net.address[0])
		printf("%14s: %s\n", "Address", s->net.address);
	if (s->net.host_address[0])
		printf("%14s: %s\n", "Host address", s->net.host_address);
	for (size_t i = 0; i < s->net.n_ports; i++)
		printf("%14s: %s\n", i ? "" : "Ports", s->net.ports[i]);
	if (s->log_tail && *s->log_tail) {
		/* The console's lines end in \r\n; each line escaped (a log holds what the child wrote). */
		printf("\n");
		for (const char *p = s->log_tail; *p;) {
			size_t n = strcspn(p, "\n");
			size_t len = n;
			while (len > 0 && p[len - 1] == '\r')
				len--;
			size_t lead = 0;
			while (lead < len && p[lead] == '\r')
				lead++;
			output_escaped(stdout, p + lead, len - lead);
			printf("\n");
			p += n + (p[n] == '\n');
		}
	}
}

static void status_print_json(const struct status *s)
{
	struct json j;
	json_init(&j, stdout);
	json_begin_object(&j);
	json_kv_string(&j, "name", s->name);
	json_kv_string(&j, "state", s->running ? "running" : "stopped");
	json_kv_string(&j, "base", s->ci.base);
	json_kv_uint(&j, "generation", s->ci.gen);
	json_kv_bool(&j, "mounted", s->mounted > 0);
	json_kv_bool(&j, "overlay_kept", s->kept);
	if (s->running) {
		json_kv_string(&j, "mode", s->st.boot ? "boot" : "run");
		json_kv_int(&j, "pid", s->st.pid);
		json_kv_int(&j, "monitor", s->st.monitor);
		json_kv_int(&j, "started", s->st.started);
		json_key(&j, "cgroups");
		json_begin_array(&j);
		for (size_t i = 0; i < s->cg.n; i++)
			json_string(&j, s->cg.dirs[i]);
		json_end_array(&j);
		if (s->stats.have & CG_MEMORY) {
			json_kv_uint(&j, "memory_current", s->stats.memory_current);
			if (s->stats.memory_max != LIMIT_INFINITY)
				json_kv_uint(&j, "memory_max", s->stats.memory_max);
		}
		if (s->stats.have & CG_PIDS) {
			json_kv_uint(&j, "tasks_current", s->stats.tasks_current);
			if (s->stats.tasks_max != LIMIT_INFINITY)
				json_kv_uint(&j, "tasks_max", s->stats.tasks_max);
		}
		if (s->stats.have & CG_CPU)
			json_kv_uint(&j, "cpu_usec", s->stats.cpu_usec);
		json_kv_string(&j, "limits", s->applied);
		json_kv_string(&j, "address", s->net.address[0] ? s->net.address : NULL);
		json_kv_string(&j, "host_address", s->net.host_address[0] ? s->net.host_address : NULL);
		json_key(&j, "ports");
		json_begin_array(&j);
		for (size_t i = 0; i < s->net.n_ports; i++)
			json_string(&j, s->net.ports[i]);
		json_end_array(&j);
		json_kv_string(&j, "log", s->log_tail);
	}
	json_end_object(&j);
	json_done(&j);
}

int cmd_status(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON }, { "help", no_argument, NULL, 'h' }, {}
	};
	bool json = false;
	int ch, r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == OPT_JSON)
			json = true;
		else if (ch == 'h') {
			fputs(status_help, stdout);
			return EXIT_OK;
		} else
			return option_error("status", argc, argv, "h");
	}
	if ((r = check_arg_count("status", argc, argv, 1, 1, "needs exactly one CHILD")))
		return r;
	struct status s = { .name = argv[optind], .cg = { .v2_fd = -1 } };
	struct child_handle h;
	if ((r = cli_open_child(ctx, "status", s.name, CLI_CHILD_ANY_CONF, &h)))
		return r;
	if ((r = run_opts_check_runtime_dir(ctx, "status", s.name))) {
		child_handle_done(&h);
		return r;
	}
	s.ci = h.c;
	s.mounted = store_child_is_mounted(&ctx->store, &s.ci);
	s.running = runner_state_is_locked(ctx->store.runtime, s.name) > 0 &&
		    runner_state_read(ctx->store.runtime, s.name, &s.st) == 0;
	s.kept = s.mounted <= 0 && !s.running && store_linger_present(&ctx->store, s.name);
	if (s.running) {
		_cleanup_free_ char *dir = runner_state_dir(ctx->store.runtime, s.name), *log = NULL;
		if (runner_cgroups_state_read(ctx->store.runtime, s.name, &s.cg, &s.applied) == 0)
			runner_cgroup_stats(&s.cg, &s.stats);
		if (runner_network_state_read(ctx->store.runtime, s.name, &s.net) < 0)
			s.net = (struct runner_network_state){ 0 };
		if (s.st.boot && dir && asprintf(&log, "%s/log", dir) >= 0)
			s.log_tail = tail_lines(log, 10);
	}
	if (json)
		status_print_json(&s);
	else
		status_print_text(&s);
	runner_cgroups_state_free(&s.cg);
	free(s.applied);
	free(s.log_tail);
	child_handle_done(&h);
	return EXIT_OK;
}

/* ---- set-property ---- */

/* child.conf's [Resources] gets the assignments, atomically (the caller holds the child lock). */
static int persist_properties(struct ctx *ctx, struct child_handle *h, char **kv, int n)
{
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *key = strndup(kv[i], strchr(kv[i], '=') - kv[i]);
		const char *v = strchr(kv[i], '=') + 1;
		if (!key || settings_set(h->c.conf, "Resources", key, v) < 0)
			return log_fail(EXIT_FAIL, "out of memory");
	}
	int r = store_child_save_conf(&ctx->store, h->c.name, h->c.conf);
	if (r < 0)
		return log_fail(EXIT_FAIL, "set-property %s: child.conf: %s", h->c.name, strerror(-r));
	return 0;
}

/* "file=value; ..." of old with those of new on top (one entry per file, the newest value). */
static char *merge_applied(const char *old, const char *new)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	const char *lists[] = { old ? old : "", new ? new : "" };
	for (int which = 0; which < 2; which++)
		for (const char *p = lists[which]; *p;) {
			size_t n = strstr(p, "; ") ? (size_t)(strstr(p, "; ") - p) : strlen(p);
			size_t klen = strcspn(p, "=");
			/* An old entry the new list replaces is left out. */
			bool replaced = false;
			if (which == 0)
				for (const char *q = lists[1]; *q && !replaced;) {
					size_t m = strstr(q, "; ") ? (size_t)(strstr(q, "; ") - q) : strlen(q);
					replaced = strcspn(q, "=") == klen && strncmp(p, q, klen) == 0;
					q += m + (q[m] ? 2 : 0);
				}
			if (!replaced)
				fprintf(f, "%s%.*s", ftell(f) ? "; " : "", (int)n, p);
			p += n + (p[n] ? 2 : 0);
		}
	fclose(f);
	return out;
}

/* Write l into the running child's cgroups and add what was written to the record status shows. */
static int apply_running(struct ctx *ctx, const char *name, const struct run_limits *l)
{
	struct cgroups cg;
	_cleanup_free_ char *old = NULL, *applied = NULL, *all = NULL;
	struct lc_err e = { "" };
	int r = runner_cgroups_state_read(ctx->store.runtime, name, &cg, &old);
	if (r < 0)
		return log_fail(EXIT_FAIL, "set-property %s: runtime state: cgroup: %s", name, strerror(-r));
	r = runner_limits_apply(l, &cg, NULL, &applied, &e);
	if (r < 0) {
		runner_cgroups_state_free(&cg);
		return log_fail(EXIT_FAIL, "set-property %s: %s", name, lc_err_msg(&e, r));
	}
	if ((all = merge_applied(old, applied)) &&
	    (r = runner_cgroups_state_write(ctx->store.runtime, name, &cg, all)) < 0)
		log_warning("set-property %s: runtime state: %s", name, strerror(-r));
	runner_cgroups_state_free(&cg);
	return 0;
}

int cmd_set_property(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "persist", no_argument, NULL, OPT_PERSIST }, { "help", no_argument, NULL, 'h' }, {}
	};
	struct run_limits l = { 0 };
	bool persist = false;
	int ch, r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == OPT_PERSIST)
			persist = true;
		else if (ch == 'h') {
			fputs(set_property_help, stdout);
			return EXIT_OK;
		} else
			return option_error("set-property", argc, argv, "h");
	}
	if ((r = check_arg_count("set-property", argc, argv, 2, INT_MAX, "needs CHILD KEY=VALUE...")))
		return r;
	const char *name = argv[optind];
	char **kv = argv + optind + 1;
	int n = argc - optind - 1;
	/* Every assignment is checked before anything changes. */
	for (int i = 0; i < n; i++) {
		struct lc_err e = { "" };
		const char *eq = strchr(kv[i], '=');
		_cleanup_free_ char *key = eq ? strndup(kv[i], eq - kv[i]) : NULL;
		if (eq && !eq[1] && key)   /* "KEY=": no limit any more */
			r = runner_limit_parse_reset(&l, key, &e);
		else
			r = runner_limit_parse_assignment(&l, kv[i], &e);
		if (r < 0)
			return r == -ENOMEM ? log_fail(EXIT_FAIL, "out of memory") : usage_error("set-property", "%s", lc_err_msg(&e, r));
	}
	/*
	 * Under the child lock: two set-property at once must not lose one's
	 * entry in the record (or in child.conf).  Without --persist a broken
	 * child.conf is no obstacle to changing a running child.
	 */
	struct child_handle h;
	if ((r = cli_open_child(ctx, "set-property", name, CLI_CHILD_LOCK | (persist ? 0 : CLI_CHILD_ANY_CONF), &h)))
		return r;
	if ((r = run_opts_check_runtime_dir(ctx, "set-property", name)))
		goto out;
	bool running = runner_state_is_locked(ctx->store.runtime, name) > 0;
	if (!running && !persist) {
		r = log_fail(EXIT_FAIL, "set-property %s: the child is not running (--persist changes child.conf only)", name);
		goto out;
	}
	if (running && (r = apply_running(ctx, name, &l)))
		goto out;
	if (persist)
		r = persist_properties(ctx, &h, kv, n);
out:
	child_handle_done(&h);
	return r;
}
