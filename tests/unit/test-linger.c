/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lingerer's protocol (src/store/linger.c): lend the lock and the mount
 * to one borrower at a time, live on while it runs and for the timeout
 * after it hung up, go at a quit.  A pipe stands in for the mount.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/store/store.h"
#include "tests/unit/test.h"

static char dir[] = "/tmp/test-linger.XXXXXX";
static struct store s;

/* A lingerer (forked) for child "c": holds the child lock and a pipe's read end; exits with serve's result. */
static pid_t start_lingerer(unsigned timeout_ms, int *ret_pipe_w)
{
	int lock = store_lock(&s, LOCK_CHILD, "c", LOCK_EX);
	CHECK(lock >= 0);
	int p[2];
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	int sock = store_linger_listen(&s, "c");
	CHECK(sock >= 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[1]);
		_exit(store_linger_serve(sock, lock, p[0], timeout_ms) == 0 ? 0 : 1);
	}
	close(sock);
	close(lock);
	close(p[0]);
	*ret_pipe_w = p[1];
	return pid;
}

static bool exited(pid_t pid, int wait_ms)
{
	for (int i = 0; i < wait_ms; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		usleep(1000);
	}
	return false;
}

TEST(setup)
{
	CHECK(mkdtemp(dir) != NULL);
	char root[64], run[64];
	snprintf(root, sizeof(root), "%s/store", dir);
	snprintf(run, sizeof(run), "%s/run", dir);
	CHECK(mkdir(run, 0755) == 0);
	CHECK_INT(store_open(&s, root, run, true), 0);
}

/* The lock passes with the descriptor: held by the lingerer and by the borrower, free for nobody else. */
TEST(borrower_gets_the_lock_and_the_mount)
{
	int w;
	pid_t pid = start_lingerer(10000, &w);
	int mine = -1, mnt = -1, lock = -1;
	int own = store_lock(&s, LOCK_CHILD, "c", LOCK_SH | LOCK_NB);
	CHECK_INT(own, -EWOULDBLOCK);
	lock = store_lock_child_or_borrow(&s, "c", &mnt, &mine);
	CHECK(lock >= 0 && mnt >= 0 && mine >= 0);
	/* mnt is the lingerer's pipe: what we write on its other end comes out of it. */
	CHECK(write(w, "x", 1) == 1);
	char c = 0;
	CHECK(read(mnt, &c, 1) == 1 && c == 'x');
	/* The borrower holds the lock: a third party still cannot take it. */
	CHECK_INT(store_lock(&s, LOCK_CHILD, "c", LOCK_EX | LOCK_NB), -EWOULDBLOCK);
	CHECK(store_linger_alive(mine));
	/* Hung up: the lingerer waits its timeout again (10 s here), it does not go. */
	close(lock);
	close(mnt);
	store_linger_end(mine, false);
	CHECK(!exited(pid, 100));
	/* A second borrow works the same. */
	lock = store_lock_child_or_borrow(&s, "c", &mnt, &mine);
	CHECK(lock >= 0 && mnt >= 0 && mine >= 0);
	close(lock);
	close(mnt);
	/* A quit from the borrower: it goes, and the lock is free once it went. */
	store_linger_end(mine, true);
	CHECK(exited(pid, 2000));
	int free_lock = store_lock(&s, LOCK_CHILD, "c", LOCK_EX | LOCK_NB);
	CHECK(free_lock >= 0);
	close(free_lock);
	close(w);
}

/* A borrower's run outlasts the timeout: the lingerer waits for it (and then the timeout again). */
TEST(lingerer_stays_while_borrowed)
{
	int w;
	pid_t pid = start_lingerer(50, &w);
	int mnt = -1, conn = -1;
	int lock = store_lock_child_or_borrow(&s, "c", &mnt, &conn);
	CHECK(lock >= 0 && conn >= 0);
	close(lock);
	close(mnt);
	CHECK(!exited(pid, 300));
	CHECK(store_linger_alive(conn));
	store_linger_end(conn, false);
	CHECK(exited(pid, 3000));
	close(w);
}

/* Another command asking for the lock makes a lingerer go (store_lock asks it) instead of waiting. */
TEST(store_lock_asks_a_lingerer_to_go)
{
	int w;
	pid_t pid = start_lingerer(60000, &w);
	int lock = store_lock(&s, LOCK_CHILD, "c", LOCK_EX);   /* would wait 60 s without the ask */
	CHECK(lock >= 0);
	CHECK(exited(pid, 2000));
	close(lock);
	close(w);
}

/* Nobody borrows: it goes after the timeout, the lock with it. */
TEST(lingerer_goes_after_the_timeout)
{
	int w;
	pid_t pid = start_lingerer(50, &w);
	CHECK(exited(pid, 3000));
	int lock = store_lock(&s, LOCK_CHILD, "c", LOCK_EX | LOCK_NB);
	CHECK(lock >= 0);
	/* No lingerer: borrowing takes the lock the ordinary way. */
	close(lock);
	int mnt, conn;
	lock = store_lock_child_or_borrow(&s, "c", &mnt, &conn);
	CHECK(lock >= 0);
	CHECK_INT(mnt, -1);
	CHECK_INT(conn, -1);
	close(lock);
	close(w);
}

/* A lock that is not this child's proves nothing: a lingerer lending another file is not believed. */
TEST(borrowed_lock_must_be_the_childs)
{
	int lock = store_lock(&s, LOCK_CHILD, "c", LOCK_EX);
	int other = store_lock(&s, LOCK_CHILD, "other", LOCK_EX);
	int p[2];
	CHECK(lock >= 0 && other >= 0 && pipe2(p, O_CLOEXEC) == 0);
	int sock = store_linger_listen(&s, "c");
	pid_t pid = fork();
	if (pid == 0)
		_exit(store_linger_serve(sock, other, p[0], 2000) == 0 ? 0 : 1);
	close(sock);
	int own = open(dir, O_RDONLY);
	int mnt = -1, got = -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/store/locks/child.c", dir);
	int mine = open(path, O_RDWR | O_CLOEXEC);
	CHECK_INT(store_linger_borrow(&s, "c", mine, &got, &mnt), -EPROTO);
	close(mine);
	close(own);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(lock);
	close(other);
	close(p[0]);
	close(p[1]);
}

TEST(cleanup)
{
	store_close(&s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

TEST_MAIN()
