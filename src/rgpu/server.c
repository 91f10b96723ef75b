/* SPDX-License-Identifier: MIT */
/*
 * rgpu-server: serves a GPU (or the CPU backend) to clients in other
 * domains, over V4V stream sockets and TCP.  One thread per session.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rgpu/backend.h"
#include "rgpu/conn.h"
#include "rgpu/lanes.h"
#include "rgpu/log.h"
#include "rgpu/pipeline.h"
#include "rgpu/session.h"
#include "rgpu/size_arg.h"
#include "rgpu/wire.h"
#include "v4v/socket.h"

struct opts {
	long v4v_port;	     /* -1: not on V4V */
	const char *tcp;     /* NULL: not on TCP */
	const char *name;    /* V4V domain name */
	const char *backend;
	long max_sessions;
	int ready_fd;
	struct server_cfg cfg;
};

struct job {
	unsigned id;
	struct rgpu_conn conn;
	char peer[64];
	const struct server_cfg *cfg;
};

static atomic_uint live_sessions;
static volatile sig_atomic_t stopping;

static void usage(FILE *f)
{
	fprintf(f,
"usage: rgpu-server [OPTIONS]\n"
"Serve a GPU to rgpu clients (librgpu, rgpu-bench) over V4V and TCP.\n"
"\n"
"  --v4v PORT           V4V stream port to listen on (default 7100)\n"
"  --no-v4v             do not listen on V4V\n"
"  --tcp [IPV4:]PORT    TCP address to listen on (default 127.0.0.1:7100)\n"
"  --no-tcp             do not listen on TCP\n"
"  --name NAME          V4V domain name of the server (default rgpu)\n"
"  --backend B          cuda, cpu or auto (default: cuda if a device is\n"
"                       present, else cpu)\n"
"  --chunk-size N       bytes per pipelined copy chunk (64K..64M,\n"
"                       default 1M; clients may ask for another)\n"
"  --staging N          staging buffers per session, 2 or 3 (default 3)\n"
"  --staged             CPU backend: copy through the staging buffers and\n"
"                       a copy thread, as for a GPU (default: straight\n"
"                       into its memory, which is host memory)\n"
"  --no-zero-copy       over V4V, copy through the staging buffers too\n"
"                       (default: the device reads and writes the\n"
"                       connection's rings, registered with the driver)\n"
"  --allow-ptx          load any PTX module, not only the shipped kernels\n"
"                       (CUDA: their kernels share one context, so only\n"
"                       for trusted clients)\n"
"  --max-lanes N        connections one client may split a large copy\n"
"                       over (1..16, default 8; each counts as a session)\n"
"  --max-sessions N     concurrent sessions (default 64)\n"
"  --timeout SECONDS    drop a client that stalls inside a request\n"
"                       (default 30)\n"
"  --ready-fd FD        once listening, write \"ready v4v D:P tcp H:P\\n\"\n"
"                       to FD and close it\n"
"  -v, --verbose        log every request\n"
"  -h, --help           this help\n"
"  -V, --version        the version\n"
"\n"
"Environment: V4V_SOCKET (v4vd's socket), RGPU_CUDA_LIBRARY (driver\n"
"library instead of libcuda.so.1).  Exit status: 0 after SIGTERM or\n"
"SIGINT, 1 if it cannot start, 2 for a usage error.\n");
}

static void die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "rgpu-server: %s%s%s\n", msg, arg ? ": " : "",
		arg ? arg : "");
	fprintf(stderr, "Try 'rgpu-server --help'.\n");
	exit(2);
}

