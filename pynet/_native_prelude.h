/* C prelude of pynet._native (cffi.gen_src): the module for short, bounded
 * calls (a checksum of a small buffer, one packet built or parsed).
 *
 * cffi wraps every call in Py_BEGIN/END_ALLOW_THREADS. For calls this short,
 * dropping and retaking the GIL costs more than the work itself (about 40 ns
 * of a 150 ns call), so here the two macros become a plain block and the GIL
 * stays held, as CPython's hashlib does for inputs below 2 KiB. Anything that
 * can run long or block belongs in pynet._native_nogil instead. */
#include "pynet.h"

#undef Py_BEGIN_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS {
#undef Py_END_ALLOW_THREADS
#define Py_END_ALLOW_THREADS }

/* pynet.checksum(bytes)'s whole fast path in one call of two arguments (each
 * argument costs cffi a conversion): the checksum from a zero start, with the
 * GIL held for small inputs and released, here and only here, for inputs
 * large enough that other threads should run meanwhile. */
#define PN_NOGIL_MIN (256 * 1024)

static uint16_t pn_checksum_bytes(const char *buf, size_t len)
{
    PyThreadState *save;
    uint16_t sum;

    if (len < PN_NOGIL_MIN)
        return pn_checksum(buf, len, 0);
    save = PyEval_SaveThread();
    sum = pn_checksum(buf, len, 0);
    PyEval_RestoreThread(save);
    return sum;
}
