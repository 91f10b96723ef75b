/* SPDX-License-Identifier: MIT */
/* rgpu-bench: options, the transports in turn, the report. */
#include "rgpu/bench.h"
#include "rgpu/size_arg.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rgpu/rgpu.h"

const char *const bench_transport_name[BT_COUNT] = { "v4v", "tcp", "local",
						     "local-pinned" };
const char *const bench_kernel_name[BK_COUNT] = { "matmul", "stencil" };

static void usage(FILE *f)
{
	fprintf(f,
"usage: rgpu-bench [OPTIONS]\n"
"The remote-GPU experiment: for each transport, kernel and size n, copy\n"
"the n x n float inputs to the device, run the kernel, copy the result\n"
"back; time each step (medians), check against a CPU reference.\n"
"\n"
"  --sizes LIST          matrix sizes n (default 256,1024,2048,4096)\n"
"  --transports LIST     of v4v, tcp, local (in-process, pageable host\n"
"                        memory), local-pinned (in-process, pinned host\n"
"                        memory) (default: all four)\n"
"  --kernels LIST        of matmul, stencil (default matmul,stencil)\n"
"  --reps N              repetitions per size (default 5)\n"
"  --max-matmul N        largest n for matmul (default 1024 with the CPU\n"
"                        backend, where a product of 4096 takes minutes;\n"
"                        no limit with CUDA)\n"
"  --backend B           cuda, cpu or auto, for the server it starts and\n"
"                        for local (default auto)\n"
"  --chunk-size N        pipelined copy chunk (64K..64M; default: the\n"
"                        server's, 1M)\n"
"  --staging N           server staging buffers, 2 or 3 (default 3)\n"
"  --staged              CPU backend: stage copies as for a GPU (the\n"
"                        server's --staged)\n"
"  --no-zero-copy        the server's --no-zero-copy: V4V copies through\n"
"                        staging buffers too\n"
"  --lanes N             connections per remote client, a large copy\n"
"                        split over them (1..16; default $RGPU_LANES,\n"
"                        else one per four cores, at most four)\n"
"  --v4v-server ADDR     use this server (DOMAIN:PORT) for v4v ...\n"
"  --tcp-server ADDR     ... and this one (HOST:PORT) for tcp, instead of\n"
"                        starting rgpu-server (next to rgpu-bench, or\n"
"                        --server-bin PATH) in a domain of its own\n"
"  --json FILE           write the records (medians) as JSON\n"
"  --plot FILE.png       plot the htod times with gnuplot\n"
"  -v, --verbose         the server's log on standard error\n"
"  -h, --help            this help\n"
"  -V, --version         the version\n"
"\n"
"v4v needs a running v4vd (scripts/hv-ensure.sh).  Exit status: 0 all\n"
"results right, 1 a wrong result or a failed step, 2 usage.\n");
}

static void die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "rgpu-bench: %s: %s\nTry 'rgpu-bench --help'.\n", msg,
		arg);
	exit(2);
}

static void parse_sizes(struct bench_cfg *c, const char *s)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	c->nsizes = 0;
	for (char *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		char *end;
		long v = strtol(t, &end, 10);

		/* 16384^2 floats is 1 GiB, the largest single copy. */
		if (*end || v < 16 || v > 16384 || c->nsizes == BENCH_MAX_SIZES)
			die_usage("sizes are 16 to 16384, at most 16 of them", s);
		c->sizes[c->nsizes++] = (uint32_t)v;
	}
	if (!c->nsizes)
		die_usage("no sizes", s);
}

/* A comma list of names into flags. */
static void parse_names(bool *flags, const char *const *names, int count,
			const char *s, const char *what)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	memset(flags, 0, (size_t)count * sizeof(*flags));
	for (char *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int i = 0;

		while (i < count && strcmp(t, names[i]))
			i++;
		if (i == count)
			die_usage(what, t);
		flags[i] = true;
	}
}

