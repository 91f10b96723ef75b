/* SPDX-License-Identifier: MIT */
/*
 * v4v bench: ping-pong latency and streaming bandwidth of stream sockets,
 * V4V against the kernel's transports and the generic (bridged) path, all
 * measured in one run.  Each side of each transport is a fresh process
 * (a fresh domain), pinned to its own core.
 */
#include "sbench.h"
#include "agg.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
"Usage: v4v bench [OPTION]...\n"
"       v4v bench dgram [OPTION]...   (datagram ping-pong; see its --help)\n"
"       v4v bench aggregate [OPTION]...  (1 to 8 pairs at once; see its --help)\n"
"       v4v bench report --out DIR [OPTION]...  (the whole suite, report.md)\n"
"Ping-pong (half round trip, p50 and p99) and streaming bandwidth of stream\n"
"sockets for message sizes 1 B to 4 MiB, over V4V (direct and strict) and,\n"
"in the same run, AF_UNIX, TCP loopback and the generic path (TCP between\n"
"two network namespaces through veth pairs and a bridge).\n"
"\n"
"  --full              every power of two and more iterations (minutes)\n"
"  --sizes MIN:MAX     message sizes (powers of two, up to 4M)\n"
"  --iters N           ping-pong round trips for small sizes\n"
"  --transports LIST   comma-separated: v4v,v4v-strict,unix,tcp,generic\n"
"  --modes LIST        pingpong,stream (default both)\n"
"  --json FILE         write all results as a JSON array\n"
"  --plot FILE.png     plot latency and bandwidth against size (gnuplot)\n"
"  --no-pin            do not pin client and server to separate cores\n"
"  -q, --quiet         no progress line\n"
"Ratios in the table are against 'generic' measured in the same run.\n";

static const struct stransport *const all[] = {
	&st_v4v, &st_v4v_strict, &st_unix, &st_tcp, &st_generic, NULL
};

enum { MODE_PINGPONG = 1, MODE_STREAM = 2 };

struct opts {
	size_t min, max;
	unsigned step;		/* multiply the size by this */
	uint32_t iters;
	int modes;
	bool pin, quiet, full;
	const char *transports, *json, *plot;
};

struct result {
	const struct stransport *t;
	int mode;
	size_t size;
	double p50_us, p99_us, mean_us, mbps;
	uint32_t count;
};

/* Commands from the client to the server. */
struct cmd {
	uint32_t mode; /* 0: quit */
	uint32_t count;
	uint64_t size;
};



