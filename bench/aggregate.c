/* SPDX-License-Identifier: MIT */
/*
 * v4v bench aggregate: 1 to N pairs of domains at once, every pair
 * moving data in both directions over one connection, against the
 * machine's memcpy rate measured in the same run.  This file reads the
 * options and runs the transports; aggregate_domain.c is one domain,
 * aggregate_fleet.c the coordinator, aggregate_output.c the results.
 */
#include "aggregate.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "v4v/socket.h"

static const char usage[] =
"Usage: v4v bench aggregate [OPTION]...\n"
"1 to 8 pairs of domains (2 to 16 processes), every pair streaming (and,\n"
"separately, ping-ponging) in both directions at once over one connection,\n"
"for message sizes 4 KiB to 4 MiB, over V4V (direct and strict), AF_UNIX,\n"
"TCP loopback and the generic path (one network namespace per domain on a\n"
"bridge), against the memcpy rate of this machine measured in the same run.\n"
"\n"
"  --pairs LIST        comma-separated pair counts (default 1,2,4,8; max 16)\n"
"  --sizes MIN:MAX     message sizes, x4 steps (default 4K:4M)\n"
"  --step N            size multiplier (default 4)\n"
"  --seconds S         counted window per point (default 0.3)\n"
"  --warmup S          uncounted start of each point (default 0.1)\n"
"  --transports LIST   v4v,v4v-strict,unix,tcp,generic (default all)\n"
"  --modes LIST        stream,pingpong (default both)\n"
"  --buf BYTES         ring size / socket buffers, K or M suffix (default 2M)\n"
"  --pin MODE          best (default: each point under both of the next two,\n"
"                      the better kept), spread (the two sides of pair i on\n"
"                      cores 2i and 2i+1 mod cores), pair (both sides of\n"
"                      pair i on core i mod cores) or none\n"
"  --spin US           spin this long before poll() (default: 50 when\n"
"                      2 x pairs <= cores, else 0)\n"
"  --netns             put each V4V domain in its own empty network namespace\n"
"  --llc BYTES         last-level cache size for the memcpy reference\n"
"  --memref-seconds S  time per memcpy measurement (default 1)\n"
"  --no-memref         skip the memcpy reference\n"
"  --idle-seconds S    after the strict runs, v4vd's CPU time over S idle\n"
"                      seconds, every connection still open (default 10;\n"
"                      0 skips it)\n"
"  --json FILE         write results as a JSON array\n"
"  --plot FILE.png     plot aggregate against pairs with the memcpy lines\n"
"  --quick             1,2 pairs, 4K:16K, 0.05 s windows, --pin spread,\n"
"                      memcpy reference with a 4 MiB LLC, no idle\n"
"                      measurement (for tests)\n"
"  -q, --quiet         no progress line\n";

static const struct atrans all_trans[] = {
	{ "v4v", &st_v4v, true, false },
	{ "v4v-strict", &st_v4v_strict, true, false },
	{ "unix", &st_unix, false, false },
	{ "tcp", &st_tcp, false, false },
	{ "generic", &st_generic, false, true },
	{ NULL, NULL, false, false }
};

static bool parse_bytes(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return false;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end || !v)
		return false;
	*out = (size_t)v;
	return true;
}

/* MIN:MAX, each with an optional K or M; MIN a power of two. */
static bool parse_sizes(const char *s, struct aopts *o)
{
	char lo[32];
	const char *colon = strchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(lo))
		return false;
	memcpy(lo, s, (size_t)(colon - s));
	lo[colon - s] = '\0';
	if (!parse_bytes(lo, &o->min) || !parse_bytes(colon + 1, &o->max))
		return false;
	return o->min >= MIN_SIZE && o->min <= o->max &&
	       o->max <= 16u << 20 && !(o->min & (o->min - 1));
}

static bool parse_pairs(const char *s, struct aopts *o)
{
	char *end;

	o->npairs = 0;
	while (*s) {
		long v = strtol(s, &end, 10);

		if (end == s || v < 1 || v > MAX_PAIRS ||
		    o->npairs == MAX_PAIRS ||
		    (o->npairs && v <= o->pairs[o->npairs - 1]))
			return false;
		o->pairs[o->npairs++] = (int)v;
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			return false;
	}
	return o->npairs > 0;
}

