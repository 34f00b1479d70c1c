#ifndef PLAYHEAD_PREFETCH_H
#define PLAYHEAD_PREFETCH_H

// A hint that the memory at `address` will be read soon: the log writer looks up the
// stream rows of the next few events while it writes the current one, so that their cache
// misses overlap instead of following one another. Never faults, whatever the address.
static inline void playhead_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif
