/*
 * For --version: the git revision filmeto was built from ("unknown"
 * outside a git checkout) and the versions of the libraries it runs with,
 * as they report themselves at run time.
 */
#ifndef FM_VERSION_H
#define FM_VERSION_H

const char *fm_revision(void);
/* "libcurl 7.88.1; json-c 0.16; libarchive 3.6.2" */
const char *fm_libraries(void);

#endif
