# gdb script for tests/tools/profile.sh: counts the instructions of one
# patch_apply by single-stepping it in a deterministic run, and records
# every PC it executed. Settings come from the environment:
#   PT_PROTO_SYM   the protocol's descriptor (proto_int3, ...)
#   PT_SITES       break only on a batch of this many sites
#   PT_SKIP        hits to let pass first (the figure is a steady state)
#   PT_PCS         where to write the PCs, one hex per line
#   PT_PORT        the gdb stub's port
#   PT_CAP         give up after this many steps
# Prints "profile: steps N" on success, "profile: error: ..." otherwise.
import os

import gdb


def env(name):
    return os.environ[name]


def main():
    gdb.execute("set pagination off")
    gdb.execute("set confirm off")
    gdb.execute("target remote localhost:" + env("PT_PORT"))
    cond = "proto == &%s && b->n == %s" % (env("PT_PROTO_SYM"), env("PT_SITES"))
    bp = gdb.Breakpoint("patch_apply")
    bp.condition = cond
    bp.ignore_count = int(env("PT_SKIP"))
    try:
        gdb.execute("continue")
    except gdb.error:
        pass	# the run ended: the stub is gone
    if bp.hit_count <= int(env("PT_SKIP")):
        print("profile: error: the run ended before patch_apply was called with %s %d times"
              % (cond, int(env("PT_SKIP")) + 1))
        return
    bp.delete()
    # The caller's return address: stepping ends when the PC gets there
    # with the stack popped past it.
    sp = int(gdb.parse_and_eval("$rsp"))
    ret = int(gdb.parse_and_eval("*(unsigned long *)$rsp"))
    cap = int(env("PT_CAP"))
    n = 0
    with open(env("PT_PCS"), "w") as out:
        while True:
            pc = int(gdb.parse_and_eval("$pc"))
            if pc == ret and int(gdb.parse_and_eval("$rsp")) > sp:
                break
            if n >= cap:
                print("profile: error: patch_apply had not returned after %d steps" % cap)
                return
            out.write("%x\n" % pc)
            gdb.execute("stepi", to_string=True)
            n += 1
    print("profile: steps %d" % n)


try:
    main()
finally:
    try:
        gdb.execute("kill")
    except gdb.error:
        pass
