/* C prelude of pynet._native_nogil (cffi.gen_src): the module for calls that
 * run long or block (large checksums, packet loops). cffi releases the GIL
 * around each of them, so other Python threads keep running. */
#include "pynet.h"
