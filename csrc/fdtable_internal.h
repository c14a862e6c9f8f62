/* Tables indexed by file descriptor, grown on demand; internal. The echo
 * loops keep their clients in one, the load generator and the poll()
 * backend map descriptors to slots in one. */
#ifndef PYNET_FDTABLE_INTERNAL_H
#define PYNET_FDTABLE_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Make room in a table indexed by file descriptor (*table of *cap entries
 * of size bytes each) for entry fd, doubling from 256; new entries are
 * zeroed. Returns 0, or -ENOMEM with the table unchanged. */
static inline int pn__fd_table_fit(void **table, int *cap, int fd, size_t size)
{
    void *grown;
    int want;

    if (fd < *cap)
        return 0;
    want = *cap ? *cap : 256;
    while (want <= fd)
        want *= 2;
    grown = realloc(*table, size * (size_t)want);
    if (grown == NULL)
        return -ENOMEM;
    memset((char *)grown + size * (size_t)*cap, 0, size * (size_t)(want - *cap));
    *table = grown;
    *cap = want;
    return 0;
}

/* The same for a table of ints that map a descriptor to a slot: new
 * entries are -1 (no slot). */
static inline int pn__fd_index_fit(int **table, int *cap, int fd)
{
    void *grown = *table;
    int old = *cap, i, rc;

    rc = pn__fd_table_fit(&grown, cap, fd, sizeof(int));
    if (rc < 0)
        return rc;
    *table = grown;
    for (i = old; i < *cap; i++)
        (*table)[i] = -1;
    return 0;
}

#endif
