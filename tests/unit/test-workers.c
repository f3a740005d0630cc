/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Work spread over forked processes (src/workers.c): every record back, in its place, and what a dead worker leaves out. */
#include <stdint.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "src/workers.h"

struct rec {
	uint64_t item, square;
	pid_t pid;
};

static void square(size_t i, void *r, void *userdata)
{
	struct rec *rec = r;
	size_t *die_at = userdata;
	if (die_at && i == *die_at)
		_exit(9);   /* a worker that dies halfway */
	rec->item = i;
	rec->square = (uint64_t)i * i;
	rec->pid = getpid();
}

static size_t arrivals;

static void count(size_t i, void *userdata)
{
	(void)i;
	(void)userdata;
	arrivals++;
}

TEST(every_record_comes_back_in_its_place)
{
	enum { N = 50 };
	struct rec recs[N] = {};
	bool done[N];
	arrivals = 0;
	CHECK_INT(workers_run(N, 3, sizeof(struct rec), square, count, NULL, recs, done), 0);
	CHECK_INT(arrivals, N);
	for (size_t i = 0; i < N; i++) {
		CHECK(done[i]);
		CHECK_INT(recs[i].item, i);
		CHECK_INT(recs[i].square, i * i);
		CHECK(recs[i].pid != getpid());
		/* worker k computes k, k+3, ...: the same process for items 3 apart */
		if (i >= 3)
			CHECK_INT(recs[i].pid, recs[i - 3].pid);
	}
	CHECK(recs[0].pid != recs[1].pid && recs[1].pid != recs[2].pid);
}

TEST(a_dead_worker_leaves_its_records_out)
{
	enum { N = 20 };
	struct rec recs[N] = {};
	bool done[N];
	size_t die_at = 7;   /* worker 1 of 3: items 1 and 4 done, 7, 10, ... not */
	CHECK_INT(workers_run(N, 3, sizeof(struct rec), square, NULL, &die_at, recs, done), 0);
	for (size_t i = 0; i < N; i++)
		CHECK_INT(done[i], i % 3 != 1 || i < die_at);
}

TEST(default_is_bounded_by_items_and_max)
{
	CHECK_INT(workers_default(1, 8), 1);
	CHECK(workers_default(100, 8) >= 1 && workers_default(100, 8) <= 8);
	CHECK(workers_default(100, 2) <= 2);
}

TEST_MAIN()
