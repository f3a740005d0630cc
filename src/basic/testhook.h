/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test hooks: fault injection for the test suite only.  A hook does nothing
 * unless the environment variable LAYERCTL_TEST_HOOK names its point:
 *
 *   LAYERCTL_TEST_HOOK=POINT:kill        the process SIGKILLs itself there
 *                                        (a crash at exactly that step)
 *   LAYERCTL_TEST_HOOK=POINT:pause:FILE  creates FILE, then waits (up to 60 s)
 *                                        until the test removes it
 *   LAYERCTL_TEST_HOOK=POINT:sleep:MS    waits MS milliseconds there (where a
 *                                        file of the test's cannot be seen:
 *                                        inside a container)
 *
 * Points (grep for test_hook): import-before-rename, create-before-rename, image-mounted, rm-after-trash,
 * run-teardown-before-umount, image-adopt-manifest, stub-before-close,
 * vacuum-before-remove, fstab-before-write.  Tests use them to prove they hit the moment they
 * exist for instead of hoping a timer lands there.  Never set it otherwise.
 */
#pragma once

void test_hook(const char *point);