static int xfer(const struct stransport *t, int fd, void *buf, size_t len,
		bool out)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? t->send(fd, (char *)buf + done, len - done)
				: t->recv(fd, (char *)buf + done, len - done);

		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static void *big_buffer(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The server: answer commands until told to quit. */
static void serve(const struct stransport *t, int pipe_w, bool do_pin,
		  size_t maxsize)
{
	struct bench_addr a = { .len = 0 };
	char *buf = big_buffer(maxsize);
	struct cmd c;
	int l, fd;

	if (do_pin)
		bench_pin(1);
	l = t->enter('b') || !buf ? -1 : t->listen(&a);
	if (l < 0)
		a.len = 0;
	if (write(pipe_w, &a, sizeof(a)) != sizeof(a) || l < 0)
		_exit(1);
	fd = t->accept(l);
	if (fd < 0)
		_exit(2);
	while (!xfer(t, fd, &c, sizeof(c), false) && c.mode) {
		uint64_t total = c.size * c.count;

		if (c.mode == MODE_PINGPONG) {
			for (uint32_t i = 0; i < c.count; i++)
				if (xfer(t, fd, buf, c.size, false) ||
				    xfer(t, fd, buf, c.size, true))
					_exit(3);
		} else {
			while (total) {
				size_t n = total < maxsize ? total : maxsize;
				ssize_t k = t->recv(fd, buf, n);

				if (k <= 0)
					_exit(4);
				total -= (uint64_t)k;
			}
			if (xfer(t, fd, buf, 1, true))
				_exit(5);
		}
	}
	_exit(0);
}


static uint32_t pp_count(const struct opts *o, size_t size)
{
	uint64_t budget = o->full ? 256u << 20 : 32u << 20;
	uint64_t n = budget / size;

	if (n > o->iters)
		n = o->iters;
	return n < 20 ? 20 : (uint32_t)n;
}

static uint32_t stream_count(const struct opts *o, size_t size)
{
	uint64_t budget = o->full ? 1024u << 20 : 128u << 20;
	uint64_t n = budget / size, cap = o->full ? 400000 : 40000;

	if (n > cap)
		n = cap;
	return n < 16 ? 16 : (uint32_t)n;
}

static int run_pingpong(const struct stransport *t, int fd, char *buf,
			size_t size, const struct opts *o, struct result *r)
{
	uint32_t n = pp_count(o, size), warm = n / 10 + 2;
	struct cmd c = { MODE_PINGPONG, n + warm, size };
	double *s = calloc(n, sizeof(double));

	if (!s || xfer(t, fd, &c, sizeof(c), true))
		return -1;
	for (uint32_t i = 0; i < n + warm; i++) {
		double t0 = bench_now_us();

		if (xfer(t, fd, buf, size, true) ||
		    xfer(t, fd, buf, size, false)) {
			free(s);
			return -1;
		}
		if (i >= warm)
			s[i - warm] = (bench_now_us() - t0) / 2;
	}
	bench_stats(s, n, &r->p50_us, &r->p99_us, &r->mean_us);
	r->mbps = (double)size / r->p50_us; /* bytes per µs = MB/s */
	r->count = n;
	free(s);
	return 0;
}

static int run_stream(const struct stransport *t, int fd, char *buf,
		      size_t size, const struct opts *o, struct result *r)
{
	uint32_t n = stream_count(o, size);
	struct cmd c = { MODE_STREAM, n, size };
	double t0;

	if (xfer(t, fd, &c, sizeof(c), true))
		return -1;
	t0 = bench_now_us();
	for (uint32_t i = 0; i < n; i++)
		if (xfer(t, fd, buf, size, true))
			return -1;
	if (xfer(t, fd, buf, 1, false))
		return -1;
	r->mbps = (double)size * n / (bench_now_us() - t0);
	r->count = n;
	return 0;
}

/* The client: every size and mode, results written to the pipe. */
static void client(const struct stransport *t, const struct bench_addr *a,
		   const struct opts *o, int pipe_w, int nsteps, int step)
{
	char *buf = big_buffer(o->max);
	struct cmd quit = { 0, 0, 0 };
	int fd;

	if (o->pin)
		bench_pin(0);
	if (!buf || t->enter('a'))
		_exit(1);
	fd = t->dial(a);
	if (fd < 0)
		_exit(2);
	memset(buf, 0x5a, o->max);
	for (int mode = MODE_PINGPONG; mode <= MODE_STREAM; mode++) {
		if (!(o->modes & mode))
			continue;
		for (size_t size = o->min; size <= o->max; size *= o->step) {
			struct result r = { .t = t, .mode = mode, .size = size };
			int rc;

			if (!o->quiet)
				fprintf(stderr, "\rv4v bench: %-10s %-8s %8zu B"
					"  [%d/%d]   ", t->name,
					mode == MODE_PINGPONG ? "pingpong"
							      : "stream",
					size, ++step, nsteps);
			rc = mode == MODE_PINGPONG
				     ? run_pingpong(t, fd, buf, size, o, &r)
				     : run_stream(t, fd, buf, size, o, &r);
			if (rc)
				_exit(3);
			if (write(pipe_w, &r, sizeof(r)) != sizeof(r))
				_exit(4);
		}
	}
	xfer(t, fd, &quit, sizeof(quit), true);
	_exit(0);
}

static int run_transport(const struct stransport *t, const struct opts *o,
			 struct result *res, int *nres, int nsteps, int *step)
{
	struct bench_addr a;
	int sp[2], cp[2], n = 0, st;
	pid_t srv, cli;
	struct result r;

	if (t->prepare && t->prepare()) {
		fprintf(stderr, "v4v bench: skipping %s\n", t->name);
		return -1;
	}
	if (pipe(sp) || pipe(cp))
		return -1;
	srv = fork();
	if (srv == 0)
		serve(t, sp[1], o->pin, o->max);
	close(sp[1]);
	if (read(sp[0], &a, sizeof(a)) != sizeof(a) || !a.len) {
		fprintf(stderr, "\nv4v bench: %s: server failed to start%s\n",
			t->name, t == &st_v4v ? " (is v4vd running?)" : "");
		kill(srv, SIGKILL);
		waitpid(srv, NULL, 0);
		if (t->cleanup)
			t->cleanup();
		return -1;
	}
	cli = fork();
	if (cli == 0)
		client(t, &a, o, cp[1], nsteps, *step);
	close(cp[1]);
	while (read(cp[0], &r, sizeof(r)) == sizeof(r)) {
		res[(*nres)++] = r;
		n++;
	}
	*step += n;
	waitpid(cli, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fprintf(stderr, "\nv4v bench: %s: client failed (status %d) "
			"after %d results\n", t->name, st, n);
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	close(sp[0]);
	close(cp[0]);
	if (t->cleanup)
		t->cleanup();
	return 0;
}

static const struct result *find(const struct result *r, int n,
				 const char *t, int mode, size_t size)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].t->name, t) && r[i].mode == mode &&
		    r[i].size == size)
			return &r[i];
	return NULL;
}

