/* SPDX-License-Identifier: MIT */
/*
 * singlecopy: would a single-copy path pay for large stream messages?
 *
 * V4V moves a stream message with two copies: the sender into the ring,
 * the receiver out of it (issue 5 asks for a single-copy path for very
 * large messages "if it pays off: measure it").  This measures the two
 * single-copy mechanisms Linux offers between processes, in the shape a
 * V4V path would use them, against AF_UNIX (two copies, as a baseline
 * measured in the same run):
 *
 *   vmsplice  the sender maps its pages into a pipe (no copy), the
 *             receiver read()s them (the one copy); the sender may reuse
 *             its buffer only after the receiver says it has read all of
 *             it, so each message ends with an acknowledgement.
 *   pvm       the sender posts {pid, address, length}; the receiver
 *             copies straight from the sender's memory with
 *             process_vm_readv (the one copy) and acknowledges.
 *   unix      write() and read() on a socketpair: two copies, pipelined.
 *
 * N pairs of processes each stream one direction for a fixed time; the
 * figure is the bytes received per second by all receivers.  Compare it
 * with `v4v bench aggregate --modes stream` (whose pairs stream both
 * ways, so N pairs here match N/2 pairs there).
 *
 *   singlecopy [-p PAIRS] [-s SECONDS] [-r REPS] SIZE...
 */
#include "copytool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

enum mode { VMSPLICE, PVM, UNIX_SOCK, NMODES };

struct post {
	pid_t pid;
	void *addr;
	size_t len;
};

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n <= 0)
			return n < 0 && errno != EINTR ? -1 : (n == 0 ? 1 : 0);
		got += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, (const char *)buf + off, len - off);

		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0)
			off += (size_t)n;
	}
	return 0;
}

static void *buffer(size_t len, int fill)
{
	void *b = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED)
		copy_die("mmap");
	memset(b, fill, len);
	return b;
}

/* The sender's side of one message. */
static void send_one(enum mode m, int data, int ctl, uint8_t *b, size_t len)
{
	char ack;

	if (m == UNIX_SOCK) {
		if (write_full(data, b, len))
			copy_die("write");
		return;
	}
	if (m == PVM) {
		struct post p = { getpid(), b, len };

		if (write_full(ctl, &p, sizeof(p)))
			copy_die("post");
	} else {
		for (size_t off = 0; off < len;) {
			struct iovec v = { b + off, len - off };
			ssize_t n = vmsplice(data, &v, 1, 0);

			if (n < 0)
				copy_die("vmsplice");
			off += (size_t)n;
		}
	}
	if (read_full(ctl, &ack, 1))
		copy_die("ack");
}

/* The receiver's side of one message: 0, or 1 at the end of the run. */
static int recv_one(enum mode m, int data, int ctl, uint8_t *b, size_t len)
{
	char ack = 0;
	int rc;

	if (m == PVM) {
		struct post p;
		struct iovec l, r;

		rc = read_full(ctl, &p, sizeof(p));
		if (rc)
			return rc;
		if (p.len != len)
			copy_die("post length");
		l = (struct iovec){ b, len };
		r = (struct iovec){ p.addr, len };
		if (process_vm_readv(p.pid, &l, 1, &r, 1, 0) != (ssize_t)len)
			copy_die("process_vm_readv");
	} else {
		rc = read_full(data, b, len);
		if (rc)
			return rc;
	}
	if (m != UNIX_SOCK && write_full(ctl, &ack, 1))
		copy_die("ack");
	return 0;
}

/* Make one pair's channels: data[0] read end, data[1] write end; ctl a
 * socketpair for posts and acknowledgements. */
static void channels(enum mode m, size_t len, int data[2], int ctl[2])
{
	int sz = 4 << 20;

	if (m == VMSPLICE) {
		if (pipe(data))
			copy_die("pipe");
		/* As much of the message as a pipe may hold without
		 * privilege (fs.pipe-max-size, 1 MiB by default). */
		fcntl(data[1], F_SETPIPE_SZ, len < (1u << 20) ? (int)len : 1 << 20);
	} else if (socketpair(AF_UNIX, SOCK_STREAM, 0, data)) {
		copy_die("socketpair");
	}
	setsockopt(data[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(data[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, ctl))
		copy_die("socketpair");
}

/* One timed run of `pairs` pairs; returns MB/s received by all. */
static double run(int mode, size_t len, int pairs, double secs)
{
	enum mode m = (enum mode)mode;
	int res[2];
	double total = 0, t0 = copy_now();

	if (pipe(res))
		copy_die("pipe");
	for (int p = 0; p < pairs; p++) {
		int data[2], ctl[2];

		channels(m, len, data, ctl);
		if (fork() == 0) {
			uint8_t *b = buffer(len, 1);
			size_t got = 0;
			double mbps, start = copy_now();

			close(data[1]);
			close(ctl[1]);
			close(res[0]);
			while (recv_one(m, data[0], ctl[0], b, len) == 0)
				got += len;
			mbps = (double)got / (copy_now() - start) / 1e6;
			if (write_full(res[1], &mbps, sizeof(mbps)))
				copy_die("result");
			_exit(0);
		}
		if (fork() == 0) {
			uint8_t *b = buffer(len, 2);

			close(data[0]);
			close(ctl[0]);
			close(res[0]);
			close(res[1]);
			while (copy_now() - t0 < secs)
				send_one(m, data[1], ctl[1], b, len);
			_exit(0);
		}
		close(data[0]);
		close(data[1]);
		close(ctl[0]);
		close(ctl[1]);
	}
	close(res[1]);
	for (int p = 0; p < pairs; p++) {
		double mbps;

		if (read_full(res[0], &mbps, sizeof(mbps)) == 0)
			total += mbps;
	}
	close(res[0]);
	while (wait(NULL) > 0)
		;
	return total;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: singlecopy [-p PAIRS] [-s SECONDS] [-r REPS] SIZE...\n"
		"Aggregate MB/s of PAIRS one-way streams (default 8) with "
		"single-copy\nvmsplice and process_vm_readv against AF_UNIX; "
		"median of REPS runs\n(default 3) of SECONDS each (default "
		"1). SIZE takes K and M suffixes.\n");
}

int main(int argc, char **argv)
{
	struct copy_opts o = { .pairs = 8, .reps = 3, .secs = 1 };
	int rc, first = copy_options(argc, argv, &o, 64, usage, &rc);

	if (first < 0)
		return rc;
	printf("%8s %12s %12s %12s %10s %10s\n", "size", "vmsplice", "pvm",
	       "unix", "vms/unix", "pvm/unix");
	for (int i = first; i < argc; i++) {
		double med[NMODES];

		copy_medians(run, NMODES, copy_parse_size(argv[i]), &o, med);
		printf("%8s %12.0f %12.0f %12.0f %9.2fx %9.2fx\n", argv[i],
		       med[VMSPLICE], med[PVM], med[UNIX_SOCK],
		       med[VMSPLICE] / med[UNIX_SOCK],
		       med[PVM] / med[UNIX_SOCK]);
		fflush(stdout);
	}
	return 0;
}
