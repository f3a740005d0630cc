/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* (stub until fstab-gen lands) */
#include "fstab-gen/fstab-gen.h"
