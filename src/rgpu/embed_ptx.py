#!/usr/bin/env python3
# Turn a PTX file into a C file defining `const char NAME[]` with its text,
# so that the kernels ship inside the binaries and need no toolkit.
import sys

src, out, name = sys.argv[1:4]
text = open(src, encoding="ascii").read()
with open(out, "w", encoding="ascii") as f:
    f.write("/* Generated from %s by embed_ptx.py: do not edit. */\n" % src.split("/")[-1])
    f.write("extern const char %s[];\n" % name)
    f.write("const char %s[] =\n" % name)
    for line in text.splitlines():
        esc = line.replace("\\", "\\\\").replace('"', '\\"')
        f.write('\t"%s\\n"\n' % esc)
    f.write(";\n")
