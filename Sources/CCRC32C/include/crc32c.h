#ifndef PLAYHEAD_CRC32C_H
#define PLAYHEAD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

// The module's other header, named here so that a build that cached this module sees it.
#include "prefetch.h"

/// Extends a CRC-32C (Castagnoli, as in iSCSI and ext4) over `length` bytes.
/// Start with `crc = 0`; feeding a buffer in pieces gives the same result as in one call.
/// Uses the SSE4.2 `crc32` instruction (three chains at once, joined with PCLMULQDQ) when
/// the CPU has both, a slicing-by-8 table otherwise.
uint32_t playhead_crc32c_extend(uint32_t crc, const void *bytes, size_t length);

/// Whether `playhead_crc32c_extend` runs on the hardware instruction (for benchmark reports).
int playhead_crc32c_is_hardware(void);

#endif
