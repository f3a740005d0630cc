/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stat-threads DIR [ROUNDS]: does stat'ing a tree from two threads pay on
 * this host?  The question behind a parallel cached `diff`, whose floor is
 * one fstatat() per upper entry (docs/benchmarks.md, "Cached second diff:
 * more threads").
 *
 * The tree's names are read first (untimed), as the hash cache holds them;
 * then each dir is opened O_PATH and its entries fstatat()'ed, the dirs
 * dealt out round-robin to 1 or 2 threads.  Each measurement runs in a new
 * process (fork + exec of this program), as a `diff` does, alternating 1
 * and 2 threads ROUNDS times (default 20); then the same again, ten times
 * in one process (warm).  Prints the medians and their ratio.
 *
 *   cc -O2 -pthread -o stat-threads tests/bench/stat-threads.c
 *   ./stat-threads STORE/children/cu/upper
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct dir {
	char *path;
	char **names;
	size_t n;
};

static struct dir *dirs;
static size_t n_dirs, alloc_dirs;

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void gather(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		die(path);
	if (n_dirs == alloc_dirs && !(dirs = realloc(dirs, (alloc_dirs = alloc_dirs * 2 + 64) * sizeof(*dirs))))
		die("realloc");
	size_t me = n_dirs++, alloc = 0;
	dirs[me] = (struct dir){ .path = strdup(path) };
	char **subs = NULL;
	size_t n_subs = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (dirs[me].n == alloc && !(dirs[me].names = realloc(dirs[me].names, (alloc = alloc * 2 + 16) * sizeof(char *))))
			die("realloc");
		dirs[me].names[dirs[me].n++] = strdup(de->d_name);
		if (de->d_type == DT_DIR) {
			if (!(subs = realloc(subs, (n_subs + 1) * sizeof(*subs))))
				die("realloc");
			if (asprintf(&subs[n_subs++], "%s/%s", path, de->d_name) < 0)
				die("asprintf");
		}
	}
	closedir(d);
	for (size_t i = 0; i < n_subs; i++) {
		gather(subs[i]);
		free(subs[i]);
	}
	free(subs);
}

struct share {
	size_t first, step;
};

static void *stat_share(void *arg)
{
	const struct share *s = arg;
	struct stat st;
	for (size_t i = s->first; i < n_dirs; i += s->step) {
		int fd = open(dirs[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			die(dirs[i].path);
		for (size_t k = 0; k < dirs[i].n; k++)
			if (fstatat(fd, dirs[i].names[k], &st, AT_SYMLINK_NOFOLLOW) < 0)
				die(dirs[i].names[k]);
		close(fd);
	}
	return NULL;
}

static double stat_all(int threads)
{
	double t0 = now_ms();
	if (threads == 1)
		stat_share(&(struct share){ 0, 1 });
	else {
		pthread_t t;
		struct share other = { 1, 2 };
		if (pthread_create(&t, NULL, stat_share, &other) != 0)
			die("pthread_create");
		stat_share(&(struct share){ 0, 2 });
		pthread_join(t, NULL);
	}
	return now_ms() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One measurement in a new process: this program again, in its "--once" mode. */
static double fresh(const char *self, const char *dir, int threads)
{
	int p[2];
	char arg[8], out[64] = "";
	snprintf(arg, sizeof(arg), "%d", threads);
	if (pipe(p) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(p[1], 1);
		execl(self, self, "--once", dir, arg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	ssize_t n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("a measurement failed");
	return atof(out);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--once")) {
		gather(argv[2]);
		printf("%.3f\n", stat_all(atoi(argv[3])));
		return 0;
	}
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s DIR [ROUNDS]\n", argv[0]);
		return 2;
	}
	int rounds = argc == 3 ? atoi(argv[2]) : 20;
	if (rounds < 1 || rounds > 1000)
		rounds = 20;
	double *one = calloc(rounds, sizeof(double)), *two = calloc(rounds, sizeof(double));
	if (!one || !two)
		die("calloc");
	for (int r = 0; r < rounds; r++) {
		one[r] = fresh("/proc/self/exe", argv[1], 1);
		two[r] = fresh("/proc/self/exe", argv[1], 2);
	}
	double m1 = median(one, rounds), m2 = median(two, rounds);
	gather(argv[1]);
	size_t entries = 0;
	for (size_t i = 0; i < n_dirs; i++)
		entries += dirs[i].n;
	printf("%zu entries in %zu dirs\n", entries, n_dirs);
	printf("  new process each time: 1 thread %.2f ms, 2 threads %.2f ms, ratio %.2f\n", m1, m2, m1 / m2);
	for (int r = 0; r < 10; r++) {
		one[r % rounds] = stat_all(1);
		two[r % rounds] = stat_all(2);
	}
	m1 = median(one, rounds < 10 ? rounds : 10);
	m2 = median(two, rounds < 10 ? rounds : 10);
	printf("  one process, warm:     1 thread %.2f ms, 2 threads %.2f ms, ratio %.2f\n", m1, m2, m1 / m2);
	return 0;
}
