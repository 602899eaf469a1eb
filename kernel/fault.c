/* fault_try() (see fault.h): the architecture's trap code finds the
 * recovery point in this CPU's expect and resumes there. */
#include "kernel/fault.h"

bool fault_try(void (*fn)(void *), void *arg, struct fault_info *fi)
{
	struct cpu *volatile c = this_cpu();
	struct recovery *volatile prev = c->expect;
	struct recovery r;

	fi->vector = -1;
	if (recovery_set(&r)) {
		c->expect = prev;
		*fi = c->fault;
		return true;
	}
	c->expect = &r;
	barrier();
	fn(arg);
	barrier();
	c->expect = prev;
	return false;
}
