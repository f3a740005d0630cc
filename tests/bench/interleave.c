/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Time commands interleaved: run 1 of every command, then run 2 of every
 * command, ...  A ratio of two commands timed this way sees the same machine
 * (a shared VM's steal and load change within seconds, and hyperfine times
 * each command's runs back to back, so its ratios carry that drift).  The
 * order within each round is shuffled (a fixed seed: the same orders every
 * time): a command that leaves work behind (a namespace torn down, a cgroup
 * released) would otherwise always slow down the one after it.
 *
 *   interleave RUNS WARMUP 'CMD ARGS...' ['PREP ARGS... || CMD ARGS...'] ...
 *
 * Words are split at spaces (no quoting: the benchmarks' paths have none).
 * "{}" in a word becomes the run's number (0, 1, ..., warm-up runs
 * included): `child create x{}` makes a new child each run, with no removal
 * in between (a file system that just freed inodes makes the next creates
 * pay for them: ext4 without a journal skips recently freed inodes).
 * PREP, if given, runs untimed before each run of its command.  Output of
 * every command goes to /dev/null.  Prints one line per command: the median
 * wall time in seconds.  A command that fails ends the program (exit 1)
 * with its name and status on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct cmd {
	char **prep, **argv;
	double *times;
};

static char **split_words(char *s)
{
	size_t n = 0, cap = 8;
	char **v = malloc(cap * sizeof(char *));
	for (char *save = NULL, *w = strtok_r(s, " ", &save); v && w; w = strtok_r(NULL, " ", &save)) {
		if (n + 2 > cap && !(v = realloc(v, (cap *= 2) * sizeof(char *))))
			break;
		v[n++] = w;
	}
	if (!v || n == 0) {
		fprintf(stderr, "interleave: an empty command\n");
		exit(2);
	}
	v[n] = NULL;
	return v;
}

/* argv with "{}" replaced by number (static storage: one command at a time). */
static char **numbered(char **argv, int number)
{
	static char *out[256];
	static char words[256][256];
	size_t i;
	for (i = 0; argv[i] && i < 255; i++) {
		char *at = strstr(argv[i], "{}");
		if (!at) {
			out[i] = argv[i];
			continue;
		}
		snprintf(words[i], sizeof(words[i]), "%.*s%d%s", (int)(at - argv[i]), argv[i], number, at + 2);
		out[i] = words[i];
	}
	out[i] = NULL;
	return out;
}

/* Run argv to its end, output to /dev/null; 0 or its wait status. */
static int run(char **argv)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		fprintf(stderr, "interleave: %s: %s\n", argv[0], strerror(r));
		exit(1);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("interleave: waitpid");
			exit(1);
		}
	return status;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: interleave RUNS WARMUP 'CMD ARGS' ['PREP ARGS || CMD ARGS'] ...\n");
		return 2;
	}
	int runs = atoi(argv[1]), warmup = atoi(argv[2]), n = argc - 3;
	if (runs < 1 || warmup < 0) {
		fprintf(stderr, "interleave: RUNS >= 1, WARMUP >= 0\n");
		return 2;
	}
	struct cmd *cmds = calloc(n, sizeof(*cmds));
	if (!cmds)
		return 1;
	for (int i = 0; i < n; i++) {
		char *s = argv[3 + i], *bar = strstr(s, "||");
		if (bar) {
			*bar = '\0';
			cmds[i].prep = split_words(s);
			s = bar + 2;
		}
		cmds[i].argv = split_words(s);
		if (!(cmds[i].times = calloc(runs, sizeof(double))))
			return 1;
	}
	int *order = calloc(n, sizeof(int));
	if (!order)
		return 1;
	for (int i = 0; i < n; i++)
		order[i] = i;
	srandom(1);
	for (int k = -warmup; k < runs; k++)
		for (int j = 0; j < n; j++) {
			if (j == 0)
				for (int m = n - 1; m > 0; m--) {   /* Fisher-Yates */
					int x = random() % (m + 1), t = order[m];
					order[m] = order[x];
					order[x] = t;
				}
			int i = order[j];
			if (cmds[i].prep)
				run(numbered(cmds[i].prep, k + warmup));
			char **argv = numbered(cmds[i].argv, k + warmup);
			double t0 = now();
			int status = run(argv);
			double t = now() - t0;
			if (status != 0) {
				fprintf(stderr, "interleave: %s: exit status %d (wait status %#x)\n", cmds[i].argv[0],
					WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
				return 1;
			}
			if (k >= 0)
				cmds[i].times[k] = t;
		}
	for (int i = 0; i < n; i++) {
		qsort(cmds[i].times, runs, sizeof(double), by_value);
		double m = runs % 2 ? cmds[i].times[runs / 2] : (cmds[i].times[runs / 2 - 1] + cmds[i].times[runs / 2]) / 2;
		printf("%.6f\n", m);
	}
	return 0;
}
