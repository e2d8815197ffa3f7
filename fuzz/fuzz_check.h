/* What every fuzz harness asserts with: a broken property traps, so libFuzzer keeps the input.
 * SPDX-License-Identifier: MIT */
#ifndef CR_FUZZ_CHECK_H
#define CR_FUZZ_CHECK_H

static inline void check(int ok)
{
    if (!ok)
        __builtin_trap();
}

#endif
