/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Work spread over processes (src/workers.c): item i of n is computed into a
 * record of rec_size bytes by one of `jobs` forked workers, and the records
 * come back through pipes into recs[i].  Processes, not threads: the
 * libraries below keep per-process state (caches, locks, errno-style
 * details), and on the VMs measured (docs/benchmarks.md) a new process's
 * second thread gained 3-23% where a second process gained 100%.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Fill rec (rec_size bytes, zeroed) for item i; runs in a worker. */
typedef void (*worker_fn)(size_t i, void *rec, void *userdata);
/* Record i has arrived in recs (done[i] is set); runs in the caller, as records come. */
typedef void (*arrived_fn)(size_t i, void *userdata);

/* How many workers pay for n items: the CPUs this process may use, at most max and n. */
size_t workers_default(size_t n, size_t max);

/*
 * Compute items 0..n-1 with fn in `jobs` workers (worker k: k, k+jobs, ...);
 * recs holds n records.  done[i] says record i arrived (a worker that died
 * or could not start leaves its ones out: the caller computes those
 * itself); arrived (may be NULL) is called for each.  0, or -errno when no
 * worker could start.  stdout and stderr are flushed first: a worker
 * writes only to its pipe and to stderr, and leaves by _exit().
 */
int workers_run(size_t n, size_t jobs, size_t rec_size, worker_fn fn, arrived_fn arrived, void *userdata, void *recs,
		bool *done);
