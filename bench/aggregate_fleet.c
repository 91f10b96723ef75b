/* SPDX-License-Identifier: MIT */
/*
 * The coordinator of v4v bench aggregate: forks the domains of one
 * transport, and runs each point.  A point: the coordinator sends each
 * domain a start time; they all begin then, warm up, count the bytes they
 * receive in a fixed window, stop sending at its end, finish the message
 * in hand, send NOMORE, and drain until the peer's NOMORE (and, in
 * ping-pong, the last answers) so that the connection is quiet for the
 * next point.
 */
#include "aggregate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct fleet {
	int n; /* pairs forked */
	pid_t pid[MAX_PAIRS][2];
	int ctl_w[MAX_PAIRS][2];
	int rep_r;
};

/* In a new domain: drop the coordinator's ends of every pipe, so that a
 * dead coordinator means end of file. */
static void fleet_forget(const struct fleet *f, int rep_r)
{
	for (int i = 0; i < f->n; i++)
		for (int s = 0; s < 2; s++)
			if (f->ctl_w[i][s] >= 0)
				close(f->ctl_w[i][s]);
	close(rep_r);
}

/* Read `want` reports (or fail after `timeout_ms`). */
static int collect(struct fleet *f, struct rep *out, int want, int timeout_ms,
		   const char *tname)
{
	for (int got = 0; got < want;) {
		struct pollfd p = { .fd = f->rep_r, .events = POLLIN };
		struct rep r;

		if (poll(&p, 1, timeout_ms) <= 0) {
			fprintf(stderr, "\nv4v bench aggregate: %s: domains "
				"did not answer in time\n", tname);
			return -1;
		}
		if (read(f->rep_r, &r, sizeof(r)) != sizeof(r)) {
			fprintf(stderr, "\nv4v bench aggregate: %s: a domain "
				"died\n", tname);
			return -1;
		}
		if (r.err) {
			fprintf(stderr, "\nv4v bench aggregate: %s: pair %d "
				"side %c: %s: %s\n", tname, r.pair,
				r.side ? 'b' : 'a', r.why, strerror(r.err));
			return -1;
		}
		if (out)
			out[got] = r;
		got++;
	}
	return 0;
}

static void fleet_end(struct fleet *f, bool force)
{
	struct ctl quit = { .op = 0 };

	for (int i = 0; i < f->n; i++)
		for (int s = 0; s < 2; s++) {
			if (f->ctl_w[i][s] >= 0) {
				if (!force && write(f->ctl_w[i][s], &quit,
						    sizeof(quit)) < 0)
					force = true;
				close(f->ctl_w[i][s]);
			}
			if (force && f->pid[i][s] > 0)
				kill(f->pid[i][s], SIGKILL);
		}
	for (int i = 0; i < f->n; i++)
		for (int s = 0; s < 2; s++)
			if (f->pid[i][s] > 0)
				waitpid(f->pid[i][s], NULL, 0);
	if (f->rep_r >= 0)
		close(f->rep_r);
	f->n = 0;
}

static int fleet_start(struct fleet *f, const struct aopts *o,
		       const struct atrans *t)
{
	int rp[2];

	memset(f, 0, sizeof(*f));
	f->rep_r = -1;
	if (pipe2(rp, O_CLOEXEC))
		return -1;
	f->rep_r = rp[0];
	for (int i = 0; i < o->maxpairs; i++) {
		struct bench_addr a;
		int cp[2][2], ap[2];

		if (pipe2(cp[0], O_CLOEXEC) || pipe2(cp[1], O_CLOEXEC) ||
		    pipe2(ap, O_CLOEXEC))
			goto fail;
		f->ctl_w[i][0] = cp[0][1];
		f->ctl_w[i][1] = cp[1][1];
		f->n = i + 1;
		f->pid[i][1] = fork();
		if (f->pid[i][1] == 0) {
			fleet_forget(f, rp[0]);
			close(cp[0][0]);
			agg_domain(o, t, i, 1, cp[1][0], rp[1], ap[1], NULL);
		}
		close(ap[1]);
		if (read(ap[0], &a, sizeof(a)) != sizeof(a) || !a.len) {
			close(ap[0]);
			close(cp[0][0]);
			close(cp[1][0]);
			goto fail;
		}
		close(ap[0]);
		if (t->gen) {
			char ip[32];
			struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;

			generic_multi_addr(2 * i + 1, ip, sizeof(ip));
			inet_pton(AF_INET, ip, &sin->sin_addr);
		}
		f->pid[i][0] = fork();
		if (f->pid[i][0] == 0) {
			fleet_forget(f, rp[0]);
			close(cp[1][0]);
			agg_domain(o, t, i, 0, cp[0][0], rp[1], -1, &a);
		}
		close(cp[0][0]);
		close(cp[1][0]);
	}
	close(rp[1]);
	rp[1] = -1;
	if (collect(f, NULL, 2 * o->maxpairs, 30000, t->name))
		goto fail;
	return 0;
fail:
	if (rp[1] >= 0)
		close(rp[1]);
	fleet_end(f, true);
	return -1;
}