static void print_size(size_t s)
{
	if (s >= 1 << 20)
		printf("%6zuM", s >> 20);
	else if (s >= 1 << 10)
		printf("%6zuK", s >> 10);
	else
		printf("%6zuB", s);
}

static void print_mode(const struct result *r, int n,
		       const struct stransport *const *ts, int nts,
		       const struct opts *o, int mode)
{
	printf("\n%s\n%7s", mode == MODE_PINGPONG
		       ? "Ping-pong: half round trip, microseconds, p50 / p99 "
			 "(x: p50 vs generic, lower is better)"
		       : "Streaming: MB/s (x: vs generic, higher is better)",
	       "size");
	for (int i = 0; i < nts; i++)
		printf(" %23s", ts[i]->name);
	printf("\n");
	for (size_t size = o->min; size <= o->max; size *= o->step) {
		const struct result *g = find(r, n, "generic", mode, size);

		print_size(size);
		for (int i = 0; i < nts; i++) {
			const struct result *x = find(r, n, ts[i]->name, mode,
						      size);
			char cell[64] = "-", ratio[16] = "";

			if (x && g && x != g)
				snprintf(ratio, sizeof(ratio), " %5.2fx",
					 mode == MODE_PINGPONG
						 ? x->p50_us / g->p50_us
						 : x->mbps / g->mbps);
			if (x && mode == MODE_PINGPONG)
				snprintf(cell, sizeof(cell), "%7.2f/%7.1f%s",
					 x->p50_us, x->p99_us, ratio);
			else if (x)
				snprintf(cell, sizeof(cell), "%9.0f%s",
					 x->mbps, ratio);
			printf(" %23s", cell);
		}
		printf("\n");
	}
}

static int write_json(const char *path, const struct result *r, int n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "[\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "  {\"transport\": \"%s\", \"mode\": \"%s\", "
			"\"size\": %zu, \"p50_us\": %.3f, \"p99_us\": %.3f, "
			"\"mean_us\": %.3f, \"mbps\": %.1f, \"count\": %u}%s\n",
			r[i].t->name,
			r[i].mode == MODE_PINGPONG ? "pingpong" : "stream",
			r[i].size, r[i].p50_us, r[i].p99_us, r[i].mean_us,
			r[i].mbps, r[i].count, i + 1 < n ? "," : "");
	fprintf(f, "]\n");
	return fclose(f);
}

/* Two panels: latency (log-log) and bandwidth against size. */
static int write_plot(const char *png, const struct result *r, int n,
		      const struct stransport *const *ts, int nts)
{
	char data[] = "/tmp/v4vbench-plot.XXXXXX";
	int fd = mkstemp(data);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL, *g;

	if (!f)
		return -1;
	for (int m = MODE_PINGPONG; m <= MODE_STREAM; m++) {
		for (int i = 0; i < nts; i++) {
			fprintf(f, "# %s %d\n", ts[i]->name, m);
			for (int k = 0; k < n; k++)
				if (r[k].t == ts[i] && r[k].mode == m)
					fprintf(f, "%zu %f\n", r[k].size,
						m == MODE_PINGPONG ? r[k].p50_us
								   : r[k].mbps);
			fprintf(f, "\n\n");
		}
	}
	fclose(f);
	g = popen("gnuplot", "w");
	if (!g) {
		unlink(data);
		return -1;
	}
	fprintf(g, "set terminal pngcairo size 1400,560 noenhanced\n"
		   "set output '%s'\nset multiplot layout 1,2\n"
		   "set logscale x 2\nset logscale y\nset grid\n"
		   "set key top left\nset xlabel 'message size (bytes)'\n"
		   "set format x '%%.0b%%BB'\n"
		   "set title 'Ping-pong half round trip (p50)'\n"
		   "set ylabel 'microseconds'\nplot ", png);
	for (int i = 0; i < nts; i++)
		fprintf(g, "%s'%s' index %d with linespoints title '%s'",
			i ? ", " : "", data, i, ts[i]->name);
	fprintf(g, "\nset title 'Streaming bandwidth'\nset ylabel 'MB/s'\n"
		   "set key top left\nplot ");
	for (int i = 0; i < nts; i++)
		fprintf(g, "%s'%s' index %d with linespoints title '%s'",
			i ? ", " : "", data, nts + i, ts[i]->name);
	fprintf(g, "\nunset multiplot\n");
	int rc = pclose(g);

	unlink(data);
	return rc;
}