static int parse(int argc, char **argv, struct aopts *o)
{
	static const struct option longopts[] = {
		{ "pairs", required_argument, NULL, 'p' },
		{ "sizes", required_argument, NULL, 's' },
		{ "step", required_argument, NULL, 'S' },
		{ "seconds", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "transports", required_argument, NULL, 'T' },
		{ "modes", required_argument, NULL, 'm' },
		{ "buf", required_argument, NULL, 'b' },
		{ "pin", required_argument, NULL, 'P' },
		{ "spin", required_argument, NULL, 'x' },
		{ "netns", no_argument, NULL, 'n' },
		{ "llc", required_argument, NULL, 'L' },
		{ "memref-seconds", required_argument, NULL, 'M' },
		{ "no-memref", no_argument, NULL, 'N' },
		{ "idle-seconds", required_argument, NULL, 'I' },
		{ "json", required_argument, NULL, 'j' },
		{ "plot", required_argument, NULL, 'g' },
		{ "quick", no_argument, NULL, 'Q' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool quick = false, sizes = false, pairs = false, secs = false;
	bool pin = false, idle = false;
	int c;
	size_t v;

	*o = (struct aopts){ .min = 4096, .max = 4u << 20, .step = 4,
			     .seconds = 0.3, .warm = 0.1, .memref_seconds = 1,
			     .idle_s = 10,
			     .modes = AM_STREAM | AM_PINGPONG, .pin = PIN_BEST,
			     .spin = -1, .buf = 2 << 20, .memref = true,
			     .npairs = 4, .pairs = { 1, 2, 4, 8 } };
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_pairs(optarg, o))
				goto bad;
			pairs = true;
			break;
		case 's':
			if (!parse_sizes(optarg, o))
				goto bad;
			sizes = true;
			break;
		case 'S':
			o->step = (unsigned)atoi(optarg);
			if (o->step < 2)
				goto bad;
			break;
		case 't':
			o->seconds = atof(optarg);
			if (!(o->seconds >= 0.01 && o->seconds <= 600))
				goto bad;
			secs = true;
			break;
		case 'w':
			o->warm = atof(optarg);
			if (!(o->warm >= 0 && o->warm <= 60))
				goto bad;
			break;
		case 'T': o->transports = optarg; break;
		case 'm':
			o->modes = (strstr(optarg, "stream") ? AM_STREAM : 0) |
				   (strstr(optarg, "pingpong") ? AM_PINGPONG : 0);
			if (!o->modes)
				goto bad;
			break;
		case 'b':
			if (!parse_bytes(optarg, &v) || v < 4096 ||
			    v > V4V_MAX_RING_SIZE)
				goto bad;
			o->buf = (int)v;
			break;
		case 'P':
			pin = true;
			if (!strcmp(optarg, "best"))
				o->pin = PIN_BEST;
			else if (!strcmp(optarg, "spread"))
				o->pin = PIN_SPREAD;
			else if (!strcmp(optarg, "pair"))
				o->pin = PIN_PAIR;
			else if (!strcmp(optarg, "none"))
				o->pin = PIN_NONE;
			else
				goto bad;
			break;
		case 'x':
			o->spin = atoi(optarg);
			if (o->spin < 0)
				goto bad;
			break;
		case 'n': o->netns = true; break;
		case 'L':
			if (!parse_bytes(optarg, &o->llc))
				goto bad;
			break;
		case 'M':
			o->memref_seconds = atof(optarg);
			if (!(o->memref_seconds >= 0.01 &&
			      o->memref_seconds <= 60))
				goto bad;
			break;
		case 'N': o->memref = false; break;
		case 'I':
			o->idle_s = atof(optarg);
			if (!(o->idle_s >= 0 && o->idle_s <= 3600))
				goto bad;
			idle = true;
			break;
		case 'j': o->json = optarg; break;
		case 'g': o->plot = optarg; break;
		case 'Q': quick = true; break;
		case 'q': o->quiet = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: goto bad;
		}
	}
	if (quick) {
		if (!pairs) {
			o->npairs = 2;
			o->pairs[0] = 1;
			o->pairs[1] = 2;
		}
		if (!sizes) {
			o->min = 4096;
			o->max = 16384;
		}
		if (!secs)
			o->seconds = 0.05;
		o->warm = o->warm < 0.02 ? o->warm : 0.02;
		if (!pin)
			o->pin = PIN_SPREAD;
		o->memref_seconds = 0.1;
		if (!idle)
			o->idle_s = 0;
		if (!o->llc)
			o->llc = 4u << 20;
	}
	o->maxpairs = o->pairs[o->npairs - 1];
	if (optind == argc)
		return 0;