/* utime + stime of a process, in µs (0 if it cannot be read). */
static double proc_cpu_us(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static int run_try(struct fleet *f, const struct aopts *o,
		   const struct atrans *t, int mode, size_t size, int pairs,
		   int pin, double lead_us, struct aresult *res, bool *late)
{
	static struct rep reps[2 * MAX_PAIRS];
	double pair_bytes[MAX_PAIRS] = { 0 }, bytes = 0, msgs = 0, cpu = 0;
	double now = bench_now_us(), hv0 = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct ctl c = { .op = 1, .mode = (uint32_t)mode, .size = size };
	pid_t hv = t->st == &st_v4v_strict ? st_strict_pid() : 0;

	c.pin = pin;
	c.spin_us = o->spin >= 0 ? o->spin : 2 * pairs <= ncpu ? 50 : 0;
	c.go_us = now + lead_us + 2000.0 * pairs;
	c.count_us = c.go_us + o->warm * 1e6;
	c.end_us = c.count_us + o->seconds * 1e6;
	for (int i = 0; i < pairs; i++)
		for (int s = 0; s < 2; s++)
			if (write(f->ctl_w[i][s], &c, sizeof(c)) != sizeof(c))
				return -1;
	/* The strict hypervisor moves every byte: its CPU counts too. */
	bench_sleep_until(c.count_us);
	hv0 = proc_cpu_us(hv);
	bench_sleep_until(c.end_us);
	cpu += proc_cpu_us(hv) - hv0;
	if (collect(f, reps, 2 * pairs,
		    (int)(o->seconds * 1000) + 60000, t->name))
		return -1;
	*res = (struct aresult){ .t = t, .mode = mode, .pairs = pairs,
				 .size = size, .pin = pin };
	*late = false;
	for (int i = 0; i < 2 * pairs; i++) {
		*late |= reps[i].late != 0;
		pair_bytes[reps[i].pair] += (double)reps[i].rx_bytes;
		bytes += (double)reps[i].rx_bytes;
		msgs += (double)reps[i].rx_msgs;
		cpu += reps[i].cpu_us;
		res->rtts += reps[i].rtts;
	}
	res->mbps = bytes / (o->seconds * 1e6);
	res->msgs = msgs / o->seconds;
	res->min_pair = res->max_pair = pair_bytes[0];
	for (int i = 1; i < pairs; i++) {
		if (pair_bytes[i] < res->min_pair)
			res->min_pair = pair_bytes[i];
		if (pair_bytes[i] > res->max_pair)
			res->max_pair = pair_bytes[i];
	}
	res->min_pair /= o->seconds * 1e6;
	res->max_pair /= o->seconds * 1e6;
	res->cpu_s_per_gb = bytes > 0 ? cpu / 1e6 / (bytes / 1e9) : 0;
	return 0;
}

/*
 * One point.  A domain that the scheduler woke after the counting window
 * had begun saw only part of it (on a loaded machine, none: a point of
 * zero bytes), so such a point is run again with a longer lead; one that
 * stays late is an error, never a figure.
 */
static int run_one(struct fleet *f, const struct aopts *o,
		   const struct atrans *t, int mode, size_t size, int pairs,
		   int pin, struct aresult *res)
{
	bool late = false;

	for (double lead = 20000; lead <= 2e6; lead *= 10) {
		if (run_try(f, o, t, mode, size, pairs, pin, lead, res, &late))
			return -1;
		if (!late)
			return 0;
	}
	fprintf(stderr, "v4v bench aggregate: %s %zu B x %d pairs: domains "
		"kept starting after the window had begun (machine "
		"overloaded?); no figure for this point\n", t->name, size,
		pairs);
	return -1;
}

/* One point; with --pin best, under both pinnings, the better kept. */
static int run_best(struct fleet *f, const struct aopts *o,
		    const struct atrans *t, int mode, size_t size, int pairs,
		    struct aresult *res)
{
	struct aresult other;

	if (o->pin != PIN_BEST)
		return run_one(f, o, t, mode, size, pairs, o->pin, res);
	if (run_one(f, o, t, mode, size, pairs, PIN_PAIR, res) ||
	    run_one(f, o, t, mode, size, pairs, PIN_SPREAD, &other))
		return -1;
	if (other.mbps > res->mbps)
		*res = other;
	return 0;
}

int agg_nsizes(const struct aopts *o)
{
	int n = 0;

	for (size_t s = o->min; s <= o->max; s *= o->step)
		n++;
	return n;
}

int agg_nmodes(const struct aopts *o)
{
	return (o->modes & AM_STREAM ? 1 : 0) + (o->modes & AM_PINGPONG ? 1 : 0);
}

const char *agg_mode_name(int m)
{
	return m == AM_STREAM ? "stream" : "pingpong";
}

/* The hypervisor once traffic stops: its engine must go to sleep. */
static double idle_cpu(const struct aopts *o, pid_t hv)
{
	double cpu0;

	if (!o->quiet)
		fprintf(stderr, "\rv4v bench aggregate: v4vd idle for %.0f s "
			"...%30s", o->idle_s, "");
	/* Past the engine's idle window first. */
	bench_sleep_until(bench_now_us() + 100000);
	cpu0 = proc_cpu_us(hv);
	bench_sleep_until(bench_now_us() + o->idle_s * 1e6);
	return (proc_cpu_us(hv) - cpu0) / 1e6;
}

int agg_run_transport(const struct aopts *o, const struct atrans *t,
			 struct aresult *res, int *nres, int *step, int nsteps,
			 double *idle_cpu_s)
{
	struct fleet f;
	int rc = 0;

	if (t->gen ? generic_multi_setup(2 * o->maxpairs)
		   : t->st->prepare ? t->st->prepare() : 0) {
		fprintf(stderr, "v4v bench aggregate: skipping %s\n", t->name);
		*step += agg_nsizes(o) * o->npairs * agg_nmodes(o);
		return -1;
	}
	/* One uncounted point with every pair: connections established,
	 * rings and buffers touched, before anything is measured. */
	if (fleet_start(&f, o, t) ||
	    run_one(&f, o, t, AM_STREAM, o->min, o->maxpairs,
		    o->pin == PIN_BEST ? PIN_SPREAD : o->pin, &res[*nres])) {
		fprintf(stderr, "\nv4v bench aggregate: %s: cannot start the "
			"domains%s\n", t->name,
			t->st == &st_v4v ? " (is v4vd running?)" : "");
		*step += agg_nsizes(o) * o->npairs * agg_nmodes(o);
		rc = -1;
		goto out;
	}
	for (int m = AM_STREAM; m <= AM_PINGPONG && !rc; m++) {
		if (!(o->modes & m))
			continue;
		for (size_t size = o->min; size <= o->max && !rc;
		     size *= o->step)
			for (int p = 0; p < o->npairs && !rc; p++) {
				if (!o->quiet)
					fprintf(stderr, "\rv4v bench aggregate:"
						" %-10s %-8s %5zuK x %2d pairs"
						"  [%d/%d]   ", t->name,
						agg_mode_name(m), size >> 10,
						o->pairs[p], ++*step, nsteps);
				if (*nres >= MAX_POINTS ||
				    run_best(&f, o, t, m, size, o->pairs[p],
					     &res[*nres])) {
					rc = -1;
					break;
				}
				++*nres;
			}
	}
	if (!rc && o->idle_s > 0 && t->st == &st_v4v_strict)
		*idle_cpu_s = idle_cpu(o, st_strict_pid());
	fleet_end(&f, rc != 0);
out:
	if (t->gen)
		generic_multi_teardown(2 * o->maxpairs);
	else if (t->st->cleanup)
		t->st->cleanup();
	return rc;
}