static void parse(int argc, char **argv, struct bench_cfg *c)
{
	enum { O_SIZES = 256, O_TRANS, O_KERN, O_REPS, O_MAXMM, O_BACKEND,
	       O_CHUNK, O_STAGING, O_STAGED, O_NOZC, O_LANES, O_V4V, O_TCP, O_BIN, O_JSON, O_PLOT };
	static const struct option lo[] = {
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "transports", required_argument, NULL, O_TRANS },
		{ "kernels", required_argument, NULL, O_KERN },
		{ "reps", required_argument, NULL, O_REPS },
		{ "max-matmul", required_argument, NULL, O_MAXMM },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "chunk-size", required_argument, NULL, O_CHUNK },
		{ "staging", required_argument, NULL, O_STAGING },
		{ "staged", no_argument, NULL, O_STAGED },
		{ "no-zero-copy", no_argument, NULL, O_NOZC },
		{ "lanes", required_argument, NULL, O_LANES },
		{ "v4v-server", required_argument, NULL, O_V4V },
		{ "tcp-server", required_argument, NULL, O_TCP },
		{ "server-bin", required_argument, NULL, O_BIN },
		{ "json", required_argument, NULL, O_JSON },
		{ "plot", required_argument, NULL, O_PLOT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	uint64_t v;
	int opt;

	argv[0] = (char *)"rgpu-bench"; /* getopt names us in its errors */
	while ((opt = getopt_long(argc, argv, "vhV", lo, NULL)) != -1) {
		switch (opt) {
		case O_SIZES: parse_sizes(c, optarg); break;
		case O_TRANS:
			parse_names(c->transport, bench_transport_name, BT_COUNT,
				    optarg, "unknown transport");
			break;
		case O_KERN:
			parse_names(c->kernel, bench_kernel_name, BK_COUNT,
				    optarg, "unknown kernel");
			break;
		case O_REPS:
			if (rgpu_parse_size(optarg, &v) || v < 1 || v > 64)
				die_usage("--reps is 1 to 64", optarg);
			c->reps = (unsigned)v;
			break;
		case O_MAXMM:
			if (rgpu_parse_size(optarg, &v) || v < 1 || v > 16384)
				die_usage("bad --max-matmul", optarg);
			c->max_matmul = (uint32_t)v;
			break;
		case O_BACKEND: c->backend = optarg; break;
		case O_CHUNK:
			if (rgpu_parse_size(optarg, &v) || v < (64u << 10) ||
			    v > (64u << 20))
				die_usage("--chunk-size is 64K to 64M", optarg);
			c->chunk = (size_t)v;
			break;
		case O_STAGING:
			if (strcmp(optarg, "2") && strcmp(optarg, "3"))
				die_usage("--staging is 2 or 3", optarg);
			c->staging = (unsigned)atoi(optarg);
			break;
		case O_STAGED: c->staged = true; break;
		case O_NOZC: c->no_zero_copy = true; break;
		case O_LANES:
			if (rgpu_parse_size(optarg, &v) || v < 1 || v > 16)
				die_usage("--lanes is 1 to 16", optarg);
			c->lanes = (unsigned)v;
			break;
		case O_V4V: c->v4v_addr = optarg; break;
		case O_TCP: c->tcp_addr = optarg; break;
		case O_BIN: c->server_bin = optarg; break;
		case O_JSON: c->json = optarg; break;
		case O_PLOT: c->plot = optarg; break;
		case 'v': c->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': puts("rgpu-bench " V4V_VERSION); exit(0);
		default: fprintf(stderr, "Try 'rgpu-bench --help'.\n"); exit(2);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument", argv[optind]);
	if (strcmp(c->backend, "auto") && strcmp(c->backend, "cpu") &&
	    strcmp(c->backend, "cuda"))
		die_usage("--backend is cuda, cpu or auto", c->backend);
}

static bool need_server(const struct bench_cfg *c)
{
	return (c->transport[BT_V4V] && !c->v4v_addr) ||
	       (c->transport[BT_TCP] && !c->tcp_addr);
}

/* The address to connect each transport to. */
static int addresses(struct bench_cfg *c, char spec[BT_COUNT][128])
{
	char v4v[128], tcp[128];

	if (need_server(c) &&
	    bench_spawn_server(c, v4v, sizeof(v4v), tcp, sizeof(tcp)))
		return -1;
	if (c->v4v_addr)
		snprintf(spec[BT_V4V], 128, "v4v:%s", c->v4v_addr);
	else
		snprintf(spec[BT_V4V], 128, "%s", v4v);
	if (c->tcp_addr)
		snprintf(spec[BT_TCP], 128, "tcp:%s", c->tcp_addr);
	else
		snprintf(spec[BT_TCP], 128, "%s", tcp);
	snprintf(spec[BT_LOCAL], 128, "local");
	snprintf(spec[BT_LOCAL_PINNED], 128, "local");
	return 0;
}

static void report(const struct bench_cfg *c, const struct bench_results *res)
{
	fprintf(stderr, "\n");
	bench_print_table(res);
	if (c->json && bench_write_json(c->json, res))
		fprintf(stderr, "rgpu-bench: %s: %s\n", c->json, strerror(errno));
	if (c->plot && res->n && bench_write_plot(c->plot, res))
		fprintf(stderr, "rgpu-bench: plot %s failed (is gnuplot "
			"installed?)\n", c->plot);
}

int main(int argc, char **argv)
{
	static struct bench_results res;
	struct bench_cfg c = { .sizes = { 256, 1024, 2048, 4096 }, .nsizes = 4,
			       .transport = { true, true, true, true },
			       .kernel = { true, true }, .reps = 5,
			       .staging = 3, .backend = "auto" };
	char spec[BT_COUNT][128];

	parse(argc, argv, &c);
	if (addresses(&c, spec))
		return 1;
	if (c.chunk)
		rgpu_set_chunk_size(c.chunk);
	rgpu_set_lanes(c.lanes);
	/* local in-process follows the server's backend choice. */
	setenv("RGPU_BACKEND", c.backend, 1);
	for (int t = 0; t < BT_COUNT; t++) {
		if (!c.transport[t])
			continue;
		bench_progress("%s: connecting to %s", bench_transport_name[t],
			       spec[t]);
		if (rgpu_connect(spec[t])) {
			fprintf(stderr, "rgpu-bench: %s: cannot connect to %s\n",
				bench_transport_name[t], spec[t]);
			res.failures++;
			continue;
		}
		bench_run_transport(&c, (enum bench_transport)t, &res);
		rgpu_disconnect();
	}
	bench_stop_server();
	report(&c, &res);
	return res.failures ? 1 : 0;
}
