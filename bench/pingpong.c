/* SPDX-License-Identifier: MIT */
/*
 * v4v bench: datagram ping-pong between two domains (two processes, one per
 * core), against kernel transports measured in the same run.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
"Usage: v4v bench dgram [OPTION]...\n"
"Datagram ping-pong between two domains: half round-trip latency per\n"
"message size, for V4V and for kernel transports in the same run.\n"
"\n"
"  --sizes MIN:MAX     message sizes, powers of two (default 1:32768)\n"
"  --iters N           round trips per size (default 2000)\n"
"  --warmup N          unmeasured round trips first (default 200)\n"
"  --transports LIST   comma-separated: v4v-dgram,udp,unix-dgram (all)\n"
"  --json FILE         also write the results as a JSON array\n"
"  --no-pin            do not pin the two processes to separate cores\n"
"  -q, --quiet         no progress line\n";

struct opts {
	size_t min, max;
	uint32_t iters, warmup;
	const char *transports;
	const char *json;
	bool pin, quiet;
};

static const struct transport *const all[] = {
	&bench_v4v_dgram, &bench_udp, &bench_unix_dgram, NULL
};



static void serve(const struct transport *t, int pipe_w, bool do_pin)
{
	static char buf[65536];
	struct bench_addr a, from;
	int fd;

	if (do_pin)
		bench_pin(1);
	fd = t->serve(&a);
	if (fd < 0)
		a.len = 0;
	if (write(pipe_w, &a, sizeof(a)) != sizeof(a) || fd < 0)
		_exit(1);
	for (;;) {
		ssize_t n = t->recvfrom(fd, buf, sizeof(buf), &from);

		if (n < 0 || t->sendto(fd, buf, (size_t)n, &from) != n)
			_exit(2);
	}
}


static int measure(const struct transport *t, int fd,
		   const struct bench_addr *to, size_t size,
		   const struct opts *o, double *samples,
		   struct bench_result *r)
{
	static char out[65536], in[65536];
	struct bench_addr from;

	memset(out, 0xa5, size);
	for (uint32_t i = 0; i < o->warmup + o->iters; i++) {
		double t0 = bench_now_us();

		if (t->sendto(fd, out, size, to) != (ssize_t)size ||
		    t->recvfrom(fd, in, sizeof(in), &from) != (ssize_t)size)
			return -1;
		if (i >= o->warmup)
			samples[i - o->warmup] = (bench_now_us() - t0) / 2;
	}
	if (memcmp(in, out, size))
		return -1;
	bench_stats(samples, o->iters, &r->p50_us, &r->p99_us, &r->mean_us);
	r->transport = t->name;
	r->size = size;
	r->iters = o->iters;
	return 0;
}

static int run_transport(const struct transport *t, const struct opts *o,
			 struct bench_result *res, int *nres, int nsizes,
			 int *step)
{
	double *samples = calloc(o->iters, sizeof(double));
	struct bench_addr a;
	int p[2], fd, rc = 0;
	pid_t pid;

	if (!samples || pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		serve(t, p[1], o->pin);
	}
	close(p[1]);
	if (read(p[0], &a, sizeof(a)) != sizeof(a) || !a.len) {
		fprintf(stderr, "v4v bench: %s: server failed to start%s\n",
			t->name, t == &bench_v4v_dgram ? " (is v4vd running?)"
						       : "");
		rc = -1;
		goto out;
	}
	if (o->pin)
		bench_pin(0);
	fd = t->dial(&a);
	for (size_t size = o->min; fd >= 0 && size <= o->max; size *= 2) {
		if (!o->quiet)
			fprintf(stderr, "\rv4v bench: %-10s %7zu B  [%d/%d]   ",
				t->name, size, ++*step, nsizes);
		if (size > t->max_msg)
			continue;
		if (measure(t, fd, &a, size, o, samples, &res[*nres])) {
			fprintf(stderr, "\nv4v bench: %s: %zu-byte round trip "
				"failed: %s\n", t->name, size, strerror(errno));
			rc = -1;
			break;
		}
		++*nres;
	}
	if (fd < 0) {
		fprintf(stderr, "v4v bench: %s: cannot open: %s\n", t->name,
			strerror(errno));
		rc = -1;
	}
	close(fd);
out:
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	free(samples);
	return rc;
}

static const struct bench_result *find(const struct bench_result *r, int n,
				       const char *t, size_t size)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].transport, t) && r[i].size == size)
			return &r[i];
	return NULL;
}

static void print_table(const struct bench_result *r, int n,
			const struct transport *const *ts, int nts,
			const struct opts *o)
{
	printf("\nHalf round-trip latency in microseconds, p50 / p99 "
	       "(%u round trips per size)\n\n%8s", o->iters, "size");
	for (int i = 0; i < nts; i++)
		printf("  %21s", ts[i]->name);
	if (nts > 1)
		printf("  %s", "p50 vs v4v-dgram");
	printf("\n");
	for (size_t size = o->min; size <= o->max; size *= 2) {
		const struct bench_result *base =
			find(r, n, ts[0]->name, size);

		printf("%8zu", size);
		for (int i = 0; i < nts; i++) {
			const struct bench_result *x =
				find(r, n, ts[i]->name, size);

			if (x)
				printf("  %9.2f / %9.2f", x->p50_us, x->p99_us);
			else
				printf("  %21s", "-");
		}
		for (int i = 1; i < nts && base; i++) {
			const struct bench_result *x =
				find(r, n, ts[i]->name, size);

			if (x)
				printf("  %s %.2fx", ts[i]->name,
				       x->p50_us / base->p50_us);
		}
		printf("\n");
	}
	printf("\n");
	for (int i = 0; i < nts; i++)
		printf("  %-11s %s\n", ts[i]->name, ts[i]->what);
}

static int write_json(const char *path, const struct bench_result *r, int n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "[\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "  {\"transport\": \"%s\", \"mode\": \"pingpong\", "
			"\"size\": %zu, \"p50_us\": %.3f, \"p99_us\": %.3f, "
			"\"mean_us\": %.3f, \"iters\": %u}%s\n",
			r[i].transport, r[i].size, r[i].p50_us, r[i].p99_us,
			r[i].mean_us, r[i].iters, i + 1 < n ? "," : "");
	fprintf(f, "]\n");
	return fclose(f);
}


static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "sizes", required_argument, NULL, 's' },
		{ "iters", required_argument, NULL, 'i' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "transports", required_argument, NULL, 't' },
		{ "json", required_argument, NULL, 'j' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	*o = (struct opts){ .min = 1, .max = 32768, .iters = 2000,
			    .warmup = 200, .pin = true };
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!bench_parse_sizes(optarg, 65536, &o->min, &o->max))
				goto bad;
			break;
		case 'i': o->iters = (uint32_t)atoi(optarg); break;
		case 'w': o->warmup = (uint32_t)atoi(optarg); break;
		case 't': o->transports = optarg; break;
		case 'j': o->json = optarg; break;
		case 'P': o->pin = false; break;
		case 'q': o->quiet = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: goto bad;
		}
	}
	if (optind == argc && o->iters >= 10 && o->iters <= 10000000)
		return 0;
bad:
	fprintf(stderr, "v4v bench: bad arguments\n%s", usage);
	return 2;
}

static int pick(const char *list, const struct transport **ts)
{
	int n = 0;

	for (int i = 0; all[i]; i++)
		if (bench_listed(list, all[i]->name))
			ts[n++] = all[i];
	return n;
}

int cmd_bench_dgram(int argc, char **argv)
{
	const struct transport *ts[8];
	struct bench_result res[8 * 32];
	struct opts o;
	int nts, nres = 0, step = 0, nsizes = 0, rc = parse(argc, argv, &o);

	if (rc)
		return rc;
	nts = pick(o.transports, ts);
	if (!nts) {
		fprintf(stderr, "v4v bench: no known transport in '%s'\n",
			o.transports);
		return 2;
	}
	for (size_t s = o.min; s <= o.max; s *= 2)
		nsizes++;
	nsizes *= nts;
	if (o.pin && sysconf(_SC_NPROCESSORS_ONLN) < 2)
		o.pin = false;
	for (int i = 0; i < nts; i++)
		if (run_transport(ts[i], &o, res, &nres, nsizes, &step))
			return 1;
	if (!o.quiet)
		fprintf(stderr, "\r%60s\r", "");
	print_table(res, nres, ts, nts, &o);
	if (o.json && write_json(o.json, res, nres)) {
		fprintf(stderr, "v4v bench: cannot write %s: %s\n", o.json,
			strerror(errno));
		return 1;
	}
	return 0;
}