bad:
	fprintf(stderr, "v4v bench aggregate: bad arguments\n%s", usage);
	return 2;
}

int cmd_bench_aggregate(int argc, char **argv)
{
	static struct aresult res[MAX_POINTS];
	const struct atrans *ts[8];
	struct memref m;
	bool have_m = false;
	int nts = 0, nres = 0, step = 0, nsteps, rc;
	struct aopts o;
	double idle_cpu_s = -1;

	rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	for (int i = 0; all_trans[i].name; i++)
		if (bench_listed(o.transports, all_trans[i].name))
			ts[nts++] = &all_trans[i];
	if (!nts) {
		fprintf(stderr, "v4v bench aggregate: no known transport in "
			"'%s'\n", o.transports);
		return 2;
	}
	sbench_buf_bytes = o.buf;
	signal(SIGPIPE, SIG_IGN);
	if (o.memref) {
		if (!o.quiet)
			fprintf(stderr, "\rv4v bench aggregate: memcpy "
				"reference ...");
		have_m = !memref_measure(&m,
			(int)sysconf(_SC_NPROCESSORS_ONLN), o.llc,
			o.memref_seconds);
		if (!have_m)
			fprintf(stderr, "\nv4v bench aggregate: cannot get "
				"memory for the memcpy reference\n");
	}
	nsteps = nts * agg_nsizes(&o) * o.npairs * agg_nmodes(&o);
	fflush(stdout);
	for (int i = 0; i < nts; i++)
		agg_run_transport(&o, ts[i], res, &nres, &step, nsteps,
				  &idle_cpu_s);
	if (!o.quiet)
		fprintf(stderr, "\r%75s\r", "");
	{
		char buf[16];

		agg_fmt_size(buf, sizeof(buf), (size_t)o.buf);
		printf("Aggregate benchmark: pairs %d..%d, %.2f s per point "
		       "(after %.2f s warm-up), rings and socket buffers %s, "
		       "pinning %s\n", o.pairs[0], o.maxpairs, o.seconds,
		       o.warm, buf,
		       o.pin == PIN_BEST ? "best of pair and spread, per point"
		       : o.pin == PIN_PAIR ? "pair (both sides of pair i on "
					     "core i mod cores)"
		       : o.pin == PIN_SPREAD ? "spread (the two sides of a "
					       "pair on different cores)"
					     : "none");
	}
	for (int m2 = AM_STREAM; m2 <= AM_PINGPONG; m2++)
		if (o.modes & m2)
			agg_print_grid(res, nres, &o, ts, nts, m2);
	agg_print_details(res, nres);
	agg_print_summary(res, nres, &o, have_m ? &m : NULL);
	if (idle_cpu_s >= 0)
		printf("\nv4vd --strict after its runs, idle for %.0f s with "
		       "every connection open: %.3f CPU seconds\n", o.idle_s,
		       idle_cpu_s);
	if (o.json && agg_write_json(o.json, res, nres, have_m ? &m : NULL)) {
		fprintf(stderr, "v4v bench aggregate: cannot write %s: %s\n",
			o.json, strerror(errno));
		return 1;
	}
	if (o.plot && agg_write_plot(o.plot, res, nres, &o, ts, nts,
				 have_m ? &m : NULL))
		fprintf(stderr, "v4v bench aggregate: plotting failed (is "
			"gnuplot installed?)\n");
	return nres ? 0 : 1;
}