static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "full", no_argument, NULL, 'F' },
		{ "sizes", required_argument, NULL, 's' },
		{ "iters", required_argument, NULL, 'i' },
		{ "transports", required_argument, NULL, 't' },
		{ "modes", required_argument, NULL, 'm' },
		{ "json", required_argument, NULL, 'j' },
		{ "plot", required_argument, NULL, 'p' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool sizes = false, iters = false;
	int c;

	*o = (struct opts){ .min = 1, .max = 4u << 20, .step = 4,
			    .iters = 2000, .modes = MODE_PINGPONG | MODE_STREAM,
			    .pin = true };
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'F': o->full = true; break;
		case 's':
			if (!bench_parse_sizes(optarg, 4u << 20, &o->min,
					       &o->max))
				goto bad;
			sizes = true;
			break;
		case 'i':
			o->iters = (uint32_t)atoi(optarg);
			iters = true;
			break;
		case 't': o->transports = optarg; break;
		case 'm':
			o->modes = (strstr(optarg, "pingpong") ? MODE_PINGPONG : 0) |
				   (strstr(optarg, "stream") ? MODE_STREAM : 0);
			if (!o->modes)
				goto bad;
			break;
		case 'j': o->json = optarg; break;
		case 'p': o->plot = optarg; break;
		case 'P': o->pin = false; break;
		case 'q': o->quiet = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: goto bad;
		}
	}
	if (o->full || sizes)
		o->step = 2;
	if (o->full && !iters)
		o->iters = 20000;
	if (optind == argc && o->iters >= 10)
		return 0;
bad:
	fprintf(stderr, "v4v bench: bad arguments\n%s", usage);
	return 2;
}

static int pick(const char *list, const struct stransport **ts)
{
	int n = 0;

	for (int i = 0; all[i]; i++)
		if (bench_listed(list, all[i]->name))
			ts[n++] = all[i];
	return n;
}

int cmd_bench(int argc, char **argv)
{
	const struct stransport *ts[8];
	static struct result res[8 * 2 * 32];
	int nts, nres = 0, step = 0, nsteps = 0, nsizes = 0;
	struct opts o;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "dgram"))
		return cmd_bench_dgram(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "aggregate"))
		return cmd_bench_aggregate(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "report"))
		return cmd_bench_report(argc - 1, argv + 1);
	rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	nts = pick(o.transports, ts);
	if (!nts) {
		fprintf(stderr, "v4v bench: no known transport in '%s'\n",
			o.transports);
		return 2;
	}
	for (size_t s = o.min; s <= o.max; s *= o.step)
		nsizes++;
	nsteps = nsizes * nts * (o.modes == 3 ? 2 : 1);
	if (o.pin && sysconf(_SC_NPROCESSORS_ONLN) < 2)
		o.pin = false;
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < nts; i++)
		run_transport(ts[i], &o, res, &nres, nsteps, &step);
	if (!o.quiet)
		fprintf(stderr, "\r%70s\r", "");
	for (int m = MODE_PINGPONG; m <= MODE_STREAM; m++)
		if (o.modes & m)
			print_mode(res, nres, ts, nts, &o, m);
	printf("\n");
	for (int i = 0; i < nts; i++)
		printf("  %-11s %s\n", ts[i]->name, ts[i]->what);
	if (o.json && write_json(o.json, res, nres)) {
		fprintf(stderr, "v4v bench: cannot write %s: %s\n", o.json,
			strerror(errno));
		return 1;
	}
	if (o.plot && write_plot(o.plot, res, nres, ts, nts))
		fprintf(stderr, "v4v bench: plotting failed (is gnuplot "
			"installed?)\n");
	return nres ? 0 : 1;
}