static long num_arg(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		die_usage(what, s);
	return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
	enum { O_NOV4V = 256, O_NOTCP, O_CHUNK, O_STAGING, O_STAGED, O_NOZC, O_ALLOW, O_MAX, O_LANES,
	       O_TIMEOUT, O_READY, O_BACKEND, O_NAME };
	static const struct option lo[] = {
		{ "v4v", required_argument, NULL, 'p' },
		{ "no-v4v", no_argument, NULL, O_NOV4V },
		{ "tcp", required_argument, NULL, 't' },
		{ "no-tcp", no_argument, NULL, O_NOTCP },
		{ "name", required_argument, NULL, O_NAME },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "chunk-size", required_argument, NULL, O_CHUNK },
		{ "staging", required_argument, NULL, O_STAGING },
		{ "staged", no_argument, NULL, O_STAGED },
		{ "no-zero-copy", no_argument, NULL, O_NOZC },
		{ "allow-ptx", no_argument, NULL, O_ALLOW },
		{ "max-sessions", required_argument, NULL, O_MAX },
		{ "max-lanes", required_argument, NULL, O_LANES },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "ready-fd", required_argument, NULL, O_READY },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c, verbose = 0;
	uint64_t chunk;

	argv[0] = (char *)"rgpu-server"; /* getopt names us in its errors */
	while ((c = getopt_long(argc, argv, "vhV", lo, NULL)) != -1) {
		switch (c) {
		case 'p': o->v4v_port = num_arg(optarg, 1, 0x3fffffff, "bad V4V port"); break;
		case O_NOV4V: o->v4v_port = -1; break;
		case 't': o->tcp = optarg; break;
		case O_NOTCP: o->tcp = NULL; break;
		case O_NAME: o->name = optarg; break;
		case O_BACKEND: o->backend = optarg; break;
		case O_CHUNK:
			if (rgpu_parse_size(optarg, &chunk) ||
			    chunk < RGPU_MIN_CHUNK || chunk > RGPU_MAX_CHUNK)
				die_usage("--chunk-size must be 64K to 64M", optarg);
			o->cfg.chunk = (size_t)chunk;
			break;
		case O_STAGING: o->cfg.nslots = (unsigned)num_arg(optarg, 2, 3, "--staging must be 2 or 3"); break;
		case O_STAGED: o->cfg.staged = true; break;
		case O_NOZC: o->cfg.zero_copy = false; break;
		case O_ALLOW: o->cfg.allow_ptx = true; break;
		case O_LANES: o->cfg.max_lanes = (unsigned)num_arg(optarg, 1, RGPU_MAX_LANES, "--max-lanes must be 1 to 16"); break;
		case O_MAX: o->max_sessions = num_arg(optarg, 1, 4096, "bad --max-sessions"); break;
		case O_TIMEOUT: o->cfg.timeout_ms = (unsigned)num_arg(optarg, 1, 86400, "bad --timeout") * 1000; break;
		case O_READY: o->ready_fd = (int)num_arg(optarg, 0, 1 << 20, "bad --ready-fd"); break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); exit(0);
		case 'V': puts("rgpu-server " V4V_VERSION); exit(0);
		default: die_usage("bad option", NULL);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument", argv[optind]);
	if (o->v4v_port < 0 && !o->tcp)
		die_usage("--no-v4v and --no-tcp leave nothing to listen on", NULL);
	rgpu_log_init("rgpu-server", verbose);
}

static void *session_thread(void *arg)
{
	struct job *j = arg;

	session_serve(j->id, j->conn, j->peer, j->cfg);
	atomic_fetch_sub(&live_sessions, 1);
	free(j);
	return NULL;
}

static void start_session(int lfd, bool v4v, const struct opts *o)
{
	static unsigned next_id = 1;
	struct job *j = calloc(1, sizeof(*j));
	pthread_attr_t at;
	pthread_t t;

	if (!j || conn_accept(lfd, v4v, &j->conn, j->peer, sizeof(j->peer))) {
		if (j)
			rgpu_log("accept on %s: %s", v4v ? "v4v" : "tcp",
				 strerror(errno));
		free(j);
		return;
	}
	j->id = next_id++;
	j->cfg = &o->cfg;
	if (atomic_fetch_add(&live_sessions, 1) >= (unsigned)o->max_sessions) {
		rgpu_log("%s: refused, %ld sessions already", j->peer,
			 o->max_sessions);
		goto fail;
	}
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, session_thread, j) == 0) {
		pthread_attr_destroy(&at);
		return;
	}
	pthread_attr_destroy(&at);
	rgpu_log("%s: cannot start a session thread", j->peer);
