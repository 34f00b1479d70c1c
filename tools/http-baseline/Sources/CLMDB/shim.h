#ifndef PLAYHEAD_CLMDB_SHIM_H
#define PLAYHEAD_CLMDB_SHIM_H
#include <lmdb.h>
#endif
