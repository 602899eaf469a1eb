/* Shell-style glob matching for test selection (tests=boot.*,smp.ipi). */
#ifndef PT_GLOB_H
#define PT_GLOB_H

#include "kernel/types.h"

/* '*' any run of characters, '?' one character, [abc] [a-z] [!x] a set. */
bool glob_match(const char *pattern, const char *str);
/* True when any pattern of the comma-separated list matches str. */
bool glob_match_list(const char *list, const char *str);

#endif