fail:
	atomic_fetch_sub(&live_sessions, 1);
	conn_close(&j->conn);
	free(j);
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void serve(struct pollfd *p, const bool *is_v4v, int n,
		  const struct opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: the signal must end poll. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	while (!stopping) {
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			rgpu_log("poll: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++)
			if (p[i].revents & POLLIN)
				start_session(p[i].fd, is_v4v[i], o);
	}
	rgpu_log("stopping on a signal, %u sessions open",
		 atomic_load(&live_sessions));
}

/* Let sessions that are ending (their client gone) finish freeing, so
 * that the process does not exit under them; a client that stays
 * connected is not waited for beyond `ms`. */
static void drain_sessions(unsigned ms)
{
	unsigned left;

	for (unsigned t = 0; t < ms; t += 10) {
		if (!atomic_load(&live_sessions))
			return;
		usleep(10000);
	}
	left = atomic_load(&live_sessions);
	if (left)
		rgpu_log("%u sessions still open: exiting without them", left);
}

static const struct rgpu_backend *open_backend(const char *which)
{
	char why[512];
	const struct rgpu_backend *be = rgpu_backend_pick(which, why, sizeof(why));
	struct rgpu_device_prop p;

	if (!be) {
		rgpu_log("backend %s: %s", which, why);
		return NULL;
	}
	if (be->props(0, &p)) {
		rgpu_log("backend %s: cannot read device 0", be->name);
		return NULL;
	}
	if (why[0])
		rgpu_log("CUDA not used: %s", why);
	rgpu_log("backend %s: %s, %d %s, %.1f GiB", be->name, p.name,
		 p.multiprocessors,
		 strcmp(be->name, "cuda") ? "threads" : "SMs",
		 (double)p.total_mem / (1u << 30));
	return be;
}

static int listen_all(const struct opts *o, struct pollfd *p, bool *is_v4v)
{
	char why[256], name[64];
	int n = 0, fd;

	if (o->v4v_port >= 0) {
		if (o->name)
			setenv("V4V_NAME", o->name, 1);
		fd = conn_listen_v4v((uint32_t)o->v4v_port, RGPU_V4V_RING,
				     why, sizeof(why));
		if (fd < 0) {
			rgpu_log("%s", why);
			return -1;
		}
		conn_local_name(fd, true, name, sizeof(name));
		rgpu_log("listening on v4v %s (domain %s)", name,
			 o->name ? o->name : "unnamed");
		p[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
		is_v4v[n++] = true;
	}
	if (o->tcp) {
		fd = conn_listen_tcp(o->tcp, why, sizeof(why));
		if (fd < 0) {
			rgpu_log("%s", why);
			return -1;
		}
		conn_local_name(fd, false, name, sizeof(name));
		rgpu_log("listening on tcp %s", name);
		p[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
		is_v4v[n++] = false;
	}
	return n;
}

/* "ready v4v DOMID:PORT tcp IP:PORT" ("-" where not listening): lets a
 * parent that asked for TCP port 0 learn the port. */
static void say_ready(int fd, const struct pollfd *p, const bool *is_v4v,
		      int n)
{
	char v4v[64] = "-", tcp[64] = "-", line[160];
	int len;

	for (int i = 0; i < n; i++)
		conn_local_name(p[i].fd, is_v4v[i], is_v4v[i] ? v4v : tcp, 64);
	len = snprintf(line, sizeof(line), "ready v4v %s tcp %s\n", v4v, tcp);
	if (write(fd, line, (size_t)len) != len)
		rgpu_log("--ready-fd %d: %s", fd, strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	struct opts o = { .v4v_port = 7100, .tcp = "127.0.0.1:7100",
			  .name = "rgpu", .backend = "auto",
			  .max_sessions = 64, .ready_fd = -1,
			  .cfg = { .chunk = RGPU_DEFAULT_CHUNK,
				   .nslots = RGPU_DEFAULT_SLOTS,
				   .zero_copy = true,
				   .max_lanes = 8,
				   .timeout_ms = 30000 } };
	struct pollfd p[2];
	bool is_v4v[2];
	int n;

	parse(argc, argv, &o);
	o.cfg.be = open_backend(o.backend);
	if (!o.cfg.be)
		return 1;
	n = listen_all(&o, p, is_v4v);
	if (n < 0)
		return 1;
	rgpu_log("copies: %s, chunk %zu KiB x %u staging buffers per "
		 "session%s", o.cfg.be->host_view && !o.cfg.staged ?
		 "straight into host-addressable device memory" :
		 o.cfg.zero_copy ? "the device's, out of and into V4V rings "
				   "(zero-copy), else staged" : "staged",
		 o.cfg.chunk >> 10, o.cfg.nslots,
		 o.cfg.allow_ptx ? "; any PTX accepted" : "; shipped kernels only");
	rgpu_log("up to %u connections (lanes) per client", o.cfg.max_lanes);
	if (o.ready_fd >= 0)
		say_ready(o.ready_fd, p, is_v4v, n);
	serve(p, is_v4v, n, &o);
	drain_sessions(2000);
	return 0;
}
