/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fstab-gen/ — fstab entries for children (through libmount's table API) and
 * the systemd generator that writes .mount/.automount units instead.
 * Never prints, never exits; returns 0 or -errno (detail in struct lc_err).
 */
#pragma once

#include "overlay/overlay.h"
