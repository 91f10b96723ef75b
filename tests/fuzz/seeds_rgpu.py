#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed sessions of fuzz_rgpu (tests/fuzz/corpus/fuzz_rgpu/).

Each seed is what a correct client sends on one connection
(docs/rgpu-protocol.md).  fuzz_rgpu makes the server's random source
return zeros, so the device pointers and module handles it hands out are
the ones computed here, and a seed can use them as a real client would.

    python3 tests/fuzz/seeds_rgpu.py src/rgpu/kernels.ptx tests/fuzz/corpus/fuzz_rgpu
"""
import os
import struct
import sys

MAGIC, VERSION = 0x55504752, 1
(HELLO, PROPS, MALLOC, FREE, MEMSET, HTOD, DTOH, SYNC, LOAD, UNLOAD,
 LAUNCH) = range(1, 12)
M64 = (1 << 64) - 1


class Server:
    """devctx.c's key generator, seeded as fuzz_rgpu seeds it."""

    def __init__(self):
        self.rng = 1
        self.slot = 0

    def rnd(self):
        r = self.rng
        r ^= r >> 12
        r ^= (r << 25) & M64
        r ^= r >> 27
        self.rng = r
        return ((r * 0x2545F4914F6CDD1D) & M64) >> 32

    def malloc(self):
        key = ((self.rnd() % 0xFFF + 1) << 12) | self.slot
        self.slot += 1
        return key << 40

    def module(self, slot=0):
        return ((self.rnd() | 1) & 0xFFFFFFFF) << 32 | slot


def msg(op, body=b"", rid=1):
    return struct.pack("<IHHIiQ", MAGIC, VERSION, op, rid, 0, len(body)) + body


def hello(chunk=0):
    return msg(HELLO, struct.pack("<II", VERSION, chunk))


def copies():
    s = Server()
    a, b = s.malloc(), s.malloc()
    data = bytes(range(256)) * 4
    return b"".join([
        hello(),
        msg(PROPS, struct.pack("<I", 0)),
        msg(MALLOC, struct.pack("<Q", 4096)),
        msg(MALLOC, struct.pack("<Q", 1 << 20)),
        msg(MEMSET, struct.pack("<QQII", a, 4096, 0x5A, 0)),
        msg(HTOD, struct.pack("<Q", a + 16) + data),
        msg(DTOH, struct.pack("<QQ", a, 2048)),
        msg(HTOD, struct.pack("<Q", b) + bytes(70000)),
        msg(DTOH, struct.pack("<QQ", b + 1000, 70000)),
        msg(SYNC),
        msg(FREE, struct.pack("<Q", a)),
        msg(FREE, struct.pack("<Q", b)),
    ])


def launch_body(module, name, grid, block, args):
    name = name.encode()
    body = struct.pack("<Q3I3IIHH", module, *grid, *block, 0, len(name),
                       len(args)) + name
    for kind, size, value in args:
        body += struct.pack("<IIQ", kind, size, value)
    return body


def kernels(ptx):
    s = Server()
    n = 32
    A, B, C = s.malloc(), s.malloc(), s.malloc()
    mod = s.module()
    mat = struct.pack("<Q", n * n * 4)
    one = struct.unpack("<I", struct.pack("<f", 1.0))[0]
    return b"".join([
        hello(1 << 16),
        msg(MALLOC, mat), msg(MALLOC, mat), msg(MALLOC, mat),
        msg(HTOD, struct.pack("<Q", A) + bytes(n * n * 4)),
        msg(LOAD, ptx),
        msg(LAUNCH, launch_body(mod, "rgpu_sgemm_tiled", (2, 2, 1),
                                (16, 16, 1),
                                [(1, 8, A), (1, 8, B), (1, 8, C),
                                 (0, 4, n)])),
        msg(LAUNCH, launch_body(mod, "rgpu_stencil5", (2, 2, 1),
                                (16, 16, 1),
                                [(1, 8, A), (1, 8, B), (0, 4, n),
                                 (0, 4, one), (0, 4, one)])),
        msg(SYNC),
        msg(DTOH, struct.pack("<QQ", C, 64)),
        msg(UNLOAD, struct.pack("<Q", mod)),
    ])


def hostile():
    s = Server()
    a = s.malloc()
    return {
        "bad_magic": b"XXXX" + hello()[4:],
        "short_header": hello()[:13],
        "foreign_pointer": hello() + msg(MALLOC, struct.pack("<Q", 64)) +
        msg(HTOD, struct.pack("<Q", a ^ (1 << 41)) + b"x" * 8),
        "past_end": hello() + msg(MALLOC, struct.pack("<Q", 64)) +
        msg(DTOH, struct.pack("<QQ", a + 60, 8)) + msg(SYNC),
        "huge_len": struct.pack("<IHHIiQ", MAGIC, VERSION, HTOD, 1, 0, M64),
    }


def main():
    ptx_path, out = sys.argv[1], sys.argv[2]
    ptx = open(ptx_path, "rb").read()
    os.makedirs(out, exist_ok=True)
    seeds = {"hello": hello(), "copies": copies(), "kernels": kernels(ptx)}
    seeds.update(hostile())
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
